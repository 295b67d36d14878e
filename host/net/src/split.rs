//! Subtasks spread over several TaskManager endpoints in one process, with real QUIC (mutual
//! TLS, credits) between them: how the network path is exercised end to end without separate
//! processes, and the shape the cluster's TaskManagers use for their remote channels.

use super::bridge::{spawn_inbound, spawn_outbound};
use super::channel::{DataReceiver, DataSender};
use super::gate::InputGate;
use super::tls::{ClusterCa, bind_endpoint, client_config, server_config};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use weir_core::Placement;
use weir_runtime::error::TaskError;
use weir_tasks::deploy::CHANNEL_CAPACITY;
use weir_tasks::deploy::ChannelFactory;
use weir_tasks::deploy::LocalEnds;

/// Runs each subtask on the TaskManager a [`Placement`] gives it, connecting every pair of
/// TaskManagers over loopback QUIC.
pub struct SplitChannels {
    runtime: tokio::runtime::Runtime,
    /// `connections[a][b]`: TaskManager `a`'s connection to `b`, and `b`'s end of it.
    connections: Vec<Vec<Option<(quinn::Connection, quinn::Connection)>>>,
    placement: Placement,
    gates: HashMap<(usize, u32), Arc<InputGate>>,
    next_channel: u64,
    remote: usize,
}

fn net_error(detail: impl ToString) -> TaskError {
    TaskError::Internal(format!("cannot set up the network: {}", detail.to_string()))
}

impl SplitChannels {
    /// `taskmanagers` endpoints on loopback, running subtasks where `placement` says.
    pub fn new(taskmanagers: usize, placement: Placement) -> Result<Self, TaskError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(net_error)?;
        let ca = ClusterCa::generate("split").map_err(net_error)?;
        let any: SocketAddr = "127.0.0.1:0".parse().map_err(net_error)?;
        let mut endpoints = Vec::new();
        let mut names = Vec::new();
        let _guard = runtime.enter();
        for index in 0..taskmanagers {
            let name = format!("taskmanager-{}", index + 1);
            let identity = ca.issue(&name).map_err(net_error)?;
            let mut endpoint = bind_endpoint(
                any,
                Some(server_config(&ca.certificate(), &identity).map_err(net_error)?),
            )
            .map_err(net_error)?;
            endpoint.set_default_client_config(
                client_config(&ca.certificate(), &identity).map_err(net_error)?,
            );
            endpoints.push(endpoint);
            names.push(name);
        }
        let mut connections = vec![vec![None; taskmanagers]; taskmanagers];
        for a in 0..taskmanagers {
            for b in (0..taskmanagers).filter(|&b| b != a) {
                let address = endpoints[b].local_addr().map_err(net_error)?;
                let pair = runtime.block_on(async {
                    let connecting = endpoints[a]
                        .connect(address, &names[b])
                        .map_err(net_error)?;
                    let incoming = endpoints[b]
                        .accept()
                        .await
                        .ok_or_else(|| net_error("endpoint closed"))?;
                    let (outgoing, incoming) = tokio::join!(connecting, incoming);
                    Ok::<_, TaskError>((outgoing.map_err(net_error)?, incoming.map_err(net_error)?))
                })?;
                connections[a][b] = Some(pair);
            }
        }
        Ok(SplitChannels {
            runtime,
            connections,
            placement,
            gates: HashMap::new(),
            next_channel: 0,
            remote: 0,
        })
    }

    fn place(&self, vertex: usize, subtask: u32) -> usize {
        self.placement.taskmanager(vertex, subtask)
    }

    /// How many channels crossed TaskManagers.
    pub fn remote_channels(&self) -> usize {
        self.remote
    }
}

impl ChannelFactory for SplitChannels {
    fn channel(
        &mut self,
        _index: u64,
        producer: (usize, u32),
        consumer: (usize, u32),
    ) -> Result<LocalEnds, TaskError> {
        let (a, b) = (
            self.place(producer.0, producer.1),
            self.place(consumer.0, consumer.1),
        );
        if a == b {
            let (sender, receiver) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
            return Ok((Some(sender), Some(receiver)));
        }
        let Some((outgoing, incoming)) = self.connections[a][b].clone() else {
            return Err(net_error("no connection between the TaskManagers"));
        };
        let id = self.next_channel;
        self.next_channel += 1;
        // One input gate per consumer subtask: its remote channels share a floating pool.
        let gate = self
            .gates
            .entry(consumer)
            .or_insert_with(|| InputGate::new(2, 8))
            .clone();
        let (sender, receiver) = self.runtime.block_on(async {
            let (send, credits) = outgoing.open_bi().await.map_err(net_error)?;
            let sender = DataSender::open(
                &format!("taskmanager-{}", b + 1),
                send,
                credits,
                id,
                CHANNEL_CAPACITY,
            )
            .await
            .map_err(net_error)?;
            let (credits, data) = incoming.accept_bi().await.map_err(net_error)?;
            let (received_id, receiver) =
                DataReceiver::accept(&format!("taskmanager-{}", a + 1), data, credits, &gate)
                    .await
                    .map_err(net_error)?;
            if received_id != id {
                return Err(net_error(format!(
                    "expected channel {id}, accepted {received_id}"
                )));
            }
            Ok((sender, receiver))
        })?;
        let (producer_end, outbound) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let (inbound, consumer_end) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let handle = self.runtime.handle().clone();
        spawn_outbound(
            format!("weir-net-out-{id}"),
            outbound,
            sender,
            handle.clone(),
        )
        .map_err(net_error)?;
        spawn_inbound(format!("weir-net-in-{id}"), receiver, inbound, handle).map_err(net_error)?;
        self.remote += 1;
        Ok((Some(producer_end), Some(consumer_end)))
    }
}
