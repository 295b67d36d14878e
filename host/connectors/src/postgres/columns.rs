//! A table's columns, how JSON record fields become their values, and the INSERT statements.
//!
//! Every value travels as text and the statement casts it to the column's type, so any type
//! PostgreSQL can parse from text works; the common ones are checked here first, so that a
//! record with a field of the wrong type becomes a dead letter naming the column instead of
//! failing a whole batch.

use serde_json::Value;

/// A column of the sink's table.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) name: String,
    /// The type as PostgreSQL formats it (`bigint`, `character varying(20)`, ...).
    pub(crate) sql_type: String,
    /// The same without modifiers (`character varying`): what kind of JSON it takes.
    pub(crate) base_type: String,
    pub(crate) nullable: bool,
    /// Its default expression, used when the record has no such field.
    pub(crate) default: Option<String>,
}

/// What kind of JSON a column takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Integer {
        min: i64,
        max: i64,
    },
    Number,
    Text,
    Json,
    /// Milliseconds since the epoch, or text PostgreSQL parses.
    Timestamp {
        zoned: bool,
    },
    /// Anything else: the JSON text (a string's contents), parsed by PostgreSQL.
    Other,
}

fn kind(sql_type: &str) -> Kind {
    match sql_type {
        "boolean" => Kind::Bool,
        "smallint" => Kind::Integer {
            min: i16::MIN.into(),
            max: i16::MAX.into(),
        },
        "integer" => Kind::Integer {
            min: i32::MIN.into(),
            max: i32::MAX.into(),
        },
        "bigint" => Kind::Integer {
            min: i64::MIN,
            max: i64::MAX,
        },
        "real" | "double precision" | "numeric" => Kind::Number,
        "text" | "character varying" | "character" | "name" => Kind::Text,
        "json" | "jsonb" => Kind::Json,
        "timestamp without time zone" => Kind::Timestamp { zoned: false },
        "timestamp with time zone" => Kind::Timestamp { zoned: true },
        _ => Kind::Other,
    }
}

/// `name` as a quoted SQL identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A possibly schema-qualified table name, each part quoted.
pub(crate) fn quote_table(table: &str) -> String {
    table.split('.').map(quote).collect::<Vec<_>>().join(".")
}

impl Column {
    /// The SQL expression that turns text parameter `$n` into this column's value.
    fn expression(&self, n: usize) -> String {
        let param = format!("${n}::text");
        let value = match kind(&self.base_type) {
            Kind::Timestamp { zoned } => {
                let from_ms = format!(
                    "CASE WHEN {param} ~ '^-?[0-9]+$' THEN to_timestamp({param}::bigint / 1000.0) ELSE {param}::timestamptz END"
                );
                match zoned {
                    true => from_ms,
                    false => format!("(({from_ms}) AT TIME ZONE 'UTC')"),
                }
            }
            _ => format!("{param}::{}", self.sql_type),
        };
        match &self.default {
            Some(default) => format!("COALESCE({value}, {default})"),
            None => value,
        }
    }

    /// The text of this column's value in `record`; `None` for NULL (or the default). The error
    /// names the column and what the record has.
    pub(crate) fn text(
        &self,
        record: &serde_json::Map<String, Value>,
    ) -> Result<Option<String>, String> {
        let value = record.get(&self.name).unwrap_or(&Value::Null);
        if value.is_null() {
            if !self.nullable && self.default.is_none() {
                return Err(format!(
                    "column `{}` is NOT NULL and the record has no value for it",
                    self.name
                ));
            }
            return Ok(None);
        }
        let mismatch = |wanted: &str| {
            Err(format!(
                "column `{}` ({}) needs {wanted}; the record has {value}",
                self.name, self.sql_type
            ))
        };
        let text = match (kind(&self.base_type), value) {
            (Kind::Bool, Value::Bool(b)) => b.to_string(),
            (Kind::Bool, _) => return mismatch("true or false"),
            (Kind::Integer { min, max }, Value::Number(n)) => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => i.to_string(),
                _ => return mismatch(&format!("a whole number from {min} to {max}")),
            },
            (Kind::Integer { .. }, _) => return mismatch("a whole number"),
            (Kind::Number, Value::Number(n)) => n.to_string(),
            (Kind::Number, _) => return mismatch("a number"),
            (Kind::Timestamp { .. }, Value::Number(n)) => match n.as_i64() {
                Some(ms) => ms.to_string(),
                None => return mismatch("milliseconds since the epoch or a timestamp string"),
            },
            (Kind::Timestamp { .. }, Value::String(s)) => s.clone(),
            (Kind::Timestamp { .. }, _) => {
                return mismatch("milliseconds since the epoch or a timestamp string");
            }
            (Kind::Json, value) => value.to_string(),
            (Kind::Text | Kind::Other, Value::String(s)) => s.clone(),
            (Kind::Text | Kind::Other, value) => value.to_string(),
        };
        Ok(Some(text))
    }
}

/// `INSERT INTO table (columns) VALUES (...), ...` for `rows` rows; with `upsert_key`, an
/// upsert on those columns.
pub(crate) fn insert_sql(
    table: &str,
    columns: &[Column],
    rows: usize,
    upsert_key: Option<&[String]>,
) -> String {
    let names: Vec<String> = columns.iter().map(|c| quote(&c.name)).collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        quote_table(table),
        names.join(", ")
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let values: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, column)| column.expression(row * columns.len() + i + 1))
            .collect();
        sql.push('(');
        sql.push_str(&values.join(", "));
        sql.push(')');
    }
    if let Some(key) = upsert_key {
        let keys: Vec<String> = key.iter().map(|k| quote(k)).collect();
        let updates: Vec<String> = columns
            .iter()
            .filter(|c| !key.contains(&c.name))
            .map(|c| format!("{0} = EXCLUDED.{0}", quote(&c.name)))
            .collect();
        sql.push_str(&format!(" ON CONFLICT ({}) DO ", keys.join(", ")));
        match updates.is_empty() {
            true => sql.push_str("NOTHING"),
            false => sql.push_str(&format!("UPDATE SET {}", updates.join(", "))),
        }
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, sql_type: &str) -> Column {
        Column {
            name: name.into(),
            sql_type: sql_type.into(),
            base_type: sql_type.into(),
            nullable: true,
            default: None,
        }
    }

    fn record(json: &str) -> serde_json::Map<String, Value> {
        serde_json::from_str(json).unwrap_or_default()
    }

    #[test]
    fn values_are_checked_against_the_column_type_and_a_mismatch_names_the_column() {
        let price = column("price", "bigint");
        assert_eq!(
            price.text(&record(r#"{"price": 42}"#)),
            Ok(Some("42".into()))
        );
        let error = price
            .text(&record(r#"{"price": "abc"}"#))
            .err()
            .unwrap_or_default();
        assert!(
            error.contains("column `price` (bigint)") && error.contains("\"abc\""),
            "{error}"
        );
        let small = column("n", "smallint");
        assert!(small.text(&record(r#"{"n": 70000}"#)).is_err());
        let name = column("name", "text");
        assert_eq!(
            name.text(&record(r#"{"name": "ann"}"#)),
            Ok(Some("ann".into()))
        );
        assert_eq!(name.text(&record("{}")), Ok(None));
        let strict = Column {
            nullable: false,
            ..column("id", "integer")
        };
        assert!(
            strict
                .text(&record("{}"))
                .is_err_and(|e| e.contains("NOT NULL"))
        );
        let doc = column("doc", "jsonb");
        assert_eq!(
            doc.text(&record(r#"{"doc": {"a": [1]}}"#)),
            Ok(Some(r#"{"a":[1]}"#.into()))
        );
    }

    #[test]
    fn upserts_update_the_columns_outside_the_key() {
        let columns = [column("k", "bigint"), column("total", "bigint")];
        let sql = insert_sql("public.t", &columns, 2, Some(&["k".to_string()]));
        assert_eq!(
            sql,
            "INSERT INTO \"public\".\"t\" (\"k\", \"total\") VALUES ($1::text::bigint, $2::text::bigint), ($3::text::bigint, $4::text::bigint) ON CONFLICT (\"k\") DO UPDATE SET \"total\" = EXCLUDED.\"total\""
        );
    }
}
