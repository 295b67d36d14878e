//! One job's share on this TaskManager, from deployment to its last task's end: modules fetched
//! from the JobManager unless cached, tasks started, and every task end and progress snapshot
//! reported upward. Runs on its own thread; Wasm and task threads never block the runtime.

use super::channels::{NetworkBuffers, RemoteChannels};
use super::data_plane::DataPlane;
use crate::executor::TaskExecutor;
use crate::share::Share;
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedSender;
use weir_blob::BlobStore;
use weir_net::rpc::{
    Deployment, ModuleReply, ModuleRequest, ToJobManager, read_frame, write_frame,
};
use weir_runtime::tasks::CheckpointMail;

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
    pub registry: crate::metrics::TaskRegistry,
    pub executor: Arc<TaskExecutor>,
    pub plane: Arc<DataPlane>,
    pub runtime: Handle,
    pub me: usize,
    pub outbox: UnboundedSender<ToJobManager>,
    pub buffers: NetworkBuffers,
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
    let mut report = |message| {
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
    let started = Share::start(
        &context.executor,
        &deployment,
        &mut channels,
        PROGRESS_INTERVAL,
    );
    let mut share = match started {
        Ok(share) => share,
        Err(error) => {
            tracing::error!(job, %error, "cannot deploy the job's tasks");
            report(ToJobManager::DeployFailed {
                job,
                failure: error.failure(),
            });
            context.plane.forget_job(deployment.sequence);
            return;
        }
    };
    tracing::info!(job, tasks = share.tasks().remaining(), "job deployed");
    context.registry.register(&job, share.tasks());
    let wait = match deployment.checkpoint_storage {
        Some(_) => Duration::from_millis(20),
        None => Duration::from_millis(100),
    };
    loop {
        if cancel.try_recv().is_ok() {
            share.cancel();
        }
        share.deliver(mail.try_iter());
        if !share.poll(wait, &mut report) {
            break;
        }
    }
    share.join();
    context.registry.forget(&job);
    context.plane.forget_job(deployment.sequence);
    tracing::info!(job, "job's tasks ended");
}
