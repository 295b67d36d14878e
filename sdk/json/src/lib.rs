//! A validating scan of JSON text that finds members of an object without building or visiting
//! anything else. Operators read one or two fields of every record; a generic deserializer's
//! visitor path cost a third of a windowed aggregate's time on the host, and most of a JSON
//! UDF's time in the guest. The scan accepts exactly what serde_json accepts when it skips a
//! value (the host's differential test holds it to that), so a record is rejected as "not valid
//! JSON" the same way either way. No dependencies: it builds for the host and for
//! wasm32-wasip2 guests alike.

mod fields;

pub use fields::{JsonError, elements, fields, fields_into, int, unescape, write_string};

/// How deep arrays and objects may nest (serde_json's limit).
const MAX_DEPTH: usize = 128;

/// Where the scan stopped and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    /// Byte offset of the problem.
    pub at: usize,
    /// What was expected or found.
    pub what: String,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {})", self.what, self.at)
    }
}

/// A scan's result.
pub type Scan<T> = Result<T, ScanError>;

fn fail<T>(at: usize, what: &'static str) -> Scan<T> {
    Err(ScanError {
        at,
        what: what.to_string(),
    })
}

/// The first byte at or after `at` that is not JSON whitespace.
#[inline(always)]
pub fn skip_whitespace(b: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(at) {
        at += 1;
    }
    at
}

/// The end of the string whose opening quote is at `at`, and whether it has escapes.
#[inline(always)]
pub fn skip_string(b: &[u8], at: usize) -> Scan<(usize, bool)> {
    let mut i = at + 1;
    let mut escaped = false;
    loop {
        // Plain characters in one tight run (most strings are nothing else).
        i += b
            .get(i..)
            .unwrap_or_default()
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .unwrap_or(b.len().saturating_sub(i));
        match b.get(i) {
            None => return fail(i, "end of input inside a string"),
            Some(b'"') => return Ok((i + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                match b.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                    Some(b'u') => {
                        let hex = b.get(i + 2..i + 6);
                        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                            return fail(i, "invalid \\u escape");
                        }
                        i += 6;
                    }
                    Some(_) => return fail(i, "invalid escape"),
                    None => return fail(i, "end of input inside a string"),
                }
            }
            Some(&c) if c < 0x20 => return fail(i, "control character inside a string"),
            Some(_) => i += 1,
        }
    }
}

#[inline(always)]
fn skip_digits(b: &[u8], at: usize) -> usize {
    let rest = b.get(at..).unwrap_or_default();
    at + rest
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(rest.len())
}

#[inline(always)]
fn skip_number(b: &[u8], at: usize) -> Scan<usize> {
    let mut i = at;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = skip_digits(b, i + 1),
        _ => return fail(i, "invalid number"),
    }
    if b.get(i) == Some(&b'.') {
        let digits = skip_digits(b, i + 1);
        if digits == i + 1 {
            return fail(digits, "invalid number");
        }
        i = digits;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let digits = skip_digits(b, i);
        if digits == i {
            return fail(digits, "invalid number");
        }
        i = digits;
    }
    Ok(i)
}

#[inline(always)]
fn skip_literal(b: &[u8], at: usize, literal: &'static [u8]) -> Scan<usize> {
    match b.get(at..at + literal.len()) {
        Some(found) if found == literal => Ok(at + literal.len()),
        _ => fail(at, "expected a value"),
    }
}

/// The end of the value starting at `at` (no whitespace before it), `depth` levels deep.
/// Inlined into the loops over members and elements, so only nesting costs a call.
#[inline(always)]
pub fn skip_value(b: &[u8], at: usize, depth: usize) -> Scan<usize> {
    match b.get(at) {
        Some(b'"') => skip_string(b, at).map(|(end, _)| end),
        Some(b'{') => skip_object(b, at, depth + 1, &mut |_, _| Ok(())),
        Some(b'[') => skip_array(b, at, depth + 1),
        Some(b't') => skip_literal(b, at, b"true"),
        Some(b'f') => skip_literal(b, at, b"false"),
        Some(b'n') => skip_literal(b, at, b"null"),
        Some(b'-' | b'0'..=b'9') => skip_number(b, at),
        Some(_) => fail(at, "expected a value"),
        None => fail(at, "end of input where a value was expected"),
    }
}

fn skip_array(b: &[u8], at: usize, depth: usize) -> Scan<usize> {
    if depth > MAX_DEPTH {
        return fail(at, "nested too deeply");
    }
    let mut i = skip_whitespace(b, at + 1);
    if b.get(i) == Some(&b']') {
        return Ok(i + 1);
    }
    loop {
        i = skip_whitespace(b, skip_value(b, i, depth)?);
        match b.get(i) {
            Some(b',') => i = skip_whitespace(b, i + 1),
            Some(b']') => return Ok(i + 1),
            _ => return fail(i, "expected `,` or `]`"),
        }
    }
}

/// The end of the object whose `{` is at `at`; `member` sees each member's key (raw, with its
/// quotes, and whether it has escapes) and the range of its value.
///
/// `member` is a type parameter, not a `dyn` visitor: every scan is one inlined loop (in a Wasm
/// guest an indirect call per member cost more than the member).
pub fn skip_object<F>(b: &[u8], at: usize, depth: usize, member: &mut F) -> Scan<usize>
where
    F: FnMut((usize, usize, bool), (usize, usize)) -> Scan<()>,
{
    if depth > MAX_DEPTH {
        return fail(at, "nested too deeply");
    }
    let mut i = skip_whitespace(b, at + 1);
    if b.get(i) == Some(&b'}') {
        return Ok(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return fail(i, "expected a key");
        }
        let (key_end, escaped) = skip_string(b, i)?;
        let colon = skip_whitespace(b, key_end);
        if b.get(colon) != Some(&b':') {
            return fail(colon, "expected `:`");
        }
        let value = skip_whitespace(b, colon + 1);
        let value_end = skip_value(b, value, depth)?;
        member((i, key_end, escaped), (value, value_end))?;
        i = skip_whitespace(b, value_end);
        match b.get(i) {
            Some(b',') => i = skip_whitespace(b, i + 1),
            Some(b'}') => return Ok(i + 1),
            _ => return fail(i, "expected `,` or `}`"),
        }
    }
}
