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

    /// Appends a BIGINT.
    #[inline]
    pub(crate) fn push_int(&mut self, value: i64) {
        match self {
            Column::Ints(ints) => ints.push(value),
            Column::Values(values) => values.push(Value::Int(value)),
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

/// `f` over two columns of integers, in place in the left one; `None` if any row fails.
fn ints(mut a: Vec<i64>, b: &[i64], f: impl Fn(i64, i64) -> Option<i64>) -> Option<Fast> {
    for (x, &y) in a.iter_mut().zip(b) {
        *x = f(*x, y)?;
    }
    Some(Fast::Int(a))
}

/// `f` comparing two columns of integers.
fn compare(a: &[i64], b: &[i64], f: impl Fn(&i64, &i64) -> bool) -> Option<Fast> {
    Some(Fast::Bool(a.iter().zip(b).map(|(x, y)| f(x, y)).collect()))
}

/// `f` over two columns of truth values, in place in the left one.
fn bools(mut a: Vec<bool>, b: &[bool], f: impl Fn(bool, bool) -> bool) -> Option<Fast> {
    for (x, &y) in a.iter_mut().zip(b) {
        *x = f(*x, y);
    }
    Some(Fast::Bool(a))
}

fn binary(op: Op, left: Fast, right: Fast) -> Option<Fast> {
    match (left, right) {
        (Fast::Int(a), Fast::Int(b)) => match op {
            Op::Add => ints(a, &b, i64::checked_add),
            Op::Sub => ints(a, &b, i64::checked_sub),
            Op::Mul => ints(a, &b, i64::checked_mul),
            Op::Div => ints(a, &b, i64::checked_div),
            Op::Mod => ints(a, &b, i64::checked_rem),
            Op::Eq => compare(&a, &b, i64::eq),
            Op::Ne => compare(&a, &b, i64::ne),
            Op::Lt => compare(&a, &b, i64::lt),
            Op::Le => compare(&a, &b, i64::le),
            Op::Gt => compare(&a, &b, i64::gt),
            Op::Ge => compare(&a, &b, i64::ge),
            Op::And | Op::Or | Op::Concat => None,
        },
        (Fast::Bool(a), Fast::Bool(b)) => match op {
            Op::And => bools(a, &b, |x, y| x && y),
            Op::Or => bools(a, &b, |x, y| x || y),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigint_columns_run_fast_until_a_value_or_a_row_would_not() {
        let mut prices = Column::with_capacity(3);
        [10, 600, 7]
            .into_iter()
            .for_each(|p| prices.push(Value::Int(p)));
        let fields = [prices.clone()];
        let price = || Box::new(Scalar::Field(0));
        let int = |i| Box::new(Scalar::Literal(Value::Int(i)));
        // price * 908 / 1000 > 5
        let scaled = Scalar::Binary(
            Op::Div,
            Box::new(Scalar::Binary(Op::Mul, price(), int(908))),
            int(1000),
        );
        let Some(Fast::Int(values)) = fast(&scaled, &fields, 3) else {
            panic!("BIGINTs run fast");
        };
        assert_eq!(values, [9, 544, 6]);
        let above = Scalar::Binary(Op::Gt, Box::new(scaled), int(6));
        let Some(Fast::Bool(keep)) = fast(&above, &fields, 3) else {
            panic!("a comparison runs fast");
        };
        assert_eq!(keep, [true, true, false]);
        // An overflow, a division by zero, or a NULL: the row-by-row path decides.
        let overflow = Scalar::Binary(Op::Mul, price(), int(i64::MAX));
        assert!(fast(&overflow, &fields, 3).is_none());
        let by_zero = Scalar::Binary(Op::Div, price(), int(0));
        assert!(fast(&by_zero, &fields, 3).is_none());
        prices.push(Value::Null);
        assert!(matches!(prices, Column::Values(_)));
        assert_eq!(prices.values()[..2], [Value::Int(10), Value::Int(600)]);
        assert!(fast(&Scalar::Field(0), &[prices], 4).is_none());
    }
}
