//! The windows of the built-in window aggregate on the RocksDB backend: accumulators merged into
//! the store without a read, one fire timer per (key, window), and the results read back when a
//! window fires.

use super::acc_codec;
use super::builtin::{Acc, Functions};
use super::window::window_line;
use crate::operators::written_timers::WrittenTimers;
use std::collections::BTreeSet;
use weir_state::{RocksStore, StateError, layout};

/// A timer that emits a window's result.
pub(super) const FIRE: u8 = 0;
/// A timer that drops a window's state once its allowed lateness has passed.
pub(super) const CLEANUP: u8 = 1;

/// The windows of the RocksDB backend: the operator's in-memory windows are then only a bounded
/// write cache, folded into the store (a merge, no read) when full and before any window fires.
/// Each (key, window) in the store has a timer at the window's last millisecond.
pub(crate) struct WindowStore {
    pub(super) store: RocksStore,
    /// Entries the cache may hold.
    pub(super) cache_limit: usize,
    /// Window starts with entries in the store (the others are wholly in the write cache).
    pub(super) stored_windows: BTreeSet<i64>,
    /// (window start, key) pairs whose fire timer is in the store, so a flush writes each
    /// timer once rather than with every merge; bounded (forgetting one only costs a rewrite).
    pub(super) timed: WrittenTimers,
    scratch: Vec<u8>,
}

impl WindowStore {
    /// Windows in `store`, with a write cache of `cache_limit` (key, window) entries.
    pub(crate) fn new(store: RocksStore, cache_limit: usize) -> Self {
        WindowStore {
            store,
            cache_limit: cache_limit.max(1),
            stored_windows: Default::default(),
            timed: WrittenTimers::new(cache_limit.max(1).saturating_mul(4)),
            scratch: Vec::new(),
        }
    }

    /// The merge function the store must be opened with.
    pub(crate) fn merge_operator() -> (&'static str, weir_state::MergeFn) {
        (acc_codec::MERGE_NAME, acc_codec::merge)
    }

    /// Folds `accs` into window `start` of `key`, with a timer at `time` of kind `kind`.
    pub(super) fn merge(
        &mut self,
        key: &[u8],
        start: i64,
        accs: &[Acc],
        (time, kind): (i64, u8),
    ) -> Result<(), StateError> {
        self.scratch.clear();
        acc_codec::encode(accs, &mut self.scratch);
        let namespace = layout::ordered_i64(start);
        self.store.merge(key, &namespace, &self.scratch)?;
        if kind == FIRE && !self.timed.first(start, key) {
            return Ok(());
        }
        let mut timer = namespace.to_vec();
        timer.push(kind);
        self.store.put_timer(time, key, &timer)
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

/// Writes the stored result of window `start` of `key` into `line`; `false` if it has none.
/// `context` is the window size, the functions and the key's output field.
pub(super) fn stored_result(
    store: &mut WindowStore,
    key: &[u8],
    start: i64,
    (size, functions, key_field): (i64, &Functions, Option<&str>),
    line: &mut String,
) -> Result<bool, StateError> {
    let Some(accs) = store.read(key, start)? else {
        return Ok(false);
    };
    let window = (start, start + size);
    window_line(line, key_field, key, window, functions, &accs);
    Ok(true)
}
