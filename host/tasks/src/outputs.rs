//! A task's outputs: a record writer per downstream vertex, the writers of late outputs and
//! the dead-letter writer, with the backpressure time their writes block counted into the
//! task's metrics.

use super::channel::Control;
use super::metrics::TaskMetrics;
use super::task::Rejects;
use super::writer::RecordWriter;
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_proto::RecordBatch;
use weir_runtime::error::TaskError;

/// The task's outputs: data writers, late outputs and the dead-letter writer.
pub(super) struct Outputs {
    pub(super) writers: Vec<RecordWriter>,
    pub(super) dead_letters: Option<RecordWriter>,
    /// Late outputs: the step whose late records each takes, and its writer.
    pub(super) late: Vec<(String, RecordWriter)>,
    pub(super) control: Receiver<Control>,
    pub(super) metrics: Arc<TaskMetrics>,
}

impl Outputs {
    pub(super) fn emit(&mut self, batch: RecordBatch) -> Result<(), TaskError> {
        if batch.is_empty() {
            return Ok(());
        }
        TaskMetrics::add(&self.metrics.records_out, batch.len() as u64);
        TaskMetrics::add(&self.metrics.bytes_out, batch.data.len() as u64);
        let mut blocked = 0;
        if let Some((last, rest)) = self.writers.split_last_mut() {
            for writer in rest {
                blocked += writer.write(batch.clone(), &self.control)?;
            }
            blocked += last.write(batch, &self.control)?;
        }
        TaskMetrics::add(&self.metrics.backpressured_ns, blocked);
        Ok(())
    }

    pub(super) fn route_rejects(&mut self, rejects: &mut Rejects) -> Result<(), TaskError> {
        if !rejects.late.is_empty() {
            let mut blocked = 0;
            for (step, writer) in &mut self.late {
                let mut batch = RecordBatch::default();
                for late in rejects.late.iter().filter(|r| &r.operator == step) {
                    let record = &late.record;
                    batch.push(record.key.as_deref(), &record.value, record.timestamp);
                }
                TaskMetrics::add(&self.metrics.records_out, batch.len() as u64);
                blocked += writer.write(batch, &self.control)?;
            }
            rejects.late.clear();
            TaskMetrics::add(&self.metrics.backpressured_ns, blocked);
        }
        if rejects.pending.is_empty() {
            return Ok(());
        }
        TaskMetrics::add(&self.metrics.records_rejected, rejects.pending.len() as u64);
        let Some(writer) = &mut self.dead_letters else {
            return Err(TaskError::Internal(
                "rejections queued without a dead-letter output".into(),
            ));
        };
        for rejection in rejects.pending.drain(..) {
            writer.write(rejection.to_dead_letter(), &self.control)?;
        }
        Ok(())
    }

    /// The writers of records and late records: what watermarks and idleness reach.
    fn record_writers(&mut self) -> impl Iterator<Item = &mut RecordWriter> {
        let late = self.late.iter_mut().map(|(_, writer)| writer);
        self.writers.iter_mut().chain(late)
    }

    fn all_writers(&mut self) -> impl Iterator<Item = &mut RecordWriter> {
        let late = self.late.iter_mut().map(|(_, writer)| writer);
        self.writers
            .iter_mut()
            .chain(late)
            .chain(self.dead_letters.as_mut())
    }

    pub(super) fn flush_expired(&mut self, timeout: Duration) -> Result<(), TaskError> {
        let now = Instant::now();
        let control = self.control.clone();
        let mut blocked = 0;
        for writer in self.all_writers() {
            blocked += writer.flush_expired(now, timeout, &control)?;
        }
        TaskMetrics::add(&self.metrics.backpressured_ns, blocked);
        Ok(())
    }

    pub(super) fn next_deadline(&self, timeout: Duration) -> Option<Instant> {
        self.writers
            .iter()
            .chain(self.late.iter().map(|(_, writer)| writer))
            .chain(self.dead_letters.as_ref())
            .filter_map(|w| w.next_deadline(timeout))
            .min()
    }

    /// Sends `watermark` to every downstream subtask (not to the dead-letter sink).
    pub(super) fn watermark(&mut self, watermark: i64) -> Result<(), TaskError> {
        let control = self.control.clone();
        let mut blocked = 0;
        for writer in self.record_writers() {
            blocked += writer.watermark(watermark, &control)?;
        }
        TaskMetrics::add(&self.metrics.backpressured_ns, blocked);
        Ok(())
    }

    /// Sends checkpoint barrier `id` to every downstream subtask, the dead-letter sink's
    /// included: it takes part in checkpoints like any sink (its file parts commit with them),
    /// and the dead letters routed before the barrier are flushed ahead of it.
    pub(super) fn barrier(&mut self, id: u64) -> Result<(), TaskError> {
        let control = self.control.clone();
        let mut blocked = 0;
        for writer in self.all_writers() {
            blocked += writer.barrier(id, &control)?;
        }
        TaskMetrics::add(&self.metrics.backpressured_ns, blocked);
        Ok(())
    }

    /// Tells every downstream subtask that this one is idle.
    pub(super) fn idle(&mut self) -> Result<(), TaskError> {
        let control = self.control.clone();
        let mut blocked = 0;
        for writer in self.record_writers() {
            blocked += writer.idle(&control)?;
        }
        TaskMetrics::add(&self.metrics.backpressured_ns, blocked);
        Ok(())
    }

    pub(super) fn finish(&mut self) -> Result<(), TaskError> {
        let control = self.control.clone();
        for writer in self.all_writers() {
            writer.finish(&control)?;
        }
        Ok(())
    }
}
