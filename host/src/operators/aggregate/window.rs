//! Built-in functions per key and aligned event-time window (tumbling or sliding). A window's
//! results are emitted, one record per key, when the watermark passes the window's end. With
//! allowed lateness its state is kept that much longer, and each late record within it emits the
//! window's updated result at once; after that the state is dropped, and a record for a dropped
//! window is late: rejected (to the dead-letter sink), never silently dropped.

use super::builtin::{Acc, BuiltinFunction, Functions, key_json};
use super::key_of;
use crate::error::TaskError;
use crate::operators::{Operator, RejectSink, Rejection};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use weir_proto::spec::window_starts;
use weir_proto::{RecordBatch, RecordRef};

/// Windowed built-in aggregates of one subtask.
pub(crate) struct WindowAggregate {
    operator: String,
    /// The output field of the key, as JSON; `None` for a window over all records.
    key_field: Option<String>,
    size: i64,
    slide: i64,
    lateness: i64,
    functions: Functions,
    /// Window start → key → accumulators; ordered so firing takes the oldest windows first.
    windows: BTreeMap<i64, HashMap<Vec<u8>, Vec<Acc>>>,
    watermark: i64,
    /// Windows whose last millisecond is at or before this have emitted their result.
    emitted: i64,
    batch_size: usize,
    starts: Vec<i64>,
    line: String,
}

impl WindowAggregate {
    pub(crate) fn new(
        operator: String,
        key_as: &str,
        (size, slide): (i64, i64),
        lateness: i64,
        functions: Vec<BuiltinFunction>,
        batch_size: usize,
    ) -> Self {
        WindowAggregate {
            functions: Functions::new(operator.clone(), functions),
            operator,
            key_field: (!key_as.is_empty()).then(|| serde_json::Value::from(key_as).to_string()),
            size,
            slide,
            lateness,
            windows: BTreeMap::new(),
            watermark: i64::MIN,
            emitted: i64::MIN,
            batch_size: batch_size.max(1),
            starts: Vec::new(),
            line: String::new(),
        }
    }

    /// Appends the result of window `start` for `key` to `out`.
    fn push_result(&mut self, out: &mut RecordBatch, start: i64, key: &[u8], accs: &[Acc]) {
        let end = start + self.size;
        window_line(
            &mut self.line,
            self.key_field.as_deref(),
            key,
            (start, end),
            &self.functions,
            accs,
        );
        out.push(Some(key), self.line.as_bytes(), end - 1);
    }

    /// Emits every window whose last millisecond is newly at or before `up_to`, then drops the
    /// windows that are past their allowed lateness too.
    fn fire(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let size = self.size;
        let (from, to) = (self.emitted, up_to);
        let due: Vec<i64> = self
            .windows
            .keys()
            .copied()
            .take_while(|start| start + size - 1 <= to)
            .filter(|start| start + size - 1 > from)
            .collect();
        let mut out = RecordBatch::with_capacity(self.batch_size, 64);
        let mut line = std::mem::take(&mut self.line);
        for start in due {
            let Some(keys) = self.windows.get(&start) else {
                continue;
            };
            // Results in key order, read in place: nothing is copied but the output line.
            let mut sorted: Vec<(&Vec<u8>, &Vec<Acc>)> = keys.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let window = (start, start + size);
            for (key, accs) in sorted {
                let key_field = self.key_field.as_deref();
                window_line(&mut line, key_field, key, window, &self.functions, accs);
                out.push(Some(key), line.as_bytes(), window.1 - 1);
                if out.len() >= self.batch_size {
                    emit(std::mem::take(&mut out))?;
                }
            }
        }
        self.line = line;
        if !out.is_empty() {
            emit(out)?;
        }
        self.emitted = self.emitted.max(up_to);
        let lateness = self.lateness;
        while let Some(entry) = self.windows.first_entry() {
            if (*entry.key() + size - 1).saturating_add(lateness) > up_to {
                break;
            }
            entry.remove();
        }
        Ok(())
    }
}

/// The rejection of a record whose windows have all fired.
pub(super) fn late(operator: &str, record: RecordRef<'_>, watermark: i64) -> Rejection {
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
    key_field: Option<&str>,
    key: &[u8],
    (start, end): (i64, i64),
    functions: &Functions,
    accs: &[Acc],
) {
    line.clear();
    line.push('{');
    if let Some(key_field) = key_field {
        let _ = write!(line, "{key_field}:{},", key_json(key));
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
            self.starts.extend(
                window_starts(size, slide, record.timestamp)
                    .filter(|start| (start + size - 1).saturating_add(lateness) > watermark),
            );
            if self.starts.is_empty() {
                rejects.reject(late(&self.operator, record, watermark))?;
                continue;
            }
            if !self.functions.read(record, rejects)? {
                continue;
            }
            for i in 0..self.starts.len() {
                let start = self.starts[i];
                let keys = self.windows.entry(start).or_default();
                let accs = match keys.get_mut(key) {
                    Some(accs) => accs,
                    None => keys
                        .entry(key.to_vec())
                        .or_insert_with(|| self.functions.accumulators()),
                };
                self.functions.add(accs);
                if start + size - 1 <= self.emitted {
                    let accs = accs.clone();
                    self.push_result(&mut updates, start, key, &accs);
                }
            }
        }
        Ok(updates)
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
        // The end of bounded input is the end of event time: every window fires.
        self.fire(i64::MAX, emit)
    }
}
