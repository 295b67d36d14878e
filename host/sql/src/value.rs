//! SQL values and types as the native evaluator holds them, read from and written to the JSON
//! text of records.

use std::fmt;

/// A column's SQL type (the subset Weir's SQL knows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    /// BIGINT, INT, SMALLINT, TINYINT.
    Bigint,
    /// DOUBLE, FLOAT, DECIMAL (as a double).
    Double,
    /// STRING, VARCHAR, CHAR.
    String,
    /// BOOLEAN.
    Boolean,
    /// TIMESTAMP(3), TIMESTAMP_LTZ(3): ms since the epoch, written as `YYYY-MM-DD HH:MM:SS.sss`.
    Timestamp,
    /// Known only when the query runs: a column of a table function's rows (a module does not
    /// declare its result's types), checked row by row.
    Any,
}

impl SqlType {
    /// Whether arithmetic takes it.
    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, SqlType::Bigint | SqlType::Double | SqlType::Any)
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SqlType::Bigint => "BIGINT",
            SqlType::Double => "DOUBLE",
            SqlType::String => "STRING",
            SqlType::Boolean => "BOOLEAN",
            SqlType::Timestamp => "TIMESTAMP(3)",
            SqlType::Any => "ANY",
        })
    }
}

/// One value of a column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// SQL NULL (also an absent field).
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text.
    Str(String),
    /// A truth value.
    Bool(bool),
    /// A point in time, ms since the epoch.
    Time(i64),
}

impl Value {
    /// The value of a member's raw JSON text: numbers, strings, booleans, null; an object or an
    /// array stays its JSON text.
    pub(crate) fn from_json(raw: &str) -> Value {
        match raw.as_bytes().first() {
            Some(b'"') => {
                let inner = &raw[1..raw.len().saturating_sub(1).max(1)];
                match inner.contains('\\') {
                    false => Value::Str(inner.to_string()),
                    true => weir_json::unescape(inner).map_or(Value::Null, Value::Str),
                }
            }
            Some(b't') => Value::Bool(true),
            Some(b'f') => Value::Bool(false),
            Some(b'n') => Value::Null,
            Some(b'{' | b'[') => Value::Str(raw.to_string()),
            _ => match weir_json::int(raw) {
                Some(int) => Value::Int(int),
                None => raw.parse().map_or(Value::Null, Value::Float),
            },
        }
    }

    /// Appends the value as JSON.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            // A DOUBLE stays one in the JSON: 908.0, not 908.
            Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 => {
                out.extend_from_slice(format!("{f:.1}").as_bytes());
            }
            Value::Float(f) if f.is_finite() => out.extend_from_slice(f.to_string().as_bytes()),
            Value::Float(_) => out.extend_from_slice(b"null"),
            Value::Str(s) => weir_json::write_string(s, out),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Time(ms) => weir_json::write_string(&timestamp_text(*ms), out),
        }
    }

    /// As a number, if it is one.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// `ms` since the epoch as SQL's `YYYY-MM-DD HH:MM:SS.sss` (UTC).
pub fn timestamp_text(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let (hours, minutes) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
    let (seconds, millis) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02} {hours:02}:{minutes:02}:{seconds:02}.{millis:03}")
}

/// SQL's time text `YYYY-MM-DD HH:MM:SS[.sss]` (UTC; `T` also separates the date) as ms since
/// the epoch: what [`timestamp_text`] writes, read back.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = text.split_once([' ', 'T']).unwrap_or((text, "00:00:00"));
    let mut date = date.splitn(3, '-');
    let year: i64 = date.next()?.parse().ok()?;
    let month: i64 = date.next()?.parse().ok()?;
    let day: i64 = date.next()?.parse().ok()?;
    let (clock, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut clock = clock.splitn(3, ':');
    let hours: i64 = clock.next()?.parse().ok()?;
    let minutes: i64 = clock.next()?.parse().ok()?;
    let seconds: i64 = clock.next().unwrap_or("0").parse().ok()?;
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hours < 24
        && minutes < 60
        && seconds < 60
        && !fraction.is_empty()
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if !valid {
        return None;
    }
    // Milliseconds from the first three digits of the fraction.
    let millis = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |ms, digit| ms * 10 + i64::from(digit - b'0'));
    // A civil date to days since the epoch (Howard Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(((days * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_sql_writes_them() {
        assert_eq!(timestamp_text(0), "1970-01-01 00:00:00.000");
        assert_eq!(timestamp_text(1_767_225_610_123), "2026-01-01 00:00:10.123");
        assert_eq!(timestamp_text(951_782_400_000), "2000-02-29 00:00:00.000");
        assert_eq!(timestamp_text(-1), "1969-12-31 23:59:59.999");
        for ms in [0, 1_767_225_610_123, 951_782_400_000, -1, 4_102_444_799_999] {
            assert_eq!(parse_timestamp(&timestamp_text(ms)), Some(ms));
        }
        assert_eq!(
            parse_timestamp("2026-01-01T00:00:10.5"),
            Some(1_767_225_610_500)
        );
        assert_eq!(parse_timestamp("2026-01-01"), Some(1_767_225_600_000));
        for bad in [
            "",
            "2026-13-01 00:00:00",
            "today",
            "2026-01-01 25:00:00",
            "2026-01-01 00:00:00.x",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn json_values_round_trip() {
        for (raw, value) in [
            ("42", Value::Int(42)),
            ("-1.5", Value::Float(-1.5)),
            ("908.0", Value::Float(908.0)),
            ("\"a\\\"b\"", Value::Str("a\"b".into())),
            ("true", Value::Bool(true)),
            ("null", Value::Null),
        ] {
            assert_eq!(Value::from_json(raw), value);
            let mut out = Vec::new();
            value.write_json(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), raw);
        }
    }
}
