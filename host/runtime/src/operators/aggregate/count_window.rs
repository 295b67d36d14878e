//! Count windows (Flink's `countWindow(n)`: a global window per key with a count trigger that
//! purges): every `size` records of a key, its built-in functions emit `{"<key_as>": key,
//! <functions>}` and start again. At the end of bounded input each key's last, partial window
//! fires too, so no record goes uncounted.
//!
//! On the RocksDB backend a key's open window (its count and accumulators) is one value, read
//! into the operator's map when the key's records arrive and written back when the map reaches
//! its bound (a bounded write cache, as for sessions).

use super::KeyField;
use super::acc_codec;
use super::builtin::{Acc, BuiltinFunction, Functions, heap_bytes};
use super::key_cache::{KeyCache, PerKey, Plain};
use super::key_of;
use crate::error::TaskError;
use crate::operators::Batches;
use crate::operators::{Operator, RejectSink};
use weir_proto::RecordBatch;
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};

/// A key's open window: records so far, and the functions' accumulators.
#[derive(Default)]
pub(crate) struct OpenWindow {
    count: u64,
    accs: Vec<Acc>,
}

impl PerKey for OpenWindow {
    const NAMESPACE: &'static [u8] = b"count-window";
    const WHAT: &'static str = "count window";

    fn encode(&self) -> Vec<u8> {
        let mut out = self.count.to_le_bytes().to_vec();
        acc_codec::encode(&self.accs, &mut out);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let count = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
        let accs = acc_codec::decode(&bytes[8..])?;
        Some(OpenWindow { count, accs })
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Count windows' values: on the heap, or in a store behind a write cache.
pub(crate) type CountWindows = KeyCache<OpenWindow, Plain>;

/// Count-windowed built-in aggregates of one subtask.
pub(crate) struct CountAggregate {
    operator: String,
    key_field: Option<KeyField>,
    size: u64,
    functions: Functions,
    /// Each key's open window.
    open: CountWindows,
    batch_size: usize,
    line: String,
}

impl CountAggregate {
    pub(crate) fn new(
        operator: String,
        key_field: Option<KeyField>,
        size: u64,
        functions: Vec<BuiltinFunction>,
        batch_size: usize,
        open: CountWindows,
    ) -> Self {
        CountAggregate {
            functions: Functions::new(operator.clone(), functions),
            operator,
            key_field,
            size: size.max(1),
            open,
            batch_size: batch_size.max(1),
            line: String::new(),
        }
    }

    fn write_line(&mut self, key: &[u8], accs: &[Acc]) {
        self.line.clear();
        self.line.push('{');
        if let Some(field) = &self.key_field {
            field.write(&mut self.line, key);
        }
        let start = self.line.len();
        self.functions.write(&mut self.line, accs);
        if self.key_field.is_none() && self.line.len() > start {
            // No key: the functions' leading comma goes.
            self.line.remove(start);
        }
        self.line.push('}');
    }
}

impl Operator for CountAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let mut out = RecordBatch::default();
        for record in batch.iter() {
            let key = match self.key_field {
                Some(_) => match key_of(record, &self.operator, rejects)? {
                    Some(key) => key,
                    None => continue,
                },
                None => &[],
            };
            if !self.functions.read(record, rejects)? {
                continue;
            }
            let functions = &self.functions;
            let open = self.open.get_mut(key, || OpenWindow {
                count: 0,
                accs: functions.accumulators(),
            })?;
            open.count += 1;
            self.functions.add(&mut open.accs);
            if open.count >= self.size {
                let accs = std::mem::replace(&mut open.accs, self.functions.accumulators());
                open.count = 0;
                self.write_line(key, &accs);
                out.push(Some(key), self.line.as_bytes(), record.timestamp);
            }
        }
        Ok(out)
    }

    fn state_bytes(&self) -> u64 {
        self.open
            .state_bytes(|key, open| heap_bytes(key, &open.accs) + 8)
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        self.open.snapshot(id, ()).map(Some)
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        self.open.restore(restored)
    }

    fn finish(
        &mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let mut partial = self.open.take_all()?;
        partial.retain(|(_, open)| open.count > 0);
        partial.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = Batches::new(self.batch_size, emit);
        for (key, open) in partial {
            self.write_line(&key, &open.accs);
            out.push(Some(&key), self.line.as_bytes(), 0)?;
        }
        out.finish()?;
        Ok(())
    }
}
