//! JSON field access for built-in operators (key_by a field, aggregate a field) without a UDF.
//!
//! A field is found by a validating scan of the value ([`scan`]) that borrows the raw text of
//! the member, so a key is the field's exact JSON text (`"apple"`, `42`) and nothing is
//! allocated per record.

mod scan;

use serde::de::IgnoredAny;
use std::fmt;

/// A dotted field path, e.g. `bid.price`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    segments: Vec<String>,
    text: String,
}

impl FieldPath {
    /// Parses `a.b.c`.
    pub fn parse(text: &str) -> Self {
        FieldPath {
            segments: text.split('.').map(str::to_string).collect(),
            text: text.to_string(),
        }
    }

    /// The last segment: the natural name of an output field derived from this one.
    pub fn leaf(&self) -> &str {
        self.segments.last().map_or("", String::as_str)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a field could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The value is not valid JSON.
    #[error("value is not valid JSON: {0}")]
    NotJson(String),
    /// The field is absent (or a parent is not an object).
    #[error("value has no field `{0}`")]
    Missing(String),
    /// The field is not a number.
    #[error("field `{field}` is {found}, not a number")]
    NotNumber {
        /// The field.
        field: String,
        /// Its JSON text.
        found: String,
    },
}

/// The raw JSON text of `path` in `value`.
pub fn field<'a>(value: &'a [u8], path: &FieldPath) -> Result<&'a str, FieldError> {
    let text = std::str::from_utf8(value).map_err(|e| FieldError::NotJson(e.to_string()))?;
    let mut current: &'a str = text;
    for segment in &path.segments {
        match scan::member(current, segment).map_err(|e| FieldError::NotJson(e.to_string()))? {
            Some(raw) => current = raw,
            None => return Err(FieldError::Missing(path.text.clone())),
        }
    }
    if std::ptr::eq(current, text) {
        // An empty path: the whole value, which must still be valid JSON.
        serde_json::from_str::<IgnoredAny>(text).map_err(|e| FieldError::NotJson(e.to_string()))?;
    }
    Ok(current)
}

/// A JSON number, kept integral while every input is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer.
    Int(i64),
    /// Anything else.
    Float(f64),
}

impl Number {
    /// As f64.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// The numeric value of `path` in `value`; numeric strings (`"42"`, from CSV) count as numbers.
pub fn number(value: &[u8], path: &FieldPath) -> Result<Number, FieldError> {
    let raw = field(value, path)?;
    let unquoted = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    if let Ok(int) = unquoted.parse::<i64>() {
        return Ok(Number::Int(int));
    }
    match unquoted.parse::<f64>() {
        Ok(float) if float.is_finite() => Ok(Number::Float(float)),
        _ => Err(FieldError::NotNumber {
            field: path.text.clone(),
            found: raw.chars().take(40).collect(),
        }),
    }
}

#[cfg(test)]
mod tests;
