//! Which (window start, key) pairs of a RocksDB-backed window operator already have their fire
//! timer in the store, so that writing a window's state back writes its timer once rather than
//! with every merge. Bounded: forgetting a pair only costs writing its timer again.

use std::collections::HashSet;

/// The pairs whose timer is written, at most `bound` of them.
pub(crate) struct WrittenTimers {
    pairs: HashSet<(i64, Vec<u8>)>,
    bound: usize,
}

impl WrittenTimers {
    /// Remembers at most `bound` pairs.
    pub(crate) fn new(bound: usize) -> Self {
        WrittenTimers {
            pairs: HashSet::new(),
            bound: bound.max(1),
        }
    }

    /// Whether the timer of window `start` of `key` is still to be written; from now on it
    /// counts as written.
    pub(crate) fn first(&mut self, start: i64, key: &[u8]) -> bool {
        if self.pairs.len() >= self.bound {
            self.pairs.clear();
        }
        self.pairs.insert((start, key.to_vec()))
    }

    /// Windows of `size` ms up to `up_to` fired: their timers are gone from the store.
    pub(crate) fn fired(&mut self, up_to: i64, size: i64) {
        self.pairs.retain(|(start, _)| start + size - 1 > up_to);
    }
}
