//! Count windows (Flink's `countWindow(n)`: a global window per key with a count trigger that
//! purges): every `size` records of a key, its built-in functions emit `{"<key_as>": key,
//! <functions>}` and start again. At the end of bounded input each key's last, partial window
//! fires too, so no record goes uncounted.
//!
//! On the RocksDB backend a key's open window (its count and accumulators) is one value, read
//! into the operator's map when the key's records arrive and written back when the map reaches
//! its bound (a bounded write cache, as for sessions).

use super::acc_codec;
use super::builtin::{Acc, BuiltinFunction, Functions, heap_bytes, key_json};
use super::key_of;
use crate::error::TaskError;
use crate::error::task_error;
use crate::operators::Batches;
use crate::operators::keyed_snapshot;
use crate::operators::{Operator, RejectSink};
use std::collections::HashMap;
use std::fmt::Write as _;
use weir_proto::RecordBatch;
use weir_state::checkpoint::{HeapEntries, OperatorRestore, OperatorSnapshot};
use weir_state::{RocksStore, StateError};

/// The namespace of a key's open count window in the store.
const OPEN: &[u8] = b"count-window";

/// A key's open window: records so far, and the functions' accumulators.
type Open = (u64, Vec<Acc>);

/// Count windows on the RocksDB backend.
pub(crate) struct CountStore {
    store: RocksStore,
    cache_limit: usize,
}

impl CountStore {
    /// Open windows in `store`, at most `cache_limit` keys in memory.
    pub(crate) fn new(store: RocksStore, cache_limit: usize) -> Self {
        CountStore {
            store,
            cache_limit: cache_limit.max(1),
        }
    }

    fn load(&mut self, key: &[u8]) -> Result<Option<Open>, StateError> {
        let Some(bytes) = self.store.get(key, OPEN)? else {
            return Ok(None);
        };
        decode(&bytes)
            .map(Some)
            .ok_or_else(|| self.store.corrupt("a count window is malformed"))
    }
}

fn encode((count, accs): &Open) -> Vec<u8> {
    let mut out = count.to_le_bytes().to_vec();
    acc_codec::encode(accs, &mut out);
    out
}

fn decode(bytes: &[u8]) -> Option<Open> {
    let count = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    Some((count, acc_codec::decode(&bytes[8..])?))
}

/// Count-windowed built-in aggregates of one subtask.
pub(crate) struct CountAggregate {
    operator: String,
    key_field: Option<String>,
    size: u64,
    functions: Functions,
    /// Key → open window (on RocksDB, the keys read since the cache was last written out).
    open: HashMap<Vec<u8>, Open>,
    store: Option<CountStore>,
    batch_size: usize,
    line: String,
    /// Key groups of the job, for heap snapshots.
    max_parallelism: u32,
}

impl CountAggregate {
    pub(crate) fn new(
        operator: String,
        key_as: Option<&str>,
        size: u64,
        functions: Vec<BuiltinFunction>,
        (batch_size, max_parallelism): (usize, u32),
        store: Option<CountStore>,
    ) -> Self {
        CountAggregate {
            functions: Functions::new(operator.clone(), functions),
            operator,
            key_field: key_as.map(|k| serde_json::Value::from(k).to_string()),
            size: size.max(1),
            open: HashMap::new(),
            store,
            batch_size: batch_size.max(1),
            line: String::new(),
            max_parallelism,
        }
    }

    fn failed(&self, error: StateError) -> TaskError {
        task_error(&self.operator, error)
    }

    /// Writes every cached window back to the store.
    fn flush(&mut self) -> Result<(), TaskError> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        for (key, open) in self.open.drain() {
            let written = match open.0 {
                0 => store.store.delete(&key, OPEN),
                _ => store.store.put(&key, OPEN, &encode(&open)),
            };
            written.map_err(|e| task_error(&self.operator, e))?;
        }
        Ok(())
    }

    /// The open window of `key`, read from the store on the RocksDB backend.
    fn open_of(&mut self, key: &[u8]) -> Result<&mut Open, TaskError> {
        if !self.open.contains_key(key) {
            let cache_full = self
                .store
                .as_ref()
                .is_some_and(|s| self.open.len() >= s.cache_limit);
            if cache_full {
                self.flush()?;
            }
            let loaded = match &mut self.store {
                Some(store) => store.load(key).map_err(|e| self.failed(e))?,
                None => None,
            };
            let open = loaded.unwrap_or_else(|| (0, self.functions.accumulators()));
            self.open.insert(key.to_vec(), open);
        }
        self.open
            .get_mut(key)
            .ok_or_else(|| TaskError::Internal("a key's count window vanished".into()))
    }

    fn write_line(&mut self, key: &[u8], accs: &[Acc]) {
        self.line.clear();
        self.line.push('{');
        if let Some(field) = &self.key_field {
            let _ = write!(self.line, "{field}:{}", key_json(key));
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
            let size = self.size;
            let open = self.open_of(key)?;
            open.0 += 1;
            let mut accs = std::mem::take(&mut open.1);
            let full = open.0 >= size;
            self.functions.add(&mut accs);
            if full {
                self.write_line(key, &accs);
                out.push(Some(key), self.line.as_bytes(), record.timestamp);
                let fresh = self.functions.accumulators();
                if let Some(open) = self.open.get_mut(key) {
                    *open = (0, fresh);
                }
            } else if let Some(open) = self.open.get_mut(key) {
                open.1 = accs;
            }
        }
        Ok(out)
    }

    fn state_bytes(&self) -> u64 {
        let cached: u64 = self
            .open
            .iter()
            .map(|(key, (_, accs))| heap_bytes(key, accs) + 8)
            .sum();
        cached + self.store.as_ref().map_or(0, |s| s.store.size())
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        self.flush()?;
        let open = &self.open;
        let mut heap = |entries: &mut HeapEntries| {
            for (key, window) in open.iter().filter(|(_, (count, _))| *count > 0) {
                entries.push(key, OPEN, encode(window));
            }
        };
        let store = self.store.as_mut().map(|s| &mut s.store);
        let heap = (
            self.max_parallelism,
            &mut heap as &mut dyn FnMut(&mut HeapEntries),
        );
        keyed_snapshot::take(&self.operator, id, store, heap, ()).map(Some)
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let operator = self.operator.clone();
        keyed_snapshot::entries(restored, &operator, None, &mut |key, namespace, value| {
            let (true, Some(window)) = (namespace == OPEN, decode(value)) else {
                return Err(keyed_snapshot::malformed(&operator, "count window"));
            };
            *self.open_of(key)? = window;
            Ok(())
        })?;
        self.flush()
    }

    fn finish(
        &mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        self.flush()?;
        let mut partial: Vec<(Vec<u8>, Open)> = match &mut self.store {
            Some(store) => {
                let mut all = Vec::new();
                let entries = store
                    .store
                    .all_entries(OPEN)
                    .map_err(|e| task_error(&self.operator, e))?;
                for (key, bytes) in entries {
                    let open = decode(&bytes)
                        .ok_or_else(|| store.store.corrupt("a count window is malformed"));
                    all.push((key, open.map_err(|e| task_error(&self.operator, e))?));
                }
                all
            }
            None => self.open.drain().collect(),
        };
        partial.retain(|(_, (count, _))| *count > 0);
        partial.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = Batches::new(self.batch_size, emit);
        for (key, (_, accs)) in partial {
            self.write_line(&key, &accs);
            out.push(Some(&key), self.line.as_bytes(), 0)?;
        }
        out.finish()?;
        Ok(())
    }
}
