//! A keyed window join of two inputs: records of the left input (the step's own) and the right
//! input (the step named by `with`) pair up when their keys are equal and they fall in the same
//! window; when the watermark — the slower of both inputs' — passes a window's end, every pair
//! is emitted and the window's records are dropped. A record whose windows have all fired is
//! late: rejected to the dead-letter sink, never silently dropped.
//!
//! Each pair is `{"key": key, "window_start": s, "window_end": e, "<left_as>": left record,
//! "<right_as>": right record}`, records embedded as JSON when they are JSON, else as strings.
//! On the RocksDB backend each (key, window, side) is a list appended to by merge (no read per
//! record), with one timer per (key, window).

use super::aggregate::{key_json, key_of, late};
use super::{Operator, RejectSink};
use crate::error::TaskError;
use crate::state::{RocksStore, StateError, layout, lists, task_error};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use weir_proto::spec::window_starts;
use weir_proto::{RecordBatch, RecordRef};

/// Each key's records of one window, by side (0 left, 1 right).
type Sides = [Vec<Vec<u8>>; 2];

/// The join's windows on the RocksDB backend.
pub(crate) struct JoinStore {
    store: RocksStore,
    /// Every timer before this time has been taken.
    timers_from: i64,
    /// No window in the store is due before this time.
    next_due: i64,
    /// (window start, key) pairs whose timer is written; bounded (forgetting costs a rewrite).
    timed: HashSet<(i64, Vec<u8>)>,
    scratch: Vec<u8>,
}

impl JoinStore {
    /// Windows in `store`, opened with [`JoinStore::merge_operator`].
    pub(crate) fn new(store: RocksStore) -> Self {
        JoinStore {
            store,
            timers_from: i64::MIN,
            next_due: i64::MAX,
            timed: HashSet::new(),
            scratch: Vec::new(),
        }
    }

    /// The merge function the store must be opened with.
    pub(crate) fn merge_operator() -> (&'static str, crate::state::MergeFn) {
        (lists::APPEND_NAME, lists::append)
    }

    fn namespace(start: i64, side: usize) -> [u8; 9] {
        let mut namespace = [0; 9];
        namespace[..8].copy_from_slice(&layout::ordered_i64(start));
        namespace[8] = side as u8;
        namespace
    }

    /// Appends `value` to `side` of window `start` of `key`, due at `due`.
    fn append(
        &mut self,
        key: &[u8],
        start: i64,
        side: usize,
        value: &[u8],
        due: i64,
    ) -> Result<(), StateError> {
        lists::item(value, &mut self.scratch);
        self.store
            .merge(key, &Self::namespace(start, side), &self.scratch)?;
        self.next_due = self.next_due.min(due);
        if self.timed.len() >= 64 * 1024 {
            self.timed.clear();
        }
        if self.timed.insert((start, key.to_vec())) {
            self.store
                .put_timer(due, key, &layout::ordered_i64(start))?;
        }
        Ok(())
    }

    /// Takes the records of window `start` of `key` out of the store.
    fn take(&mut self, key: &[u8], start: i64) -> Result<Sides, StateError> {
        let mut sides: Sides = Default::default();
        for (side, records) in sides.iter_mut().enumerate() {
            let namespace = Self::namespace(start, side);
            if let Some(bytes) = self.store.get(key, &namespace)? {
                let items = lists::items(&bytes)
                    .ok_or_else(|| self.store.corrupt("a join's record list is malformed"))?;
                records.extend(items.into_iter().map(<[u8]>::to_vec));
                self.store.delete(key, &namespace)?;
            }
        }
        Ok(sides)
    }
}

/// One subtask of a window join.
pub(crate) struct WindowJoin {
    operator: String,
    size: i64,
    slide: i64,
    /// The output field names of the two sides, as JSON strings.
    names: [String; 2],
    /// Window start → key → records by side (the memory backend).
    windows: BTreeMap<i64, HashMap<Vec<u8>, Sides>>,
    store: Option<JoinStore>,
    watermark: i64,
    batch_size: usize,
    starts: Vec<i64>,
}

impl WindowJoin {
    pub(crate) fn new(
        operator: String,
        (size, slide): (i64, i64),
        (left_as, right_as): (&str, &str),
        batch_size: usize,
        store: Option<JoinStore>,
    ) -> Self {
        let quoted = |name: &str| serde_json::Value::from(name).to_string();
        WindowJoin {
            operator,
            size,
            slide,
            names: [quoted(left_as), quoted(right_as)],
            windows: BTreeMap::new(),
            store,
            watermark: i64::MIN,
            batch_size: batch_size.max(1),
            starts: Vec::new(),
        }
    }

    fn add(
        &mut self,
        side: usize,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let (size, slide, watermark) = (self.size, self.slide, self.watermark);
        for record in batch.iter() {
            let Some(key) = key_of(record, &self.operator, rejects)? else {
                continue;
            };
            self.starts.clear();
            self.starts.extend(
                window_starts(size, slide, record.timestamp)
                    .filter(|start| start + size - 1 > watermark),
            );
            if self.starts.is_empty() {
                rejects.reject(late(&self.operator, record, watermark))?;
                continue;
            }
            for i in 0..self.starts.len() {
                self.add_record(side, key, self.starts[i], record)?;
            }
        }
        Ok(RecordBatch::default())
    }

    fn add_record(
        &mut self,
        side: usize,
        key: &[u8],
        start: i64,
        record: RecordRef<'_>,
    ) -> Result<(), TaskError> {
        if let Some(store) = &mut self.store {
            return store
                .append(key, start, side, record.value, start + self.size - 1)
                .map_err(|e| task_error(&self.operator, e));
        }
        let keys = self.windows.entry(start).or_default();
        let sides = match keys.get_mut(key) {
            Some(sides) => sides,
            None => keys.entry(key.to_vec()).or_default(),
        };
        sides[side].push(record.value.to_vec());
        Ok(())
    }

    /// Emits and drops every window whose last millisecond is at or before `up_to`.
    fn fire(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let mut out = Pairs::new(self.names.clone(), self.batch_size);
        if self.store.is_some() {
            self.fire_stored(up_to, &mut out, emit)?;
        } else {
            let size = self.size;
            while let Some(entry) = self.windows.first_entry() {
                let start = *entry.key();
                if start + size - 1 > up_to {
                    break;
                }
                let mut keys: Vec<(Vec<u8>, Sides)> = entry.remove().into_iter().collect();
                keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                for (key, sides) in keys {
                    out.push(&key, (start, start + size), &sides, emit)?;
                }
            }
        }
        out.finish(emit)
    }

    fn fire_stored(
        &mut self,
        up_to: i64,
        out: &mut Pairs,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let size = self.size;
        let operator = self.operator.clone();
        let failed = |e: StateError| task_error(&operator, e);
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        if up_to < store.next_due {
            return Ok(());
        }
        loop {
            let timers = store
                .store
                .take_timers(store.timers_from, up_to, self.batch_size)
                .map_err(failed)?;
            if timers.is_empty() {
                break;
            }
            for timer in timers {
                let start = timer
                    .namespace
                    .as_slice()
                    .try_into()
                    .map(layout::read_ordered_i64)
                    .map_err(|_| failed(store.store.corrupt("a join timer is malformed")))?;
                let sides = store.take(&timer.key, start).map_err(failed)?;
                out.push(&timer.key, (start, start + size), &sides, emit)?;
            }
        }
        store.timers_from = store.timers_from.max(up_to.saturating_add(1));
        store.timed.retain(|(start, _)| start + size - 1 > up_to);
        store.next_due = store
            .store
            .next_timer(store.timers_from)
            .map_err(failed)?
            .unwrap_or(i64::MAX);
        Ok(())
    }
}

/// The output of a fire: every pair of a window's two sides, in batches.
struct Pairs {
    names: [String; 2],
    out: RecordBatch,
    batch_size: usize,
    line: String,
}

impl Pairs {
    fn new(names: [String; 2], batch_size: usize) -> Self {
        Pairs {
            names,
            out: RecordBatch::with_capacity(batch_size, 256),
            batch_size,
            line: String::new(),
        }
    }

    /// Appends every (left, right) pair of `sides`, emitting full batches.
    fn push(
        &mut self,
        key: &[u8],
        (start, end): (i64, i64),
        sides: &Sides,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let [left, right] = sides;
        if left.is_empty() || right.is_empty() {
            return Ok(());
        }
        let right: Vec<String> = right.iter().map(|r| key_json(r)).collect();
        let key_text = key_json(key);
        for left in left {
            let left = key_json(left);
            for right in &right {
                self.line.clear();
                let _ = write!(
                    self.line,
                    "{{\"key\":{key_text},\"window_start\":{start},\"window_end\":{end},{}:{left},{}:{right}}}",
                    self.names[0], self.names[1]
                );
                self.out.push(Some(key), self.line.as_bytes(), end - 1);
                if self.out.len() >= self.batch_size {
                    emit(std::mem::take(&mut self.out))?;
                }
            }
        }
        Ok(())
    }

    fn finish(
        self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        if self.out.is_empty() {
            return Ok(());
        }
        emit(self.out)
    }
}

impl Operator for WindowJoin {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        self.add(0, batch, rejects)
    }

    fn process_second(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        self.add(1, batch, rejects)
    }

    fn state_bytes(&self) -> u64 {
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

    fn on_watermark(
        &mut self,
        watermark: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        self.watermark = self.watermark.max(watermark);
        self.fire(self.watermark, emit)
    }

    fn finish(
        &mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        self.fire(i64::MAX, emit)
    }
}
