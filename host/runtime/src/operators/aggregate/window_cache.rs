//! The in-memory windows of a windowed aggregate (built-in functions or a Wasm aggregate): window
//! start → key → accumulator, with a count of (key, window) entries. On the heap backend they
//! are the whole state; on RocksDB a bounded write-back cache in front of the store, full at
//! `limit` entries, whose owner then folds it into the store (each its own way: a merge
//! operator, or the guest's `merge`).

use std::collections::{BTreeMap, HashMap};

/// Window start → key → accumulator, ordered so firing takes the oldest windows first.
pub(crate) struct WindowCache<A> {
    windows: BTreeMap<i64, HashMap<Vec<u8>, A>>,
    entries: usize,
    limit: Option<usize>,
}

impl<A> WindowCache<A> {
    /// Windows without a limit (the heap backend), or a write cache of `limit` entries.
    pub(crate) fn new(limit: Option<usize>) -> Self {
        WindowCache {
            windows: BTreeMap::new(),
            entries: 0,
            limit: limit.map(|l| l.max(1)),
        }
    }

    /// Whether a write cache holds as many entries as it may.
    pub(crate) fn is_full(&self) -> bool {
        self.limit.is_some_and(|limit| self.entries >= limit)
    }

    /// Whether it holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The accumulator of `key` in window `start`, and whether it was just made by `fresh`.
    pub(crate) fn entry(
        &mut self,
        start: i64,
        key: &[u8],
        fresh: impl FnOnce() -> A,
    ) -> (&mut A, bool) {
        let keys = self.windows.entry(start).or_default();
        let made = !keys.contains_key(key);
        if made {
            self.entries += 1;
        }
        (keys.entry(key.to_vec()).or_insert_with(fresh), made)
    }

    /// Puts `acc` in as `key`'s accumulator of window `start` (a restore).
    pub(crate) fn insert(&mut self, start: i64, key: Vec<u8>, acc: A) {
        if self
            .windows
            .entry(start)
            .or_default()
            .insert(key, acc)
            .is_none()
        {
            self.entries += 1;
        }
    }

    /// `key`'s accumulator of window `start`, if cached.
    pub(crate) fn get(&self, start: i64, key: &[u8]) -> Option<&A> {
        self.windows.get(&start).and_then(|keys| keys.get(key))
    }

    /// Takes `key`'s accumulator of window `start` out.
    pub(crate) fn remove(&mut self, start: i64, key: &[u8]) -> Option<A> {
        let acc = self.windows.get_mut(&start)?.remove(key);
        if acc.is_some() {
            self.entries -= 1;
        }
        acc
    }

    /// Takes window `start` out whole.
    pub(crate) fn take_window(&mut self, start: i64) -> Option<HashMap<Vec<u8>, A>> {
        let keys = self.windows.remove(&start)?;
        self.entries -= keys.len();
        Some(keys)
    }

    /// Takes everything out, as (window start, key, accumulator).
    pub(crate) fn take_all(&mut self) -> Vec<(i64, Vec<u8>, A)> {
        self.entries = 0;
        std::mem::take(&mut self.windows)
            .into_iter()
            .flat_map(|(start, keys)| keys.into_iter().map(move |(key, acc)| (start, key, acc)))
            .collect()
    }

    /// The starts of the windows held, oldest first.
    pub(crate) fn starts(&self) -> Vec<i64> {
        self.windows.keys().copied().collect()
    }

    /// The first millisecond after the oldest window held, if any (`size` ms windows).
    pub(crate) fn oldest_end(&self, size: i64) -> Option<i64> {
        self.windows.keys().next().map(|start| start + size)
    }

    /// The windows of `size` ms whose last millisecond is at or before `up_to`, oldest first.
    pub(crate) fn due(
        &self,
        size: i64,
        up_to: i64,
    ) -> impl Iterator<Item = (i64, &HashMap<Vec<u8>, A>)> {
        self.windows
            .range(..=up_to.saturating_sub(size - 1))
            .map(|(start, keys)| (*start, keys))
    }

    /// Drops the windows of `size` ms whose allowed `lateness` has passed by `up_to`.
    pub(crate) fn drop_expired(&mut self, size: i64, lateness: i64, up_to: i64) {
        while let Some(entry) = self.windows.first_entry() {
            if (*entry.key() + size - 1).saturating_add(lateness) > up_to {
                break;
            }
            self.entries -= entry.remove().len();
        }
    }

    /// Every (window start, key, accumulator), for snapshots and sizes.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i64, &Vec<u8>, &A)> {
        self.windows
            .iter()
            .flat_map(|(start, keys)| keys.iter().map(move |(key, acc)| (*start, key, acc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_counted_through_every_way_in_and_out() {
        let mut cache: WindowCache<u32> = WindowCache::new(Some(3));
        assert!(cache.entry(0, b"a", || 1).1);
        let (acc, made) = cache.entry(0, b"a", || 9);
        *acc += 1;
        assert!(!made);
        cache.entry(10, b"a", || 5);
        cache.insert(10, b"b".to_vec(), 7);
        assert!(cache.is_full());
        assert_eq!(cache.get(0, b"a"), Some(&2));
        assert_eq!(cache.due(10, 9).count(), 1, "only [0, 10) has ended by 9");
        assert_eq!(cache.remove(10, b"b"), Some(7));
        assert!(!cache.is_full());
        cache.drop_expired(10, 5, 14);
        assert_eq!(cache.starts(), [10], "[0, 10) is past its lateness at 14");
        assert_eq!(cache.take_window(10).map(|k| k.len()), Some(1));
        assert!(cache.is_empty());
    }
}
