//! The channels of one TaskManager's share of a job: local queues between its own subtasks,
//! QUIC streams to and from subtasks on peer TaskManagers. Remote channels are set up on their
//! bridge threads, so deployment never waits on the network and no order between TaskManagers
//! can deadlock; a channel that cannot be set up fails its task with the reason.

use super::data_plane::DataPlane;
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use weir_net::rpc::{Deployment, PeerInfo};
use weir_net::{DataReceiver, DataSender, InputGate, forward_inbound, forward_outbound};
use weir_runtime::error::TaskError;
use weir_tasks::StreamElement;
use weir_tasks::deploy::CHANNEL_CAPACITY;
use weir_tasks::deploy::ChannelFactory;
use weir_tasks::deploy::LocalEnds;

/// How long a TaskManager waits for a peer's connection or channel stream.
pub(crate) const PEER_TIMEOUT: Duration = Duration::from_secs(30);

/// Network buffers of a TaskManager, each holding one record batch: what bounds the memory its
/// remote channels use (Flink's defaults are 2 exclusive buffers per channel, 8 floating per
/// gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkBuffers {
    /// Buffers each remote input channel owns.
    pub exclusive: u32,
    /// Buffers each input gate (one per consumer subtask) lends to its busiest channels.
    pub floating: u32,
}

impl Default for NetworkBuffers {
    fn default() -> Self {
        NetworkBuffers {
            exclusive: 2,
            floating: 8,
        }
    }
}

/// The channel factory of one deployment on this TaskManager.
pub(crate) struct RemoteChannels {
    plane: Arc<DataPlane>,
    runtime: Handle,
    me: usize,
    sequence: u32,
    placement: Vec<Vec<usize>>,
    peers: Vec<PeerInfo>,
    gates: HashMap<(usize, u32), Arc<InputGate>>,
    buffers: NetworkBuffers,
}

impl RemoteChannels {
    /// The channels of `deployment` on the TaskManager at index `me` of its peers.
    pub(crate) fn new(
        plane: Arc<DataPlane>,
        runtime: Handle,
        me: usize,
        deployment: &Deployment,
        buffers: NetworkBuffers,
    ) -> Self {
        let mut channels = Self::with_placement(
            plane,
            runtime,
            me,
            deployment.sequence,
            deployment.placement.clone(),
            deployment.taskmanagers.clone(),
        );
        channels.buffers = buffers;
        channels
    }

    /// The channels of job `sequence` whose subtasks run where `placement` says, on `peers`.
    pub(crate) fn with_placement(
        plane: Arc<DataPlane>,
        runtime: Handle,
        me: usize,
        sequence: u32,
        placement: Vec<Vec<usize>>,
        peers: Vec<PeerInfo>,
    ) -> Self {
        RemoteChannels {
            plane,
            runtime,
            me,
            sequence,
            placement,
            peers,
            gates: HashMap::new(),
            buffers: NetworkBuffers::default(),
        }
    }

    fn place(&self, vertex: usize, subtask: u32) -> usize {
        self.placement
            .get(vertex)
            .and_then(|subtasks| subtasks.get(subtask as usize))
            .copied()
            .unwrap_or(usize::MAX)
    }

    fn peer(&self, index: usize) -> Result<PeerInfo, TaskError> {
        self.peers.get(index).cloned().ok_or_else(|| {
            TaskError::Internal(format!(
                "the deployment places a subtask on unknown TaskManager {index}"
            ))
        })
    }

    fn outbound(&self, id: u64, peer: PeerInfo) -> Result<Sender<StreamElement>, TaskError> {
        let (producer_end, queue) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let (plane, runtime) = (self.plane.clone(), self.runtime.clone());
        spawn(format!("weir-net-out-{id:x}"), move || {
            let sender = runtime.block_on(async {
                let connection = plane
                    .connection(&peer, PEER_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string())?;
                let (send, credits) = connection
                    .open_bi()
                    .await
                    .map_err(|e| format!("cannot open a channel to `{}`: {e}", peer.name))?;
                DataSender::open(&peer.name, send, credits, id, CHANNEL_CAPACITY)
                    .await
                    .map_err(|e| e.to_string())
            });
            match sender {
                Ok(sender) => {
                    if let Err(e) = forward_outbound(queue, sender, &runtime) {
                        tracing::warn!(channel = id, error = %e, "outbound data channel failed");
                    }
                }
                Err(e) => {
                    tracing::error!(channel = id, error = %e, "cannot set up an outbound data channel")
                }
            }
        })?;
        Ok(producer_end)
    }

    fn inbound(
        &mut self,
        id: u64,
        peer: PeerInfo,
        consumer: (usize, u32),
    ) -> Result<Receiver<StreamElement>, TaskError> {
        let (queue, consumer_end) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let buffers = self.buffers;
        let gate = self
            .gates
            .entry(consumer)
            .or_insert_with(|| InputGate::new(buffers.exclusive, buffers.floating))
            .clone();
        let (plane, runtime) = (self.plane.clone(), self.runtime.clone());
        spawn(format!("weir-net-in-{id:x}"), move || {
            // The pair's connection is dialled by the TaskManager whose name sorts first, which
            // may be this consumer: make sure it exists before waiting for the stream on it.
            let stream = runtime.block_on(async {
                plane
                    .connection(&peer, PEER_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string())?;
                plane.inbound(id, PEER_TIMEOUT).await.ok_or_else(|| {
                    format!(
                        "the data channel from TaskManager `{}` did not arrive within {PEER_TIMEOUT:?}",
                        peer.name
                    )
                })
            });
            let stream = match stream {
                Ok(stream) => stream,
                Err(detail) => {
                    tracing::error!(channel = id, "{detail}");
                    let _ = queue.send(StreamElement::Broken {
                        detail,
                        peer_lost: true,
                    });
                    return;
                }
            };
            // The gate starts the channel's credit writer on the runtime.
            let receiver = {
                let _runtime = runtime.enter();
                DataReceiver::new(&stream.peer, stream.data, stream.credits, &gate)
            };
            if let Err(e) = forward_inbound(receiver, queue, &runtime) {
                tracing::warn!(channel = id, error = %e, "inbound data channel failed");
            }
        })?;
        Ok(consumer_end)
    }
}

fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> Result<(), TaskError> {
    std::thread::Builder::new()
        .name(name)
        .spawn(body)
        .map(|_| ())
        .map_err(|e| TaskError::Internal(format!("cannot start a network thread: {e}")))
}

impl ChannelFactory for RemoteChannels {
    fn runs_here(&self, vertex: usize, subtask: u32) -> bool {
        self.place(vertex, subtask) == self.me
    }

    fn channel(
        &mut self,
        index: u64,
        producer: (usize, u32),
        consumer: (usize, u32),
    ) -> Result<LocalEnds, TaskError> {
        let (a, b) = (
            self.place(producer.0, producer.1),
            self.place(consumer.0, consumer.1),
        );
        let id = (u64::from(self.sequence) << 32) | (index & 0xffff_ffff);
        if a == self.me && b == self.me {
            let (sender, receiver) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
            Ok((Some(sender), Some(receiver)))
        } else if a == self.me {
            let peer = self.peer(b)?;
            Ok((Some(self.outbound(id, peer)?), None))
        } else {
            let peer = self.peer(a)?;
            Ok((None, Some(self.inbound(id, peer, consumer)?)))
        }
    }
}
