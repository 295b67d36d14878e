//! A batch's columns as the evaluator holds them: a column of BIGINTs is a `Vec<i64>` for as
//! long as every value read into it is one (the common case: generators, ids, prices), and
//! falls back to tagged values at the first that is not. Expressions made only of BIGINT
//! columns, integer constants, arithmetic, comparisons, `MOD`, `AND`, `OR` and `NOT` then run
//! as tight loops over plain integers ([`fast`]); anything else takes the row-by-row path.

use crate::expr::{Function, Op, Scalar};
use crate::value::Value;

/// One field's values over a batch.
#[derive(Debug, Clone)]
pub(crate) enum Column {
    /// Every value so far a BIGINT.
    Ints(Vec<i64>),
    /// Any values.
    Values(Vec<Value>),
}

impl Column {
    pub(crate) fn with_capacity(n: usize) -> Column {
        Column::Ints(Vec::with_capacity(n))
    }

    /// Appends `value`, turning the column into tagged values at the first non-BIGINT.
    pub(crate) fn push(&mut self, value: Value) {
        match (&mut *self, value) {
            (Column::Ints(ints), Value::Int(i)) => ints.push(i),
            (Column::Values(values), value) => values.push(value),
            (Column::Ints(ints), value) => {
                let mut values: Vec<Value> = ints.iter().map(|&i| Value::Int(i)).collect();
                values.push(value);
                *self = Column::Values(values);
            }
        }
    }

    /// Its values, tagged (what the row-by-row path takes).
    pub(crate) fn values(&self) -> Vec<Value> {
        match self {
            Column::Ints(ints) => ints.iter().map(|&i| Value::Int(i)).collect(),
            Column::Values(values) => values.clone(),
        }
    }

    /// The value of row `row`.
    pub(crate) fn value(&self, row: usize) -> Value {
        match self {
            Column::Ints(ints) => Value::Int(ints[row]),
            Column::Values(values) => values[row].clone(),
        }
    }
}

/// An expression's result over a batch on the fast path.
pub(crate) enum Fast {
    Int(Vec<i64>),
    Bool(Vec<bool>),
}

/// `scalar` over the batch's `fields` (`rows` rows) as plain integers and truth values; `None`
/// when it holds anything else, or a row would fail (a division by zero, an overflow) or be
/// NULL: the row-by-row path then evaluates it and names any failure.
pub(crate) fn fast(scalar: &Scalar, fields: &[Column], rows: usize) -> Option<Fast> {
    Some(match scalar {
        Scalar::Field(n) => match fields.get(*n)? {
            Column::Ints(ints) => Fast::Int(ints.clone()),
            Column::Values(_) => return None,
        },
        Scalar::Literal(Value::Int(i)) => Fast::Int(vec![*i; rows]),
        Scalar::Literal(Value::Bool(b)) => Fast::Bool(vec![*b; rows]),
        Scalar::Not(arg) => match fast(arg, fields, rows)? {
            Fast::Bool(b) => Fast::Bool(b.into_iter().map(|b| !b).collect()),
            Fast::Int(_) => return None,
        },
        Scalar::Negate(arg) => match fast(arg, fields, rows)? {
            Fast::Int(ints) => Fast::Int(
                ints.into_iter()
                    .map(i64::checked_neg)
                    .collect::<Option<_>>()?,
            ),
            Fast::Bool(_) => return None,
        },
        Scalar::Binary(op, left, right) => {
            binary(*op, fast(left, fields, rows)?, fast(right, fields, rows)?)?
        }
        Scalar::Call(Function::Mod, args) => match args.as_slice() {
            [a, b] => binary(Op::Mod, fast(a, fields, rows)?, fast(b, fields, rows)?)?,
            _ => return None,
        },
        _ => return None,
    })
}

fn binary(op: Op, left: Fast, right: Fast) -> Option<Fast> {
    let ints = |f: fn(i64, i64) -> Option<i64>, a: Vec<i64>, b: Vec<i64>| {
        a.into_iter()
            .zip(b)
            .map(|(x, y)| f(x, y))
            .collect::<Option<Vec<i64>>>()
            .map(Fast::Int)
    };
    let compare = |f: fn(&i64, &i64) -> bool, a: Vec<i64>, b: Vec<i64>| {
        Some(Fast::Bool(a.iter().zip(&b).map(|(x, y)| f(x, y)).collect()))
    };
    match (left, right) {
        (Fast::Int(a), Fast::Int(b)) => match op {
            Op::Add => ints(i64::checked_add, a, b),
            Op::Sub => ints(i64::checked_sub, a, b),
            Op::Mul => ints(i64::checked_mul, a, b),
            Op::Div => ints(i64::checked_div, a, b),
            Op::Mod => ints(i64::checked_rem, a, b),
            Op::Eq => compare(i64::eq, a, b),
            Op::Ne => compare(i64::ne, a, b),
            Op::Lt => compare(i64::lt, a, b),
            Op::Le => compare(i64::le, a, b),
            Op::Gt => compare(i64::gt, a, b),
            Op::Ge => compare(i64::ge, a, b),
            Op::And | Op::Or | Op::Concat => None,
        },
        (Fast::Bool(a), Fast::Bool(b)) => match op {
            Op::And => Some(Fast::Bool(
                a.iter().zip(&b).map(|(x, y)| *x && *y).collect(),
            )),
            Op::Or => Some(Fast::Bool(
                a.iter().zip(&b).map(|(x, y)| *x || *y).collect(),
            )),
            _ => None,
        },
        _ => None,
    }
}
