//! key_by: gives each record a key, by a JSON field or a Wasm key selector. The edge after it
//! hash-partitions by that key.

use super::isolate::UdfSite;
use super::{Operator, RejectSink, Rejection};
use crate::error::TaskError;
use crate::json::{self, FieldPath};
use weir_proto::{Blobs, RecordBatch};
use weir_wasm::KeyUdf;

/// key_by JSON fields: with one, the key is the field's JSON text; with several, the JSON
/// array of their texts, `[1,"x"]`.
pub(super) struct KeyByField {
    operator: String,
    fields: Vec<FieldPath>,
}

impl KeyByField {
    pub(super) fn new(operator: String, fields: Vec<FieldPath>) -> Self {
        KeyByField { operator, fields }
    }

    /// `value`'s key of several fields into `key`, or the first field it lacks.
    fn key(&self, value: &[u8], key: &mut Vec<u8>) -> Result<(), json::FieldError> {
        key.clear();
        key.push(b'[');
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                key.push(b',');
            }
            key.extend_from_slice(json::field(value, field)?.as_bytes());
        }
        key.push(b']');
        Ok(())
    }
}

impl Operator for KeyByField {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let mut out = RecordBatch::with_capacity(batch.len(), 0);
        out.data.reserve(batch.data.len() + batch.len() * 8);
        let mut key = Vec::new();
        for record in batch.iter() {
            let found = match self.fields.as_slice() {
                // One field: its text is the key, pushed from the record as it is.
                [field] => json::field(record.value, field).map(str::as_bytes),
                _ => self.key(record.value, &mut key).map(|()| key.as_slice()),
            };
            match found {
                Ok(found) => out.push(Some(found), record.value, record.timestamp),
                Err(error) => {
                    let error = error.to_string();
                    rejects.reject(Rejection::by_step(&self.operator, record, error))?
                }
            }
        }
        Ok(out)
    }
}

/// key_by a Wasm key selector.
pub(super) struct KeyByUdf {
    site: UdfSite,
    udf: KeyUdf,
}

impl KeyByUdf {
    pub(super) fn new(operator: String, udf: KeyUdf) -> Self {
        let site = UdfSite::new(operator, udf.module(), udf.export());
        KeyByUdf { site, udf }
    }
}

impl Operator for KeyByUdf {
    fn process(
        &mut self,
        mut batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let mut out = RecordBatch::with_capacity(batch.len(), 0);
        match self.udf.select_keys(&mut batch) {
            Ok((keys, errors)) => {
                let mut failed = vec![false; batch.len()];
                for error in &errors {
                    failed[error.index as usize] = true;
                }
                self.site.reject_errors(errors, &batch, rejects)?;
                rekey(&batch, &failed, &keys, &mut out);
            }
            Err(_) => {
                let udf = &mut self.udf;
                self.site.isolate_poison(
                    &batch,
                    |single| {
                        let (keys, errors) = udf.select_keys(single)?;
                        rekey(single, &[!errors.is_empty()], &keys, &mut out);
                        Ok(errors)
                    },
                    rejects,
                )?;
            }
        }
        Ok(out)
    }
}

/// Copies the records not marked failed into `out` with the next key from `keys`.
fn rekey(batch: &RecordBatch, failed: &[bool], keys: &Blobs, out: &mut RecordBatch) {
    let mut next_key = keys.iter();
    for (record, failed) in batch.iter().zip(failed) {
        if *failed {
            continue;
        }
        if let Some(key) = next_key.next() {
            out.push(Some(key), record.value, record.timestamp);
        }
    }
}
