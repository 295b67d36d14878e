//! The TaskManager process (`weir taskmanager`): registers with the JobManager over QUIC,
//! heartbeats both ways, runs the shares of jobs the JobManager deploys to it, and exchanges
//! record batches with peer TaskManagers on its data endpoint. Losing the JobManager cancels
//! every task (their results could not be reported) and the TaskManager registers again.
#![deny(missing_docs)]

mod channels;
mod data_plane;
pub mod executor;
mod identity;
mod job;
pub mod metrics;
pub mod share;

#[cfg(test)]
mod tests;

use crate::metrics::{TaskRegistry, taskmanager_metrics};
use data_plane::DataPlane;
use job::{JobContext, fetch_modules, supervise};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use weir_blob::BlobStore;
use weir_net::rpc::{ToJobManager, ToTaskManager, read_frame, write_frame};
use weir_net::{NodeIdentity, is_certificate_refusal, load_ca};
use weir_proto::failure::{Failure, FailureClass};
use weir_runtime::exposition::CONTENT_TYPE;
use weir_runtime::operators::NativeRegistry;
use weir_tasks::CheckpointMail;
use weir_wasm::{EngineConfig, WasmEngine};

pub use channels::NetworkBuffers;
pub use executor::{JobError, TaskExecutor};
pub use identity::{IdentityError, claim_identity};

/// How a TaskManager is set up.
#[derive(Debug, Clone)]
pub struct TaskManagerConfig {
    /// The cluster directory (`weir cluster init`).
    pub dir: PathBuf,
    /// The JobManager's control endpoint.
    pub jobmanager: SocketAddr,
    /// Its identity (a certificate in `dir`).
    pub name: String,
    /// Task slots offered.
    pub slots: u32,
    /// Where to bind the data endpoint; `None` picks the address that routes to the JobManager.
    pub data: Option<SocketAddr>,
    /// How often it tells the JobManager it is alive.
    pub heartbeat_interval: Duration,
    /// Silence from the JobManager after which it is considered lost.
    pub heartbeat_timeout: Duration,
    /// Largest module accepted.
    pub max_module_bytes: u64,
    /// Buffers of remote input channels.
    pub network: NetworkBuffers,
    /// Where RocksDB state lives and how much memory it may use.
    pub state: weir_state::StateSettings,
    /// Where to serve Prometheus metrics (`/metrics`), if anywhere.
    pub metrics: Option<SocketAddr>,
}

/// Why the TaskManager stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum TaskManagerError {
    /// The cluster's certificate authority or this TaskManager's identity is missing or
    /// invalid (`weir cluster init` and `weir cluster add-taskmanager` make them).
    #[error("cluster identity: {0}")]
    Identity(#[from] weir_net::TlsError),
    /// An endpoint could not be bound, or no local address routes to the JobManager.
    #[error("the {endpoint} endpoint {address}: {source}")]
    Endpoint {
        /// `data` (QUIC, other TaskManagers), `metrics` (HTTP), or `route` (to the JobManager).
        endpoint: &'static str,
        /// Where.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Its Wasm engine or module store could not be set up.
    #[error("{0}")]
    Engine(#[from] weir_wasm::ModuleError),
    /// Its module store could not be opened.
    #[error(transparent)]
    Blobs(#[from] weir_blob::BlobError),
    /// A runtime of the process could not start.
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(std::io::Error),
    /// The JobManager refused it.
    #[error("the JobManager refused this TaskManager: {0}")]
    Refused(String),
}

struct TaskManager {
    config: TaskManagerConfig,
    executor: Arc<TaskExecutor>,
    blobs: BlobStore,
    plane: Arc<DataPlane>,
    data_address: SocketAddr,
    jobs: Mutex<HashMap<String, JobHandle>>,
    registry: TaskRegistry,
}

/// How the control plane reaches a job's share here.
struct JobHandle {
    cancel: crossbeam_channel::Sender<()>,
    mail: crossbeam_channel::Sender<CheckpointMail>,
}

enum SessionEnd {
    Lost(String),
    Refused(String),
}

/// Runs a TaskManager until it is refused or its set-up fails.
pub fn run_taskmanager(config: TaskManagerConfig) -> Result<(), TaskManagerError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("weir-tm-io")
        .enable_all()
        .build()
        .map_err(TaskManagerError::Runtime)?;
    runtime.block_on(async_main(config))
}

async fn async_main(config: TaskManagerConfig) -> Result<(), TaskManagerError> {
    let ca = load_ca(&config.dir)?;
    let identity = NodeIdentity::load(&config.dir, &config.name)?;
    let work = config.dir.join(&config.name);
    let data_bind = match config.data {
        Some(address) => address,
        None => SocketAddr::new(route_to(config.jobmanager)?, 0),
    };
    let plane = DataPlane::bind(&ca, &identity, data_bind)?;
    let data_address = plane
        .local_addr()
        .map_err(|source| TaskManagerError::Endpoint {
            endpoint: "data",
            address: data_bind,
            source,
        })?;
    let engine = WasmEngine::new(EngineConfig::new(work.join("compiled")))?;
    let blobs = BlobStore::open(work.join("blobs"), config.max_module_bytes)?;
    let tm = Arc::new(TaskManager {
        executor: Arc::new(
            TaskExecutor::new(engine, NativeRegistry::default()).with_state(config.state.clone()),
        ),
        blobs,
        plane,
        data_address,
        jobs: Mutex::default(),
        registry: TaskRegistry::default(),
        config,
    });
    if let Some(address) = tm.config.metrics {
        serve_metrics(address, tm.config.name.clone(), tm.registry.clone()).await?;
    }
    let mut announced_wait = false;
    loop {
        match session(&tm).await {
            SessionEnd::Refused(reason) => return Err(TaskManagerError::Refused(reason)),
            SessionEnd::Lost(reason) => {
                let running = tm.cancel_all();
                if running > 0 || !announced_wait {
                    tracing::warn!(jobmanager = %tm.config.jobmanager, %reason, cancelled_jobs = running, "no session with the JobManager; retrying every second");
                    announced_wait = true;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Serves `/metrics` (Prometheus text format) on `address` in the background.
async fn serve_metrics(
    address: SocketAddr,
    name: String,
    registry: TaskRegistry,
) -> Result<(), TaskManagerError> {
    let failed = |source| TaskManagerError::Endpoint {
        endpoint: "metrics",
        address,
        source,
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = taskmanager_metrics(&name, &registry);
            async move { ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], text) }
        }),
    );
    tracing::info!(metrics = %format!("http://{bound}/metrics"), "metrics served");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the metrics endpoint stopped");
        }
    });
    Ok(())
}

/// The local address that routes to `target` (no packet is sent).
fn route_to(target: SocketAddr) -> Result<std::net::IpAddr, TaskManagerError> {
    let any: SocketAddr = if target.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let no_route = |source| TaskManagerError::Endpoint {
        endpoint: "route",
        address: target,
        source,
    };
    let socket = std::net::UdpSocket::bind(any).map_err(no_route)?;
    socket.connect(target).map_err(no_route)?;
    Ok(socket.local_addr().map_err(no_route)?.ip())
}

impl TaskManager {
    /// The cancel handles of the jobs running here (a poisoned lock still holds them).
    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, JobHandle>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cancel_all(&self) -> usize {
        let jobs = std::mem::take(&mut *self.jobs());
        for handle in jobs.values() {
            let _ = handle.cancel.try_send(());
        }
        jobs.len()
    }
}

async fn session(tm: &Arc<TaskManager>) -> SessionEnd {
    let config = &tm.config;
    // A refused certificate will not go away by retrying: the session is refused, not lost.
    let lost = |what: &str, e: &dyn std::fmt::Display, cause: Option<&quinn::ConnectionError>| {
        let detail = format!("{what}: {e}");
        if cause.is_some_and(is_certificate_refusal) {
            SessionEnd::Refused(format!(
                "{detail}\n  hint: every node's certificate must come from the same `weir cluster init` directory (this TaskManager uses {})",
                config.dir.display()
            ))
        } else {
            SessionEnd::Lost(detail)
        }
    };
    let connection = match tm
        .plane
        .dial(config.jobmanager, "jobmanager", Duration::from_secs(5))
        .await
    {
        Ok(connection) => connection,
        Err(e) => return lost("cannot connect", &e, e.connection()),
    };
    let (mut send, mut recv) = match connection.open_bi().await {
        Ok(stream) => stream,
        Err(e) => return lost("cannot open the control stream", &e, Some(&e)),
    };
    let register = ToJobManager::Register {
        name: config.name.clone(),
        slots: config.slots,
        data_address: tm.data_address,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    if let Err(e) = write_frame(&mut send, &register).await {
        return lost("cannot register", &e, e.connection());
    }
    match read_frame::<ToTaskManager>(&mut recv).await {
        Ok(Some(ToTaskManager::Registered)) => {}
        Ok(Some(ToTaskManager::Refused { reason })) => return SessionEnd::Refused(reason),
        Ok(_) => return SessionEnd::Lost("the JobManager closed the control stream".into()),
        Err(e) => return lost("no answer to registration", &e, e.connection()),
    }
    tracing::info!(jobmanager = %config.jobmanager, name = config.name, slots = config.slots, data = %tm.data_address, "registered with the JobManager");
    let (outbox, mut outgoing) = mpsc::unbounded_channel::<ToJobManager>();
    let interval = config.heartbeat_interval;
    let writer = tokio::spawn(async move {
        let mut beat = tokio::time::interval(interval);
        loop {
            let message = tokio::select! {
                message = outgoing.recv() => match message {
                    Some(message) => message,
                    None => return,
                },
                _ = beat.tick() => ToJobManager::Heartbeat {
                    resident_bytes: weir_runtime::exposition::resident_bytes(),
                },
            };
            if write_frame(&mut send, &message).await.is_err() {
                return;
            }
        }
    });
    let end = control_loop(tm, &connection, &mut recv, &outbox).await;
    writer.abort();
    connection.close(0u32.into(), b"session over");
    end
}

async fn control_loop(
    tm: &Arc<TaskManager>,
    connection: &quinn::Connection,
    recv: &mut quinn::RecvStream,
    outbox: &mpsc::UnboundedSender<ToJobManager>,
) -> SessionEnd {
    let timeout = tm.config.heartbeat_timeout;
    loop {
        let frame = match tokio::time::timeout(timeout, read_frame::<ToTaskManager>(recv)).await {
            Err(_) => {
                return SessionEnd::Lost(format!(
                    "no heartbeat from the JobManager for {timeout:?}"
                ));
            }
            Ok(Err(e)) => return SessionEnd::Lost(e.to_string()),
            Ok(Ok(None)) => return SessionEnd::Lost("the JobManager closed the session".into()),
            Ok(Ok(Some(frame))) => frame,
        };
        match frame {
            ToTaskManager::Heartbeat | ToTaskManager::Registered => {}
            ToTaskManager::Refused { reason } => return SessionEnd::Refused(reason),
            ToTaskManager::Cancel { job } => {
                let jobs = tm.jobs();
                if let Some(handle) = jobs.get(&job) {
                    tracing::info!(job, "cancelling the job's tasks");
                    let _ = handle.cancel.try_send(());
                }
            }
            ToTaskManager::Checkpoint { job, mail } => {
                if let Some(handle) = tm.jobs().get(&job) {
                    let _ = handle.mail.send(mail);
                }
            }
            ToTaskManager::Deploy(deployment) => {
                deploy(tm.clone(), connection.clone(), *deployment, outbox.clone());
            }
        }
    }
}

/// Fetches the deployment's modules, then supervises its tasks on a thread of their own.
fn deploy(
    tm: Arc<TaskManager>,
    connection: quinn::Connection,
    mut deployment: weir_net::rpc::Deployment,
    outbox: mpsc::UnboundedSender<ToJobManager>,
) {
    let job = deployment.job.clone();
    let Some(me) = deployment
        .taskmanagers
        .iter()
        .position(|peer| peer.name == tm.config.name)
    else {
        let _ = outbox.send(ToJobManager::DeployFailed {
            job,
            failure: Failure::new(
                FailureClass::Internal,
                false,
                format!(
                    "the deployment does not place anything on `{}`",
                    tm.config.name
                ),
            ),
        });
        return;
    };
    let (cancel, cancelled) = crossbeam_channel::bounded(1);
    let (mail, mailbox) = crossbeam_channel::unbounded();
    tm.jobs().insert(job.clone(), JobHandle { cancel, mail });
    tokio::spawn(async move {
        if let Err(error) = fetch_modules(&connection, &tm.blobs, &mut deployment).await {
            tracing::error!(job, %error, "cannot fetch the job's modules");
            tm.jobs().remove(&job);
            // A broken transfer may work on a restart; a refused module will not.
            let failure = error.failure();
            let _ = outbox.send(ToJobManager::DeployFailed { job, failure });
            return;
        }
        let context = JobContext {
            registry: tm.registry.clone(),
            executor: tm.executor.clone(),
            plane: tm.plane.clone(),
            runtime: tokio::runtime::Handle::current(),
            me,
            outbox: outbox.clone(),
            buffers: tm.config.network,
        };
        let thread_tm = tm.clone();
        let thread_job = job.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("weir-job-{}", &job[..job.len().min(8)]))
            .spawn(move || {
                supervise(context, deployment, cancelled, mailbox);
                thread_tm.jobs().remove(&thread_job);
            });
        if let Err(e) = spawned {
            tm.jobs().remove(&job);
            let _ = outbox.send(ToJobManager::DeployFailed {
                job,
                failure: Failure::new(
                    FailureClass::Internal,
                    true,
                    format!("cannot start the job's supervisor thread: {e}"),
                ),
            });
        }
    });
}
