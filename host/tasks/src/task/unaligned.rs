//! Unaligned checkpoints (Flink's, behind an aligned timeout): when a checkpoint's barriers have
//! not all reached a task in time — stuck behind records queued in a backpressured channel —
//! the task takes its state at once and sends the barrier on, then reads each input up to its
//! barrier without processing: those records were in flight at the checkpoint, so they are
//! stored with it (and replayed first on a restore), and processed after it here.
//!
//! Reading ahead frees the channels, so the producers blocked on them reach their own barriers:
//! a checkpoint completes in about the time to read what the channels hold, not to process it.

use super::{InputState, Task};
use crate::channel::StreamElement;
use crate::in_flight::{self, IN_FLIGHT_SUFFIX};
use crossbeam_channel::{Receiver, Select};
use std::time::Instant;
use weir_runtime::error::TaskError;

impl Task {
    /// Takes the announced checkpoint unaligned, unless its barriers aligned (or it was
    /// abandoned) meanwhile.
    pub(super) fn take_unaligned(
        &mut self,
        receivers: &[Receiver<StreamElement>],
        inputs: &mut InputState,
    ) -> Result<(), TaskError> {
        let Some((id, _)) = self.announced.take() else {
            return Ok(());
        };
        if inputs.barriers.is_done(id) {
            return Ok(());
        }
        let started = Instant::now();
        let mut snapshots = self.snapshot_chain(id)?;
        self.outputs.barrier(id)?;
        self.last_barrier = self.last_barrier.max(id);
        self.read_to_barriers(id, receivers, inputs)?;
        inputs.barriers.taken_unaligned(id);
        // Every record queued now came before barrier `id` and is not processed yet (read for
        // this checkpoint, or ahead for an earlier one): in flight for this one.
        let channels = &self.inputs;
        let records = || {
            self.queued
                .iter()
                .filter_map(|(channel, element)| match element {
                    StreamElement::Records(batch) => Some((channels[*channel].side, batch)),
                    _ => None,
                })
        };
        let count: usize = records().map(|(_, batch)| batch.len()).sum();
        if let (Some(checkpoints), Some(head)) = (&self.checkpoints, self.operator_names.first())
            && count > 0
        {
            let snapshot = in_flight::snapshot(records(), checkpoints.max_parallelism);
            snapshots.push((format!("{head}{IN_FLIGHT_SUFFIX}"), snapshot));
        }
        tracing::debug!(task = %self.name, checkpoint = id, in_flight = count, ms = started.elapsed().as_millis() as u64, "checkpoint taken unaligned");
        self.upload(id, snapshots)
    }

    /// Reads every input that has not yet delivered barrier `id` up to it, queueing what came
    /// before it (to be handled next).
    fn read_to_barriers(
        &mut self,
        id: u64,
        receivers: &[Receiver<StreamElement>],
        inputs: &InputState,
    ) -> Result<(), TaskError> {
        let mut waiting: Vec<bool> = (0..receivers.len())
            .map(|c| inputs.open[c] && !inputs.barriers.has_arrived(c, id))
            .collect();
        for (channel, element) in &self.queued {
            // What follows on that channel is after this checkpoint's barrier.
            if matches!(
                element,
                StreamElement::Barrier(_)
                    | StreamElement::EndOfStream
                    | StreamElement::Broken { .. }
            ) {
                waiting[*channel] = false;
            }
        }
        while waiting.iter().any(|&w| w) {
            let mut select = Select::new();
            let mut readable = Vec::with_capacity(receivers.len());
            for (channel, receiver) in receivers.iter().enumerate() {
                if waiting[channel] {
                    select.recv(receiver);
                    readable.push(channel);
                }
            }
            let control = select.recv(&self.control);
            let operation = select.select();
            if operation.index() == control {
                let _ = operation.recv(&self.control);
                return Err(TaskError::Cancelled);
            }
            let channel = readable[operation.index()];
            let element =
                operation
                    .recv(&receivers[channel])
                    .map_err(|_| TaskError::UpstreamLost {
                        upstream: self.inputs[channel].upstream.clone(),
                    })?;
            match &element {
                StreamElement::Barrier(barrier) if *barrier == id => {
                    waiting[channel] = false;
                    continue;
                }
                // Older than this one: stale.
                StreamElement::Barrier(barrier) if *barrier < id => continue,
                // A newer barrier, the end, a broken channel: nothing of `id` comes after.
                StreamElement::Barrier(_)
                | StreamElement::EndOfStream
                | StreamElement::Broken { .. } => waiting[channel] = false,
                StreamElement::Records(_) | StreamElement::Watermark(_) | StreamElement::Idle => {}
            }
            self.queued.push_back((channel, element));
        }
        Ok(())
    }
}
