//! The native `select` operator's work: SQL expressions over each record's JSON fields,
//! evaluated a batch at a time — each input field is read once per record in one validating
//! pass, then every expression node runs over the whole batch's column of values.

use crate::columns::{Column, Fast, fast};
use crate::error::SqlError;
use crate::expr::{Compiler, Scalar, Scope, Udfs};
use crate::lateral::Lateral;
use crate::row_ops::{binary, call, cast};
use crate::rows;
use crate::value::Value;
use sqlparser::ast::{Expr, SelectItem};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use weir_proto::spec::{SelectOutput, SelectSpec};
use weir_proto::{RecordBatch, RecordRef};

/// A compiled `select` step.
#[derive(Debug, Clone)]
pub struct Projection {
    fields: Vec<String>,
    columns: Vec<(String, Scalar)>,
    condition: Option<Scalar>,
    functions: Vec<String>,
    lateral: Option<Lateral>,
    output: SelectOutput,
    /// For each column of the input's binary rows, the field it is (none: not read).
    row_fields: Vec<Option<usize>>,
    /// How many of `fields` are columns of the binary rows.
    row_fields_read: usize,
}

/// A record the projection refused: its index in the batch and why.
pub type Refused = (usize, String);

/// Per row, a scalar function's result (its JSON text) or why the row failed.
pub type CallResults = Vec<Result<Vec<u8>, String>>;

/// Calls a projection's Wasm scalar functions: the operator that runs it holds the instances.
pub trait ScalarCalls {
    /// Calls function `index` (of [`Projection::functions`]) once for the batch: per row, the
    /// arguments as a JSON array, `None` for a row not to evaluate (any result stands there).
    /// `Err` when the call itself failed (a trap): the batch cannot go on.
    fn call(&mut self, index: usize, args: &[Option<Vec<u8>>]) -> Result<CallResults, String>;

    /// Calls the step's table function once for the batch, the arguments as for [`call`]: per
    /// row asked, the rows it returned (their JSON texts) or why the row failed.
    ///
    /// [`call`]: ScalarCalls::call
    fn table(&mut self, args: &[Option<Vec<u8>>]) -> Result<TableResults, String> {
        let _ = args;
        Err("no table function is loaded".to_string())
    }
}

/// Per row, the rows a table function returned (their JSON texts) or why the row failed.
pub type TableResults = Vec<Result<Vec<Vec<u8>>, String>>;

/// For a projection without Wasm functions.
pub struct NoFunctions;

impl ScalarCalls for NoFunctions {
    fn call(&mut self, index: usize, _: &[Option<Vec<u8>>]) -> Result<CallResults, String> {
        Err(format!("no scalar function {index} is loaded"))
    }
}

pub(crate) fn parser(text: &str) -> Result<Parser<'static>, SqlError> {
    Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .map_err(SqlError::parse)
}

/// The output name of select item `expr` without an alias: a column's own name, else Flink's
/// `EXPR$n`.
pub(crate) fn default_name(expr: &Expr, index: usize) -> String {
    match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => parts
            .last()
            .map_or_else(|| format!("EXPR${index}"), |p| p.value.clone()),
        _ => format!("EXPR${index}"),
    }
}

/// A select item's expression and output name (its alias, else [`default_name`]); `None` for
/// `*` and other items that are not one expression.
pub(crate) fn named_item(item: &SelectItem, index: usize) -> Option<(&Expr, String)> {
    match item {
        SelectItem::UnnamedExpr(expr) => Some((expr, default_name(expr, index))),
        SelectItem::ExprWithAlias { expr, alias } => Some((expr, alias.value.clone())),
        _ => None,
    }
}

impl Projection {
    /// Compiles a `select` step (its expressions are SQL text).
    pub fn parse(spec: &SelectSpec) -> Result<Projection, SqlError> {
        let udfs = Udfs::named(spec.functions.clone());
        let mut compiler = Compiler::new(Scope {
            columns: None,
            rowtime: spec.rowtime.as_deref(),
            functions: &udfs,
        });
        let mut lateral = match &spec.lateral {
            Some(lateral) => Some(Lateral::compile(lateral, &mut compiler)?),
            None => None,
        };
        let mut columns = Vec::new();
        for (index, text) in spec.columns.iter().enumerate() {
            let item = parser(text)?.parse_select_item().map_err(SqlError::parse)?;
            let (expr, name) = match item {
                SelectItem::UnnamedExpr(expr) => {
                    let name = default_name(&expr, index);
                    (expr, name)
                }
                SelectItem::ExprWithAlias { expr, alias } => (expr, alias.value),
                _ => {
                    return Err(SqlError::at_place(
                        (1, 1),
                        format!("`{text}`: a column is an expression, `expression [AS name]`"),
                    ));
                }
            };
            columns.push((name, compiler.compile(&expr)?.0));
        }
        let condition = match &spec.condition {
            Some(text) => {
                let expr = parser(text)?.parse_expr().map_err(SqlError::parse)?;
                Some(compiler.compile(&expr)?.0)
            }
            None => None,
        };
        if let Some(lateral) = &mut lateral {
            lateral.bind(&compiler.fields);
        }
        Ok(Projection {
            columns,
            condition,
            functions: spec.functions.clone(),
            row_fields: spec
                .input_rows
                .iter()
                .map(|c| compiler.fields.iter().position(|f| f == c))
                .collect(),
            row_fields_read: compiler
                .fields
                .iter()
                .filter(|f| spec.input_rows.contains(f))
                .count(),
            fields: compiler.fields,
            lateral,
            output: spec.output,
        })
    }

    /// The Wasm scalar functions its step names (module names), in the order calls number
    /// them.
    pub fn functions(&self) -> &[String] {
        &self.functions
    }

    /// Whether its expressions call function `index` of [`Projection::functions`]: a step may
    /// name functions it never calls (a SQL query's aggregate and table functions), which need
    /// no scalar instance.
    pub fn calls(&self, index: usize) -> bool {
        let mut called = Vec::new();
        let scalars = self.columns.iter().map(|(_, s)| s);
        for scalar in scalars.chain(&self.condition) {
            scalar.calls(&mut called);
        }
        if let Some(lateral) = &self.lateral {
            lateral.calls(&mut called);
        }
        called.get(index).copied().unwrap_or(false)
    }

    /// Evaluates the projection over `batch`: the output records (key and event time kept),
    /// and the records refused (not a JSON object, an error such as division by zero, a
    /// function's rejection). `Err` if a scalar function's call failed as a whole. With a table
    /// function, a record gives a row per row the function returns, and a record any of whose
    /// rows fails is refused whole.
    pub fn apply(
        &self,
        batch: &RecordBatch,
        calls: &mut dyn ScalarCalls,
    ) -> Result<(RecordBatch, Vec<Refused>), String> {
        let n = batch.len();
        let mut errors: Vec<Option<String>> = vec![None; n];
        let records: Vec<RecordRef> = batch.iter().collect();
        let (input, times) = self.read(&records, &mut errors);
        let mut batch_input = Input {
            fields: &input,
            times: &times,
            rows: n,
            calls,
            fatal: None,
        };
        let expanded = self
            .lateral
            .as_ref()
            .map(|lateral| lateral.expand(&mut batch_input, &mut errors));
        if let Some(fatal) = batch_input.fatal.take() {
            return Err(fatal);
        }
        let (rows, origin) = match &expanded {
            Some(rows) => (
                Input {
                    fields: &rows.fields,
                    times: &rows.times,
                    rows: rows.origin.len(),
                    calls: batch_input.calls,
                    fatal: None,
                },
                Some(rows.origin.as_slice()),
            ),
            None => (batch_input, None),
        };
        let origin_of = |row: usize| origin.map_or(row, |o| o[row]);
        let (keep, outputs, row_errors) = self.evaluate(rows)?;
        for (row, error) in row_errors.into_iter().enumerate() {
            if let Some(error) = error {
                errors[origin_of(row)].get_or_insert(error);
            }
        }
        let mut out = RecordBatch::with_capacity(keep.len(), 32);
        for (row, kept) in keep.iter().enumerate() {
            let record = records[origin_of(row)];
            if !kept || errors[origin_of(row)].is_some() {
                continue;
            }
            out.push_with(record.key, record.timestamp, |line| {
                self.write_row(&outputs, row, line)
            });
        }
        let refused = errors
            .into_iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|e| (i, e)))
            .collect();
        Ok((out, refused))
    }

    /// The fields the expressions read, a column per field, from one pass over each record;
    /// and each record's event time. A record that is not a JSON object fails in `errors`.
    fn read(&self, batch: &[RecordRef], errors: &mut [Option<String>]) -> (Vec<Column>, Vec<i64>) {
        let n = batch.len();
        let mut input: Vec<Column> = vec![Column::with_capacity(n); self.fields.len()];
        let names: Vec<&str> = self.fields.iter().map(String::as_str).collect();
        let mut found = vec![None; names.len()];
        let mut row_values = vec![Value::Null; names.len()];
        let mut times = Vec::with_capacity(n);
        for (i, record) in batch.iter().enumerate() {
            times.push(record.timestamp);
            if names.is_empty() {
                continue;
            }
            if !self.row_fields.is_empty() && rows::is_row(record.value) {
                // A row of BIGINTs holding every field: each read at its place.
                if let Some(count) = rows::all_ints(record.value)
                    && self.row_fields_read == self.fields.len()
                    && count >= self.row_fields.len()
                {
                    for (column, field) in self.row_fields.iter().enumerate() {
                        if let Some(field) = field {
                            input[*field].push_int(rows::int_at(record.value, column));
                        }
                    }
                    continue;
                }
                let read = rows::read(record.value, |column, value| {
                    if let Some(&Some(field)) = self.row_fields.get(column) {
                        row_values[field] = value;
                    }
                });
                if let Err(error) = read {
                    errors[i] = Some(error);
                }
                for (column, value) in input.iter_mut().zip(&mut row_values) {
                    column.push(std::mem::replace(value, Value::Null));
                }
                continue;
            }
            match weir_json::fields_into(record.value, &names, &mut found) {
                Ok(()) => {
                    for (column, raw) in input.iter_mut().zip(&found) {
                        column.push(raw.map_or(Value::Null, Value::from_json));
                    }
                }
                Err(error) => {
                    errors[i] = Some(error.to_string());
                    input.iter_mut().for_each(|column| column.push(Value::Null));
                }
            }
        }
        (input, times)
    }

    /// The condition and the columns over `rows`: which rows are kept, each column's values,
    /// and each row's failure. Expressions over BIGINT columns run on the fast path.
    #[allow(clippy::type_complexity)]
    fn evaluate(
        &self,
        mut rows: Input<'_>,
    ) -> Result<(Vec<bool>, Vec<Column>, Vec<Option<String>>), String> {
        let mut errors: Vec<Option<String>> = vec![None; rows.rows];
        let keep: Vec<bool> = match &self.condition {
            Some(condition) => match fast(condition, rows.fields, rows.rows) {
                Some(Fast::Bool(keep)) => keep,
                _ => rows
                    .eval(condition, &mut errors)
                    .into_iter()
                    .map(|v| v == Value::Bool(true))
                    .collect(),
            },
            None => vec![true; rows.rows],
        };
        // The columns over the kept rows only on the row-by-row path (a dropped row is marked
        // failed, so it cannot fail on, say, a division by zero, nor call a function), in one
        // set of marks made when a column first needs it.
        let mut masked: Option<Vec<Option<String>>> = None;
        let mut outputs: Vec<Column> = Vec::with_capacity(self.columns.len());
        for (_, scalar) in &self.columns {
            outputs.push(match fast(scalar, rows.fields, rows.rows) {
                Some(Fast::Int(ints)) => Column::Ints(ints),
                Some(Fast::Bool(bools)) => {
                    Column::Values(bools.into_iter().map(Value::Bool).collect())
                }
                None => {
                    let marks = masked.get_or_insert_with(|| {
                        keep.iter().map(|k| (!k).then(String::new)).collect()
                    });
                    Column::Values(rows.eval(scalar, marks))
                }
            });
        }
        for ((error, kept), masked) in errors
            .iter_mut()
            .zip(&keep)
            .zip(masked.into_iter().flatten())
        {
            if *kept && error.is_none() {
                *error = masked;
            }
        }
        match rows.fatal {
            Some(fatal) => Err(fatal),
            None => Ok((keep, outputs, errors)),
        }
    }

    /// Row `row` of `outputs` as a JSON object, a JSON array or a binary row.
    fn write_row(&self, outputs: &[Column], row: usize, line: &mut Vec<u8>) {
        let array = match self.output {
            SelectOutput::Rows => {
                rows::begin(line);
                for column in outputs {
                    match column {
                        Column::Ints(ints) => rows::push_int(line, ints[row]),
                        Column::Values(values) => rows::push(line, &values[row]),
                    }
                }
                return;
            }
            SelectOutput::Array => true,
            SelectOutput::Object => false,
        };
        line.push(if array { b'[' } else { b'{' });
        for (c, (name, _)) in self.columns.iter().enumerate() {
            if c > 0 {
                line.push(b',');
            }
            if !array {
                weir_json::write_string(name, line);
                line.push(b':');
            }
            match &outputs[c] {
                Column::Ints(ints) => {
                    line.extend_from_slice(itoa::Buffer::new().format(ints[row]).as_bytes())
                }
                Column::Values(values) => values[row].write_json(line),
            }
        }
        line.push(if array { b']' } else { b'}' });
    }
}

/// Per row, its arguments (a column each in `args`) as a JSON array; `None` for a row that
/// already failed.
pub(crate) fn argument_arrays(
    args: &[Vec<Value>],
    errors: &[Option<String>],
) -> Vec<Option<Vec<u8>>> {
    errors
        .iter()
        .enumerate()
        .map(|(row, error)| {
            error.is_none().then(|| {
                let mut array = vec![b'['];
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        array.push(b',');
                    }
                    arg[row].write_json(&mut array);
                }
                array.push(b']');
                array
            })
        })
        .collect()
}

/// A batch's input columns, and the functions its expressions call.
pub(crate) struct Input<'a> {
    pub(crate) fields: &'a [Column],
    pub(crate) times: &'a [i64],
    pub(crate) rows: usize,
    pub(crate) calls: &'a mut dyn ScalarCalls,
    /// A function call that failed as a whole.
    pub(crate) fatal: Option<String>,
}

impl Input<'_> {
    /// `scalar` over every row; a row's failure goes to `errors[row]` (the first one stays).
    pub(crate) fn eval(&mut self, scalar: &Scalar, errors: &mut [Option<String>]) -> Vec<Value> {
        match scalar {
            Scalar::Field(n) => self.fields[*n].values(),
            Scalar::RowTime => self.times.iter().map(|&t| Value::Time(t)).collect(),
            Scalar::Literal(v) => vec![v.clone(); self.rows],
            Scalar::Negate(arg) => self
                .eval(arg, errors)
                .into_iter()
                .map(|v| match v {
                    Value::Int(i) => i.checked_neg().map_or(Value::Null, Value::Int),
                    Value::Float(f) => Value::Float(-f),
                    _ => Value::Null,
                })
                .collect(),
            Scalar::Not(arg) => self
                .eval(arg, errors)
                .into_iter()
                .map(|v| match v {
                    Value::Bool(b) => Value::Bool(!b),
                    _ => Value::Null,
                })
                .collect(),
            Scalar::IsNull(arg, negated) => self
                .eval(arg, errors)
                .into_iter()
                .map(|v| Value::Bool((v == Value::Null) != *negated))
                .collect(),
            Scalar::Binary(op, left, right) => {
                let (l, r) = (self.eval(left, errors), self.eval(right, errors));
                l.into_iter()
                    .zip(r)
                    .enumerate()
                    .map(|(row, (a, b))| match binary(*op, a, b) {
                        Ok(v) => v,
                        Err(error) => {
                            errors[row].get_or_insert(error);
                            Value::Null
                        }
                    })
                    .collect()
            }
            Scalar::Case(branches, otherwise) => {
                let mut result: Vec<Option<Value>> = vec![None; self.rows];
                for (condition, value) in branches {
                    let (c, v) = (self.eval(condition, errors), self.eval(value, errors));
                    for (row, (c, v)) in c.into_iter().zip(v).enumerate() {
                        if result[row].is_none() && c == Value::Bool(true) {
                            result[row] = Some(v);
                        }
                    }
                }
                let fallback = match otherwise {
                    Some(e) => self.eval(e, errors),
                    None => vec![Value::Null; self.rows],
                };
                result
                    .into_iter()
                    .zip(fallback)
                    .map(|(r, f)| r.unwrap_or(f))
                    .collect()
            }
            Scalar::Cast(arg, to) => self
                .eval(arg, errors)
                .into_iter()
                .enumerate()
                .map(|(row, v)| match cast(v, *to) {
                    Ok(v) => v,
                    Err(error) => {
                        errors[row].get_or_insert(error);
                        Value::Null
                    }
                })
                .collect(),
            Scalar::Udf(index, args) => {
                let args: Vec<Vec<Value>> = args.iter().map(|a| self.eval(a, errors)).collect();
                let rows = argument_arrays(&args, errors);
                match self.calls.call(*index, &rows) {
                    Ok(results) => results
                        .into_iter()
                        .zip(&rows)
                        .enumerate()
                        .map(|(row, (result, asked))| match (result, asked) {
                            (Ok(text), Some(_)) => std::str::from_utf8(&text)
                                .map_or(Value::Null, |text| Value::from_json(text.trim())),
                            (Err(error), Some(_)) => {
                                errors[row].get_or_insert(error);
                                Value::Null
                            }
                            (_, None) => Value::Null,
                        })
                        .collect(),
                    Err(fatal) => {
                        self.fatal.get_or_insert(fatal);
                        vec![Value::Null; self.rows]
                    }
                }
            }
            Scalar::Call(function, args) => {
                let args: Vec<Vec<Value>> = args.iter().map(|a| self.eval(a, errors)).collect();
                (0..self.rows)
                    .map(|row| {
                        let row_args: Vec<&Value> = args.iter().map(|a| &a[row]).collect();
                        match call(*function, &row_args) {
                            Ok(v) => v,
                            Err(error) => {
                                errors[row].get_or_insert(error);
                                Value::Null
                            }
                        }
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(columns: &[&str], condition: Option<&str>, records: &[&str]) -> Vec<String> {
        let spec = SelectSpec {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            condition: condition.map(str::to_string),
            rowtime: Some("ts".into()),
            ..SelectSpec::default()
        };
        let projection = Projection::parse(&spec).unwrap();
        let mut batch = RecordBatch::default();
        for (i, r) in records.iter().enumerate() {
            batch.push(None, r.as_bytes(), i as i64);
        }
        let (out, refused) = projection.apply(&batch, &mut NoFunctions).unwrap();
        let mut lines: Vec<String> = out
            .iter()
            .map(|r| String::from_utf8(r.value.to_vec()).unwrap())
            .collect();
        lines.extend(
            refused
                .into_iter()
                .map(|(i, e)| format!("refused {i}: {e}")),
        );
        lines
    }

    #[test]
    fn w2_projects_and_filters_like_flink() {
        let out = run(
            &["auction", "price * 908 / 1000 AS price_eur"],
            Some("MOD(auction, 123) = 0 OR price > 500"),
            &[
                r#"{"auction":246,"bidder":1,"price":100}"#,
                r#"{"auction":7,"bidder":1,"price":501}"#,
                r#"{"auction":7,"bidder":1,"price":500}"#,
            ],
        );
        assert_eq!(
            out,
            [
                r#"{"auction":246,"price_eur":90}"#,
                r#"{"auction":7,"price_eur":454}"#
            ]
        );
    }

    #[test]
    fn case_cast_null_logic_and_rowtime() {
        let out = run(
            &[
                "CASE WHEN price > 10 THEN 'high' ELSE 'low' END AS band",
                "CAST(price AS DOUBLE) / 4",
                "name IS NULL AS anonymous",
                "ts",
                "UPPER(CONCAT(tag, '!')) AS shout",
            ],
            Some("NOT (price < 0)"),
            &[
                r#"{"price":20,"tag":"a"}"#,
                r#"{"price":5,"name":"x","tag":"b"}"#,
            ],
        );
        assert_eq!(
            out,
            [
                r#"{"band":"high","EXPR$1":5.0,"anonymous":true,"ts":"1970-01-01 00:00:00.000","shout":"A!"}"#,
                r#"{"band":"low","EXPR$1":1.25,"anonymous":false,"ts":"1970-01-01 00:00:00.001","shout":"B!"}"#,
            ]
        );
    }

    #[test]
    fn a_bad_record_is_refused_with_the_reason_and_others_go_on() {
        let out = run(
            &["a / b AS q"],
            None,
            &[r#"{"a":1,"b":0}"#, "not json", r#"{"a":6,"b":3}"#],
        );
        assert_eq!(out[0], r#"{"q":2}"#);
        assert_eq!(out[1], "refused 0: division by zero");
        assert!(
            out[2].starts_with("refused 1: not a JSON object"),
            "{}",
            out[2]
        );
    }

    #[test]
    fn a_dropped_row_never_fails() {
        let out = run(&["a / b AS q"], Some("b <> 0"), &[r#"{"a":1,"b":0}"#]);
        assert!(out.is_empty(), "{out:?}");
    }
}
