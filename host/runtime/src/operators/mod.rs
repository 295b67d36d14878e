//! Operators: what a task runs, one kind per file.
//!
//! An operator turns a batch into a batch; chained operators are plain calls, with no
//! serialization between them. Sources produce batches, sinks consume them. A record an operator
//! cannot handle becomes a [`Rejection`]: data for the dead-letter sink, or the job's failure.

/// The `on_watermark` and `finish` of an operator that emits on event time through its own
/// `fire(up_to, emit)` and keeps a `watermark` field: a watermark moves it on and fires what is
/// due; the end of bounded input is the end of event time, so everything fires.
macro_rules! fires_on_event_time {
    () => {
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
    };
}

/// The state of an operator whose records wait in a `lists: WindowLists` until its windows
/// fire (a window join, a whole-window function), with a `watermark` field and a
/// `fire(up_to, emit)`: its size, its checkpoints, and `fires_on_event_time!`.
macro_rules! keeps_window_lists {
    () => {
        fn state_bytes(&self) -> u64 {
            self.lists.state_bytes()
        }

        fn snapshot(
            &mut self,
            id: u64,
        ) -> Result<Option<weir_state::checkpoint::OperatorSnapshot>, TaskError> {
            self.lists.snapshot(id, self.watermark).map(Some)
        }

        fn restore(
            &mut self,
            restored: &weir_state::checkpoint::OperatorRestore,
        ) -> Result<(), TaskError> {
            if let Some(watermark) = self.lists.restore(restored)? {
                self.watermark = watermark;
            }
            Ok(())
        }

        fires_on_event_time!();
    };
}

/// The state size and checkpoints of an operator keeping its keyed state in a
/// `state: KeyedValues`, with its step's name in `operator`.
macro_rules! keeps_keyed_values {
    () => {
        fn state_bytes(&self) -> u64 {
            self.state.size()
        }

        fn snapshot(
            &mut self,
            id: u64,
        ) -> Result<Option<weir_state::checkpoint::OperatorSnapshot>, TaskError> {
            let keyed = self.state.snapshot(id);
            let keyed = keyed.map_err(|e| crate::error::task_error(&self.operator, e))?;
            Ok(Some(weir_state::checkpoint::OperatorSnapshot {
                meta: None,
                keyed: Some(keyed),
            }))
        }

        fn restore(
            &mut self,
            restored: &weir_state::checkpoint::OperatorRestore,
        ) -> Result<(), TaskError> {
            let taken = self.state.restore(restored);
            taken.map_err(|e| crate::error::task_error(&self.operator, e))
        }
    };
}

mod aggregate;
mod build;
mod connectors;
mod isolate;
mod join;
mod key_by;
mod keyed_snapshot;
mod native;
mod process;
mod regular_join;
mod rejection;
mod select;
pub mod sinks;
pub mod sources;
mod throttle;
mod top_n;
mod wasm_transform;
mod watermark;
mod window_function;
mod window_lists;
mod written_timers;

pub use build::{Chain, OperatorFactory, build_chain};
pub use connectors::{ConnectorSite, Connectors, NoConnectors};
pub use native::{NativeFactory, NativeOperator, NativeRegistry};
pub use rejection::{OwnedRecord, Rejection};

use crate::error::TaskError;
use weir_proto::RecordBatch;
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};

/// Receives the records an operator rejects.
pub trait RejectSink {
    /// Takes a rejected record: forwards it to the dead-letter output, or returns the error that
    /// fails the task when the job has none.
    fn reject(&mut self, rejection: Rejection) -> Result<(), TaskError>;

    /// Takes a record too late for every window of step `rejection.operator`: to that step's
    /// late output when the job reads one (`late_output:`), else like any rejected record.
    fn late(&mut self, rejection: Rejection) -> Result<(), TaskError> {
        self.reject(rejection)
    }
}

/// An operator of a chain.
pub trait Operator: Send {
    /// Processes one batch and returns its output (possibly empty).
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError>;

    /// Processes one batch of the operator's second input (a join's right side).
    fn process_second(
        &mut self,
        _batch: RecordBatch,
        _rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        Err(TaskError::Internal(
            "records reached a second input of a one-input operator".into(),
        ))
    }

    /// Called once when all input has ended: emits what the operator still holds (aggregates)
    /// and flushes what it wrote (sinks).
    fn finish(
        &mut self,
        _emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        Ok(())
    }

    /// A watermark this operator generated from the records it has seen since the last call (a
    /// watermark assigner); the task hands it to the operators after this one and downstream.
    fn generated_watermark(&mut self) -> Option<i64> {
        None
    }

    /// Bytes of keyed state it holds (RocksDB's files and memtables, or an estimate of its heap
    /// objects), for metrics; polled now and then, so it may take a moment to compute.
    fn state_bytes(&self) -> u64 {
        0
    }

    /// When this operator next wants [`Operator::on_processing_time`] (wall-clock timers such as
    /// an idle timeout); `None` for never.
    fn processing_deadline(&self) -> Option<std::time::Instant> {
        None
    }

    /// Wall-clock time reached `now`, at or after [`Operator::processing_deadline`]: emit what
    /// that completes (processing-time timers). Returns whether the operator's output has just
    /// become idle (the task then tells downstream).
    fn on_processing_time(
        &mut self,
        _now: std::time::Instant,
        _emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<bool, TaskError> {
        Ok(false)
    }

    /// Hands over its state for checkpoint `id`: the synchronous phase, between two batches;
    /// what it returns is written to storage afterwards, off the task's thread. `None`: it
    /// keeps no state.
    fn snapshot(&mut self, _id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        Ok(None)
    }

    /// Takes back its state from a checkpoint, before the first record.
    fn restore(&mut self, _state: &OperatorRestore) -> Result<(), TaskError> {
        Ok(())
    }

    /// Small inline state it leaves in checkpoints taken after its task ran to the end of its
    /// input, so a restore does not redo what it did (a file sink's part numbering). Keyed
    /// state is not kept: no record reaches a finished task again. `None`: nothing.
    fn final_state(&mut self) -> Result<Option<serde_json::Value>, TaskError> {
        Ok(None)
    }

    /// Checkpoint `id` completed on every task: a transactional sink commits what it wrote
    /// before that checkpoint's barrier.
    fn checkpoint_complete(&mut self, _id: u64) -> Result<(), TaskError> {
        Ok(())
    }

    /// After [`Operator::finish`]: whether it holds output that only a completed checkpoint
    /// may commit (a transaction it prepared at the end of input). Its task then stays until a
    /// checkpoint holding its final state completes, as Flink's finished tasks wait for the
    /// final checkpoint (FLIP-147): committing at once would publish output that a restore to
    /// an earlier checkpoint writes again.
    fn awaits_commit(&self) -> bool {
        false
    }

    /// A checkpoint holding this operator's final state completed: commit everything it
    /// holds, including what `finish` prepared.
    fn final_checkpoint_complete(&mut self) -> Result<(), TaskError> {
        self.checkpoint_complete(u64::MAX)
    }

    /// Event time has reached `watermark` (no record at or before it will follow): emit what
    /// that completes, such as fired windows.
    fn on_watermark(
        &mut self,
        _watermark: i64,
        _emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        Ok(())
    }
}

/// A source: the head of a chain, producing batches until its input ends.
pub trait Source: Send {
    /// The next batch (empty when nothing came for a moment: the task then flushes its outputs
    /// and runs its timers), or `None` at the end of a bounded input.
    fn next_batch(
        &mut self,
        rejects: &mut dyn RejectSink,
    ) -> Result<Option<RecordBatch>, TaskError>;

    /// Where it is, for checkpoint `id`: replaying from there after a restore gives exactly
    /// the records after the checkpoint's barrier.
    fn position(&mut self) -> Result<serde_json::Value, TaskError>;

    /// Time it spent waiting (for a rate, for input) since the last call: the task counts it
    /// as idle, not busy.
    fn take_waited(&mut self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Event time the source tracks itself (a Kafka source's per-partition watermarks), asked
    /// after each batch: a watermark that moved on, or that all its input went quiet.
    fn progress(&mut self) -> Option<SourceProgress> {
        None
    }

    /// Its place and lag in each partition of a partitioned input (Kafka), for metrics; asked
    /// a few times a second. Cheap: from what the client already knows, never a request.
    fn partitions(&self) -> Vec<weir_proto::progress::PartitionLag> {
        Vec::new()
    }

    /// Moves to the position a checkpoint holds, before the first batch (at another
    /// parallelism: the union of the old subtasks' positions, divided up anew). The error
    /// says why it cannot.
    fn seek(&mut self, state: &OperatorRestore) -> Result<(), sources::SeekError>;
}

/// What a source says about event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceProgress {
    /// No record at or before this time will follow.
    Watermark(i64),
    /// Nothing comes for now: downstream event time follows the other inputs.
    Idle,
}

/// Records an operator emits from one call (a fired window, the end of input), in batches of
/// the job's size: each full batch goes downstream at once, the rest at [`Batches::finish`].
pub struct Batches<'e> {
    out: RecordBatch,
    size: usize,
    emit: &'e mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
}

impl<'e> Batches<'e> {
    /// Batches of `size` records for `emit`.
    pub fn new(size: usize, emit: &'e mut dyn FnMut(RecordBatch) -> Result<(), TaskError>) -> Self {
        Batches {
            out: RecordBatch::with_capacity(size.max(1), 64),
            size: size.max(1),
            emit,
        }
    }

    /// Adds a record; emits the batch once it is full.
    pub fn push(
        &mut self,
        key: Option<&[u8]>,
        value: &[u8],
        timestamp: i64,
    ) -> Result<(), TaskError> {
        self.out.push(key, value, timestamp);
        self.emit_if_full()
    }

    /// Adds every record of `batch`; emits once the batch is full.
    pub fn append(&mut self, batch: &RecordBatch) -> Result<(), TaskError> {
        self.out.append(batch);
        self.emit_if_full()
    }

    fn emit_if_full(&mut self) -> Result<(), TaskError> {
        if self.out.len() < self.size {
            return Ok(());
        }
        (self.emit)(std::mem::take(&mut self.out))
    }

    /// Emits what is left.
    pub fn finish(self) -> Result<(), TaskError> {
        if self.out.is_empty() {
            return Ok(());
        }
        (self.emit)(self.out)
    }
}
