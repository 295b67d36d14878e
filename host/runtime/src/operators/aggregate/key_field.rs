//! How an aggregate's results name their key: one field holding it (`"word": "a"`), or, for a
//! key of several fields (`key_by: {fields: [id, name]}`, whose key is the JSON array of their
//! values), each value under its own field (`"id": 1, "name": "x"`), as SQL's `GROUP BY a, b`
//! reads them back.

use super::key_json;

/// The key's fields in a result.
#[derive(Debug, Clone)]
pub(crate) enum KeyField {
    /// One field, its name as JSON text (`"word"`).
    One(String),
    /// The fields of a key of several, their names as JSON text, in the key's order.
    Spread(Vec<String>),
}

impl KeyField {
    /// The key field of an aggregate keyed as `key_as` (one field) or by `fields` (several);
    /// `None` for a window over all records, whose results have no key.
    pub(crate) fn new(key_as: Option<&str>, fields: &[String]) -> Option<KeyField> {
        let quoted = |name: &str| serde_json::Value::from(name).to_string();
        match (key_as, fields) {
            (_, [_, ..]) => Some(KeyField::Spread(fields.iter().map(|f| quoted(f)).collect())),
            (Some(name), []) => Some(KeyField::One(quoted(name))),
            (None, []) => None,
        }
    }

    /// Appends `key`'s members (`"name":value`, or several separated by commas) to `line`.
    /// A spread key that is not a JSON array of as many values is written whole under the
    /// first name, so nothing is lost.
    pub(crate) fn write(&self, line: &mut String, key: &[u8]) {
        let spread = match self {
            KeyField::One(name) => {
                line.push_str(name);
                line.push(':');
                line.push_str(&key_json(key));
                return;
            }
            KeyField::Spread(names) => names,
        };
        let values = serde_json::from_slice::<Vec<serde_json::Value>>(key)
            .ok()
            .filter(|values| values.len() == spread.len());
        let Some(values) = values else {
            line.push_str(spread.first().map_or("\"key\"", String::as_str));
            line.push(':');
            line.push_str(&key_json(key));
            return;
        };
        for (i, (name, value)) in spread.iter().zip(values).enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(name);
            line.push(':');
            line.push_str(&value.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KeyField;

    fn written(field: &KeyField, key: &str) -> String {
        let mut line = String::new();
        field.write(&mut line, key.as_bytes());
        line
    }

    #[test]
    fn a_key_of_several_fields_is_written_field_by_field() {
        let one = KeyField::new(Some("word"), &[]).expect("keyed");
        assert_eq!(written(&one, "\"a\""), r#""word":"a""#);
        let fields = ["id".to_string(), "name".to_string()];
        let spread = KeyField::new(None, &fields).expect("keyed");
        assert_eq!(written(&spread, r#"[7,"x y"]"#), r#""id":7,"name":"x y""#);
        assert_eq!(written(&spread, "[7]"), r#""id":[7]"#);
        assert!(KeyField::new(None, &[]).is_none());
    }
}
