//! Records kept per key, aligned event-time window and side (0, or 1 for a join's right input)
//! until the window fires: what window joins and whole-window functions hold.
//!
//! On the memory backend they are lists on the heap. On RocksDB each (key, window, side) is a
//! list appended to by merge (no read per record), with one timer per (key, window) at the
//! window's last millisecond; firing takes the due timers in time order and reads each list once.

use super::RejectSink;
use super::aggregate::{key_of, late};
use crate::error::TaskError;
use crate::error::task_error;
use std::collections::{BTreeMap, HashMap, HashSet};
use weir_proto::RecordBatch;
use weir_proto::spec::window_starts;
use weir_state::{MergeFn, RocksStore, StateError, layout, lists};

/// A (key, window)'s records by side.
pub(super) type Sides = [Vec<Vec<u8>>; 2];

/// What [`WindowLists::take_due`] calls with each fired (window start, key, records by side).
pub(super) type OnWindow<'a> = dyn FnMut(i64, &[u8], Sides) -> Result<(), TaskError> + 'a;

/// The RocksDB side of [`WindowLists`].
struct ListStore {
    store: RocksStore,
    /// (window start, key) pairs whose timer is written; bounded (forgetting costs a rewrite).
    timed: HashSet<(i64, Vec<u8>)>,
    scratch: Vec<u8>,
}

/// Records per key, window and side, in memory or in a RocksDB store.
pub(super) struct WindowLists {
    operator: String,
    size: i64,
    /// Window start → key → records by side (the memory backend).
    windows: BTreeMap<i64, HashMap<Vec<u8>, Sides>>,
    store: Option<ListStore>,
}

fn namespace(start: i64, side: usize) -> [u8; 9] {
    let mut namespace = [0; 9];
    namespace[..8].copy_from_slice(&layout::ordered_i64(start));
    namespace[8] = side as u8;
    namespace
}

impl WindowLists {
    /// Lists of `operator`'s windows of `size` ms, in `store` (opened with
    /// [`WindowLists::merge_operator`]) or on the heap.
    pub(super) fn new(operator: String, size: i64, store: Option<RocksStore>) -> Self {
        WindowLists {
            operator,
            size,
            windows: BTreeMap::new(),
            store: store.map(|store| ListStore {
                store,
                timed: HashSet::new(),
                scratch: Vec::new(),
            }),
        }
    }

    /// The merge function a store must be opened with.
    pub(super) fn merge_operator() -> (&'static str, MergeFn) {
        (lists::APPEND_NAME, lists::append)
    }

    /// Adds every keyed record of `batch` to `side` of each of its windows (windows of the
    /// lists' size every `slide` ms) that are still open at `watermark`; a record with no open
    /// window is rejected as late.
    pub(super) fn add(
        &mut self,
        side: usize,
        batch: &RecordBatch,
        slide: i64,
        watermark: i64,
        rejects: &mut dyn RejectSink,
    ) -> Result<(), TaskError> {
        let size = self.size;
        for record in batch.iter() {
            let Some(key) = key_of(record, &self.operator, rejects)? else {
                continue;
            };
            let mut windows = window_starts(size, slide, record.timestamp)
                .filter(|start| start + size - 1 > watermark)
                .peekable();
            if windows.peek().is_none() {
                rejects.reject(late(&self.operator, record, watermark))?;
                continue;
            }
            for start in windows {
                self.append(key, start, side, record.value)?;
            }
        }
        Ok(())
    }

    /// Appends `item` to `side` of window `start` of `key`.
    fn append(
        &mut self,
        key: &[u8],
        start: i64,
        side: usize,
        item: &[u8],
    ) -> Result<(), TaskError> {
        let due = start + self.size - 1;
        let Some(store) = &mut self.store else {
            let keys = self.windows.entry(start).or_default();
            let sides = match keys.get_mut(key) {
                Some(sides) => sides,
                None => keys.entry(key.to_vec()).or_default(),
            };
            sides[side].push(item.to_vec());
            return Ok(());
        };
        lists::item(item, &mut store.scratch);
        let mut written = store
            .store
            .merge(key, &namespace(start, side), &store.scratch);
        if store.timed.len() >= 64 * 1024 {
            store.timed.clear();
        }
        if written.is_ok() && store.timed.insert((start, key.to_vec())) {
            written = store.store.put_timer(due, key, &layout::ordered_i64(start));
        }
        written.map_err(|e| task_error(&self.operator, e))
    }

    /// Takes every window whose last millisecond is at or before `up_to` out, calling `f` with
    /// each (window start, key, records by side): on the heap in window and key order, from the
    /// store in time order.
    pub(super) fn take_due(
        &mut self,
        up_to: i64,
        chunk: usize,
        f: &mut OnWindow<'_>,
    ) -> Result<(), TaskError> {
        let size = self.size;
        let Some(store) = &mut self.store else {
            while let Some(entry) = self.windows.first_entry() {
                let start = *entry.key();
                if start + size - 1 > up_to {
                    break;
                }
                let mut keys: Vec<(Vec<u8>, Sides)> = entry.remove().into_iter().collect();
                keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                for (key, sides) in keys {
                    f(start, &key, sides)?;
                }
            }
            return Ok(());
        };
        if store.store.nothing_due(up_to) {
            return Ok(());
        }
        let operator = self.operator.clone();
        let failed = |e: StateError| task_error(&operator, e);
        loop {
            let timers = store
                .store
                .take_timers(up_to, chunk.max(1))
                .map_err(failed)?;
            if timers.is_empty() {
                break;
            }
            for timer in timers {
                let start = timer
                    .start()
                    .ok_or_else(|| failed(store.store.corrupt("a window timer is malformed")))?;
                let mut sides: Sides = Default::default();
                for (side, records) in sides.iter_mut().enumerate() {
                    let namespace = namespace(start, side);
                    if let Some(bytes) = store.store.get(&timer.key, &namespace).map_err(failed)? {
                        let items = lists::items(&bytes).ok_or_else(|| {
                            failed(store.store.corrupt("a record list is malformed"))
                        })?;
                        records.extend(items.into_iter().map(<[u8]>::to_vec));
                        store.store.delete(&timer.key, &namespace).map_err(failed)?;
                    }
                }
                f(start, &timer.key, sides)?;
            }
        }
        store.store.timers_taken(up_to).map_err(failed)?;
        store.timed.retain(|(start, _)| start + size - 1 > up_to);
        Ok(())
    }

    /// Bytes held: the heap lists' estimate, or RocksDB's files and memtables.
    pub(super) fn state_bytes(&self) -> u64 {
        let held: usize = self
            .windows
            .values()
            .flat_map(|keys| keys.iter())
            .map(|(key, sides)| {
                key.len() + 64 + sides.iter().flatten().map(|r| r.len() + 24).sum::<usize>()
            })
            .sum();
        held as u64 + self.store.as_ref().map_or(0, |s| s.store.size())
    }
}
