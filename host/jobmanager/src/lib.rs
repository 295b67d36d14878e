//! The JobManager process (`weir jobmanager`): TaskManagers register over QUIC (mutual TLS under
//! the cluster CA), clients submit and follow jobs over the REST API, and [`ClusterState`]
//! decides; this crate's other modules only move messages between them and the network.
#![deny(missing_docs)]

mod control;
mod error;
mod job;
pub mod job_checkpoints;
pub mod metrics;
mod reports;
mod rest;
mod state;
pub mod storage_work;

#[cfg(test)]
mod tests;

pub use error::JobManagerError;
pub use state::{
    ClusterState, ClusterTimeouts, JobRequestError, Outgoing, RestorePoint, SubmitOptions, TaskEnd,
};

use crate::storage_work::StorageWork;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use weir_blob::BlobStore;
use weir_net::rpc::ToTaskManager;

/// The log target of the JobManager's bookkeeping (TaskManagers registering, job status
/// changes): INFO for a cluster's operator, quieter for `weir run`, which filters on it.
pub const BOOKKEEPING: &str = "weir_jobmanager::bookkeeping";

/// How a JobManager is set up.
#[derive(Debug, Clone)]
pub struct JobManagerConfig {
    /// The cluster directory (`weir cluster init`).
    pub dir: PathBuf,
    /// The QUIC control endpoint for TaskManagers.
    pub rpc: SocketAddr,
    /// The REST endpoint for clients.
    pub rest: SocketAddr,
    /// Heartbeat interval and timeouts.
    pub heartbeat_interval: Duration,
    /// Heartbeat and slot-wait timeouts.
    pub timeouts: ClusterTimeouts,
    /// Largest module accepted.
    pub max_module_bytes: u64,
    /// Where jobs' checkpoints go: a directory every TaskManager reaches (the same host, or a
    /// shared filesystem).
    pub checkpoint_dir: PathBuf,
}

/// What the control plane, the REST API and the clock share.
pub struct Shared {
    state: Mutex<ClusterState>,
    outboxes: Mutex<HashMap<String, (u64, UnboundedSender<ToTaskManager>)>>,
    /// Modules by sha256, as clients upload them and TaskManagers fetch them.
    pub blobs: BlobStore,
    /// The bearer token REST calls must carry, when one is set.
    pub token: Option<String>,
    /// Checkpoint storage work for the storage thread, which carries it out in order.
    storage: crossbeam_channel::Sender<(String, StorageWork)>,
}

impl Shared {
    fn outboxes(&self) -> MutexGuard<'_, HashMap<String, (u64, UnboundedSender<ToTaskManager>)>> {
        self.outboxes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `change` on the state and sends the messages it makes.
    pub fn update<R>(
        &self,
        change: impl FnOnce(&mut ClusterState, Instant) -> (R, Vec<Outgoing>),
    ) -> R {
        let (result, out, work) = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let (result, out) = change(&mut state, Instant::now());
            (result, out, state.take_storage_work())
        };
        // Files are written and deleted on the storage thread, never under the state's lock.
        for work in work {
            let _ = self.storage.send(work);
        }
        let outboxes = self.outboxes();
        for (taskmanager, message) in out {
            if let Some((_, outbox)) = outboxes.get(&taskmanager) {
                let _ = outbox.send(message);
            }
        }
        result
    }

    /// Reads the state.
    pub fn read<R>(&self, look: impl FnOnce(&ClusterState, Instant) -> R) -> R {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        look(&state, Instant::now())
    }
}

/// The thread that carries out checkpoint storage work in the order it was asked for (a
/// completion's metadata before the deletions retention asks after it), handing each
/// completion's result back to the state.
fn spawn_storage_thread(
    shared: Arc<Shared>,
    work: crossbeam_channel::Receiver<(String, StorageWork)>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("weir-jm-storage".into())
        .spawn(move || {
            for (job, work) in work {
                if let Some(done) = work.run(&job) {
                    shared.update(|state, now| ((), state.storage_done(&job, done, now)));
                }
            }
        })
        .map(|_| ())
}

/// Runs a JobManager until the process is stopped; `on_ready` hears the bound addresses.
pub fn run_jobmanager(
    config: JobManagerConfig,
    on_ready: impl FnOnce(SocketAddr, SocketAddr),
) -> Result<(), JobManagerError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("weir-jm-io")
        .enable_all()
        .build()
        .map_err(|source| JobManagerError::Start {
            what: "the I/O runtime",
            source,
        })?;
    runtime.block_on(async move {
        let token = match std::fs::read_to_string(config.dir.join("rest-token")) {
            Ok(token) => Some(token.trim().to_string()).filter(|t| !t.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                let path = config.dir.join("rest-token");
                return Err(JobManagerError::File { path, source });
            }
        };
        if token.is_none() {
            tracing::warn!(
                "no rest-token in the cluster directory: the REST API accepts every caller"
            );
        }
        let blobs = BlobStore::open(
            config.dir.join("jobmanager").join("blobs"),
            config.max_module_bytes,
        )?;
        let (storage, storage_work) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            state: Mutex::new(
                ClusterState::new(config.timeouts)
                    .with_checkpoint_dir(config.checkpoint_dir.clone()),
            ),
            outboxes: Mutex::default(),
            blobs,
            token,
            storage,
        });
        spawn_storage_thread(shared.clone(), storage_work).map_err(|source| {
            JobManagerError::Start {
                what: "the storage thread",
                source,
            }
        })?;
        let rpc = control::listen(&config, shared.clone())?;
        let rest_failed = |source| JobManagerError::Endpoint {
            endpoint: "REST",
            address: config.rest,
            source,
        };
        let listener = tokio::net::TcpListener::bind(config.rest)
            .await
            .map_err(rest_failed)?;
        let rest = listener.local_addr().map_err(rest_failed)?;
        tokio::spawn(clock(shared.clone(), config.heartbeat_interval));
        on_ready(rpc, rest);
        tracing::info!(%rpc, rest = %format!("http://{rest}"), "JobManager up");
        rest::serve(listener, shared).await
    })
}

/// Ticks the state (lost TaskManagers, scheduling, slot timeouts) and sends heartbeats.
async fn clock(shared: Arc<Shared>, heartbeat: Duration) {
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    let mut last_heartbeat = Instant::now();
    loop {
        ticks.tick().await;
        shared.update(|state, now| ((), state.tick(now)));
        if last_heartbeat.elapsed() >= heartbeat {
            for (_, outbox) in shared.outboxes().values() {
                let _ = outbox.send(ToTaskManager::Heartbeat);
            }
            last_heartbeat = Instant::now();
        }
    }
}
