//! Built-in functions per key and aligned event-time window (tumbling or sliding). A window's results
//! are emitted, one record per key, when the watermark passes the window's end, and its state is
//! dropped. A record for a window that has already fired is late: it is rejected (to the
//! dead-letter sink), never silently dropped.

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
    key_field: String,
    size: i64,
    slide: i64,
    functions: Functions,
    /// Window start → key → accumulators; ordered so firing takes the oldest windows first.
    windows: BTreeMap<i64, HashMap<Vec<u8>, Vec<Acc>>>,
    watermark: i64,
    batch_size: usize,
    starts: Vec<i64>,
}

impl WindowAggregate {
    pub(crate) fn new(
        operator: String,
        key_as: &str,
        (size, slide): (i64, i64),
        functions: Vec<BuiltinFunction>,
        batch_size: usize,
    ) -> Self {
        WindowAggregate {
            functions: Functions::new(operator.clone(), functions),
            operator,
            key_field: serde_json::Value::from(key_as).to_string(),
            size,
            slide,
            windows: BTreeMap::new(),
            watermark: i64::MIN,
            batch_size: batch_size.max(1),
            starts: Vec::new(),
        }
    }

    /// Emits and drops every window ending at or before `watermark + 1` (its last millisecond
    /// is at or before the watermark).
    fn fire(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let size = self.size;
        let mut out = RecordBatch::with_capacity(self.batch_size, 64);
        let mut line = String::new();
        while let Some(entry) = self.windows.first_entry() {
            let start = *entry.key();
            let end = start + size;
            if end - 1 > up_to {
                break;
            }
            let keys = entry.remove();
            let mut keys: Vec<(Vec<u8>, Vec<Acc>)> = keys.into_iter().collect();
            keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (key, accs) in keys {
                let window = (start, end);
                window_line(
                    &mut line,
                    &self.key_field,
                    &key,
                    window,
                    &self.functions,
                    &accs,
                );
                out.push(Some(&key), line.as_bytes(), end - 1);
                if out.len() >= self.batch_size {
                    emit(std::mem::take(&mut out))?;
                }
            }
        }
        if !out.is_empty() {
            emit(out)?;
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

/// One window's result: `{"<key>": key, "window_start": s, "window_end": e, <functions>}`.
pub(super) fn window_line(
    line: &mut String,
    key_field: &str,
    key: &[u8],
    (start, end): (i64, i64),
    functions: &Functions,
    accs: &[Acc],
) {
    line.clear();
    let _ = write!(
        line,
        "{{{key_field}:{},\"window_start\":{start},\"window_end\":{end}",
        key_json(key)
    );
    functions.write(line, accs);
    line.push('}');
}

impl Operator for WindowAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let (size, slide) = (self.size, self.slide);
        for record in batch.iter() {
            let Some(key) = key_of(record, &self.operator, rejects)? else {
                continue;
            };
            self.starts.clear();
            self.starts.extend(
                window_starts(size, slide, record.timestamp)
                    .filter(|start| start + size - 1 > self.watermark),
            );
            if self.starts.is_empty() {
                rejects.reject(late(&self.operator, record, self.watermark))?;
                continue;
            }
            if !self.functions.read(record, rejects)? {
                continue;
            }
            for &start in &self.starts {
                let keys = self.windows.entry(start).or_default();
                let accs = match keys.get_mut(key) {
                    Some(accs) => accs,
                    None => keys
                        .entry(key.to_vec())
                        .or_insert_with(|| self.functions.accumulators()),
                };
                self.functions.add(accs);
            }
        }
        Ok(RecordBatch::default())
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
