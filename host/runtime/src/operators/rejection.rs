//! A rejected record: the record itself, which step refused it, and why.

use std::fmt;
use weir_proto::{RecordBatch, RecordRef};
use weir_wasm::ModuleIdentity;

/// A record with its own copies of key and value, to outlive the batch it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRecord {
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Vec<u8>,
    /// Event time, ms.
    pub timestamp: i64,
}

impl From<RecordRef<'_>> for OwnedRecord {
    fn from(r: RecordRef<'_>) -> Self {
        OwnedRecord {
            key: r.key.map(<[u8]>::to_vec),
            value: r.value.to_vec(),
            timestamp: r.timestamp,
        }
    }
}

impl fmt::Display for OwnedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PREVIEW: usize = 200;
        let text = String::from_utf8_lossy(&self.value[..self.value.len().min(PREVIEW)]);
        let more = if self.value.len() > PREVIEW {
            format!("… ({} bytes)", self.value.len())
        } else {
            String::new()
        };
        write!(f, "value {text:?}{more}")?;
        if let Some(key) = &self.key {
            write!(f, ", key {:?}", String::from_utf8_lossy(key))?;
        }
        write!(f, ", timestamp {}", self.timestamp)
    }
}

/// A record that a step refused, with everything needed to understand and replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The step that refused it.
    pub operator: String,
    /// The UDF module involved, if any.
    pub module: Option<ModuleIdentity>,
    /// The export called, if any.
    pub export: Option<String>,
    /// Why it was refused.
    pub error: String,
    /// Where it came from (`file:line`), when the source knows.
    pub origin: Option<String>,
    /// The record.
    pub record: OwnedRecord,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step `{}` rejected a record", self.operator)?;
        if let Some(origin) = &self.origin {
            write!(f, " from {origin}")?;
        }
        if let Some(module) = &self.module {
            write!(f, " ({module}")?;
            if let Some(export) = &self.export {
                write!(f, ", export `{export}`")?;
            }
            write!(f, ")")?;
        }
        write!(f, ": {}\n  record: {}", self.error, self.record)
    }
}

impl Rejection {
    /// `record` refused by built-in step `operator` (no module involved) for `error`.
    pub fn by_step(operator: &str, record: RecordRef<'_>, error: String) -> Rejection {
        Rejection {
            operator: operator.to_string(),
            module: None,
            export: None,
            error,
            origin: None,
            record: record.into(),
        }
    }

    /// The dead-letter record: a JSON object with the step, module, export, error and the record
    /// (its value as a string when it is UTF-8, else base64 in `value_base64`).
    pub fn to_dead_letter(&self) -> RecordBatch {
        use base64::Engine as _;
        let mut record = serde_json::Map::new();
        match &self.record.key {
            Some(key) => record.insert("key".into(), bytes_json(key)),
            None => record.insert("key".into(), serde_json::Value::Null),
        };
        match std::str::from_utf8(&self.record.value) {
            Ok(text) => record.insert("value".into(), text.into()),
            Err(_) => record.insert(
                "value_base64".into(),
                base64::engine::general_purpose::STANDARD
                    .encode(&self.record.value)
                    .into(),
            ),
        };
        record.insert("timestamp".into(), self.record.timestamp.into());
        let letter = serde_json::json!({
            "operator": self.operator,
            "module": self.module.as_ref().map(|m| m.name.clone()),
            "module_sha256": self.module.as_ref().map(|m| m.sha256.clone()),
            "export": self.export,
            "error": self.error,
            "origin": self.origin,
            "record": record,
        });
        let mut batch = RecordBatch::default();
        batch.push(None, letter.to_string().as_bytes(), self.record.timestamp);
        batch
    }
}

fn bytes_json(bytes: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(_) => {
            use base64::Engine as _;
            serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) })
        }
    }
}
