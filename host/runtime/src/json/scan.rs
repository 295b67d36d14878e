//! The host's use of [`weir_json`]'s scan: one member of an object, with serde's verdict on
//! what is not an object (and on escaped keys), so the built-in operators reject exactly what
//! serde_json rejects.

use weir_json::{Scan, ScanError, skip_object, skip_whitespace};

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
                    Err(_) => {
                        return Err(ScanError {
                            at: key,
                            what: "invalid escape in a key".to_string(),
                        });
                    }
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
