//! JSON field access for built-in operators (key_by a field, aggregate a field) without a UDF.
//!
//! A field is found by scanning the value with serde_json and borrowing the raw text of the
//! member, so a key is the field's exact JSON text (`"apple"`, `42`) and nothing is allocated
//! per record.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
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
        let mut deserializer = serde_json::Deserializer::from_str(current);
        let found = MemberSeed { name: segment }
            .deserialize(&mut deserializer)
            .map_err(|e| FieldError::NotJson(e.to_string()))?;
        match found {
            Some(raw) => current = raw.get(),
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

/// Finds one member of a JSON object, borrowing its raw text.
struct MemberSeed<'n> {
    name: &'n str,
}

impl<'de> DeserializeSeed<'de> for MemberSeed<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MemberSeed<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(matches) = map.next_key_seed(KeyIs { name: self.name })? {
            if matches && found.is_none() {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Compares an object key with a name without allocating.
struct KeyIs<'n> {
    name: &'n str,
}

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.name)
    }
}

#[cfg(test)]
mod tests;
