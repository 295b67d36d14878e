//! Records kept per key, aligned event-time window and side (0, or 1 for a join's right input)
//! until the window fires: what window joins and whole-window functions hold.
//!
//! On the memory backend they are lists on the heap. On RocksDB each (key, window, side) is a
//! list appended to by merge (no read per record), with one timer per (key, window) at the
//! window's last millisecond; firing takes the due timers in time order and reads each list once.

use super::RejectSink;
use super::aggregate::{key_of, late};
use super::keyed_snapshot::{self, EventTime};
use super::written_timers::WrittenTimers;
use crate::error::{TaskError, task_error};
use std::collections::{BTreeMap, HashMap};
use weir_proto::RecordBatch;
use weir_proto::spec::window_starts;
use weir_state::checkpoint::{HeapEntries, OperatorRestore, OperatorSnapshot};
use weir_state::{MergeFn, RocksStore, StateError, layout, lists};

/// A (key, window)'s records by side.
pub(super) type Sides = [Vec<Vec<u8>>; 2];

/// What [`WindowLists::take_due`] calls with each fired (window start, key, records by side).
pub(super) type OnWindow<'a> = dyn FnMut(i64, &[u8], Sides) -> Result<(), TaskError> + 'a;

/// The RocksDB side of [`WindowLists`].
struct ListStore {
    store: RocksStore,
    /// (window start, key) pairs whose timer is written; bounded (forgetting costs a rewrite).
    timed: WrittenTimers,
    scratch: Vec<u8>,
}

/// Records per key, window and side, in memory or in a RocksDB store.
pub(super) struct WindowLists {
    operator: String,
    size: i64,
    /// Window start → key → records by side (the memory backend).
    windows: BTreeMap<i64, HashMap<Vec<u8>, Sides>>,
    store: Option<ListStore>,
    /// Key groups of the job, for heap snapshots.
    max_parallelism: u32,
}

fn namespace(start: i64, side: usize) -> [u8; 9] {
    let mut namespace = [0; 9];
    namespace[..8].copy_from_slice(&layout::ordered_i64(start));
    namespace[8] = side as u8;
    namespace
}

impl WindowLists {
    /// Lists of `operator`'s windows of `size` ms, in `store` (opened with
    /// [`WindowLists::merge_operator`]) or on the heap, in a job of `max_parallelism` key groups.
    pub(super) fn new(
        operator: String,
        size: i64,
        store: Option<RocksStore>,
        max_parallelism: u32,
    ) -> Self {
        WindowLists {
            operator,
            size,
            max_parallelism,
            windows: BTreeMap::new(),
            store: store.map(|store| ListStore {
                store,
                timed: WrittenTimers::new(64 * 1024),
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
                rejects.late(late(&self.operator, record, watermark))?;
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
        if written.is_ok() && store.timed.first(start, key) {
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
        store.timed.fired(up_to, size);
        Ok(())
    }

    /// The lists for checkpoint `id`, with the owner's watermark inline.
    pub(super) fn snapshot(
        &mut self,
        id: u64,
        watermark: i64,
    ) -> Result<OperatorSnapshot, TaskError> {
        let windows = &self.windows;
        let mut heap = |entries: &mut HeapEntries| {
            let mut item = Vec::new();
            for (start, keys) in windows {
                for (key, sides) in keys {
                    for (side, records) in sides.iter().enumerate() {
                        if records.is_empty() {
                            continue;
                        }
                        let mut list = Vec::new();
                        for record in records {
                            lists::item(record, &mut item);
                            list.extend_from_slice(&item);
                        }
                        entries.push(key, &namespace(*start, side), list);
                    }
                }
            }
        };
        let store = self.store.as_mut().map(|s| &mut s.store);
        let heap = (
            self.max_parallelism,
            &mut heap as &mut dyn FnMut(&mut HeapEntries),
        );
        keyed_snapshot::take(&self.operator, id, store, heap, EventTime { watermark })
    }

    /// Takes back this subtask's lists from a checkpoint; returns the owner's watermark then
    /// (the earliest of the old subtasks' at another parallelism), if the checkpoint has one.
    pub(super) fn restore(&mut self, restored: &OperatorRestore) -> Result<Option<i64>, TaskError> {
        let operator = self.operator.clone();
        let size = self.size;
        keyed_snapshot::entries(
            restored,
            &operator,
            Some(Self::merge_operator()),
            &mut |key, namespace, list| {
                let start = namespace
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(layout::read_ordered_i64);
                let side = namespace
                    .get(8)
                    .map(|&side| side as usize)
                    .filter(|&side| side < 2);
                let (Some(start), Some(side), 9, Some(items)) =
                    (start, side, namespace.len(), lists::items(list))
                else {
                    return Err(keyed_snapshot::malformed(&operator, "record list"));
                };
                let Some(store) = &mut self.store else {
                    let sides = self
                        .windows
                        .entry(start)
                        .or_default()
                        .entry(key.to_vec())
                        .or_default();
                    sides[side].extend(items.into_iter().map(<[u8]>::to_vec));
                    return Ok(());
                };
                let mut written = store.store.put(key, namespace, list);
                if written.is_ok() && store.timed.first(start, key) {
                    written =
                        store
                            .store
                            .put_timer(start + size - 1, key, &layout::ordered_i64(start));
                }
                written.map_err(|e| task_error(&operator, e))
            },
        )?;
        keyed_snapshot::restored_watermark(restored, &operator)
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
