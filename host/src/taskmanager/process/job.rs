//! One job's share on this TaskManager, from deployment to its last task's end: modules fetched
//! from the JobManager unless cached, tasks started, and every task end and progress snapshot
//! reported upward. Runs on its own thread; Wasm and task threads never block the runtime.

use super::channels::{NetworkBuffers, RemoteChannels};
use super::data_plane::DataPlane;
use crate::checkpoint::{CheckpointStorage, Restore};
use crate::jobmanager::{BlobStore, CheckpointWires, JobError, MiniCluster, TaskCounters};
use crate::rpc::{
    Deployment, ModuleReply, ModuleRequest, RemoteTaskError, ToJobManager, read_frame, write_frame,
};
use crate::taskmanager::{CheckpointMail, RunningTasks};
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedSender;

/// How often a running job's counters go to the JobManager.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// Makes every module of `deployment` available in `blobs` (fetching the missing ones from the
/// JobManager over `connection`) and points the graph at the local copies.
pub(crate) async fn fetch_modules(
    connection: &quinn::Connection,
    blobs: &BlobStore,
    deployment: &mut Deployment,
) -> Result<(), String> {
    for module in deployment.graph.modules.values_mut() {
        if !blobs.contains(&module.sha256) {
            fetch_module(connection, blobs, &module.sha256)
                .await
                .map_err(|e| format!("module `{}` ({}): {e}", module.name, module.sha256))?;
            tracing::info!(
                module = module.name,
                sha256 = module.sha256,
                "module fetched from the JobManager"
            );
        }
        let path = blobs.path(&module.sha256).map_err(|e| e.to_string())?;
        module.path = path.display().to_string();
    }
    Ok(())
}

async fn fetch_module(
    connection: &quinn::Connection,
    blobs: &BlobStore,
    sha256: &str,
) -> Result<(), String> {
    let (mut send, mut recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
    write_frame(
        &mut send,
        &ModuleRequest {
            sha256: sha256.to_string(),
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let _ = send.finish();
    match read_frame::<ModuleReply>(&mut recv)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(ModuleReply::Found { bytes }) if bytes <= blobs.max_bytes() => {
            let data = recv
                .read_to_end(bytes as usize)
                .await
                .map_err(|e| format!("transfer broke: {e}"))?;
            blobs
                .put(sha256, &data)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Some(ModuleReply::Found { bytes }) => Err(format!(
            "the JobManager offers {bytes} bytes, over this TaskManager's {}-byte limit",
            blobs.max_bytes()
        )),
        Some(ModuleReply::Missing { reason }) => {
            Err(format!("the JobManager cannot send it: {reason}"))
        }
        None => Err("the JobManager closed the stream without an answer".into()),
    }
}

/// What a job's supervisor needs from its TaskManager.
pub(crate) struct JobContext {
    pub(crate) registry: crate::metrics::TaskRegistry,
    pub(crate) executor: Arc<MiniCluster>,
    pub(crate) plane: Arc<DataPlane>,
    pub(crate) runtime: Handle,
    pub(crate) me: usize,
    pub(crate) outbox: UnboundedSender<ToJobManager>,
    pub(crate) buffers: NetworkBuffers,
}

/// Runs this TaskManager's share of `deployment` to its end; `cancel` stops it early, `mail`
/// brings the checkpoint coordinator's mail for its tasks.
pub(crate) fn supervise(
    context: JobContext,
    deployment: Deployment,
    cancel: Receiver<()>,
    mail: Receiver<CheckpointMail>,
) {
    let job = deployment.job.clone();
    let report = |message| {
        // The session to the JobManager is gone: its tasks were cancelled with it.
        let _ = context.outbox.send(message);
    };
    let mut channels = RemoteChannels::new(
        context.plane.clone(),
        context.runtime.clone(),
        context.me,
        &deployment,
        context.buffers,
    );
    let started = match &deployment.checkpoint_storage {
        None => context
            .executor
            .start(&deployment.graph, &mut channels)
            .map(|tasks| (tasks, None)),
        Some(root) => start_checkpointed(&context, &deployment, &mut channels, root),
    };
    let (mut tasks, checkpoints) = match started {
        Ok(started) => started,
        Err(error) => {
            tracing::error!(job, %error, "cannot deploy the job's tasks");
            report(ToJobManager::DeployFailed {
                job,
                error: error.to_string(),
            });
            context.plane.forget_job(deployment.sequence);
            return;
        }
    };
    tracing::info!(job, tasks = tasks.remaining(), "job deployed");
    context.registry.register(&job, &tasks);
    let mut last_progress = Instant::now();
    let mut failed = false;
    let wait = match checkpoints {
        Some(_) => Duration::from_millis(20),
        None => Duration::from_millis(100),
    };
    while tasks.remaining() > 0 {
        if cancel.try_recv().is_ok() {
            tasks.cancel();
        }
        if let Some(wires) = &checkpoints {
            wires.mailboxes.deliver(mail.try_iter());
            for ack in wires.acks.try_iter() {
                report(ToJobManager::CheckpointAck {
                    job: job.clone(),
                    ack,
                });
            }
        }
        if let Some(event) = tasks.next_event(wait) {
            let counters = tasks
                .counters()
                .into_iter()
                .find(|c| c.vertex == event.vertex && c.subtask == event.subtask)
                .unwrap_or_else(|| TaskCounters {
                    vertex: event.vertex,
                    subtask: event.subtask,
                    ..TaskCounters::default()
                });
            let task = tasks.task_name(event.vertex, event.subtask);
            let result = event.result.map_err(|error| {
                if !failed {
                    // The rest of this share cannot finish either; the JobManager cancels the
                    // other TaskManagers' shares.
                    failed = true;
                    tasks.cancel();
                }
                RemoteTaskError {
                    task,
                    message: error.to_string(),
                    secondary: error.is_secondary(),
                    restartable: error.is_restartable(),
                }
            });
            report(ToJobManager::TaskEnded {
                job: job.clone(),
                vertex: event.vertex,
                subtask: event.subtask,
                counters,
                result,
            });
        }
        if last_progress.elapsed() >= PROGRESS_INTERVAL {
            report(ToJobManager::Progress {
                job: job.clone(),
                tasks: tasks.counters(),
            });
            last_progress = Instant::now();
        }
    }
    tasks.join();
    context.registry.forget(&job);
    context.plane.forget_job(deployment.sequence);
    tracing::info!(job, "job's tasks ended");
}

/// Starts a share of a checkpointing job: state restored from the deployment's checkpoint,
/// snapshots written to its storage.
fn start_checkpointed(
    context: &JobContext,
    deployment: &Deployment,
    channels: &mut RemoteChannels,
    root: &str,
) -> Result<(RunningTasks, Option<CheckpointWires>), JobError> {
    let restore = match &deployment.restore {
        Some(path) => Some(Restore::open(std::path::Path::new(path))?),
        None => None,
    };
    let incremental = deployment
        .graph
        .config
        .checkpointing
        .is_some_and(|c| c.incremental);
    let storage = CheckpointStorage::new(root.into(), incremental);
    let (tasks, wires) = context.executor.start_checkpointed(
        &deployment.graph,
        channels,
        restore.as_ref(),
        storage,
    )?;
    Ok((tasks, Some(wires)))
}
