//! One logical data channel (producer subtask → consumer subtask) on one QUIC stream.
//!
//! The sender opens the stream with `WEIR` and the channel's id (u64 LE): QUIC shows a stream to
//! the acceptor only once bytes arrive, and no data may go before credit.
//! Sender → receiver frames: `[len: u32 LE][backlog: u32 LE][rkyv WireElement; len bytes]`.
//! Receiver → sender frames: `[credits: u32 LE]`. The sender writes a frame only against a
//! credit ([`CreditSender`]); the receiver grants one per free buffer ([`GateCredits`]) and a
//! buffer is free again when the consumer asks for the next element. Every received frame is
//! checked ([`weir_proto::wire::decode`]) before anything reads it.

use super::gate::InputGate;
use quinn::{RecvStream, SendStream};
use rkyv::util::AlignedVec;
use std::sync::Arc;
use weir_core::credit::CreditSender;
use weir_proto::RecordBatch;
use weir_proto::wire::{ArchivedWireElement, WireElement, WireError, decode, encode};
use weir_tasks::StreamElement;

/// The first bytes of every data channel.
const MAGIC: &[u8; 4] = b"WEIR";

/// The largest frame a receiver accepts.
pub const MAX_FRAME_BYTES: u32 = 64 << 20;

/// Why a data channel failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The peer went away or the stream broke.
    #[error("data channel to {peer}: connection lost: {detail}")]
    Lost {
        /// The peer's identity.
        peer: String,
        /// What the transport said.
        detail: String,
    },
    /// The peer broke the framing or credit protocol.
    #[error("data channel to {peer}: protocol violation: {detail}")]
    Protocol {
        /// The peer's identity.
        peer: String,
        /// What was wrong.
        detail: String,
    },
    /// A frame did not hold a valid element.
    #[error("data channel to {peer}: {error}")]
    Wire {
        /// The peer's identity.
        peer: String,
        /// The decoding failure.
        error: WireError,
    },
}

/// The sending end of a data channel.
pub struct DataSender {
    peer: String,
    send: SendStream,
    credits: RecvStream,
    queue: CreditSender<AlignedVec>,
    max_queued: usize,
}

impl DataSender {
    /// Opens channel `channel` on `send`, reading credits from `credits`; at most `max_queued`
    /// encoded elements wait for credit before [`DataSender::send`] blocks (backpressure).
    pub async fn open(
        peer: &str,
        mut send: SendStream,
        credits: RecvStream,
        channel: u64,
        max_queued: usize,
    ) -> Result<Self, ChannelError> {
        let mut header = [0u8; 12];
        header[..4].copy_from_slice(MAGIC);
        header[4..].copy_from_slice(&channel.to_le_bytes());
        send.write_all(&header)
            .await
            .map_err(|e| ChannelError::Lost {
                peer: peer.to_string(),
                detail: e.to_string(),
            })?;
        Ok(DataSender {
            peer: peer.to_string(),
            send,
            credits,
            queue: CreditSender::default(),
            max_queued: max_queued.max(1),
        })
    }

    fn lost(&self, detail: impl ToString) -> ChannelError {
        ChannelError::Lost {
            peer: self.peer.clone(),
            detail: detail.to_string(),
        }
    }

    /// Queues `element` and writes what credit allows, waiting for credit while the queue is full.
    pub async fn send(&mut self, element: &WireElement) -> Result<(), ChannelError> {
        let bytes = encode(element).map_err(|error| ChannelError::Wire {
            peer: self.peer.clone(),
            error,
        })?;
        self.queue.enqueue(bytes);
        self.flush().await?;
        while self.queue.backlog() > self.max_queued {
            self.await_credit().await?;
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends everything queued, then end-of-stream, and closes the stream.
    pub async fn finish(mut self) -> Result<(), ChannelError> {
        self.send(&WireElement::EndOfStream).await?;
        while self.queue.backlog() > 0 {
            self.await_credit().await?;
            self.flush().await?;
        }
        self.send.finish().map_err(|e| self.lost(e))?;
        let _ = self.send.stopped().await;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ChannelError> {
        while let Some((bytes, backlog)) = self.queue.poll_send() {
            let mut header = [0u8; 8];
            header[..4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
            header[4..].copy_from_slice(&backlog.to_le_bytes());
            self.send
                .write_all(&header)
                .await
                .map_err(|e| self.lost(e))?;
            self.send
                .write_all(&bytes)
                .await
                .map_err(|e| self.lost(e))?;
        }
        Ok(())
    }

    async fn await_credit(&mut self) -> Result<(), ChannelError> {
        let mut frame = [0u8; 4];
        self.credits
            .read_exact(&mut frame)
            .await
            .map_err(|e| self.lost(e))?;
        self.queue.on_credit(u32::from_le_bytes(frame));
        Ok(())
    }
}

/// Reads a channel's header from a newly accepted stream; returns the channel's id.
pub async fn read_header(peer: &str, recv: &mut RecvStream) -> Result<u64, ChannelError> {
    let mut header = [0u8; 12];
    recv.read_exact(&mut header)
        .await
        .map_err(|e| ChannelError::Lost {
            peer: peer.to_string(),
            detail: e.to_string(),
        })?;
    if &header[..4] != MAGIC {
        return Err(ChannelError::Protocol {
            peer: peer.to_string(),
            detail: "the stream does not start with a Weir channel header".into(),
        });
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&header[4..]);
    Ok(u64::from_le_bytes(id))
}

/// The receiving end of a data channel; its buffers belong to an [`InputGate`] it may share with
/// the consumer's other channels.
pub struct DataReceiver {
    peer: String,
    recv: RecvStream,
    gate: Arc<InputGate>,
    channel: usize,
    holding: bool,
    ended: bool,
}

impl DataReceiver {
    /// Accepts a channel on `recv` into `gate`, which grants credits on `credits`; returns the
    /// channel's id.
    pub async fn accept(
        peer: &str,
        mut recv: RecvStream,
        credits: SendStream,
        gate: &Arc<InputGate>,
    ) -> Result<(u64, Self), ChannelError> {
        let id = read_header(peer, &mut recv).await?;
        Ok((id, DataReceiver::new(peer, recv, credits, gate)))
    }

    /// The receiving end of a channel whose header [`read_header`] already read.
    pub fn new(peer: &str, recv: RecvStream, credits: SendStream, gate: &Arc<InputGate>) -> Self {
        let channel = gate.add_channel(credits);
        DataReceiver {
            peer: peer.to_string(),
            recv,
            gate: gate.clone(),
            channel,
            holding: false,
            ended: false,
        }
    }

    fn lost(&self, detail: impl ToString) -> ChannelError {
        ChannelError::Lost {
            peer: self.peer.clone(),
            detail: detail.to_string(),
        }
    }

    fn protocol(&self, detail: impl ToString) -> ChannelError {
        ChannelError::Protocol {
            peer: self.peer.clone(),
            detail: detail.to_string(),
        }
    }

    /// Buffers held by the gate's channels (in use or credited): bounded by construction.
    pub fn buffers_held(&self) -> u32 {
        self.gate.buffers().0
    }

    /// The next batch, or `None` at end-of-stream (watermarks are skipped). The previous
    /// element's buffer is released first.
    pub async fn next(&mut self) -> Result<Option<RecordBatch>, ChannelError> {
        loop {
            match self.next_element().await? {
                Some(StreamElement::Records(batch)) => return Ok(Some(batch)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The next element — a batch or a watermark — or `None` at end-of-stream. The previous
    /// element's buffer is released first.
    pub async fn next_element(&mut self) -> Result<Option<StreamElement>, ChannelError> {
        if self.ended {
            return Ok(None);
        }
        if std::mem::take(&mut self.holding) {
            self.gate
                .consumed(self.channel)
                .map_err(|e| self.protocol(e))?;
        }
        let mut header = [0u8; 8];
        self.recv
            .read_exact(&mut header)
            .await
            .map_err(|e| self.lost(e))?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let backlog = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_FRAME_BYTES {
            return Err(self.protocol(format!(
                "a {len}-byte frame exceeds the {MAX_FRAME_BYTES}-byte limit"
            )));
        }
        self.gate
            .received(self.channel, backlog)
            .map_err(|e| self.protocol(e))?;
        self.holding = true;
        let mut bytes = AlignedVec::<16>::with_capacity(len as usize);
        bytes.resize(len as usize, 0);
        self.recv
            .read_exact(&mut bytes)
            .await
            .map_err(|e| self.lost(e))?;
        let element = decode(&bytes).map_err(|error| ChannelError::Wire {
            peer: self.peer.clone(),
            error,
        })?;
        match element {
            ArchivedWireElement::Records(batch) => {
                let batch = rkyv::deserialize::<RecordBatch, rkyv::rancor::Error>(batch)
                    .map_err(|e| self.protocol(e))?;
                Ok(Some(StreamElement::Records(batch)))
            }
            ArchivedWireElement::Watermark(watermark) => {
                Ok(Some(StreamElement::Watermark(watermark.to_native())))
            }
            ArchivedWireElement::Idle => Ok(Some(StreamElement::Idle)),
            ArchivedWireElement::Barrier(id) => Ok(Some(StreamElement::Barrier(id.to_native()))),
            ArchivedWireElement::EndOfStream => {
                self.ended = true;
                Ok(None)
            }
        }
    }
}
