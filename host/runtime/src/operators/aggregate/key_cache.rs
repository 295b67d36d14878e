//! One value per key — a key's open sessions, its open count window — held on the heap, or on
//! the RocksDB backend in a bounded write-back cache in front of the store: a key's value is
//! read on its first use, and every cached value is written back when the cache is full and
//! before anything fires. Also their part in checkpoints: one entry per key, read back from
//! either backend's snapshot.

use crate::error::{TaskError, task_error};
use crate::operators::keyed_snapshot;
use std::collections::HashMap;
use weir_state::checkpoint::{HeapEntries, OperatorRestore, OperatorSnapshot};
use weir_state::{RocksStore, StateError};

/// A value kept per key.
pub(crate) trait PerKey: Sized + Default {
    /// Its namespace in the store and in checkpoints.
    const NAMESPACE: &'static [u8];
    /// What it is, for errors.
    const WHAT: &'static str;
    /// As stored.
    fn encode(&self) -> Vec<u8>;
    /// From what was stored; `None` if malformed.
    fn decode(bytes: &[u8]) -> Option<Self>;
    /// Whether it holds nothing (then it is deleted rather than written).
    fn is_empty(&self) -> bool;
}

/// What the store side does besides storing a key's value: keep timers in step with it.
pub(crate) trait Writer<V> {
    /// `value` of `key` was read from the store into the cache.
    fn loaded(&mut self, _key: &[u8], _value: &V) {}

    /// Writes `value` of `key` back to `store`.
    fn write(&mut self, store: &mut RocksStore, key: &[u8], value: &V) -> Result<(), StateError>
    where
        V: PerKey,
    {
        match value.is_empty() {
            true => store.delete(key, V::NAMESPACE),
            false => store.put(key, V::NAMESPACE, &value.encode()),
        }
    }
}

/// Stores values as they are, with nothing beside them.
pub(crate) struct Plain;

impl<V> Writer<V> for Plain {}

/// The RocksDB side of a [`KeyCache`].
pub(crate) struct Stored<W> {
    pub(crate) store: RocksStore,
    pub(crate) writer: W,
    limit: usize,
}

/// Values per key of one operator subtask.
pub(crate) struct KeyCache<V, W> {
    operator: String,
    /// Key → value: all of them on the heap; with a store, those read since the last write-back.
    values: HashMap<Vec<u8>, V>,
    stored: Option<Stored<W>>,
    /// Key groups of the job, for heap snapshots.
    max_parallelism: u32,
}

impl<V: PerKey, W: Writer<V>> KeyCache<V, W> {
    /// Values of step `operator`: on the heap, or in `store` behind a cache of `limit` keys.
    pub(crate) fn new(
        operator: String,
        store: Option<(RocksStore, W)>,
        limit: usize,
        max_parallelism: u32,
    ) -> Self {
        KeyCache {
            operator,
            values: HashMap::new(),
            stored: store.map(|(store, writer)| Stored {
                store,
                writer,
                limit: limit.max(1),
            }),
            max_parallelism,
        }
    }

    /// The values held in memory: every one on the heap, the cached ones with a store.
    pub(crate) fn values(&mut self) -> &mut HashMap<Vec<u8>, V> {
        &mut self.values
    }

    /// The store and its writer, on the RocksDB backend.
    pub(crate) fn stored(&mut self) -> Option<&mut Stored<W>> {
        self.stored.as_mut()
    }

    /// The value of `key` (`fresh` if it has none), read from the store on first use; a full
    /// cache is written back first.
    pub(crate) fn get_mut(
        &mut self,
        key: &[u8],
        fresh: impl FnOnce() -> V,
    ) -> Result<&mut V, TaskError> {
        if !self.values.contains_key(key) {
            let full = self
                .stored
                .as_ref()
                .is_some_and(|s| self.values.len() >= s.limit);
            if full {
                self.flush()?;
            }
            let loaded = match &mut self.stored {
                Some(stored) => {
                    let read = stored.store.get(key, V::NAMESPACE);
                    let read = read.map_err(|e| task_error(&self.operator, e))?;
                    let value = match read {
                        None => fresh(),
                        Some(bytes) => V::decode(&bytes).ok_or_else(|| {
                            let what = format!("a stored {} is malformed", V::WHAT);
                            task_error(&self.operator, stored.store.corrupt(&what))
                        })?,
                    };
                    stored.writer.loaded(key, &value);
                    value
                }
                None => fresh(),
            };
            self.values.insert(key.to_vec(), loaded);
        }
        self.values
            .get_mut(key)
            .ok_or_else(|| TaskError::Internal(format!("a key's {} vanished", V::WHAT)))
    }

    /// Writes every cached value back to the store (nothing to do on the heap).
    pub(crate) fn flush(&mut self) -> Result<(), TaskError> {
        let Some(stored) = &mut self.stored else {
            return Ok(());
        };
        for (key, value) in self.values.drain() {
            let written = stored.writer.write(&mut stored.store, &key, &value);
            written.map_err(|e| task_error(&self.operator, e))?;
        }
        Ok(())
    }

    /// Every value for checkpoint `id`, with `meta` inline: heap entries, or a RocksDB
    /// checkpoint after the cache is written back.
    pub(crate) fn snapshot(
        &mut self,
        id: u64,
        meta: impl serde::Serialize,
    ) -> Result<OperatorSnapshot, TaskError> {
        self.flush()?;
        let values = &self.values;
        let mut heap = |entries: &mut HeapEntries| {
            for (key, value) in values.iter().filter(|(_, v)| !v.is_empty()) {
                entries.push(key, V::NAMESPACE, value.encode());
            }
        };
        let store = self.stored.as_mut().map(|s| &mut s.store);
        let heap = (
            self.max_parallelism,
            &mut heap as &mut dyn FnMut(&mut HeapEntries),
        );
        keyed_snapshot::take(&self.operator, id, store, heap, meta)
    }

    /// Takes back this subtask's values from a checkpoint written by either backend.
    pub(crate) fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let operator = self.operator.clone();
        keyed_snapshot::entries(restored, &operator, None, &mut |key, namespace, bytes| {
            let (true, Some(value)) = (namespace == V::NAMESPACE, V::decode(bytes)) else {
                return Err(keyed_snapshot::malformed(&operator, V::WHAT));
            };
            *self.get_mut(key, V::default)? = value;
            Ok(())
        })?;
        self.flush()
    }

    /// Bytes held: `heap_bytes` of each value in memory, plus RocksDB's files and memtables.
    pub(crate) fn state_bytes(&self, heap_bytes: impl Fn(&[u8], &V) -> u64) -> u64 {
        let held: u64 = self.values.iter().map(|(k, v)| heap_bytes(k, v)).sum();
        held + self.stored.as_ref().map_or(0, |s| s.store.size())
    }

    /// Every stored (key, value), after the cache is written back (for the end of input: this
    /// reads the whole store); the heap's values on the memory backend.
    pub(crate) fn take_all(&mut self) -> Result<Vec<(Vec<u8>, V)>, TaskError> {
        self.flush()?;
        let Some(stored) = &mut self.stored else {
            return Ok(self.values.drain().collect());
        };
        let entries = stored.store.all_entries(V::NAMESPACE);
        let entries = entries.map_err(|e| task_error(&self.operator, e))?;
        let mut all = Vec::with_capacity(entries.len());
        for (key, bytes) in entries {
            let value = V::decode(&bytes).ok_or_else(|| {
                let what = format!("a stored {} is malformed", V::WHAT);
                task_error(&self.operator, stored.store.corrupt(&what))
            });
            all.push((key, value?));
        }
        Ok(all)
    }
}
