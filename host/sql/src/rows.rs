//! SQL's binary rows: how a SQL job's steps hand rows to each other without JSON. A row is a
//! marker byte (0xFF, which never starts UTF-8 text, so a step tells a row from a JSON record)
//! and its columns in order, each a tag byte and its payload; the plan knows the columns'
//! names. Reading a column is a few loads at a known place, where JSON needs a validating scan
//! of the whole record, and writing one is a copy, where JSON needs digits formatted.

use crate::value::Value;

/// The first byte of every binary row.
pub const ROW_MARKER: u8 = 0xFF;

const NULL: u8 = 0;
const INT: u8 = 1;
const FLOAT: u8 = 2;
const FALSE: u8 = 3;
const TRUE: u8 = 4;
const STR: u8 = 5;
const TIME: u8 = 6;

/// Whether `value` is a binary row (rather than JSON text).
pub fn is_row(value: &[u8]) -> bool {
    value.first() == Some(&ROW_MARKER)
}

/// Starts a row in `out`.
pub fn begin(out: &mut Vec<u8>) {
    out.push(ROW_MARKER);
}

/// Appends a BIGINT column (what generators write without building [`Value`]s).
#[inline]
pub fn push_int(out: &mut Vec<u8>, value: i64) {
    out.push(INT);
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a column.
pub(crate) fn push(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(NULL),
        Value::Int(i) => push_int(out, *i),
        Value::Float(f) => {
            out.push(FLOAT);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Bool(b) => out.push(if *b { TRUE } else { FALSE }),
        Value::Str(s) => {
            out.push(STR);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Time(t) => {
            out.push(TIME);
            out.extend_from_slice(&t.to_le_bytes());
        }
    }
}

/// How many columns `row` has if every one is a BIGINT (then column `c` is [`int_at`]); `None`
/// otherwise.
#[inline]
pub(crate) fn all_ints(row: &[u8]) -> Option<usize> {
    let body = row.get(1..)?;
    if body.len() % 9 != 0 || !body.chunks_exact(9).all(|c| c[0] == INT) {
        return None;
    }
    Some(body.len() / 9)
}

/// Column `column` of a row [`all_ints`] accepted.
#[inline]
pub(crate) fn int_at(row: &[u8], column: usize) -> i64 {
    let at = 2 + 9 * column;
    row.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, i64::from_le_bytes)
}

/// Column `column` of `row` if it is a BIGINT (a sink or a check reading one number).
pub fn int_column(row: &[u8], column: usize) -> Option<i64> {
    let mut found = None;
    read(row, |i, value| {
        if let (true, Value::Int(n)) = (i == column, value) {
            found = Some(n);
        }
    })
    .ok()?;
    found
}

/// Calls `column(i, value)` for each column of `row` in order; `Err` names what is wrong with a
/// malformed row.
#[inline]
pub(crate) fn read(row: &[u8], mut column: impl FnMut(usize, Value)) -> Result<(), String> {
    let mut at = 1;
    let mut index = 0;
    while at < row.len() {
        let eight = |at: usize| -> Result<[u8; 8], String> {
            row.get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("a binary row ends inside column {index}"))
        };
        let tag = row[at];
        at += 1;
        let (value, used) = match tag {
            NULL => (Value::Null, 0),
            INT => (Value::Int(i64::from_le_bytes(eight(at)?)), 8),
            FLOAT => (
                Value::Float(f64::from_bits(u64::from_le_bytes(eight(at)?))),
                8,
            ),
            FALSE => (Value::Bool(false), 0),
            TRUE => (Value::Bool(true), 0),
            STR => {
                let cut = || format!("a binary row ends inside column {index}");
                let len = row
                    .get(at..at + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_le_bytes)
                    .ok_or_else(cut)? as usize;
                let text = row.get(at + 4..at + 4 + len).ok_or_else(cut)?;
                let text = std::str::from_utf8(text)
                    .map_err(|_| format!("column {index} of a binary row is not UTF-8"))?;
                (Value::Str(text.to_string()), 4 + len)
            }
            TIME => (Value::Time(i64::from_le_bytes(eight(at)?)), 8),
            other => return Err(format!("column {index} of a binary row has tag {other}")),
        };
        at += used;
        column(index, value);
        index += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_every_kind_of_value_and_refuse_a_cut_row() {
        let values = [
            Value::Int(-7),
            Value::Null,
            Value::Float(2.5),
            Value::Str("héllo".into()),
            Value::Bool(true),
            Value::Time(1_767_225_600_000),
            Value::Bool(false),
        ];
        let mut row = Vec::new();
        begin(&mut row);
        values.iter().for_each(|v| push(&mut row, v));
        assert!(is_row(&row) && !is_row(b"{}"));
        let mut read_back = Vec::new();
        read(&row, |i, v| read_back.push((i, v))).unwrap();
        assert_eq!(
            read_back,
            values.iter().cloned().enumerate().collect::<Vec<_>>()
        );
        let error = read(&row[..row.len() - 5], |_, _| {}).unwrap_err();
        assert_eq!(error, "a binary row ends inside column 5");
    }
}
