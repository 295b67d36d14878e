//! What flows between tasks, and the blocking-but-cancellable hand-off.

use crossbeam_channel::{Receiver, Sender, TrySendError, select};
use std::time::Instant;
use weir_proto::RecordBatch;
use weir_runtime::error::TaskError;

/// An element of a stream between two subtasks.
#[derive(Debug)]
pub enum StreamElement {
    /// A batch of records.
    Records(RecordBatch),
    /// Event time on this channel has reached this many milliseconds since the epoch.
    Watermark(i64),
    /// The producer expects no records for a while (its idle timeout passed): its watermark
    /// holds nothing back until records or a watermark come again.
    Idle,
    /// Checkpoint barrier `n`: what came before belongs to checkpoint `n`.
    Barrier(u64),
    /// The producer has no more records for this channel.
    EndOfStream,
    /// A channel from another TaskManager broke: the stream is over without its end.
    Broken {
        /// What the network layer said (a lost peer, a corrupt frame).
        detail: String,
        /// Whether the peer went away (an echo of its failure) rather than sent bad data.
        peer_lost: bool,
    },
}

/// Mail from the JobManager to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop now; the job is failing or cancelled.
    Cancel,
}

/// One input channel of a task: its receiving end and the upstream vertex's name.
pub struct InputChannel {
    /// Receives the producer's elements.
    pub receiver: Receiver<StreamElement>,
    /// The producing vertex, for messages.
    pub upstream: String,
    /// Which input of the task it is: 0, or 1 for a join's right side.
    pub side: u8,
}

/// Sends `element`, waiting while the channel is full unless `control` says cancel. Returns the
/// nanoseconds spent waiting (backpressure).
pub fn send_or_cancel(
    sender: &Sender<StreamElement>,
    element: StreamElement,
    control: &Receiver<Control>,
    downstream: &str,
) -> Result<u64, TaskError> {
    let element = match sender.try_send(element) {
        Ok(()) => return Ok(0),
        Err(TrySendError::Disconnected(_)) => {
            return Err(TaskError::DownstreamLost {
                downstream: downstream.to_string(),
            });
        }
        Err(TrySendError::Full(element)) => element,
    };
    let waited = Instant::now();
    select! {
        send(sender, element) -> sent => match sent {
            Ok(()) => Ok(waited.elapsed().as_nanos() as u64),
            Err(_) => Err(TaskError::DownstreamLost { downstream: downstream.to_string() }),
        },
        recv(control) -> _ => Err(TaskError::Cancelled),
    }
}
