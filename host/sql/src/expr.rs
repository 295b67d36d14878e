//! SQL scalar expressions compiled from sqlparser's syntax tree into what the native evaluator
//! runs, type-checked against a table's columns where they are known (a planner's query), or
//! dynamically typed over whatever fields records have (a `select:` step of a job spec).

use crate::error::SqlError;
use crate::value::{SqlType, Value};
use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, DateTimeField, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Interval, Spanned, UnaryOperator, Value as Literal,
};
use std::collections::BTreeMap;

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    /// Input field number `n` (of the projection's field list).
    Field(usize),
    /// The record's event time.
    RowTime,
    /// A constant.
    Literal(Value),
    /// `-x`.
    Negate(Box<Scalar>),
    /// `NOT x`.
    Not(Box<Scalar>),
    /// `x op y`.
    Binary(Op, Box<Scalar>, Box<Scalar>),
    /// `x IS [NOT] NULL` (`true`: IS NOT NULL).
    IsNull(Box<Scalar>, bool),
    /// `CASE WHEN c THEN r … ELSE e END`.
    Case(Vec<(Scalar, Scalar)>, Option<Box<Scalar>>),
    /// `CAST(x AS type)`.
    Cast(Box<Scalar>, SqlType),
    /// A built-in function.
    Call(Function, Vec<Scalar>),
    /// Wasm scalar function number `n` (of the scope's functions).
    Udf(usize, Vec<Scalar>),
}

impl Scalar {
    /// Adds the Wasm scalar functions this expression calls to `called` (by number).
    pub(crate) fn calls(&self, called: &mut Vec<bool>) {
        let mut mark = |n: usize| {
            if called.len() <= n {
                called.resize(n + 1, false);
            }
            called[n] = true;
        };
        match self {
            Scalar::Field(_) | Scalar::RowTime | Scalar::Literal(_) => {}
            Scalar::Negate(a) | Scalar::Not(a) | Scalar::IsNull(a, _) | Scalar::Cast(a, _) => {
                a.calls(called)
            }
            Scalar::Binary(_, a, b) => {
                a.calls(called);
                b.calls(called);
            }
            Scalar::Case(branches, otherwise) => {
                for (c, v) in branches {
                    c.calls(called);
                    v.calls(called);
                }
                if let Some(e) = otherwise {
                    e.calls(called);
                }
            }
            Scalar::Call(_, args) => args.iter().for_each(|a| a.calls(called)),
            Scalar::Udf(n, args) => {
                mark(*n);
                args.iter().for_each(|a| a.calls(called));
            }
        }
    }
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Concat,
}

/// Built-in scalar functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Mod,
    Abs,
    Upper,
    Lower,
    CharLength,
    Concat,
    Coalesce,
    Floor,
    Ceil,
    ToTimestampLtz,
}

impl Function {
    fn named(name: &str) -> Option<Function> {
        Some(match name.to_ascii_uppercase().as_str() {
            "MOD" => Function::Mod,
            "ABS" => Function::Abs,
            "UPPER" => Function::Upper,
            "LOWER" => Function::Lower,
            "CHAR_LENGTH" | "CHARACTER_LENGTH" => Function::CharLength,
            "CONCAT" => Function::Concat,
            "COALESCE" => Function::Coalesce,
            "FLOOR" => Function::Floor,
            "CEIL" | "CEILING" => Function::Ceil,
            "TO_TIMESTAMP_LTZ" => Function::ToTimestampLtz,
            _ => return None,
        })
    }
}

/// Whether `name` is a built-in scalar function.
pub(crate) fn builtin(name: &str) -> bool {
    Function::named(name).is_some()
}

/// The names of the built-in scalar functions, for error messages.
pub(crate) const FUNCTIONS: &str =
    "MOD, ABS, UPPER, LOWER, CHAR_LENGTH, CONCAT, COALESCE, FLOOR, CEIL, TO_TIMESTAMP_LTZ";

/// The SQL type `data_type` names, if Weir's SQL has it.
pub(crate) fn sql_type(data_type: &DataType) -> Option<SqlType> {
    Some(match data_type {
        DataType::BigInt(_)
        | DataType::Int(_)
        | DataType::Integer(_)
        | DataType::SmallInt(_)
        | DataType::TinyInt(_)
        | DataType::Int64 => SqlType::Bigint,
        DataType::Double(_)
        | DataType::Float(_)
        | DataType::Float64
        | DataType::Real
        | DataType::Decimal(_) => SqlType::Double,
        DataType::Varchar(_) | DataType::Char(_) | DataType::Text | DataType::String(_) => {
            SqlType::String
        }
        DataType::Boolean | DataType::Bool => SqlType::Boolean,
        DataType::Timestamp(..) => SqlType::Timestamp,
        DataType::Custom(name, _) => match name.to_string().to_ascii_uppercase().as_str() {
            "STRING" => SqlType::String,
            "TIMESTAMP_LTZ" => SqlType::Timestamp,
            _ => return None,
        },
        _ => return None,
    })
}

/// An `INTERVAL 'n' unit` in milliseconds.
pub(crate) fn interval_ms(interval: &Interval) -> Option<i64> {
    let amount: i64 = match interval.value.as_ref() {
        Expr::Value(v) => match &v.value {
            Literal::SingleQuotedString(s) => s.trim().parse().ok()?,
            Literal::Number(n, _) => n.parse().ok()?,
            _ => return None,
        },
        _ => return None,
    };
    let unit = match interval.leading_field.as_ref()? {
        DateTimeField::Millisecond | DateTimeField::Milliseconds => 1,
        DateTimeField::Second | DateTimeField::Seconds => 1000,
        DateTimeField::Minute | DateTimeField::Minutes => 60_000,
        DateTimeField::Hour | DateTimeField::Hours => 3_600_000,
        DateTimeField::Day | DateTimeField::Days => 86_400_000,
        _ => return None,
    };
    amount.checked_mul(unit)
}

/// What names an expression may use.
/// The functions a script created from modules (`CREATE FUNCTION`): their names, in the
/// order a `select` step's `functions` lists them (what [`Scalar::Udf`] numbers), and the
/// argument types of those whose modules declare them (the SDKs answer `weir sql`'s request
/// at plan time), checked at each call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Udfs {
    names: Vec<String>,
    signatures: BTreeMap<String, Vec<SqlType>>,
}

impl Udfs {
    /// Functions `names`, of signatures unknown (checked row by row when they run).
    pub(crate) fn named(names: Vec<String>) -> Udfs {
        Udfs {
            names,
            signatures: BTreeMap::new(),
        }
    }

    /// The same, with the argument types `signatures` gives by function name.
    pub(crate) fn with_signatures(mut self, signatures: &Signatures) -> Udfs {
        for name in &self.names {
            if let Some(types) = signatures.get(name) {
                self.signatures
                    .insert(name.to_ascii_lowercase(), types.clone());
            }
        }
        self
    }

    /// The argument types of function `name`, if its module declares them.
    fn signature(&self, name: &str) -> Option<&[SqlType]> {
        self.signatures
            .get(&name.to_ascii_lowercase())
            .map(Vec::as_slice)
    }
}

impl std::ops::Deref for Udfs {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.names
    }
}

/// Argument types of functions by name, as their modules declare them (`SqlType::Any` for an
/// argument of any type).
pub type Signatures = BTreeMap<String, Vec<SqlType>>;

pub(crate) struct Scope<'a> {
    /// The columns and their types; `None`: any field, dynamically typed.
    pub(crate) columns: Option<&'a [(String, SqlType)]>,
    /// The column that reads a record's event time.
    pub(crate) rowtime: Option<&'a str>,
    /// Wasm scalar functions, by name.
    pub(crate) functions: &'a Udfs,
}

/// Compiles expressions of one projection, collecting the input fields they read.
pub(crate) struct Compiler<'a> {
    scope: Scope<'a>,
    /// The input fields read, in first-use order (what [`Scalar::Field`] numbers).
    pub(crate) fields: Vec<String>,
}

type Typed = (Scalar, Option<SqlType>);

impl<'a> Compiler<'a> {
    pub(crate) fn new(scope: Scope<'a>) -> Self {
        Compiler {
            scope,
            fields: Vec::new(),
        }
    }

    fn field(&mut self, name: &str) -> usize {
        match self.fields.iter().position(|f| f == name) {
            Some(n) => n,
            None => {
                self.fields.push(name.to_string());
                self.fields.len() - 1
            }
        }
    }

    fn column(&mut self, name: &str, expr: &Expr) -> Result<Typed, SqlError> {
        if self
            .scope
            .rowtime
            .is_some_and(|r| r.eq_ignore_ascii_case(name))
        {
            return Ok((Scalar::RowTime, Some(SqlType::Timestamp)));
        }
        let Some(columns) = self.scope.columns else {
            return Ok((Scalar::Field(self.field(name)), None));
        };
        match columns.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)) {
            Some((column, sql_type)) => {
                let column = column.clone();
                let known = (*sql_type != SqlType::Any).then_some(*sql_type);
                Ok((Scalar::Field(self.field(&column)), known))
            }
            None => Err(SqlError::at(
                expr.span(),
                format!(
                    "unknown column `{name}` (columns: {})",
                    columns
                        .iter()
                        .map(|(c, _)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// The SQL text of a module function's arguments (for the step that evaluates them), each
    /// checked here against the scope.
    pub(crate) fn argument_texts(
        &mut self,
        call: &sqlparser::ast::Function,
    ) -> Result<Vec<String>, SqlError> {
        let mut texts = Vec::new();
        let mut types = Vec::new();
        if let FunctionArguments::List(list) = &call.args {
            for arg in &list.args {
                let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
                    return Err(SqlError::at(arg.span(), "an argument is an expression"));
                };
                types.push((expr, self.compile(expr)?.1));
                texts.push(expr.to_string());
            }
        }
        self.check_call(&call.name.to_string(), &types, call.name.span())?;
        Ok(texts)
    }

    /// Checks a call of module function `name` with arguments of `types` against the types its
    /// module declares (nothing to check when it declares none): the error names the argument
    /// and where it is.
    fn check_call(
        &self,
        name: &str,
        types: &[(&Expr, Option<SqlType>)],
        span: sqlparser::tokenizer::Span,
    ) -> Result<(), SqlError> {
        let Some(expected) = self.scope.functions.signature(name.trim_matches('`')) else {
            return Ok(());
        };
        if expected.len() != types.len() {
            return Err(SqlError::at(
                span,
                format!(
                    "`{name}` takes {} argument(s) ({}), not {}",
                    expected.len(),
                    expected
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    types.len()
                ),
            ));
        }
        for (index, ((arg, found), wanted)) in types.iter().zip(expected).enumerate() {
            let fits = match (*found, *wanted) {
                (None, _) | (_, SqlType::Any) | (Some(SqlType::Any), _) => true,
                (Some(SqlType::Bigint), SqlType::Double) => true,
                (Some(found), wanted) => found == wanted,
            };
            if !fits {
                return Err(SqlError::at(
                    arg.span(),
                    format!(
                        "argument {} of `{name}`: `{arg}` is {}, where a {wanted} is expected",
                        index + 1,
                        found.unwrap_or(SqlType::Any)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks `condition` (a WHERE) as a BOOLEAN expression; its text for the `select` step.
    pub(crate) fn condition(&mut self, condition: &Expr) -> Result<String, SqlError> {
        let (_, t) = self.compile(condition)?;
        if t.is_some_and(|t| t != SqlType::Boolean) {
            return Err(SqlError::at(
                condition.span(),
                "WHERE needs a BOOLEAN condition",
            ));
        }
        Ok(condition.to_string())
    }

    /// Compiles `expr`, with its type where it is known.
    pub(crate) fn compile(&mut self, expr: &Expr) -> Result<Typed, SqlError> {
        match expr {
            Expr::Identifier(ident) => self.column(&ident.value, expr),
            Expr::CompoundIdentifier(parts) => {
                // `t.column`: one table per query, so the qualifier only has to be a name.
                let last = parts.last().map(|p| p.value.as_str()).unwrap_or_default();
                self.column(last, expr)
            }
            Expr::Nested(inner) => self.compile(inner),
            // Only `time ± INTERVAL …` takes one (checked where it is used): its milliseconds.
            Expr::Interval(interval) => match interval_ms(interval) {
                Some(ms) => Ok((Scalar::Literal(Value::Int(ms)), None)),
                None => Err(SqlError::at(
                    expr.span(),
                    "INTERVAL 'n' SECOND (or MILLISECOND, MINUTE, HOUR, DAY)",
                )),
            },
            Expr::Value(v) => literal(&v.value, expr),
            Expr::UnaryOp { op, expr: inner } => {
                let (arg, arg_type) = self.compile(inner)?;
                match op {
                    UnaryOperator::Minus => {
                        expect(arg_type, SqlType::is_numeric, inner, "a number")?;
                        Ok((Scalar::Negate(Box::new(arg)), arg_type))
                    }
                    UnaryOperator::Plus => Ok((arg, arg_type)),
                    UnaryOperator::Not => {
                        expect(arg_type, |t| t == SqlType::Boolean, inner, "a BOOLEAN")?;
                        Ok((Scalar::Not(Box::new(arg)), Some(SqlType::Boolean)))
                    }
                    other => Err(SqlError::at(
                        expr.span(),
                        format!("unsupported operator {other}"),
                    )),
                }
            }
            Expr::BinaryOp { left, op, right } => self.binary(expr, left, op, right),
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                let (arg, _) = self.compile(inner)?;
                let negated = matches!(expr, Expr::IsNotNull(_));
                Ok((
                    Scalar::IsNull(Box::new(arg), negated),
                    Some(SqlType::Boolean),
                ))
            }
            Expr::Between {
                expr: inner,
                negated,
                low,
                high,
            } => {
                let low = Expr::BinaryOp {
                    left: inner.clone(),
                    op: BinaryOperator::GtEq,
                    right: low.clone(),
                };
                let high = Expr::BinaryOp {
                    left: inner.clone(),
                    op: BinaryOperator::LtEq,
                    right: high.clone(),
                };
                let (low, _) = self.compile(&low)?;
                let (high, _) = self.compile(&high)?;
                let both = Scalar::Binary(Op::And, Box::new(low), Box::new(high));
                let result = match negated {
                    true => Scalar::Not(Box::new(both)),
                    false => both,
                };
                Ok((result, Some(SqlType::Boolean)))
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let mut branches = Vec::new();
                let mut result_type = None;
                for when in conditions {
                    let condition = match operand {
                        Some(operand) => Expr::BinaryOp {
                            left: operand.clone(),
                            op: BinaryOperator::Eq,
                            right: Box::new(when.condition.clone()),
                        },
                        None => when.condition.clone(),
                    };
                    let (condition, _) = self.compile(&condition)?;
                    let (result, t) = self.compile(&when.result)?;
                    result_type = result_type.or(t);
                    branches.push((condition, result));
                }
                let otherwise = match else_result {
                    Some(e) => Some(Box::new(self.compile(e)?.0)),
                    None => None,
                };
                Ok((Scalar::Case(branches, otherwise), result_type))
            }
            Expr::Cast {
                kind,
                expr: inner,
                data_type,
                ..
            } => {
                if !matches!(
                    kind,
                    CastKind::Cast | CastKind::TryCast | CastKind::DoubleColon
                ) {
                    return Err(SqlError::at(expr.span(), "unsupported cast"));
                }
                let to = sql_type(data_type).ok_or_else(|| {
                    SqlError::at(expr.span(), format!("unsupported type {data_type}"))
                })?;
                let (arg, _) = self.compile(inner)?;
                Ok((Scalar::Cast(Box::new(arg), to), Some(to)))
            }
            Expr::Function(function) => {
                let name = function.name.to_string();
                let args = arguments(&function.args, expr)?;
                if let Some(builtin) = Function::named(&name) {
                    return self.call(builtin, &name, &args, expr);
                }
                let functions = self.scope.functions;
                let Some(index) = functions.iter().position(|f| f.eq_ignore_ascii_case(&name))
                else {
                    let created = match functions.is_empty() {
                        true => String::new(),
                        false => format!("; created: {}", functions.join(", ")),
                    };
                    return Err(SqlError::at(
                        expr.span(),
                        format!("unknown function `{name}` (built-in: {FUNCTIONS}{created})"),
                    ));
                };
                let mut compiled = Vec::new();
                let mut types = Vec::new();
                for arg in args {
                    let (scalar, sql_type) = self.compile(arg)?;
                    compiled.push(scalar);
                    types.push((arg, sql_type));
                }
                self.check_call(&name, &types, function.name.span())?;
                Ok((Scalar::Udf(index, compiled), None))
            }
            other => Err(SqlError::at(
                other.span(),
                format!("unsupported expression `{other}`"),
            )),
        }
    }

    fn binary(
        &mut self,
        expr: &Expr,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
    ) -> Result<Typed, SqlError> {
        let (l, lt) = self.compile(left)?;
        let (r, rt) = self.compile(right)?;
        let op = match op {
            BinaryOperator::Plus => Op::Add,
            BinaryOperator::Minus => Op::Sub,
            BinaryOperator::Multiply => Op::Mul,
            BinaryOperator::Divide => Op::Div,
            BinaryOperator::Modulo => Op::Mod,
            BinaryOperator::Eq => Op::Eq,
            BinaryOperator::NotEq => Op::Ne,
            BinaryOperator::Lt => Op::Lt,
            BinaryOperator::LtEq => Op::Le,
            BinaryOperator::Gt => Op::Gt,
            BinaryOperator::GtEq => Op::Ge,
            BinaryOperator::And => Op::And,
            BinaryOperator::Or => Op::Or,
            BinaryOperator::StringConcat => Op::Concat,
            other => {
                return Err(SqlError::at(
                    expr.span(),
                    format!("unsupported operator {other}"),
                ));
            }
        };
        let moves_a_time = matches!(op, Op::Add | Op::Sub)
            && matches!(right, Expr::Interval(_))
            && lt.is_none_or(|t| t == SqlType::Timestamp);
        let result = match op {
            _ if moves_a_time => Some(SqlType::Timestamp),
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod => {
                expect(lt, SqlType::is_numeric, left, "a number")?;
                expect(rt, SqlType::is_numeric, right, "a number")?;
                match (lt, rt) {
                    (Some(SqlType::Bigint), Some(SqlType::Bigint)) => Some(SqlType::Bigint),
                    (Some(_), Some(_)) => Some(SqlType::Double),
                    _ => None,
                }
            }
            Op::And | Op::Or => {
                expect(lt, |t| t == SqlType::Boolean, left, "a BOOLEAN")?;
                expect(rt, |t| t == SqlType::Boolean, right, "a BOOLEAN")?;
                Some(SqlType::Boolean)
            }
            Op::Concat => Some(SqlType::String),
            _ => {
                if let (Some(a), Some(b)) = (lt, rt)
                    && a != b
                    && !(a.is_numeric() && b.is_numeric())
                {
                    return Err(SqlError::at(
                        expr.span(),
                        format!("cannot compare {a} with {b}"),
                    ));
                }
                Some(SqlType::Boolean)
            }
        };
        Ok((Scalar::Binary(op, Box::new(l), Box::new(r)), result))
    }

    fn call(
        &mut self,
        function: Function,
        name: &str,
        args: &[&Expr],
        expr: &Expr,
    ) -> Result<Typed, SqlError> {
        let arity = |n: usize| -> Result<(), SqlError> {
            match args.len() == n {
                true => Ok(()),
                false => Err(SqlError::at(
                    expr.span(),
                    format!("`{name}` takes {n} argument(s), not {}", args.len()),
                )),
            }
        };
        let mut compiled = Vec::new();
        let mut types = Vec::new();
        for arg in args {
            let (scalar, t) = self.compile(arg)?;
            compiled.push(scalar);
            types.push(t);
        }
        let numeric = |i: usize| expect(types[i], SqlType::is_numeric, args[i], "a number");
        let text = |i: usize| expect(types[i], |t| t == SqlType::String, args[i], "a STRING");
        let result = match function {
            Function::Mod => {
                arity(2)?;
                numeric(0)?;
                numeric(1)?;
                Some(SqlType::Bigint)
            }
            Function::Abs | Function::Floor | Function::Ceil => {
                arity(1)?;
                numeric(0)?;
                types[0]
            }
            Function::Upper | Function::Lower => {
                arity(1)?;
                text(0)?;
                Some(SqlType::String)
            }
            Function::CharLength => {
                arity(1)?;
                text(0)?;
                Some(SqlType::Bigint)
            }
            Function::Concat => Some(SqlType::String),
            Function::Coalesce => types.iter().flatten().next().copied(),
            Function::ToTimestampLtz => {
                if args.is_empty() || args.len() > 2 {
                    arity(2)?;
                }
                numeric(0)?;
                Some(SqlType::Timestamp)
            }
        };
        Ok((Scalar::Call(function, compiled), result))
    }
}

/// The plain arguments of a function call.
pub(crate) fn arguments<'e>(
    args: &'e FunctionArguments,
    call: &Expr,
) -> Result<Vec<&'e Expr>, SqlError> {
    match args {
        FunctionArguments::None => Ok(Vec::new()),
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                _ => Err(SqlError::at(call.span(), "unsupported argument")),
            })
            .collect(),
        FunctionArguments::Subquery(_) => {
            Err(SqlError::at(call.span(), "subqueries are not supported"))
        }
    }
}

fn expect(
    found: Option<SqlType>,
    ok: impl Fn(SqlType) -> bool,
    expr: &Expr,
    wanted: &str,
) -> Result<(), SqlError> {
    match found {
        Some(t) if !ok(t) => Err(SqlError::at(
            expr.span(),
            format!("`{expr}` is {t}, where {wanted} is expected"),
        )),
        _ => Ok(()),
    }
}

fn literal(value: &Literal, expr: &Expr) -> Result<Typed, SqlError> {
    Ok(match value {
        Literal::Number(text, _) => match text.parse::<i64>() {
            Ok(i) => (Scalar::Literal(Value::Int(i)), Some(SqlType::Bigint)),
            Err(_) => match text.parse::<f64>() {
                Ok(f) => (Scalar::Literal(Value::Float(f)), Some(SqlType::Double)),
                Err(_) => return Err(SqlError::at(expr.span(), format!("bad number {text}"))),
            },
        },
        Literal::SingleQuotedString(s) | Literal::DoubleQuotedString(s) => (
            Scalar::Literal(Value::Str(s.clone())),
            Some(SqlType::String),
        ),
        Literal::Boolean(b) => (Scalar::Literal(Value::Bool(*b)), Some(SqlType::Boolean)),
        Literal::Null => (Scalar::Literal(Value::Null), None),
        other => {
            return Err(SqlError::at(
                expr.span(),
                format!("unsupported literal {other}"),
            ));
        }
    })
}
