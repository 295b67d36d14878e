//! What UDF functions may return, and how each is written into the output batch.
//!
//! Each trait is implemented for a fixed list of types rather than blanket impls: `Result` is
//! itself an iterator, and a blanket impl over iterators would silently drop errors.

use crate::Record;
use crate::batch::Builder;
use std::fmt::Display;

/// A value that can become an output record. By default the output keeps the input's key and
/// timestamp; [`Out`] sets them.
pub trait IntoRecord {
    /// Appends `self` as a record derived from `input`.
    fn write(self, input: &Record<'_>, out: &mut Builder);
}

/// An output record with control over its key and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Out {
    value: Vec<u8>,
    key: KeyChoice,
    timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyChoice {
    Keep,
    Set(Vec<u8>),
    Remove,
}

impl Out {
    /// A record with `value`, the input's key and timestamp.
    pub fn value(value: impl Into<Vec<u8>>) -> Self {
        Out {
            value: value.into(),
            key: KeyChoice::Keep,
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = KeyChoice::Set(key.into());
        self
    }

    /// Drops the key.
    pub fn without_key(mut self) -> Self {
        self.key = KeyChoice::Remove;
        self
    }

    /// Sets the event time (ms since the Unix epoch).
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

impl IntoRecord for Out {
    fn write(self, input: &Record<'_>, out: &mut Builder) {
        let key = match &self.key {
            KeyChoice::Keep => input.key(),
            KeyChoice::Set(key) => Some(key.as_slice()),
            KeyChoice::Remove => None,
        };
        out.push(
            key,
            &self.value,
            self.timestamp.unwrap_or(input.timestamp()),
        );
    }
}

macro_rules! bytes_into_record {
    ($($ty:ty),*) => {$(
        impl IntoRecord for $ty {
            fn write(self, input: &Record<'_>, out: &mut Builder) {
                let bytes: &[u8] = self.as_ref();
                out.push(input.key(), bytes, input.timestamp());
            }
        }
    )*};
}

bytes_into_record!(Vec<u8>, String, &str, &[u8], Box<[u8]>);

impl<const N: usize> IntoRecord for [u8; N] {
    fn write(self, input: &Record<'_>, out: &mut Builder) {
        out.push(input.key(), &self, input.timestamp());
    }
}

/// What a `#[map]` function may return: an [`IntoRecord`], or a `Result` of one (an `Err`
/// rejects the record).
pub trait MapResult {
    /// Writes the output record, or returns the rejection message.
    fn write_map(self, input: &Record<'_>, out: &mut Builder) -> Result<(), String>;
}

macro_rules! map_result {
    ($($ty:ty),*) => {$(
        impl MapResult for $ty {
            fn write_map(self, input: &Record<'_>, out: &mut Builder) -> Result<(), String> {
                self.write(input, out);
                Ok(())
            }
        }
    )*};
}

map_result!(Vec<u8>, String, &str, &[u8], Box<[u8]>, Out);

impl<const N: usize> MapResult for [u8; N] {
    fn write_map(self, input: &Record<'_>, out: &mut Builder) -> Result<(), String> {
        self.write(input, out);
        Ok(())
    }
}

impl<T: IntoRecord, E: Display> MapResult for Result<T, E> {
    fn write_map(self, input: &Record<'_>, out: &mut Builder) -> Result<(), String> {
        match self {
            Ok(value) => {
                value.write(input, out);
                Ok(())
            }
            Err(error) => Err(error.to_string()),
        }
    }
}

/// What a `#[filter]` function may return: `bool`, or `Result<bool, E>`.
pub trait FilterResult {
    /// Whether to keep the record, or the rejection message.
    fn keep(self) -> Result<bool, String>;
}

impl FilterResult for bool {
    fn keep(self) -> Result<bool, String> {
        Ok(self)
    }
}

impl<E: Display> FilterResult for Result<bool, E> {
    fn keep(self) -> Result<bool, String> {
        self.map_err(|e| e.to_string())
    }
}

/// What a `#[flat_map]` function may return: `Vec<T>` or `Option<T>` of [`IntoRecord`]s, or a
/// `Result` of either.
pub trait FlatMapResult {
    /// Writes every output record, or returns the rejection message (writing none).
    fn write_all(self, input: &Record<'_>, out: &mut Builder) -> Result<(), String>;
}

impl<T: IntoRecord> FlatMapResult for Vec<T> {
    fn write_all(self, input: &Record<'_>, out: &mut Builder) -> Result<(), String> {
        for item in self {
            item.write(input, out);
        }
        Ok(())
    }
}

impl<T: IntoRecord> FlatMapResult for Option<T> {
    fn write_all(self, input: &Record<'_>, out: &mut Builder) -> Result<(), String> {
        if let Some(item) = self {
            item.write(input, out);
        }
        Ok(())
    }
}

impl<T: IntoRecord, E: Display> FlatMapResult for Result<Vec<T>, E> {
    fn write_all(self, input: &Record<'_>, out: &mut Builder) -> Result<(), String> {
        self.map_err(|e| e.to_string())?.write_all(input, out)
    }
}

impl<T: IntoRecord, E: Display> FlatMapResult for Result<Option<T>, E> {
    fn write_all(self, input: &Record<'_>, out: &mut Builder) -> Result<(), String> {
        self.map_err(|e| e.to_string())?.write_all(input, out)
    }
}

/// What a `#[key_selector]` function may return: bytes or text, or a `Result` of them.
pub trait KeyResult {
    /// Appends the key to `out`, or returns the rejection message (appending nothing).
    fn write_key(self, out: &mut Vec<u8>) -> Result<(), String>;
}

macro_rules! key_result {
    ($($ty:ty),*) => {$(
        impl KeyResult for $ty {
            fn write_key(self, out: &mut Vec<u8>) -> Result<(), String> {
                let bytes: &[u8] = self.as_ref();
                out.extend_from_slice(bytes);
                Ok(())
            }
        }
        impl<E: Display> KeyResult for Result<$ty, E> {
            fn write_key(self, out: &mut Vec<u8>) -> Result<(), String> {
                self.map_err(|e| e.to_string())?.write_key(out)
            }
        }
    )*};
}

key_result!(Vec<u8>, String, &str, &[u8]);
