//! The JSON fast path, and the typed arguments and results of SQL scalar functions
//! (`#[weir_sdk::scalar]`): SQL passes a function's arguments as a JSON array and reads its
//! result as a JSON value.

pub use weir_json::{JsonError, elements, fields, fields_into, int, unescape, write_string};

/// The value the host passes, at plan time, to ask a SQL function for its signature: SQL
/// arguments are always an array, so an object is never a row.
pub const SIGNATURE_REQUEST: &[u8] = br#"{"weir:signature":true}"#;

/// Whether `value` asks for the function's signature rather than carrying a row.
pub fn is_signature_request(value: &[u8]) -> bool {
    value == SIGNATURE_REQUEST
}

/// The signature of a SQL function whose parameters have SQL types `types`:
/// `{"args":["BIGINT","STRING"]}`, which `weir sql` checks each call's arguments against.
pub fn signature(types: &[&str]) -> Vec<u8> {
    let types: Vec<String> = types.iter().map(|t| format!("\"{t}\"")).collect();
    format!("{{\"args\":[{}]}}", types.join(",")).into_bytes()
}

/// A type a scalar function takes as an argument, read from the argument's JSON text.
pub trait FromJson: Sized {
    /// The SQL type's name, for errors.
    const SQL_TYPE: &'static str;
    /// The value of `raw` (a JSON value's text), if it is one of this type.
    fn from_json(raw: &str) -> Option<Self>;
}

impl FromJson for i64 {
    const SQL_TYPE: &'static str = "BIGINT";
    fn from_json(raw: &str) -> Option<Self> {
        int(raw)
    }
}

impl FromJson for f64 {
    const SQL_TYPE: &'static str = "DOUBLE";
    fn from_json(raw: &str) -> Option<Self> {
        match raw.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => raw.parse().ok(),
            _ => None,
        }
    }
}

impl FromJson for bool {
    const SQL_TYPE: &'static str = "BOOLEAN";
    fn from_json(raw: &str) -> Option<Self> {
        match raw {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

impl FromJson for String {
    const SQL_TYPE: &'static str = "STRING";
    fn from_json(raw: &str) -> Option<Self> {
        let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
        match inner.contains('\\') {
            false => Some(inner.to_string()),
            true => unescape(inner),
        }
    }
}

impl<T: FromJson> FromJson for Option<T> {
    const SQL_TYPE: &'static str = T::SQL_TYPE;
    fn from_json(raw: &str) -> Option<Self> {
        match raw {
            "null" => Some(None),
            raw => T::from_json(raw).map(Some),
        }
    }
}

/// A scalar function's result, written as JSON; `Err` rejects the row with its reason.
pub trait IntoJson {
    /// The JSON text of the result.
    fn into_json(self) -> Result<Vec<u8>, String>;
}

impl IntoJson for i64 {
    fn into_json(self) -> Result<Vec<u8>, String> {
        Ok(self.to_string().into_bytes())
    }
}

impl IntoJson for f64 {
    /// A DOUBLE stays one in the JSON: 600.0, not 600 (which SQL would read as a BIGINT).
    fn into_json(self) -> Result<Vec<u8>, String> {
        Ok(match self.is_finite() {
            true if self.fract() == 0.0 && self.abs() < 1e15 => format!("{self:.1}").into_bytes(),
            true => self.to_string().into_bytes(),
            false => b"null".to_vec(),
        })
    }
}

impl IntoJson for bool {
    fn into_json(self) -> Result<Vec<u8>, String> {
        Ok(self.to_string().into_bytes())
    }
}

impl IntoJson for String {
    fn into_json(self) -> Result<Vec<u8>, String> {
        self.as_str().into_json()
    }
}

impl IntoJson for &str {
    fn into_json(self) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(self.len() + 2);
        write_string(self, &mut out);
        Ok(out)
    }
}

impl<T: IntoJson> IntoJson for Option<T> {
    fn into_json(self) -> Result<Vec<u8>, String> {
        match self {
            Some(value) => value.into_json(),
            None => Ok(b"null".to_vec()),
        }
    }
}

impl<T: IntoJson, E: std::fmt::Display> IntoJson for Result<T, E> {
    fn into_json(self) -> Result<Vec<u8>, String> {
        self.map_err(|e| e.to_string())?.into_json()
    }
}

macro_rules! tuple_json {
    ($($name:ident),+) => {
        /// A row of several columns, written as a JSON array (a table function's row).
        impl<$($name: IntoJson),+> IntoJson for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_json(self) -> Result<Vec<u8>, String> {
                let ($($name,)+) = self;
                let mut out = vec![b'['];
                $(
                    if out.len() > 1 {
                        out.push(b',');
                    }
                    out.extend_from_slice(&$name.into_json()?);
                )+
                out.push(b']');
                Ok(out)
            }
        }
    };
}

tuple_json!(A, B);
tuple_json!(A, B, C);
tuple_json!(A, B, C, D);

/// What a table function (`#[weir_sdk::table_function]`) returns: its rows, each a value or a
/// tuple of columns, or a `Result` of them whose `Err` rejects the input row.
pub trait TableRows {
    /// Each row's JSON text.
    fn into_rows(self) -> Result<Vec<Vec<u8>>, String>;
}

impl<T: IntoJson> TableRows for Vec<T> {
    fn into_rows(self) -> Result<Vec<Vec<u8>>, String> {
        self.into_iter().map(IntoJson::into_json).collect()
    }
}

impl<T: IntoJson, E: std::fmt::Display> TableRows for Result<Vec<T>, E> {
    fn into_rows(self) -> Result<Vec<Vec<u8>>, String> {
        self.map_err(|e| e.to_string())?.into_rows()
    }
}

/// The typed arguments of a SQL aggregate function ([`crate::AggregateFunction::Args`]): a
/// tuple of [`FromJson`] types, read from the JSON array of a row's arguments.
pub trait Arguments: Sized {
    /// The arguments in `value`, or why they are not these (`function` names it).
    fn from_arguments(value: &[u8], function: &str) -> Result<Self, String>;
}

macro_rules! tuple_arguments {
    ($count:expr; $($name:ident $index:expr),+) => {
        impl<$($name: FromJson),+> Arguments for ($($name,)+) {
            fn from_arguments(value: &[u8], function: &str) -> Result<Self, String> {
                let args = arguments(value, function, $count)?;
                Ok(($(argument::<$name>(&args, $index, function)?,)+))
            }
        }
    };
}

tuple_arguments!(1; A 0);
tuple_arguments!(2; A 0, B 1);
tuple_arguments!(3; A 0, B 1, C 2);
tuple_arguments!(4; A 0, B 1, C 2, D 3);

/// The arguments of a scalar call: the JSON array a record holds, checked to have `count`
/// elements (`function` names it in errors).
pub fn arguments<'a>(
    value: &'a [u8],
    function: &str,
    count: usize,
) -> Result<Vec<&'a str>, String> {
    let args = elements(value).map_err(|e| format!("{function}: arguments: {e}"))?;
    match args.len() == count {
        true => Ok(args),
        false => Err(format!(
            "{function} takes {count} argument(s), not {}",
            args.len()
        )),
    }
}

/// Argument `index` (0-based) of `function`, as a `T`.
pub fn argument<T: FromJson>(args: &[&str], index: usize, function: &str) -> Result<T, String> {
    let raw = args.get(index).copied().unwrap_or("null");
    T::from_json(raw).ok_or_else(|| {
        format!(
            "argument {} of {function} is {raw}, not a {}",
            index + 1,
            T::SQL_TYPE
        )
    })
}
