//! The guest's JSON fast path: the members a UDF names, read in one pass over the record as
//! borrowed text, and integers read from that text — where deserializing into a struct costs a
//! visitor call per member and a copy of every string.

use crate::{ScanError, skip_object, skip_value, skip_whitespace};
use std::fmt;

/// Why members could not be read: the text is not a JSON object (with where and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(ScanError);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a JSON object: {}", self.0)
    }
}

impl std::error::Error for JsonError {}

/// The raw JSON text of each of `names` in the object `value` holds (`None`: absent; the first
/// of a repeated member), in one validating pass over the whole object. Anything but an object
/// of valid JSON text is an error.
pub fn fields<'a, const N: usize>(
    value: &'a [u8],
    names: [&str; N],
) -> Result<[Option<&'a str>; N], JsonError> {
    let mut found = [None; N];
    fields_into(value, &names, &mut found)?;
    Ok(found)
}

/// [`fields`] for names known only at run time: `found[i]` gets member `names[i]` (`found` is
/// cleared first and must be as long as `names`).
pub fn fields_into<'a>(
    value: &'a [u8],
    names: &[&str],
    found: &mut [Option<&'a str>],
) -> Result<(), JsonError> {
    found.iter_mut().for_each(|slot| *slot = None);
    let text = utf8(value)?;
    let b = text.as_bytes();
    let start = skip_whitespace(b, 0);
    if b.get(start) != Some(&b'{') {
        return Err(JsonError(ScanError {
            at: start,
            what: "expected `{`".to_string(),
        }));
    }
    let end = skip_object(
        b,
        start,
        1,
        &mut |(key, key_end, escaped), (value, value_end)| {
            let raw = &text[key + 1..key_end - 1];
            let decoded;
            let key_text = match escaped {
                false => raw,
                true => {
                    decoded = unescape(raw).ok_or_else(|| ScanError {
                        at: key,
                        what: "invalid escape in a key".to_string(),
                    })?;
                    decoded.as_str()
                }
            };
            for (slot, name) in found.iter_mut().zip(names) {
                if slot.is_none() && *name == key_text {
                    *slot = Some(&text[value..value_end]);
                }
            }
            Ok(())
        },
    )
    .map_err(JsonError)?;
    let rest = skip_whitespace(b, end);
    if rest != b.len() {
        return Err(JsonError(ScanError {
            at: rest,
            what: "trailing characters".to_string(),
        }));
    }
    Ok(())
}

/// `value` as text, or where it stops being UTF-8.
fn utf8(value: &[u8]) -> Result<&str, JsonError> {
    std::str::from_utf8(value).map_err(|e| {
        JsonError(ScanError {
            at: e.valid_up_to(),
            what: "invalid UTF-8".to_string(),
        })
    })
}

/// The raw JSON text of each element of the array `value` holds, in one validating pass.
/// Anything but an array of valid JSON text is an error.
pub fn elements(value: &[u8]) -> Result<Vec<&str>, JsonError> {
    let text = utf8(value)?;
    let b = text.as_bytes();
    let fail = |at: usize, what: &str| {
        Err(JsonError(ScanError {
            at,
            what: what.to_string(),
        }))
    };
    let mut i = skip_whitespace(b, 0);
    if b.get(i) != Some(&b'[') {
        return fail(i, "expected `[`");
    }
    let mut found = Vec::new();
    i = skip_whitespace(b, i + 1);
    if b.get(i) == Some(&b']') {
        i += 1;
    } else {
        loop {
            let end = skip_value(b, i, 1).map_err(JsonError)?;
            found.push(&text[i..end]);
            i = skip_whitespace(b, end);
            match b.get(i) {
                Some(b',') => i = skip_whitespace(b, i + 1),
                Some(b']') => {
                    i += 1;
                    break;
                }
                _ => return fail(i, "expected `,` or `]`"),
            }
        }
    }
    if skip_whitespace(b, i) != b.len() {
        return fail(i, "trailing characters");
    }
    Ok(found)
}

/// Appends `text` as a JSON string (quotes and escapes added).
pub fn write_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(b"\\u00");
                let hex = b"0123456789abcdef";
                out.push(hex[(c as usize) >> 4]);
                out.push(hex[(c as usize) & 15]);
            }
            c => {
                let mut buffer = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The integer a member's raw text holds (`None`: not an integer that fits in i64).
pub fn int(raw: &str) -> Option<i64> {
    let (negative, digits) = match raw.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let digit = |n: u64, d: &u8| n * 10 + u64::from(d - b'0');
    let magnitude = match digits.len() {
        // Up to 18 digits cannot overflow: no checked (in Wasm, 128-bit) multiplications.
        ..=18 => digits.iter().fold(0u64, digit),
        _ => digits.iter().try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })?,
    };
    match negative {
        false => i64::try_from(magnitude).ok(),
        true => 0i64.checked_sub_unsigned(magnitude),
    }
}

/// The text of a JSON string's contents `raw` (between the quotes) with its escapes decoded;
/// `None` if an escape is invalid (a lone surrogate, say).
pub fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.next()? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let high = hex4(&mut chars)?;
                match high {
                    0xD800..=0xDBFF => {
                        if (chars.next()?, chars.next()?) != ('\\', 'u') {
                            return None;
                        }
                        let low = hex4(&mut chars)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                    }
                    _ => char::from_u32(high)?,
                }
            }
            _ => return None,
        };
        out.push(decoded);
    }
    Some(out)
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    (0..4).try_fold(0, |n, _| Some(n * 16 + chars.next()?.to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_named_member_once_in_one_pass() {
        let bid =
            br#" {"auction": 1234, "bidder":7, "price":-88, "extra":{"a":[1,"}"]}, "price": 5} "#;
        let [auction, price, missing] = fields(bid, ["auction", "price", "nope"]).unwrap();
        assert_eq!(auction, Some("1234"));
        assert_eq!(price, Some("-88"), "the first of a repeated member");
        assert_eq!(missing, None);
        assert_eq!(price.and_then(int), Some(-88));
    }

    #[test]
    fn escaped_keys_are_compared_decoded() {
        let [price] = fields(br#"{"pr\u0069ce":3}"#, ["price"]).unwrap();
        assert_eq!(price, Some("3"));
        assert_eq!(
            unescape(r"a\ud83d\ude00\n").as_deref(),
            Some("a\u{1F600}\n")
        );
        assert_eq!(unescape(r"\ud83d"), None, "a lone surrogate");
    }

    #[test]
    fn rejects_what_is_not_one_valid_object() {
        for bad in [
            &b"[1]"[..],
            b"{\"a\":1",
            b"{\"a\":01}",
            b"{\"a\":1} x",
            b"{\"a\":\"\x01\"}",
            b"{\"a\":tru}",
            b"\xff",
        ] {
            assert!(
                fields(bad, ["a"]).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn elements_and_strings_round_trip() {
        assert_eq!(
            elements(b" [1, \"a,b\", [2], {\"c\":3}] ").unwrap(),
            ["1", "\"a,b\"", "[2]", "{\"c\":3}"]
        );
        assert_eq!(elements(b"[]").unwrap(), Vec::<&str>::new());
        for bad in [&b"[1,]"[..], b"[1", b"{}", b"[1] 2"] {
            assert!(elements(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let mut out = Vec::new();
        write_string("q\"\\\n\u{1}é", &mut out);
        assert_eq!(out, b"\"q\\\"\\\\\\n\\u0001\xc3\xa9\"");
    }

    #[test]
    fn integers_are_exact_or_none() {
        assert_eq!(int("9223372036854775807"), Some(i64::MAX));
        assert_eq!(int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(int("9223372036854775808"), None);
        for not_int in ["1.5", "1e3", "", "-", "\"7\"", "true"] {
            assert_eq!(int(not_int), None, "{not_int}");
        }
    }
}
