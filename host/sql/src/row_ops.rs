//! One row's operations of the native evaluator: SQL's arithmetic, comparisons and
//! three-valued logic, casts, and the built-in functions.

use crate::expr::{Function, Op};
use crate::value::{SqlType, Value};

fn arithmetic(op: Op, a: i64, b: i64) -> Result<Value, String> {
    let result = match op {
        Op::Add => a.checked_add(b),
        Op::Sub => a.checked_sub(b),
        Op::Mul => a.checked_mul(b),
        Op::Div if b == 0 => return Err("division by zero".into()),
        Op::Div => a.checked_div(b),
        Op::Mod if b == 0 => return Err("MOD by zero".into()),
        Op::Mod => a.checked_rem(b),
        _ => None,
    };
    result
        .map(Value::Int)
        .ok_or_else(|| format!("BIGINT overflow in {a} {op:?} {b}"))
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// SQL's three-valued logic and arithmetic on one row.
pub(crate) fn binary(op: Op, a: Value, b: Value) -> Result<Value, String> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    Ok(match op {
        Op::And => match (a, b) {
            (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
            (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
            _ => Value::Null,
        },
        Op::Or => match (a, b) {
            (Value::Bool(true), _) | (_, Value::Bool(true)) => Value::Bool(true),
            (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
            _ => Value::Null,
        },
        Op::Concat => match (a, b) {
            (Value::Null, _) | (_, Value::Null) => Value::Null,
            (a, b) => Value::Str(format!("{}{}", text(&a), text(&b))),
        },
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod => match (&a, &b) {
            (Value::Null, _) | (_, Value::Null) => Value::Null,
            (Value::Int(x), Value::Int(y)) => arithmetic(op, *x, *y)?,
            // A time and an interval (ms): a time.
            (Value::Time(t), Value::Int(ms)) if matches!(op, Op::Add | Op::Sub) => {
                match arithmetic(op, *t, *ms)? {
                    Value::Int(moved) => Value::Time(moved),
                    other => other,
                }
            }
            _ => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => Value::Float(match op {
                    Op::Add => x + y,
                    Op::Sub => x - y,
                    Op::Mul => x * y,
                    Op::Div => x / y,
                    _ => x % y,
                }),
                _ => return Err(format!("cannot compute {a:?} {op:?} {b:?}")),
            },
        },
        Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => match compare(&a, &b) {
            None => Value::Null,
            Some(order) => Value::Bool(match op {
                Op::Eq => order == Equal,
                Op::Ne => order != Equal,
                Op::Lt => order == Less,
                Op::Le => order != Greater,
                Op::Gt => order == Greater,
                _ => order != Less,
            }),
        },
    })
}

/// A value as text (CONCAT, CAST to STRING).
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => s.clone(),
        Value::Bool(b) => b.to_string().to_uppercase(),
        Value::Time(t) => crate::value::timestamp_text(*t),
    }
}

pub(crate) fn cast(v: Value, to: SqlType) -> Result<Value, String> {
    Ok(match (v, to) {
        (Value::Null, _) => Value::Null,
        (Value::Int(i), SqlType::Bigint) => Value::Int(i),
        (Value::Float(f), SqlType::Bigint) => Value::Int(f.trunc() as i64),
        (Value::Str(s), SqlType::Bigint) => Value::Int(
            s.trim()
                .parse()
                .map_err(|_| format!("cannot cast '{s}' to BIGINT"))?,
        ),
        (Value::Bool(b), SqlType::Bigint) => Value::Int(i64::from(b)),
        (Value::Time(t), SqlType::Bigint) => Value::Int(t),
        (Value::Str(s), SqlType::Double) => Value::Float(
            s.trim()
                .parse()
                .map_err(|_| format!("cannot cast '{s}' to DOUBLE"))?,
        ),
        (v, SqlType::Double) => v.as_f64().map_or(Value::Null, Value::Float),
        (v, SqlType::String) => Value::Str(text(&v)),
        (Value::Bool(b), SqlType::Boolean) => Value::Bool(b),
        (Value::Str(s), SqlType::Boolean) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("cannot cast '{s}' to BOOLEAN")),
        },
        (Value::Int(i), SqlType::Timestamp) | (Value::Time(i), SqlType::Timestamp) => {
            Value::Time(i)
        }
        (Value::Str(s), SqlType::Timestamp) => Value::Time(
            crate::value::parse_timestamp(&s)
                .ok_or_else(|| format!("cannot cast '{s}' to TIMESTAMP(3)"))?,
        ),
        (v, to) => return Err(format!("cannot cast {v:?} to {to}")),
    })
}

pub(crate) fn call(function: Function, args: &[&Value]) -> Result<Value, String> {
    let first = args.first().copied().unwrap_or(&Value::Null);
    Ok(match function {
        Function::Mod => match (first, args.get(1).copied().unwrap_or(&Value::Null)) {
            (Value::Null, _) | (_, Value::Null) => Value::Null,
            (a, b) => binary(Op::Mod, a.clone(), b.clone())?,
        },
        Function::Abs => match first {
            Value::Int(i) => i.checked_abs().map_or(Value::Null, Value::Int),
            Value::Float(f) => Value::Float(f.abs()),
            _ => Value::Null,
        },
        Function::Floor => match first {
            Value::Float(f) => Value::Float(f.floor()),
            other => other.clone(),
        },
        Function::Ceil => match first {
            Value::Float(f) => Value::Float(f.ceil()),
            other => other.clone(),
        },
        Function::Upper => match first {
            Value::Str(s) => Value::Str(s.to_uppercase()),
            _ => Value::Null,
        },
        Function::Lower => match first {
            Value::Str(s) => Value::Str(s.to_lowercase()),
            _ => Value::Null,
        },
        Function::CharLength => match first {
            Value::Str(s) => Value::Int(s.chars().count() as i64),
            _ => Value::Null,
        },
        Function::Concat => match args.iter().any(|a| **a == Value::Null) {
            true => Value::Null,
            false => Value::Str(args.iter().map(|a| text(a)).collect()),
        },
        Function::Coalesce => args
            .iter()
            .find(|a| ***a != Value::Null)
            .map_or(Value::Null, |a| (*a).clone()),
        Function::ToTimestampLtz => {
            let precision = match args.get(1) {
                Some(Value::Int(p)) => *p,
                _ => 3,
            };
            match (first, precision) {
                (Value::Int(ms), 3) => Value::Time(*ms),
                (Value::Int(s), 0) => Value::Time(s.saturating_mul(1000)),
                (Value::Null, _) => Value::Null,
                (v, p) => return Err(format!("TO_TIMESTAMP_LTZ({v:?}, {p}): precision 0 or 3")),
            }
        }
    })
}
