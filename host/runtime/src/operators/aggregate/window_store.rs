//! The windows of the built-in window aggregate on the RocksDB backend: accumulators merged into
//! the store without a read, and a window's results read back in one pass over the store when it
//! fires — no timer per (key, window): which windows are in the store is known in memory.

use super::KeyField;
use super::acc_codec;
use super::builtin::{Acc, Functions};
use super::window::window_line;
use std::collections::BTreeSet;
use weir_state::{RocksStore, StateError, layout};

/// The windows of the RocksDB backend: the operator's in-memory windows are then only a bounded
/// write cache, folded into the store (a merge, no read) when full and before any window fires.
pub(crate) struct WindowStore {
    pub(super) store: RocksStore,
    /// Entries the cache may hold.
    pub(super) cache_limit: usize,
    /// Window starts with entries in the store (the others are wholly in the write cache): the
    /// windows a watermark fires from the store, and those whose allowed lateness it ends.
    pub(super) stored_windows: BTreeSet<i64>,
    scratch: Vec<u8>,
}

impl WindowStore {
    /// Windows in `store`, with a write cache of `cache_limit` (key, window) entries.
    pub(crate) fn new(store: RocksStore, cache_limit: usize) -> Self {
        WindowStore {
            store,
            cache_limit: cache_limit.max(1),
            stored_windows: Default::default(),
            scratch: Vec::new(),
        }
    }

    /// The merge function the store must be opened with.
    pub(crate) fn merge_operator() -> (&'static str, weir_state::MergeFn) {
        (acc_codec::MERGE_NAME, acc_codec::merge)
    }

    /// Folds `accs` into window `start` of `key`.
    pub(super) fn merge(&mut self, key: &[u8], start: i64, accs: &[Acc]) -> Result<(), StateError> {
        self.scratch.clear();
        acc_codec::encode(accs, &mut self.scratch);
        self.stored_windows.insert(start);
        self.store
            .merge(key, &layout::ordered_i64(start), &self.scratch)
    }

    /// The whole accumulators of window `start` of `key`.
    pub(super) fn read(&mut self, key: &[u8], start: i64) -> Result<Option<Vec<Acc>>, StateError> {
        match self.store.get(key, &layout::ordered_i64(start))? {
            None => Ok(None),
            Some(bytes) => acc_codec::decode(&bytes)
                .map(Some)
                .ok_or_else(|| self.store.corrupt("a window's accumulators are malformed")),
        }
    }
}

/// Writes the result of window `start` of `key` from its stored accumulators `bytes` into
/// `line`. `context` is the window's bounds, the functions and the key's output field.
pub(super) fn stored_result(
    store: &WindowStore,
    (key, bytes): (&[u8], &[u8]),
    (window, functions, key_field): ((i64, i64), &Functions, Option<&KeyField>),
    line: &mut String,
) -> Result<(), StateError> {
    let accs = acc_codec::decode(bytes)
        .ok_or_else(|| store.store.corrupt("a window's accumulators are malformed"))?;
    window_line(line, key_field, key, window, functions, &accs);
    Ok(())
}
