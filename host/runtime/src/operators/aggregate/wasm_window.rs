//! A Wasm aggregate function per key and aligned event-time window (tumbling or sliding): one
//! `add` call per batch for every (window, key) it touches, `get-result` per chunk of a fired
//! window's keys. Each result is `{"<key_as>": key, "window_start": s, "window_end": e,
//! "result": <the guest's result, as JSON when it is JSON>}`.
//!
//! On the RocksDB backend the in-memory windows are a bounded write cache: when full (and before
//! any window fires) its accumulators go to the store, merged by the guest's `merge` with what
//! the store already holds (one call for all of them), with a timer per (key, window). With
//! allowed lateness a fired window's accumulator is kept that much longer, and a late record
//! within it emits the window's updated result at once. A trap fails the step: accumulators of several records and windows change in one call, so the
//! records cannot be retried one by one without counting some twice.

use super::KeyField;
use super::builtin::key_json;
use super::key_of;
use super::window::late;
use super::window_cache::WindowCache;
use crate::error::TaskError;
use crate::error::task_error;
use crate::operators::isolate::UdfSite;
use crate::operators::keyed_snapshot::{self, EventTime};
use crate::operators::{Operator, RejectSink};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use weir_proto::spec::window_starts;
use weir_proto::{Blobs, RecordBatch};
use weir_state::checkpoint::{HeapEntries, OperatorRestore, OperatorSnapshot};
use weir_state::{NamespaceScan, RocksStore, StateError, layout};
use weir_wasm::AggregateUdf;

/// The windows of the RocksDB backend: no timer per (key, window); a window that ends is read
/// from the store in one pass.
pub(crate) struct WasmWindowStore {
    store: RocksStore,
    cache_limit: usize,
    /// Window starts with entries in the store.
    stored_windows: BTreeSet<i64>,
}

impl WasmWindowStore {
    /// Windows in `store`, with a write cache of `cache_limit` (key, window) entries.
    pub(crate) fn new(store: RocksStore, cache_limit: usize) -> Self {
        WasmWindowStore {
            store,
            cache_limit: cache_limit.max(1),
            stored_windows: BTreeSet::new(),
        }
    }
}

/// One subtask of a Wasm-windowed aggregate.
pub(crate) struct WasmWindowAggregate {
    site: UdfSite,
    udf: AggregateUdf,
    /// The output field of the key, as JSON; `None` for a window over all records.
    key_field: Option<KeyField>,
    size: i64,
    slide: i64,
    /// How long after its end a window is kept for late records.
    lateness: i64,
    /// Windows whose last millisecond is at or before this have emitted their result.
    fired: i64,
    /// Window start → key → accumulator (on RocksDB, only what is not yet in the store).
    windows: WindowCache<Vec<u8>>,
    store: Option<WasmWindowStore>,
    watermark: i64,
    batch_size: usize,
    /// Key groups of the job, for heap snapshots.
    max_parallelism: u32,
}

impl WasmWindowAggregate {
    pub(crate) fn new(
        operator: String,
        udf: AggregateUdf,
        key_field: Option<KeyField>,
        (size, slide, lateness): (i64, i64, i64),
        (batch_size, max_parallelism): (usize, u32),
        store: Option<WasmWindowStore>,
    ) -> Self {
        let site = UdfSite::new(operator, udf.module(), udf.export());
        WasmWindowAggregate {
            site,
            udf,
            key_field,
            size,
            slide,
            lateness,
            fired: i64::MIN,
            windows: WindowCache::new(store.as_ref().map(|s| s.cache_limit)),
            store,
            watermark: i64::MIN,
            batch_size: batch_size.max(1),
            max_parallelism,
        }
    }

    fn state_failed(&self, error: StateError) -> TaskError {
        task_error(&self.site.operator, error)
    }

    /// Writes the cached accumulators to the store, merged with what it holds.
    fn flush(&mut self) -> Result<(), TaskError> {
        if self.store.is_none() || self.windows.is_empty() {
            return Ok(());
        }
        let cached = self.windows.take_all();
        for chunk in cached.chunks(self.batch_size) {
            let (mut stored, mut fresh, mut merged_at) =
                (Blobs::default(), Blobs::default(), Vec::new());
            for (i, (start, key, acc)) in chunk.iter().enumerate() {
                let held = match &mut self.store {
                    Some(store) => store.store.get(key, &layout::ordered_i64(*start)),
                    None => Ok(None),
                };
                if let Some(held) = held.map_err(|e| self.state_failed(e))? {
                    stored.push(&held);
                    fresh.push(acc);
                    merged_at.push(i);
                }
            }
            let merged = match merged_at.is_empty() {
                true => Blobs::default(),
                false => self
                    .udf
                    .merge(stored, fresh)
                    .map_err(|e| self.site.failed(e))?,
            };
            let merged: HashMap<usize, &[u8]> = merged_at
                .iter()
                .enumerate()
                .map(|(j, &i)| (i, merged.get(j)))
                .collect();
            let (size, fired, lateness) = (self.size, self.fired, self.lateness);
            let Some(store) = &mut self.store else {
                return Ok(());
            };
            for (i, (start, key, acc)) in chunk.iter().enumerate() {
                let namespace = layout::ordered_i64(*start);
                let value = merged.get(&i).copied().unwrap_or(acc);
                let written = store.store.put(key, &namespace, value);
                written.map_err(|e| task_error(&self.site.operator, e))?;
                if store.stored_windows.insert(*start) {
                    // A window that has fired waits only for its allowed lateness to end.
                    let last = start + size - 1;
                    store.store.note_due(match last <= fired {
                        true => last.saturating_add(lateness),
                        false => last,
                    });
                }
            }
        }
        Ok(())
    }

    /// Emits the results of `(start, key, accumulator)`s in chunks.
    fn emit_results(
        &mut self,
        due: Vec<(i64, Vec<u8>, Vec<u8>)>,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let mut line = String::new();
        for chunk in due.chunks(self.batch_size) {
            let mut accumulators = Blobs::default();
            for (_, _, acc) in chunk {
                accumulators.push(acc);
            }
            let results = self
                .udf
                .get_result(accumulators)
                .map_err(|error| self.site.failed(error))?;
            let mut out = RecordBatch::with_capacity(chunk.len(), 64);
            for ((start, key, _), result) in chunk.iter().zip(results.iter()) {
                let end = start + self.size;
                line.clear();
                line.push('{');
                if let Some(field) = &self.key_field {
                    field.write(&mut line, key);
                    line.push(',');
                }
                let _ = write!(
                    line,
                    "\"window_start\":{start},\"window_end\":{end},\"result\":{}}}",
                    key_json(result)
                );
                out.push(Some(key), line.as_bytes(), end - 1);
            }
            emit(out)?;
        }
        Ok(())
    }

    /// Emits and drops every window whose last millisecond is at or before `up_to`.
    fn fire(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let (size, lateness, from) = (self.size, self.lateness, self.fired);
        if self.store.is_none() {
            self.fired = self.fired.max(up_to);
            let mut due = Vec::new();
            for (start, keys) in self.windows.due(size, up_to) {
                if start + size - 1 <= from {
                    continue;
                }
                let mut keys: Vec<(&Vec<u8>, &Vec<u8>)> = keys.iter().collect();
                keys.sort_unstable();
                due.extend(
                    keys.into_iter()
                        .map(|(key, acc)| (start, key.clone(), acc.clone())),
                );
            }
            // Kept for late records until the allowed lateness has passed.
            self.windows.drop_expired(size, lateness, up_to);
            return self.emit_results(due, emit);
        }
        if self
            .store
            .as_ref()
            .is_some_and(|s| s.store.nothing_due(up_to))
            && self
                .windows
                .oldest_end(size)
                .is_none_or(|end| end - 1 > up_to)
        {
            return Ok(());
        }
        self.flush()?;
        let ended: Vec<i64> = match &self.store {
            Some(store) => store
                .stored_windows
                .range(..=up_to.saturating_sub(size - 1))
                .copied()
                .collect(),
            None => return Ok(()),
        };
        for start in ended {
            let last = start + size - 1;
            let (fire, expired) = (last > from, last.saturating_add(lateness) <= up_to);
            if !fire && !expired {
                continue;
            }
            let mut scan =
                NamespaceScan::new(&layout::ordered_i64(start), self.batch_size, expired);
            loop {
                let Some(store) = &mut self.store else {
                    return Ok(());
                };
                let entries = scan
                    .next_chunk(&mut store.store)
                    .map_err(|e| task_error(&self.site.operator, e))?;
                if entries.is_empty() {
                    break;
                }
                if fire {
                    let due = entries.into_iter().map(|(key, acc)| (start, key, acc));
                    self.emit_results(due.collect(), emit)?;
                }
            }
            if let (false, Some(store)) = (expired, &mut self.store) {
                // Kept for late records until its allowed lateness has passed.
                store.store.note_due(last.saturating_add(lateness));
            }
        }
        let failed = |e: StateError| task_error(&self.site.operator, e);
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        store.store.timers_taken(up_to).map_err(failed)?;
        store
            .stored_windows
            .retain(|start| (start + size - 1).saturating_add(lateness) > up_to);
        self.fired = self.fired.max(up_to);
        Ok(())
    }

    /// The current results of the fired windows `touched` (a late record within the allowed
    /// lateness changed them), in one batch.
    fn updated_results(
        &mut self,
        mut touched: Vec<(i64, Vec<u8>)>,
    ) -> Result<RecordBatch, TaskError> {
        touched.sort_unstable();
        touched.dedup();
        self.flush()?;
        let mut due = Vec::with_capacity(touched.len());
        for (start, key) in touched {
            let held = match &mut self.store {
                Some(store) => store
                    .store
                    .get(&key, &layout::ordered_i64(start))
                    .map_err(|e| task_error(&self.site.operator, e))?,
                None => self.windows.get(start, &key).cloned(),
            };
            if let Some(acc) = held {
                due.push((start, key, acc));
            }
        }
        let mut updates = RecordBatch::default();
        self.emit_results(due, &mut |batch| {
            updates.append(&batch);
            Ok(())
        })?;
        Ok(updates)
    }
}

impl Operator for WasmWindowAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let initial = self
            .udf
            .create_accumulator()
            .map_err(|error| self.site.failed(error))?;
        let (size, slide, watermark) = (self.size, self.slide, self.watermark);
        // Every (window, key) the batch touches, with its accumulator; each record once per
        // window it belongs to.
        // Keys borrowed from the batch: a (window, key) is copied once, when first seen.
        let mut index: HashMap<(i64, &[u8]), u32> = HashMap::new();
        let mut slots: Vec<(i64, Vec<u8>)> = Vec::new();
        let mut accumulators = Blobs::default();
        let (mut groups, mut keyed) = (Vec::new(), RecordBatch::default());
        for record in batch.iter() {
            let key = match self.key_field {
                Some(_) => match key_of(record, &self.site.operator, rejects)? {
                    Some(key) => key,
                    None => continue,
                },
                None => &[],
            };
            let lateness = self.lateness;
            let mut windows = window_starts(size, slide, record.timestamp)
                .filter(|start| (start + size - 1).saturating_add(lateness) > watermark)
                .peekable();
            if windows.peek().is_none() {
                rejects.late(late(&self.site.operator, record, watermark))?;
                continue;
            }
            for start in windows {
                let next = slots.len() as u32;
                let slot = *index.entry((start, key)).or_insert_with(|| {
                    let held = self.windows.get(start, key);
                    accumulators.push(held.map_or(&initial[..], Vec::as_slice));
                    slots.push((start, key.to_vec()));
                    next
                });
                groups.push(slot);
                keyed.push_ref(record);
            }
        }
        if keyed.is_empty() {
            return Ok(RecordBatch::default());
        }
        let errors = self
            .udf
            .add(&mut accumulators, &groups, &mut keyed)
            .map_err(|error| self.site.failed(error))?;
        self.site.reject_errors(errors, &keyed, rejects)?;
        let fired = self.fired;
        let touched: Vec<(i64, Vec<u8>)> = slots
            .iter()
            .filter(|(start, _)| start + size - 1 <= fired)
            .cloned()
            .collect();
        for ((start, key), acc) in slots.into_iter().zip(accumulators.iter()) {
            self.windows.insert(start, key, acc.to_vec());
        }
        if !touched.is_empty() {
            return self.updated_results(touched);
        }
        if self.windows.is_full() {
            self.flush()?;
        }
        Ok(RecordBatch::default())
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        self.flush()?;
        let windows = &self.windows;
        let mut heap = |entries: &mut HeapEntries| {
            for (start, key, acc) in windows.iter() {
                entries.push(key, &layout::ordered_i64(start), acc.clone());
            }
        };
        let store = self.store.as_mut().map(|s| &mut s.store);
        let heap = (
            self.max_parallelism,
            &mut heap as &mut dyn FnMut(&mut HeapEntries),
        );
        let watermark = self.watermark;
        let operator = &self.site.operator;
        keyed_snapshot::take(operator, id, store, heap, EventTime { watermark }).map(Some)
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let operator = self.site.operator.clone();
        if let Some(watermark) = keyed_snapshot::restored_watermark(restored, &operator)? {
            self.watermark = watermark;
            self.fired = watermark;
        }
        keyed_snapshot::entries(restored, &operator, None, &mut |key, namespace, acc| {
            let Ok(start) = namespace.try_into().map(layout::read_ordered_i64) else {
                return Err(keyed_snapshot::malformed(&operator, "window accumulator"));
            };
            self.windows.insert(start, key.to_vec(), acc.to_vec());
            match self.windows.is_full() {
                true => self.flush(),
                false => Ok(()),
            }
        })?;
        self.flush()
    }

    fn state_bytes(&self) -> u64 {
        let cached: usize = self
            .windows
            .iter()
            .map(|(_, key, acc)| key.len() + acc.len() + 64)
            .sum();
        cached as u64 + self.store.as_ref().map_or(0, |s| s.store.size())
    }

    fires_on_event_time!();
}
