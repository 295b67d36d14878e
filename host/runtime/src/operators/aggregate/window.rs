//! Built-in functions per key and aligned event-time window (tumbling or sliding). A window's
//! results are emitted, one record per key, when the watermark passes the window's end. With
//! allowed lateness its state is kept that much longer, and each late record within it emits the
//! window's updated result at once; after that the state is dropped, and a record for a dropped
//! window is late: rejected (to the dead-letter sink), never silently dropped.

use super::KeyField;
use super::builtin::{Acc, BuiltinFunction, Functions, heap_bytes};
use super::key_of;
use super::window_cache::WindowCache;
use super::window_store::{WindowStore, stored_result};

mod snapshot;
use crate::error::TaskError;
use crate::error::task_error;
use crate::operators::Batches;
use crate::operators::{Operator, RejectSink, Rejection};
use std::fmt::Write as _;
use std::time::Instant;
use weir_proto::spec::{cumulate_bounds, cumulate_windows, window_starts};
use weir_proto::{RecordBatch, RecordRef};
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};
use weir_state::clock::{WallClock, now_ms};
use weir_state::{NamespaceScan, StateError, layout};

/// Windowed built-in aggregates of one subtask.
pub(crate) struct WindowAggregate {
    operator: String,
    /// The output field of the key, as JSON; `None` for a window over all records.
    key_field: Option<KeyField>,
    size: i64,
    slide: i64,
    lateness: i64,
    functions: Functions,
    /// Window start → key → accumulators. With a [`WindowStore`], only the entries not yet
    /// written to it.
    windows: WindowCache<Vec<Acc>>,
    store: Option<WindowStore>,
    watermark: i64,
    /// Windows whose last millisecond is at or before this have emitted their result.
    emitted: i64,
    batch_size: usize,
    starts: Vec<i64>,
    line: String,
    /// Windows of processing time: an instant and the wall-clock ms it was (records take the
    /// clock's time on arrival; windows fire by the clock, not by watermarks).
    processing_clock: Option<WallClock>,
    /// Key groups of the job, for heap snapshots.
    max_parallelism: u32,
    /// Cumulating windows (`slide` is their step), named by end minus size.
    cumulative: bool,
}

/// The start and end of window `id` of `size` (named by its start, or for cumulating windows by
/// its end minus the size).
fn window_bounds(size: i64, cumulative: bool, id: i64) -> (i64, i64) {
    match cumulative {
        true => cumulate_bounds(size, id),
        false => (id, id + size),
    }
}

/// The window aggregate's own place in a checkpoint, beside its windows.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Progress {
    watermark: i64,
    emitted: i64,
}

impl WindowAggregate {
    pub(crate) fn new(
        operator: String,
        key_field: Option<KeyField>,
        (size, slide): (i64, i64),
        lateness: i64,
        functions: Vec<BuiltinFunction>,
        batch_size: usize,
        store: Option<WindowStore>,
    ) -> Self {
        WindowAggregate {
            windows: WindowCache::new(store.as_ref().map(|s| s.cache_limit)),
            store,
            functions: Functions::new(operator.clone(), functions),
            operator,
            key_field,
            size,
            slide,
            lateness,
            watermark: i64::MIN,
            emitted: i64::MIN,
            batch_size: batch_size.max(1),
            starts: Vec::new(),
            line: String::new(),
            processing_clock: None,
            max_parallelism: 128,
            cumulative: false,
        }
    }

    /// The same, for a job of `max_parallelism` key groups.
    pub(crate) fn with_key_groups(mut self, max_parallelism: u32) -> Self {
        self.max_parallelism = max_parallelism;
        self
    }

    /// The same over cumulating windows, `slide` being their step: a window is named by its end
    /// minus the size, so it is due (and kept, and dropped) as a window of the size starting
    /// there would be.
    pub(crate) fn cumulative(mut self) -> Self {
        self.cumulative = true;
        self
    }

    /// The start and end of window `id`.
    fn bounds(&self, id: i64) -> (i64, i64) {
        window_bounds(self.size, self.cumulative, id)
    }

    /// The same over processing time.
    pub(crate) fn over_processing_time(mut self) -> Self {
        self.processing_clock = Some(WallClock::new());
        self
    }

    /// Appends the result of window `start` for `key` to `out`.
    fn push_result(&mut self, out: &mut RecordBatch, start: i64, key: &[u8], accs: &[Acc]) {
        let window = self.bounds(start);
        window_line(
            &mut self.line,
            self.key_field.as_ref(),
            key,
            window,
            &self.functions,
            accs,
        );
        out.push(Some(key), self.line.as_bytes(), window.1 - 1);
    }

    /// The whole accumulators of window `start` of `key`, which has fired and just took a record
    /// within its allowed lateness. On the RocksDB backend the cached entry goes to the store at
    /// once (the store drops the window when the lateness has passed) and is read back whole.
    fn late_update(&mut self, key: &[u8], start: i64) -> Result<Vec<Acc>, TaskError> {
        let Some(store) = &mut self.store else {
            return Ok(self.windows.get(start, key).cloned().unwrap_or_default());
        };
        let cached = self.windows.remove(start, key).unwrap_or_default();
        store
            .store
            .note_due((start + self.size - 1).saturating_add(self.lateness));
        let operator = &self.operator;
        store
            .merge(key, start, &cached)
            .and_then(|()| store.read(key, start))
            .map_err(|e| task_error(operator, e))
            .map(Option::unwrap_or_default)
    }

    /// Writes every cached entry to the store (nothing to do on the memory backend).
    fn flush(&mut self) -> Result<(), TaskError> {
        for start in self.windows.starts() {
            self.flush_window(start)?;
        }
        Ok(())
    }

    /// Writes window `start`'s cached entries to the store.
    fn flush_window(&mut self, start: i64) -> Result<(), TaskError> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let Some(keys) = self.windows.take_window(start) else {
            return Ok(());
        };
        // In the store's order: RocksDB inserts sorted keys faster.
        let mut keys: Vec<(u32, Vec<u8>, Vec<Acc>)> = keys
            .into_iter()
            .map(|(key, accs)| (store.store.key_group(&key), key, accs))
            .collect();
        keys.sort_unstable_by(|a, b| (a.0, a.1.len(), &a.1).cmp(&(b.0, b.1.len(), &b.1)));
        for (_, key, accs) in keys {
            store
                .merge(&key, start, &accs)
                .map_err(|e| task_error(&self.operator, e))?;
        }
        Ok(())
    }

    /// On the RocksDB backend without allowed lateness: emits the due windows that never left
    /// the write cache straight from memory (nothing of them is in the store), and writes the
    /// due windows partly in the store there, for [`Self::fire_stored`].
    fn fire_cached(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let size = self.size;
        let due: Vec<i64> = self
            .windows
            .due(size, up_to)
            .map(|(start, _)| start)
            .collect();
        let mut out = Batches::new(self.batch_size, emit);
        for start in due {
            let stored = self
                .store
                .as_ref()
                .is_some_and(|s| s.stored_windows.contains(&start));
            if stored {
                self.flush_window(start)?;
                continue;
            }
            let Some(keys) = self.windows.take_window(start) else {
                continue;
            };
            let mut keys: Vec<(Vec<u8>, Vec<Acc>)> = keys.into_iter().collect();
            keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (key, accs) in keys {
                let key_field = self.key_field.as_ref();
                let window = self.bounds(start);
                window_line(
                    &mut self.line,
                    key_field,
                    &key,
                    window,
                    &self.functions,
                    &accs,
                );
                out.push(Some(&key), self.line.as_bytes(), window.1 - 1)?;
            }
        }
        out.finish()?;
        Ok(())
    }

    /// Emits every window whose last millisecond is newly at or before `up_to`, then drops the
    /// windows that are past their allowed lateness too.
    fn fire(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        if let Some(store) = &self.store {
            if store.store.nothing_due(up_to) {
                self.emitted = self.emitted.max(up_to);
                return Ok(());
            }
            match self.lateness {
                0 => self.fire_cached(up_to, emit)?,
                _ => self.flush()?,
            }
            return self.fire_stored(up_to, emit);
        }
        let size = self.size;
        let (from, to) = (self.emitted, up_to);
        let mut out = Batches::new(self.batch_size, emit);
        let mut line = std::mem::take(&mut self.line);
        let due = self.windows.due(size, to);
        for (start, keys) in due.filter(|(start, _)| start + size - 1 > from) {
            // Results in key order, read in place: nothing is copied but the output line.
            let mut sorted: Vec<(&Vec<u8>, &Vec<Acc>)> = keys.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let window = self.bounds(start);
            for (key, accs) in sorted {
                let key_field = self.key_field.as_ref();
                window_line(&mut line, key_field, key, window, &self.functions, accs);
                out.push(Some(key), line.as_bytes(), window.1 - 1)?;
            }
        }
        self.line = line;
        out.finish()?;
        self.emitted = self.emitted.max(up_to);
        self.windows.drop_expired(size, self.lateness, up_to);
        Ok(())
    }

    /// [`Self::fire`] on the RocksDB backend: for each window in the store that `up_to` ends,
    /// oldest first, emits its results (if it has not fired before) in one pass over the store
    /// and drops it once its allowed lateness has passed too.
    fn fire_stored(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let (size, lateness, emitted) = (self.size, self.lateness, self.emitted);
        let mut out = Batches::new(self.batch_size, emit);
        let mut line = std::mem::take(&mut self.line);
        let operator = self.operator.clone();
        let failed = |e: StateError| task_error(&operator, e);
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let ended: Vec<i64> = store
            .stored_windows
            .range(..=up_to.saturating_sub(size - 1))
            .copied()
            .collect();
        for start in ended {
            let last = start + size - 1;
            let (fire, expired) = (last > emitted, last.saturating_add(lateness) <= up_to);
            if !fire && !expired {
                continue;
            }
            let mut scan =
                NamespaceScan::new(&layout::ordered_i64(start), self.batch_size, expired);
            loop {
                let entries = scan.next_chunk(&mut store.store).map_err(failed)?;
                if entries.is_empty() {
                    break;
                }
                for (key, value) in entries.iter().filter(|_| fire) {
                    let window = window_bounds(size, self.cumulative, start);
                    let context = (window, &self.functions, self.key_field.as_ref());
                    stored_result(store, (key, value), context, &mut line).map_err(failed)?;
                    out.push(Some(key), line.as_bytes(), last)?;
                }
            }
            if !expired {
                // Kept for late records until the allowed lateness has passed.
                store.store.note_due(last.saturating_add(lateness));
            }
        }
        store.store.timers_taken(up_to).map_err(failed)?;
        store
            .stored_windows
            .retain(|start| (start + size - 1).saturating_add(lateness) > up_to);
        self.line = line;
        out.finish()?;
        self.emitted = self.emitted.max(up_to);
        Ok(())
    }
}

/// The rejection of a record whose windows have all fired.
pub(crate) fn late(operator: &str, record: RecordRef<'_>, watermark: i64) -> Rejection {
    Rejection {
        operator: operator.to_string(),
        module: None,
        export: None,
        error: format!(
            "late record: event time {} is behind the watermark {watermark} and its windows have fired",
            record.timestamp
        ),
        origin: None,
        record: record.into(),
    }
}

/// One window's result: `{"<key>": key, "window_start": s, "window_end": e, <functions>}`
/// (no key field for a window over all records).
pub(super) fn window_line(
    line: &mut String,
    key_field: Option<&KeyField>,
    key: &[u8],
    (start, end): (i64, i64),
    functions: &Functions,
    accs: &[Acc],
) {
    line.clear();
    line.push('{');
    if let Some(key_field) = key_field {
        key_field.write(line, key);
        line.push(',');
    }
    let _ = write!(line, "\"window_start\":{start},\"window_end\":{end}");
    functions.write(line, accs);
    line.push('}');
}

impl Operator for WindowAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let mut batch = batch;
        if self.processing_clock.is_some() {
            let now = now_ms();
            batch.timestamps.iter_mut().for_each(|t| *t = now);
        }
        let (size, slide, lateness, watermark) =
            (self.size, self.slide, self.lateness, self.watermark);
        // Updated results of windows that had fired, for records within the allowed lateness.
        let mut updates = RecordBatch::default();
        for record in batch.iter() {
            let key = match self.key_field {
                Some(_) => match key_of(record, &self.operator, rejects)? {
                    Some(key) => key,
                    None => continue,
                },
                None => &[],
            };
            self.starts.clear();
            let open = |start: &i64| (start + size - 1).saturating_add(lateness) > watermark;
            match self.cumulative {
                true => self
                    .starts
                    .extend(cumulate_windows(size, slide, record.timestamp).filter(open)),
                false => self
                    .starts
                    .extend(window_starts(size, slide, record.timestamp).filter(open)),
            }
            if self.starts.is_empty() {
                rejects.late(late(&self.operator, record, watermark))?;
                continue;
            }
            if !self.functions.read(record, rejects)? {
                continue;
            }
            for i in 0..self.starts.len() {
                let start = self.starts[i];
                let functions = &self.functions;
                let (accs, made) = self.windows.entry(start, key, || functions.accumulators());
                if let (true, Some(store)) = (made, &mut self.store) {
                    // Due with the cache's window, so a watermark past it fires.
                    store.store.note_due(start + size - 1);
                }
                self.functions.add(accs);
                if start + size - 1 <= self.emitted {
                    let accs = self.late_update(key, start)?;
                    self.push_result(&mut updates, start, key, &accs);
                }
            }
            if self.windows.is_full() {
                self.flush()?;
            }
        }
        Ok(updates)
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        self.snapshot_windows(id).map(Some)
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        self.restore_windows(restored)
    }

    fn state_bytes(&self) -> u64 {
        let cached: u64 = self
            .windows
            .iter()
            .map(|(_, key, accs)| heap_bytes(key, accs))
            .sum();
        cached + self.store.as_ref().map_or(0, |s| s.store.size())
    }

    fn on_watermark(
        &mut self,
        watermark: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        if self.processing_clock.is_some() {
            return Ok(());
        }
        self.watermark = self.watermark.max(watermark);
        self.fire(self.watermark, emit)
    }

    fn processing_deadline(&self) -> Option<Instant> {
        let clock = self.processing_clock?;
        let cached = self.windows.oldest_end(self.size).map(|end| end - 1);
        let stored = self.store.as_ref().and_then(|s| s.store.next_due());
        let due = cached.into_iter().chain(stored).min()?;
        // A window's last millisecond is `due`: it is complete once the clock passes it.
        Some(clock.instant_at(due + 1))
    }

    fn on_processing_time(
        &mut self,
        _now: Instant,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<bool, TaskError> {
        let up_to = now_ms() - 1;
        self.watermark = self.watermark.max(up_to);
        self.fire(self.watermark, emit)?;
        Ok(false)
    }

    fn finish(
        &mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        // The end of bounded input is the end of event time: every window fires.
        self.fire(i64::MAX, emit)
    }
}
