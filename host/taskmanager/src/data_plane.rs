//! A TaskManager's data endpoint: one QUIC connection per pair of TaskManagers (the one whose
//! name sorts first dials, so a pair never holds two), one stream per logical channel. Streams
//! that arrive before their consumer is deployed wait, keyed by channel id, until it asks.

use crate::TaskManagerError;
use quinn::{Connection, Endpoint, RecvStream, SendStream};
use rustls::pki_types::CertificateDer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use weir_net::rpc::{PeerInfo, peer_is};
use weir_net::{NodeIdentity, bind_endpoint, client_config, read_header, server_config};

/// Why a connection to a peer could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DialError {
    /// The connection could not even start (a bad address, a closed endpoint).
    #[error("cannot reach {address}: {source}")]
    Unreachable {
        /// The peer's address.
        address: SocketAddr,
        /// Why.
        source: quinn::ConnectError,
    },
    /// The handshake failed or the peer closed the connection.
    #[error("cannot connect to {address}: {source}")]
    Refused {
        /// The peer's address.
        address: SocketAddr,
        /// The connection's error (a refused certificate shows here).
        source: quinn::ConnectionError,
    },
    /// The peer did not answer in time.
    #[error("{address} did not answer within {timeout:?}")]
    Timeout {
        /// The peer's address.
        address: SocketAddr,
        /// How long it waited.
        timeout: Duration,
    },
}

/// Why there is no connection to a peer TaskManager.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    /// Dialling it failed.
    #[error("TaskManager `{peer}`: {source}")]
    Dial {
        /// Its name.
        peer: String,
        /// Why.
        source: DialError,
    },
    /// The connection broke while saying who this TaskManager is.
    #[error("TaskManager `{peer}`: {detail}")]
    Hello {
        /// Its name.
        peer: String,
        /// What the connection said.
        detail: String,
    },
    /// It was to dial, and did not within the time.
    #[error("TaskManager `{peer}` did not connect within {timeout:?}")]
    Timeout {
        /// Its name.
        peer: String,
        /// How long this one waited.
        timeout: Duration,
    },
}

impl DialError {
    /// The connection's error, when the handshake got that far.
    pub(crate) fn connection(&self) -> Option<&quinn::ConnectionError> {
        match self {
            DialError::Refused { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// How long a channel header may take to arrive on a new stream.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A channel stream that arrived: its peer, and the stream's two halves.
pub(crate) struct InboundStream {
    pub peer: String,
    pub credits: SendStream,
    pub data: RecvStream,
}

#[derive(Default)]
struct Registry {
    connections: HashMap<String, Connection>,
    inbound: HashMap<u64, InboundStream>,
}

/// The data endpoint and its peer connections.
pub(crate) struct DataPlane {
    name: String,
    endpoint: Endpoint,
    registry: Mutex<Registry>,
    changed: Notify,
    dialing: tokio::sync::Mutex<()>,
}

impl DataPlane {
    /// Binds the data endpoint of TaskManager `identity` at `address`; call inside the runtime.
    pub(crate) fn bind(
        ca: &CertificateDer<'static>,
        identity: &NodeIdentity,
        address: SocketAddr,
    ) -> Result<Arc<Self>, TaskManagerError> {
        let server = server_config(ca, identity)?;
        let mut endpoint =
            bind_endpoint(address, Some(server)).map_err(|source| TaskManagerError::Endpoint {
                endpoint: "data",
                address,
                source,
            })?;
        endpoint.set_default_client_config(client_config(ca, identity)?);
        let plane = Arc::new(DataPlane {
            name: identity.name.clone(),
            endpoint,
            registry: Mutex::default(),
            changed: Notify::new(),
            dialing: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(plane.clone().accept_connections());
        Ok(plane)
    }

    /// Where the endpoint listens.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn accept_connections(self: Arc<Self>) {
        while let Some(incoming) = self.endpoint.accept().await {
            let plane = self.clone();
            tokio::spawn(async move {
                let remote = incoming.remote_address();
                let connection = match incoming.await {
                    Ok(connection) => connection,
                    Err(e) => {
                        tracing::warn!(%remote, error = %e, "refused a data connection");
                        return;
                    }
                };
                // The dialler names itself on a first uni stream; its certificate must agree.
                let claimed = async {
                    let mut hello = connection.accept_uni().await.ok()?;
                    let bytes = hello.read_to_end(256).await.ok()?;
                    String::from_utf8(bytes).ok()
                };
                let claimed = tokio::time::timeout(HEADER_TIMEOUT, claimed)
                    .await
                    .ok()
                    .flatten();
                match claimed {
                    Some(peer) if peer_is(&connection, &peer) => plane.adopt(peer, connection),
                    other => {
                        tracing::warn!(%remote, claimed = ?other, "refused a data connection: its certificate does not name the TaskManager it claims to be");
                        connection.close(1u32.into(), b"identity mismatch");
                    }
                }
            });
        }
    }

    /// Keeps `connection` as the one to `peer` and serves the streams it opens.
    fn adopt(self: &Arc<Self>, peer: String, connection: Connection) {
        tracing::debug!(peer, "data connection up");
        self.registry()
            .connections
            .insert(peer.clone(), connection.clone());
        self.changed.notify_waiters();
        let plane = self.clone();
        tokio::spawn(async move {
            loop {
                let (credits, mut data) = match connection.accept_bi().await {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::debug!(peer, error = %e, "data connection closed");
                        return;
                    }
                };
                let plane = plane.clone();
                let peer = peer.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HEADER_TIMEOUT, read_header(&peer, &mut data)).await
                    {
                        Ok(Ok(id)) => {
                            plane.registry().inbound.insert(
                                id,
                                InboundStream {
                                    peer,
                                    credits,
                                    data,
                                },
                            );
                            plane.changed.notify_waiters();
                        }
                        Ok(Err(e)) => tracing::warn!(error = %e, "refused a data stream"),
                        Err(_) => {
                            tracing::warn!(
                                peer,
                                "refused a data stream: no channel header within 10 s"
                            )
                        }
                    }
                });
            }
        });
    }

    /// Waits until `take` finds what it wants in the registry, or `timeout` passes.
    async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut take: impl FnMut(&mut Registry) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = take(&mut self.registry()) {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// The connection to `peer`: dialled if this TaskManager's name sorts first, else awaited.
    pub(crate) async fn connection(
        self: &Arc<Self>,
        peer: &PeerInfo,
        timeout: Duration,
    ) -> Result<Connection, PeerError> {
        let live = |registry: &mut Registry| {
            registry
                .connections
                .get(&peer.name)
                .filter(|c| c.close_reason().is_none())
                .cloned()
        };
        if self.name < peer.name {
            let _dialing = self.dialing.lock().await;
            if let Some(connection) = live(&mut self.registry()) {
                return Ok(connection);
            }
            let connection = self
                .dial(peer.data_address, &peer.name, timeout)
                .await
                .map_err(|source| PeerError::Dial {
                    peer: peer.name.clone(),
                    source,
                })?;
            let hello_failed = |e: &dyn std::fmt::Display| PeerError::Hello {
                peer: peer.name.clone(),
                detail: e.to_string(),
            };
            let mut hello = connection.open_uni().await.map_err(|e| hello_failed(&e))?;
            hello
                .write_all(self.name.as_bytes())
                .await
                .map_err(|e| hello_failed(&e))?;
            let _ = hello.finish();
            self.adopt(peer.name.clone(), connection.clone());
            Ok(connection)
        } else {
            self.wait_for(timeout, live)
                .await
                .ok_or_else(|| PeerError::Timeout {
                    peer: peer.name.clone(),
                    timeout,
                })
        }
    }

    /// A connection from this endpoint to node `name` at `address` (its certificate must name
    /// it), waiting at most `timeout`.
    pub(crate) async fn dial(
        &self,
        address: SocketAddr,
        name: &str,
        timeout: Duration,
    ) -> Result<Connection, DialError> {
        let connecting = self
            .endpoint
            .connect(address, name)
            .map_err(|source| DialError::Unreachable { address, source })?;
        match tokio::time::timeout(timeout, connecting).await {
            Ok(connected) => connected.map_err(|source| DialError::Refused { address, source }),
            Err(_) => Err(DialError::Timeout { address, timeout }),
        }
    }

    /// The stream of channel `id`, once its producer has opened it.
    pub(crate) async fn inbound(&self, id: u64, timeout: Duration) -> Option<InboundStream> {
        self.wait_for(timeout, |registry| registry.inbound.remove(&id))
            .await
    }

    /// Drops streams of job `sequence` that no consumer took (the job ended first).
    pub(crate) fn forget_job(&self, sequence: u32) {
        self.registry()
            .inbound
            .retain(|id, _| (id >> 32) as u32 != sequence);
    }
}
