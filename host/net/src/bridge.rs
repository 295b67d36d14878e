//! Bridges between a task's bounded local queues and QUIC data channels, on dedicated threads:
//! tasks stay on their own threads and never touch the async runtime, and backpressure passes
//! through unchanged (a full queue blocks the task; no credit blocks the bridge).

use super::channel::{ChannelError, DataReceiver, DataSender};
use crossbeam_channel::{Receiver, Sender};
use tokio::runtime::Handle;
use weir_proto::wire::WireElement;
use weir_tasks::StreamElement;

/// Forwards everything a producer task puts in `queue` to `channel`, until end-of-stream.
pub fn spawn_outbound(
    name: String,
    queue: Receiver<StreamElement>,
    channel: DataSender,
    runtime: Handle,
) -> std::io::Result<std::thread::JoinHandle<Result<(), ChannelError>>> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || forward_outbound(queue, channel, &runtime))
}

/// Hands everything `channel` receives to a consumer task's `queue`, then end-of-stream.
pub fn spawn_inbound(
    name: String,
    channel: DataReceiver,
    queue: Sender<StreamElement>,
    runtime: Handle,
) -> std::io::Result<std::thread::JoinHandle<Result<(), ChannelError>>> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || forward_inbound(channel, queue, &runtime))
}

/// The outbound bridge's loop, on the calling thread.
pub fn forward_outbound(
    queue: Receiver<StreamElement>,
    mut channel: DataSender,
    runtime: &Handle,
) -> Result<(), ChannelError> {
    loop {
        match queue.recv() {
            Ok(StreamElement::Records(batch)) => {
                runtime.block_on(channel.send(&WireElement::Records(batch)))?
            }
            Ok(StreamElement::Watermark(watermark)) => {
                runtime.block_on(channel.send(&WireElement::Watermark(watermark)))?
            }
            Ok(StreamElement::Idle) => runtime.block_on(channel.send(&WireElement::Idle))?,
            Ok(StreamElement::Barrier(id)) => {
                runtime.block_on(channel.send(&WireElement::Barrier(id)))?
            }
            Ok(StreamElement::EndOfStream) => return runtime.block_on(channel.finish()),
            // Producers never send these; treat one like a producer that stopped.
            Ok(StreamElement::Broken { .. }) => return Ok(()),
            // The producer stopped without end-of-stream (it failed or was cancelled): dropping
            // the channel resets the stream, and the consumer reports its upstream lost.
            Err(_) => return Ok(()),
        }
    }
}

/// The inbound bridge's loop, on the calling thread.
pub fn forward_inbound(
    mut channel: DataReceiver,
    queue: Sender<StreamElement>,
    runtime: &Handle,
) -> Result<(), ChannelError> {
    loop {
        // On an error the task hears why (and fails naming its upstream); the error is also
        // returned for the log.
        let next = match runtime.block_on(channel.next_element()) {
            Ok(next) => next,
            Err(error) => {
                let _ = queue.send(StreamElement::Broken {
                    detail: error.to_string(),
                    peer_lost: matches!(error, ChannelError::Lost { .. }),
                });
                return Err(error);
            }
        };
        match next {
            Some(element) => {
                if queue.send(element).is_err() {
                    return Ok(());
                }
            }
            None => {
                let _ = queue.send(StreamElement::EndOfStream);
                return Ok(());
            }
        }
    }
}
