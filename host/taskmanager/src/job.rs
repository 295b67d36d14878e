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
use weir_proto::failure::{Failure, FailureClass};
use weir_tasks::CheckpointMail;

/// How often a running job's counters go to the JobManager.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// Why a module of a deployment could not be made available here.
#[derive(Debug, thiserror::Error)]
#[error("module `{module}` ({sha256}): {problem}")]
pub(crate) struct FetchError {
    module: String,
    sha256: String,
    problem: FetchProblem,
}

/// What went wrong with one module.
#[derive(Debug, thiserror::Error)]
enum FetchProblem {
    /// The transfer from the JobManager broke: a restart may fetch it.
    #[error("{0}")]
    Network(String),
    /// The JobManager cannot send it, or it does not fit or verify here: no retry helps.
    #[error("{0}")]
    Refused(String),
}

impl FetchError {
    /// The failure the JobManager hears: a broken transfer is a retryable network failure, a
    /// refused module a configuration one.
    pub(crate) fn failure(&self) -> Failure {
        let (class, retryable) = match self.problem {
            FetchProblem::Network(_) => (FailureClass::Network, true),
            FetchProblem::Refused(_) => (FailureClass::Configuration, false),
        };
        let mut failure = Failure::new(class, retryable, self.to_string());
        failure.module = Some(self.module.clone());
        failure
    }
}

/// Makes every module of `deployment` available in `blobs` (fetching the missing ones from the
/// JobManager over `connection`) and points the graph at the local copies.
pub(crate) async fn fetch_modules(
    connection: &quinn::Connection,
    blobs: &BlobStore,
    deployment: &mut Deployment,
) -> Result<(), FetchError> {
    for module in deployment.graph.modules.values_mut() {
        let failed = |problem| FetchError {
            module: module.name.clone(),
            sha256: module.sha256.clone(),
            problem,
        };
        if !blobs.contains(&module.sha256) {
            fetch_module(connection, blobs, &module.sha256)
                .await
                .map_err(failed)?;
            tracing::info!(
                module = module.name,
                sha256 = module.sha256,
                "module fetched from the JobManager"
            );
        }
        let path = blobs
            .path(&module.sha256)
            .map_err(|e| failed(FetchProblem::Refused(e.to_string())))?;
        module.path = path.display().to_string();
    }
    Ok(())
}

async fn fetch_module(
    connection: &quinn::Connection,
    blobs: &BlobStore,
    sha256: &str,
) -> Result<(), FetchProblem> {
    let network = |e: &dyn std::fmt::Display| FetchProblem::Network(e.to_string());
    let (mut send, mut recv) = connection.open_bi().await.map_err(|e| network(&e))?;
    let request = ModuleRequest {
        sha256: sha256.to_string(),
    };
    write_frame(&mut send, &request)
        .await
        .map_err(|e| network(&e))?;
    let _ = send.finish();
    match read_frame::<ModuleReply>(&mut recv)
        .await
        .map_err(|e| network(&e))?
    {
        Some(ModuleReply::Found { bytes }) if bytes <= blobs.max_bytes() => {
            let data = recv
                .read_to_end(bytes as usize)
                .await
                .map_err(|e| FetchProblem::Network(format!("transfer broke: {e}")))?;
            blobs
                .put(sha256, &data)
                .map(|_| ())
                .map_err(|e| FetchProblem::Refused(e.to_string()))
        }
        Some(ModuleReply::Found { bytes }) => Err(FetchProblem::Refused(format!(
            "the JobManager offers {bytes} bytes, over this TaskManager's {}-byte limit",
            blobs.max_bytes()
        ))),
        Some(ModuleReply::Missing { reason }) => Err(FetchProblem::Refused(format!(
            "the JobManager cannot send it: {reason}"
        ))),
        None => Err(FetchProblem::Network(
            "the JobManager closed the stream without an answer".into(),
        )),
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
