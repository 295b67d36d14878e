//! A validating scan of JSON text that finds one member of an object without building or
//! visiting anything else: the built-in operators read one or two fields of every record, and
//! serde's generic visitor path cost a third of W3's time. It accepts exactly what serde_json
//! accepts when it skips a value (the differential test holds it to that), so a record is
//! rejected as "not valid JSON" the same way either way.

/// How deep arrays and objects may nest (serde_json's limit).
const MAX_DEPTH: usize = 128;

/// Where the scan stopped and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScanError {
    /// Byte offset of the problem.
    pub(super) at: usize,
    /// What was expected or found.
    pub(super) what: String,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {})", self.what, self.at)
    }
}

type Scan<T> = Result<T, ScanError>;

/// Sees each member of an object: its key's range (with the quotes) and whether the key has
/// escapes, then its value's range.
type MemberVisitor<'v> = dyn FnMut((usize, usize, bool), (usize, usize)) -> Scan<()> + 'v;

fn fail<T>(at: usize, what: &'static str) -> Scan<T> {
    Err(ScanError {
        at,
        what: what.to_string(),
    })
}

fn skip_whitespace(b: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(at) {
        at += 1;
    }
    at
}

/// The end of the string whose opening quote is at `at`, and whether it has escapes.
fn skip_string(b: &[u8], at: usize) -> Scan<(usize, bool)> {
    let mut i = at + 1;
    let mut escaped = false;
    loop {
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

fn skip_digits(b: &[u8], mut at: usize) -> usize {
    while b.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at
}

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

fn skip_literal(b: &[u8], at: usize, literal: &'static [u8]) -> Scan<usize> {
    match b.get(at..at + literal.len()) {
        Some(found) if found == literal => Ok(at + literal.len()),
        _ => fail(at, "expected a value"),
    }
}

/// The end of the value starting at `at` (no whitespace before it).
fn skip_value(b: &[u8], at: usize, depth: usize) -> Scan<usize> {
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
fn skip_object(b: &[u8], at: usize, depth: usize, member: &mut MemberVisitor<'_>) -> Scan<usize> {
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

/// The raw text of member `name` of the object `text` holds (the first, if repeated); `None`
/// when `text` is another kind of value or has no such member. The whole first value of `text`
/// is checked; what follows it is not (as serde_json reading one value does not).
pub(super) fn member<'a>(text: &'a str, name: &str) -> Scan<Option<&'a str>> {
    let b = text.as_bytes();
    let start = skip_whitespace(b, 0);
    if b.get(start) != Some(&b'{') {
        // Not an object (rare): serde's own verdict on it, which also checks what only a
        // top-level scalar is checked for (number range, escaped surrogates).
        let mut deserializer = serde_json::Deserializer::from_str(text);
        return <serde_json::Value as serde::Deserialize>::deserialize(&mut deserializer)
            .map(|_| None)
            .map_err(|e| ScanError {
                at: e.column().saturating_sub(1),
                what: e.to_string(),
            });
    }
    let mut found = None;
    skip_object(
        b,
        start,
        1,
        &mut |(key, key_end, escaped), (value, value_end)| {
            if found.is_some() {
                return Ok(());
            }
            let matches = match escaped {
                false => &b[key + 1..key_end - 1] == name.as_bytes(),
                // Rare: compare the decoded key, as serde would.
                true => match serde_json::from_str::<String>(&text[key..key_end]) {
                    Ok(decoded) => decoded == name,
                    Err(_) => return fail(key, "invalid escape in a key"),
                },
            };
            if matches {
                found = Some(&text[value..value_end]);
            }
            Ok(())
        },
    )?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
    use serde_json::value::RawValue;
    use std::fmt;

    /// The serde_json visitor `member` replaced, kept as the reference it is checked against.
    fn serde_member<'a>(text: &'a str, name: &str) -> Result<Option<&'a str>, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        MemberSeed { name }
            .deserialize(&mut deserializer)
            .map(|found| found.map(RawValue::get))
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

    /// A small deterministic generator of JSON texts, valid ones and broken ones.
    struct Texts(u64);

    impl Texts {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }

        fn value(&mut self, depth: u32) -> String {
            match self.next(if depth > 3 { 6 } else { 8 }) {
                0 => "null".into(),
                1 => ["true", "false"][self.next(2) as usize].into(),
                2 => ["0", "-12", "3.25", "1e9", "-0.5E-3", "42"][self.next(6) as usize].into(),
                3 | 4 => self.string(),
                5 => format!("\"{}\"", "x".repeat(self.next(4) as usize)),
                6 => {
                    let items: Vec<String> =
                        (0..self.next(4)).map(|_| self.value(depth + 1)).collect();
                    format!("[{}]", items.join(", "))
                }
                _ => self.object(depth + 1),
            }
        }

        fn string(&mut self) -> String {
            [
                "\"a\"",
                "\"caf\\u00e9\"",
                "\"q\\\"t\"",
                "\"\\n\\t/\"",
                "\"price\"",
                "\"é\"",
            ][self.next(6) as usize]
                .into()
        }

        fn object(&mut self, depth: u32) -> String {
            let keys = ["price", "auction", "a", "pr\\u0069ce", "b"];
            let members: Vec<String> = (0..self.next(5))
                .map(|_| {
                    let key = keys[self.next(keys.len() as u64) as usize];
                    format!("\"{key}\" : {}", self.value(depth))
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }

        /// `text` broken at a random place, or left whole.
        fn maybe_broken(&mut self, text: String) -> String {
            let cut = self.next(text.len() as u64 + 1) as usize;
            let at = (0..=cut)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            match self.next(4) {
                0 => text[..at].to_string(),
                1 => format!(
                    "{}{}{}",
                    &text[..at],
                    ["}", "\"", ",", "\u{1}", "x", "\\"][self.next(6) as usize],
                    &text[at..]
                ),
                _ => text,
            }
        }
    }

    #[test]
    fn accepts_and_finds_exactly_what_serde_does() {
        let mut texts = Texts(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let value = match texts.next(5) {
                0 => texts.value(0),
                _ => texts.object(0),
            };
            let text = texts.maybe_broken(value);
            let scanned = member(&text, "price");
            let reference = serde_member(&text, "price");
            assert_eq!(
                scanned.is_ok(),
                reference.is_ok(),
                "{text}: {scanned:?} {reference:?}"
            );
            if let (Ok(found), Ok(expected)) = (scanned, reference) {
                assert_eq!(found, expected, "{text}");
            }
        }
    }

    #[test]
    fn the_first_of_repeated_keys_wins_and_escaped_keys_match_decoded() {
        assert_eq!(member(r#"{"a":1,"a":2}"#, "a"), Ok(Some("1")));
        assert_eq!(member(r#"{"\u0061":[1, 2]}"#, "a"), Ok(Some("[1, 2]")));
        assert_eq!(member("[1,2]", "a"), Ok(None));
        assert!(member(r#"{"a":01}"#, "a").is_err());
        assert!(member(&"[".repeat(200), "a").is_err());
    }
}
