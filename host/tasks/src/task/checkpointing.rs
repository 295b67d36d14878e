//! A task's part in checkpoints: the coordinator's mail, barrier alignment's outcome, and the
//! two phases of taking its state — the synchronous snapshot between two batches and the
//! asynchronous upload that acknowledges.

use super::{CheckpointAck, CheckpointMail, Task};
use std::time::Instant;
use weir_core::barriers::Alignment;
use weir_runtime::error::TaskError;
use weir_state::checkpoint::{OperatorSnapshot, storage::Upload};

impl Task {
    /// Acts on the coordinator's mail that has come, without waiting for more.
    pub(super) fn take_mail(&mut self) -> Result<(), TaskError> {
        let mail: Vec<CheckpointMail> = self
            .checkpoints
            .as_ref()
            .map(|c| c.mail.try_iter().collect())
            .unwrap_or_default();
        for mail in mail {
            self.on_checkpoint_mail(mail)?;
        }
        Ok(())
    }

    /// Acts on the barrier state: an aligned checkpoint is taken here and its barrier passed
    /// on; an abandoned one is dropped (the coordinator aborts it by its timeout).
    pub(super) fn on_alignment(&mut self, alignment: Alignment) -> Result<(), TaskError> {
        if let (Alignment::Aligned(id) | Alignment::Abandoned(id), Some((announced, _))) =
            (&alignment, self.announced)
            && announced <= *id
        {
            self.announced = None;
        }
        match alignment {
            Alignment::Aligned(id) => self.checkpoint(id),
            Alignment::Abandoned(id) => {
                tracing::debug!(task = %self.name, checkpoint = id, "checkpoint abandoned for a newer one");
                Ok(())
            }
            Alignment::Pending => Ok(()),
        }
    }

    /// Acts on the coordinator's mail.
    pub(super) fn on_checkpoint_mail(&mut self, mail: CheckpointMail) -> Result<(), TaskError> {
        match mail {
            CheckpointMail::Trigger(id) if self.chain.0.is_some() => {
                self.last_barrier = self.last_barrier.max(id);
                self.checkpoint(id)
            }
            CheckpointMail::Trigger(id) => {
                let timeout = self.checkpoints.as_ref().and_then(|c| c.aligned_timeout);
                if let Some(timeout) = timeout
                    && id > self.last_barrier
                {
                    tracing::debug!(task = %self.name, checkpoint = id, "checkpoint started; waiting for its barriers");
                    self.announced = Some((id, Instant::now() + timeout));
                }
                Ok(())
            }
            CheckpointMail::Complete(id) => {
                for operator in &mut self.chain.1 {
                    operator.checkpoint_complete(id)?;
                }
                Ok(())
            }
        }
    }

    /// Takes this subtask's part of checkpoint `id` and forwards its barrier downstream. The
    /// synchronous phase runs here, between two batches: each operator hands over its state
    /// (a copy off the heap, a RocksDB checkpoint of hard links). The asynchronous phase
    /// writes it to storage on another thread, which then acknowledges, while this task goes
    /// on processing.
    pub(super) fn checkpoint(&mut self, id: u64) -> Result<(), TaskError> {
        tracing::debug!(task = %self.name, checkpoint = id, "checkpoint");
        let snapshots = self.snapshot_chain(id)?;
        self.outputs.barrier(id)?;
        self.upload(id, snapshots)
    }

    /// The synchronous phase of checkpoint `id`: every operator's state (and a source's
    /// position), by step name.
    pub(super) fn snapshot_chain(
        &mut self,
        id: u64,
    ) -> Result<Vec<(String, OperatorSnapshot)>, TaskError> {
        weir_runtime::fault::at("snapshot", id, self.subtask)?;
        let mut snapshots = Vec::new();
        let mut names = self.operator_names.iter();
        if let Some(source) = &mut self.chain.0 {
            let position = source.position()?;
            let name = names.next().cloned().unwrap_or_default();
            snapshots.push((
                name,
                OperatorSnapshot {
                    meta: Some(position),
                    keyed: None,
                },
            ));
        }
        for (operator, name) in self.chain.1.iter_mut().zip(names) {
            if let Some(snapshot) = operator.snapshot(id)? {
                snapshots.push((name.clone(), snapshot));
            }
        }
        Ok(snapshots)
    }

    /// The asynchronous phase of checkpoint `id`: `snapshots` are written to storage on
    /// another thread, which then acknowledges.
    pub(super) fn upload(
        &mut self,
        id: u64,
        mut snapshots: Vec<(String, OperatorSnapshot)>,
    ) -> Result<(), TaskError> {
        let Some(checkpoints) = &self.checkpoints else {
            return Ok(());
        };
        let (acks, storage) = (checkpoints.acks.clone(), checkpoints.storage.clone());
        let (vertex, subtask, parallelism) = (self.vertex, self.subtask, self.parallelism);
        let uploader = std::thread::Builder::new()
            .name(format!("weir-upload-{vertex}.{subtask}"))
            .spawn(move || {
                if let Err(fault) = weir_runtime::fault::at("upload", id, subtask) {
                    let _ = acks.send(CheckpointAck {
                        id,
                        vertex,
                        subtask,
                        state: Err(fault.to_string()),
                    });
                    return;
                }
                let uploads = snapshots
                    .iter_mut()
                    .map(|(operator, snapshot)| Upload {
                        operator,
                        subtask,
                        parallelism,
                        snapshot: std::mem::take(snapshot),
                    })
                    .collect();
                let state = storage.upload(id, false, uploads).map_err(|e| {
                    format!(
                        "writing checkpoint {id} to {}: {e}",
                        storage.root().display()
                    )
                });
                // The coordinator may be gone (the job is failing): nothing to acknowledge to.
                let _ = acks.send(CheckpointAck {
                    id,
                    vertex,
                    subtask,
                    state,
                });
            });
        let uploader = uploader
            .map_err(|e| TaskError::Internal(format!("cannot start a checkpoint upload: {e}")))?;
        self.uploads.retain(|upload| !upload.is_finished());
        self.uploads.push(uploader);
        Ok(())
    }
}

impl Task {
    /// Whether an operator of the chain holds output that only a completed checkpoint may
    /// commit (a transaction prepared at the end of input).
    pub(super) fn awaits_commit(&self) -> bool {
        self.chain.1.iter().any(|operator| operator.awaits_commit())
    }

    /// Commits what every operator still holds: a checkpoint with this task's final state
    /// completed (or the job does not checkpoint, so nothing can restore to before it).
    pub(super) fn final_commit(&mut self) -> Result<(), TaskError> {
        for operator in &mut self.chain.1 {
            operator.final_checkpoint_complete()?;
        }
        Ok(())
    }

    /// After its end of input: waits until a checkpoint that holds its final state (one above
    /// `last_barrier`) completes, then commits (Flink's final checkpoint, FLIP-147). Earlier
    /// completions commit as they would have while it ran. Until then a restore may go back to
    /// before its end, and output committed now would be written twice.
    pub(super) fn await_final_commit(&mut self, last_barrier: u64) -> Result<(), TaskError> {
        let Some(mail) = self.checkpoints.as_ref().map(|c| c.mail.clone()) else {
            return self.final_commit();
        };
        tracing::info!(task = %self.name, last_barrier, "finished; its output commits with the next checkpoint");
        loop {
            crossbeam_channel::select! {
                recv(self.control) -> _ => return Err(TaskError::Cancelled),
                recv(mail) -> message => match message {
                    Ok(CheckpointMail::Complete(id)) if id > last_barrier => {
                        tracing::debug!(task = %self.name, checkpoint = id, "final output committed");
                        return self.final_commit();
                    }
                    Ok(CheckpointMail::Complete(id)) => {
                        for operator in &mut self.chain.1 {
                            operator.checkpoint_complete(id)?;
                        }
                    }
                    // The coordinator counts a finished task with its final state.
                    Ok(CheckpointMail::Trigger(_)) => {}
                    Err(_) => {
                        return Err(TaskError::Internal(
                            "the job's checkpoint coordinator went away before a checkpoint committed this task's final output".into(),
                        ));
                    }
                },
            }
        }
    }
}
