//! A keyed process function step: a `weir:udf/process` component called per batch of records,
//! with keyed state, and per batch of fired timers. Event-time timers fire when the watermark
//! passes them (and all at the end of bounded input), processing-time timers when the wall
//! clock does. Timers are entries of the subtask's keyed state (so on RocksDB they live on
//! disk, and checkpoints hold them by key group), indexed in time order on the heap.
//!
//! A trap fails the step: the function's state and timers may already hold part of the batch,
//! so retrying records one by one (as maps do to isolate a bad record) could apply them twice.

use super::isolate::UdfSite;
use super::keyed_snapshot::{self, EventTime};
use super::{Operator, RejectSink};
use crate::error::{TaskError, task_error};
use std::collections::BTreeSet;
use std::time::Instant;
use weir_proto::RecordBatch;
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};
use weir_state::clock::{WallClock, now_ms};
use weir_wasm::{ProcessOutput, ProcessUdf, TimerRequest};

/// One subtask of a keyed process function.
pub(super) struct KeyedProcess {
    site: UdfSite,
    udf: ProcessUdf,
    /// (time, key) of the registered event-time timers…
    event_timers: BTreeSet<(i64, Vec<u8>)>,
    /// …and processing-time timers (ms since the epoch).
    processing_timers: BTreeSet<(i64, Vec<u8>)>,
    watermark: i64,
    batch_size: usize,
    /// Turns processing-time timers into deadlines.
    clock: WallClock,
}

impl KeyedProcess {
    pub(super) fn new(operator: String, udf: ProcessUdf, batch_size: usize) -> Self {
        let site = UdfSite::new(operator, udf.module(), "weir:udf/process".into());
        KeyedProcess {
            site,
            udf,
            event_timers: BTreeSet::new(),
            processing_timers: BTreeSet::new(),
            watermark: i64::MIN,
            batch_size: batch_size.max(1),
            clock: WallClock::new(),
        }
    }

    fn apply(&mut self, requests: Vec<TimerRequest>) -> Result<(), TaskError> {
        let stored = self.udf.with_state(|state| {
            for request in &requests {
                let (key, event_time, time) = (&request.key, request.event_time, request.time);
                match request.register {
                    true => state.put_timer(key, event_time, time)?,
                    false => state.delete_timer(key, event_time, time)?,
                }
            }
            Ok::<_, weir_state::StateError>(())
        });
        stored.map_err(|e| task_error(&self.site.operator, e))?;
        for request in requests {
            let timers = match request.event_time {
                true => &mut self.event_timers,
                false => &mut self.processing_timers,
            };
            let entry = (request.time, request.key);
            match request.register {
                true => timers.insert(entry),
                false => timers.remove(&entry),
            };
        }
        Ok(())
    }

    /// Fires the timers due at `up_to` (event or processing time), a batch at a time, until
    /// none is due (a timer may set another that is due at once).
    fn fire(
        &mut self,
        event_time: bool,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let kind: &[u8] = if event_time { b"event" } else { b"processing" };
        loop {
            let timers = match event_time {
                true => &mut self.event_timers,
                false => &mut self.processing_timers,
            };
            let mut due = RecordBatch::with_capacity(self.batch_size, 16);
            while due.len() < self.batch_size {
                match timers.first() {
                    Some((time, _)) if *time <= up_to => {}
                    _ => break,
                }
                let Some((time, key)) = timers.pop_first() else {
                    break;
                };
                due.push(Some(&key), kind, time);
            }
            let forgotten = self.udf.with_state(|state| {
                due.iter().try_for_each(|timer| {
                    state.delete_timer(timer.key.unwrap_or_default(), event_time, timer.timestamp)
                })
            });
            forgotten.map_err(|e| task_error(&self.site.operator, e))?;
            if due.is_empty() {
                return Ok(());
            }
            let output = self
                .udf
                .call(&mut due, self.watermark, true)
                .map_err(|e| self.site.failed(e))?;
            if let Some(error) = output.errors.first() {
                return Err(TaskError::Config {
                    operator: self.site.operator.clone(),
                    message: format!(
                        "on-timer reported an error for a timer ({}); timers are not records and cannot go to the dead-letter sink",
                        error.message
                    ),
                });
            }
            self.apply(output.timers)?;
            emit(output.records)?;
        }
    }
}

impl Operator for KeyedProcess {
    fn process(
        &mut self,
        mut batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let ProcessOutput {
            records,
            errors,
            timers,
        } = self
            .udf
            .call(&mut batch, self.watermark, false)
            .map_err(|e| self.site.failed(e))?;
        self.apply(timers)?;
        self.site.reject_errors(errors, &batch, rejects)?;
        Ok(records)
    }

    fn state_bytes(&self) -> u64 {
        let timers = self.event_timers.iter().chain(&self.processing_timers);
        self.udf.state_bytes() + timers.map(|(_, key)| key.len() as u64 + 40).sum::<u64>()
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        let keyed = self.udf.with_state(|state| state.snapshot(id));
        let keyed = keyed.map_err(|e| task_error(&self.site.operator, e))?;
        let watermark = self.watermark;
        Ok(Some(OperatorSnapshot {
            meta: serde_json::to_value(EventTime { watermark }).ok(),
            keyed: Some(keyed),
        }))
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let operator = self.site.operator.clone();
        if let Some(watermark) = keyed_snapshot::restored_watermark(restored, &operator)? {
            self.watermark = watermark;
        }
        let timers = self.udf.with_state(|state| {
            state.restore(restored)?;
            state.timers()
        });
        for (event_time, time, key) in timers.map_err(|e| task_error(&operator, e))? {
            match event_time {
                true => self.event_timers.insert((time, key)),
                false => self.processing_timers.insert((time, key)),
            };
        }
        Ok(())
    }

    fn on_watermark(
        &mut self,
        watermark: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        self.watermark = self.watermark.max(watermark);
        self.fire(true, self.watermark, emit)
    }

    fn processing_deadline(&self) -> Option<Instant> {
        let (first, _) = self.processing_timers.first()?;
        Some(self.clock.instant_at(*first))
    }

    fn on_processing_time(
        &mut self,
        _now: Instant,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<bool, TaskError> {
        self.fire(false, now_ms(), emit)?;
        Ok(false)
    }

    fn finish(
        &mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        // The end of bounded input is the end of event time: every event-time timer fires.
        self.watermark = i64::MAX;
        self.fire(true, i64::MAX, emit)
    }
}
