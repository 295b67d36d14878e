//! Built-in functions per key and event-time session: records of a key closer than the gap to
//! each other form one session, which ends `gap` after its last record. A record that bridges
//! two sessions merges them. A session's result is emitted when the watermark passes its end; a
//! record that could only open a session that would already have ended is late (dead letters).

use super::builtin::{Acc, BuiltinFunction, Functions};
use super::key_of;
use super::window::{late, window_line};
use crate::error::TaskError;
use crate::operators::{Operator, RejectSink};
use std::collections::HashMap;
use weir_proto::RecordBatch;

struct Session {
    start: i64,
    /// Exclusive: the last record's time plus the gap.
    end: i64,
    accs: Vec<Acc>,
}

/// Session-windowed built-in aggregates of one subtask.
pub(crate) struct SessionAggregate {
    operator: String,
    key_field: String,
    gap: i64,
    functions: Functions,
    /// Key → its open sessions, disjoint and ordered by start.
    sessions: HashMap<Vec<u8>, Vec<Session>>,
    watermark: i64,
    batch_size: usize,
}

impl SessionAggregate {
    pub(crate) fn new(
        operator: String,
        key_as: &str,
        gap: i64,
        functions: Vec<BuiltinFunction>,
        batch_size: usize,
    ) -> Self {
        SessionAggregate {
            functions: Functions::new(operator.clone(), functions),
            operator,
            key_field: serde_json::Value::from(key_as).to_string(),
            gap,
            sessions: HashMap::new(),
            watermark: i64::MIN,
            batch_size: batch_size.max(1),
        }
    }

    /// Emits and drops every session whose last millisecond is at or before `up_to`, in key and
    /// start order.
    fn fire(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let mut closed: Vec<(Vec<u8>, Session)> = Vec::new();
        self.sessions.retain(|key, sessions| {
            let (done, open): (Vec<Session>, Vec<Session>) =
                sessions.drain(..).partition(|s| s.end - 1 <= up_to);
            closed.extend(done.into_iter().map(|s| (key.clone(), s)));
            *sessions = open;
            !sessions.is_empty()
        });
        closed.sort_unstable_by(|a, b| (&a.0, a.1.start).cmp(&(&b.0, b.1.start)));
        let mut out = RecordBatch::with_capacity(self.batch_size, 64);
        let mut line = String::new();
        for (key, session) in closed {
            let window = (session.start, session.end);
            window_line(
                &mut line,
                Some(&self.key_field),
                &key,
                window,
                &self.functions,
                &session.accs,
            );
            out.push(Some(&key), line.as_bytes(), session.end - 1);
            if out.len() >= self.batch_size {
                emit(std::mem::take(&mut out))?;
            }
        }
        if !out.is_empty() {
            emit(out)?;
        }
        Ok(())
    }
}

impl Operator for SessionAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        for record in batch.iter() {
            let Some(key) = key_of(record, &self.operator, rejects)? else {
                continue;
            };
            let (start, end) = (record.timestamp, record.timestamp.saturating_add(self.gap));
            let sessions = self.sessions.entry(key.to_vec()).or_default();
            let overlapping = |s: &Session| s.start < end && start < s.end;
            if end - 1 <= self.watermark && !sessions.iter().any(overlapping) {
                rejects.reject(late(&self.operator, record, self.watermark))?;
                continue;
            }
            if !self.functions.read(record, rejects)? {
                continue;
            }
            let mut merged = Session {
                start,
                end,
                accs: self.functions.accumulators(),
            };
            self.functions.add(&mut merged.accs);
            let mut kept = Vec::with_capacity(sessions.len() + 1);
            for session in sessions.drain(..) {
                if overlapping(&session) {
                    merged.start = merged.start.min(session.start);
                    merged.end = merged.end.max(session.end);
                    self.functions.merge(&mut merged.accs, &session.accs);
                } else {
                    kept.push(session);
                }
            }
            let at = kept.partition_point(|s| s.start < merged.start);
            kept.insert(at, merged);
            *sessions = kept;
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
        self.fire(i64::MAX, emit)
    }
}
