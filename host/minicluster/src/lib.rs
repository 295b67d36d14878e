//! The embedded mini-cluster (`weir run`): a JobManager's supervision of one job and a
//! TaskManager's executor in this process, connected by channels instead of QUIC.
#![deny(missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use weir_core::coordinator::CompletedCheckpoint;
use weir_jobmanager::{ClusterState, ClusterTimeouts, Outgoing, RestorePoint, SubmitOptions};
use weir_net::rpc::{ToJobManager, ToTaskManager};
use weir_proto::failure::{Failure, FailureClass};
use weir_proto::graph::JobGraph;
use weir_proto::progress::JobProgress;
use weir_proto::rest::JobView;
use weir_proto::status::JobStatus;
use weir_runtime::operators::NativeRegistry;
use weir_state::checkpoint::{CheckpointStorage, Restore, RestoreError};
use weir_state::{StateSettings, file_name};
use weir_taskmanager::TaskExecutor;
use weir_taskmanager::share::Share;
use weir_tasks::deploy::{ChannelFactory, LocalChannels};
use weir_wasm::WasmEngine;

/// Why an embedded job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The checkpoint or savepoint to resume from cannot be read, or does not fit the job.
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// The job failed: its root cause.
    #[error("{0}")]
    Failed(Failure),
    /// The job was stopped from outside before its end.
    #[error("the job was stopped: {0}")]
    Stopped(String),
    /// Checkpoint storage cannot be read.
    #[error("checkpoint storage: {0}")]
    Storage(String),
}

/// A finished job.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// The final counters.
    pub progress: JobProgress,
    /// The checkpoints that completed in the last run, in order (none when the job does not
    /// checkpoint).
    pub checkpoints: Vec<CompletedCheckpoint>,
    /// The newest completed checkpoint's directory, if any.
    pub latest_checkpoint: Option<PathBuf>,
    /// Restarts after task failures.
    pub restarts: u32,
    /// Where the savepoint went, when the job was stopped with one.
    pub savepoint: Option<PathBuf>,
}

/// Stopping a running job from outside (a signal to `weir run`): with a savepoint when
/// `savepoint_dir` is set (Flink's stop-with-savepoint), else at once.
#[derive(Debug, Clone)]
pub struct StopRequest {
    /// Set when the job should stop.
    pub flag: Arc<AtomicBool>,
    /// Where its savepoint goes.
    pub savepoint_dir: Option<PathBuf>,
}

/// A JobManager and a TaskManager sharing one process and one Wasm engine.
pub struct MiniCluster {
    executor: TaskExecutor,
    checkpoint_dir: PathBuf,
    resume: Option<Restore>,
    stop: Option<StopRequest>,
}

impl MiniCluster {
    /// A mini-cluster on `engine`, with `native` operators available to jobs, and state and
    /// checkpoints under the system's temporary directory.
    pub fn new(engine: WasmEngine, native: NativeRegistry) -> Self {
        MiniCluster {
            executor: TaskExecutor::new(engine, native),
            checkpoint_dir: std::env::temp_dir().join("weir-checkpoints"),
            resume: None,
            stop: None,
        }
    }

    /// The same, stopping jobs when `stop` says.
    pub fn stopping_on(mut self, stop: StopRequest) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The same, keeping state as `settings` say.
    pub fn with_state(mut self, settings: StateSettings) -> Self {
        self.executor = self.executor.with_state(settings);
        self
    }

    /// The same, writing checkpoints under `dir` (a directory per job beneath it).
    pub fn with_checkpoint_dir(mut self, dir: PathBuf) -> Self {
        self.checkpoint_dir = dir;
        self
    }

    /// The same, starting jobs from a checkpoint or savepoint.
    pub fn resuming_from(mut self, restore: Restore) -> Self {
        self.resume = Some(restore);
        self
    }

    /// Where `graph`'s checkpoints go.
    pub fn checkpoint_storage(&self, graph: &JobGraph) -> Option<CheckpointStorage> {
        let savepoints = self
            .stop
            .as_ref()
            .is_some_and(|s| s.savepoint_dir.is_some());
        if graph.config.checkpointing.is_none() && !savepoints {
            return None;
        }
        let incremental = graph.config.checkpointing.is_some_and(|c| c.incremental);
        let root = self.checkpoint_dir.join(file_name(&graph.name));
        Some(CheckpointStorage::new(root, incremental))
    }

    /// Runs `graph` to its end with every channel local, calling `on_progress` about every
    /// `interval`.
    pub fn run(
        &self,
        graph: &JobGraph,
        interval: Duration,
        on_progress: &mut dyn FnMut(&JobProgress),
    ) -> Result<JobOutcome, JobError> {
        self.run_with_channels(graph, interval, on_progress, &mut LocalChannels)
    }

    /// Runs `graph` with channels from `channels` (e.g. bridged over QUIC between TaskManagers).
    /// A task failure restarts the job as its restart strategy allows, from its newest
    /// completed checkpoint.
    ///
    /// The job is supervised by the JobManager's own [`ClusterState`], with one TaskManager in
    /// this process ([`EMBEDDED`]) running each deployed [`Share`]: restarts, root causes,
    /// checkpoints, savepoints and stops follow the cluster's code, not a copy of it.
    pub fn run_with_channels(
        &self,
        graph: &JobGraph,
        interval: Duration,
        on_progress: &mut dyn FnMut(&JobProgress),
        channels: &mut dyn ChannelFactory,
    ) -> Result<JobOutcome, JobError> {
        if let Some(restore) = &self.resume {
            restore.check(graph)?;
        }
        let started = Instant::now();
        let mut state = ClusterState::new(ClusterTimeouts {
            // The TaskManager is this process: it cannot go silent.
            heartbeat: Duration::from_secs(365 * 24 * 3600),
            slot_wait: Duration::from_secs(10),
        })
        .with_checkpoint_dir(self.checkpoint_dir.clone());
        let slots = graph.vertices.iter().map(|v| v.parallelism).max();
        let here = SocketAddr::from(([127, 0, 0, 1], 0));
        let (session, _) = state.register(EMBEDDED, slots.unwrap_or(1), here, started);
        let storage = self.checkpoint_storage(graph);
        // What an earlier `weir run` of the job left in its storage: completed checkpoints are
        // kept (and numbered past), unfinished ones deleted.
        let earlier_checkpoints = match &storage {
            Some(storage) => storage
                .recover()
                .map_err(|e| JobError::Storage(format!("{}: {e}", storage.root().display())))?,
            None => Vec::new(),
        };
        let options = SubmitOptions {
            restore: self.resume.as_ref().map(|r| RestorePoint {
                dir: r.dir().to_path_buf(),
                id: r.metadata.id,
            }),
            checkpoint_storage: storage.map(|s| s.root().to_path_buf()),
            earlier_checkpoints,
        };
        let mut out = state.submit_with(JOB.into(), graph.clone(), options, started);
        let mut run = Run {
            share: None,
            reported_restarts: 0,
            stop: Stopping::default(),
            last_progress: Instant::now(),
        };
        let wait = match graph.config.checkpointing {
            Some(_) => interval.min(Duration::from_millis(20)),
            None => interval.min(Duration::from_millis(100)),
        };
        loop {
            let mut reports = Vec::new();
            for (_, message) in out.drain(..) {
                reports.extend(run.deliver(message, &self.executor, channels, interval));
            }
            run.poll_share(wait, &mut reports);
            let now = Instant::now();
            for report in reports {
                out.extend(state.on_report(EMBEDDED, session, report, now));
            }
            out.extend(state.tick(now));
            out.extend(store(&mut state, now));
            let Some(view) = state.job(JOB, now) else {
                return Err(JobError::Stopped("the job is gone".into()));
            };
            run.report_restart(&graph.name, &view, &state);
            if let Some(request) = &self.stop {
                // What a stop sends goes out at the top of the next round.
                out.extend(run.stop.check(request, &graph.name, &view, &mut state, now));
            }
            if run.last_progress.elapsed() >= interval {
                on_progress(&view.progress);
                run.last_progress = Instant::now();
            }
            if view.summary.status.is_terminal() && run.share.is_none() {
                return self.outcome(graph, &state, view, run.stop, on_progress);
            }
        }
    }

    /// What the job's end means for the caller.
    fn outcome(
        &self,
        graph: &JobGraph,
        state: &ClusterState,
        view: JobView,
        stop: Stopping,
        on_progress: &mut dyn FnMut(&JobProgress),
    ) -> Result<JobOutcome, JobError> {
        let outcome = JobOutcome {
            checkpoints: state.completed_checkpoints(JOB),
            latest_checkpoint: state.latest_checkpoint(JOB),
            restarts: view.restarts,
            savepoint: view.savepoint.as_ref().map(PathBuf::from),
            progress: view.progress,
        };
        match view.summary.status {
            JobStatus::Finished => {
                on_progress(&outcome.progress);
                Ok(outcome)
            }
            JobStatus::Cancelled if stop.requested && outcome.savepoint.is_some() => Ok(outcome),
            JobStatus::Cancelled => {
                Err(JobError::Stopped(stop.failure.unwrap_or_else(|| {
                    format!("job `{}` was cancelled", graph.name)
                })))
            }
            _ => Err(JobError::Failed(view.error.unwrap_or_else(|| {
                Failure::new(
                    FailureClass::Internal,
                    false,
                    "the job failed without a reason",
                )
            }))),
        }
    }
}

/// The in-process TaskManager's name.
pub const EMBEDDED: &str = "embedded";
/// The embedded job's id.
const JOB: &str = "embedded-job";

/// The TaskManager side of one embedded job: the share it runs now, if any.
struct Run {
    share: Option<Share>,
    reported_restarts: u32,
    stop: Stopping,
    last_progress: Instant,
}

impl Run {
    /// Carries out a message for the TaskManager; a deployment that cannot start is reported.
    fn deliver(
        &mut self,
        message: ToTaskManager,
        executor: &TaskExecutor,
        channels: &mut dyn ChannelFactory,
        interval: Duration,
    ) -> Option<ToJobManager> {
        match message {
            ToTaskManager::Deploy(deployment) => {
                match Share::start(executor, &deployment, channels, interval) {
                    Ok(share) => self.share = Some(share),
                    Err(error) => {
                        return Some(ToJobManager::DeployFailed {
                            job: deployment.job.clone(),
                            failure: error.failure(),
                        });
                    }
                }
            }
            ToTaskManager::Cancel { .. } => {
                if let Some(share) = &self.share {
                    share.cancel();
                }
            }
            ToTaskManager::Checkpoint { mail, .. } => {
                if let Some(share) = &self.share {
                    share.deliver([mail]);
                }
            }
            _ => {}
        }
        None
    }

    /// Lets the share run for up to `wait`, collecting its reports; forgets it once its tasks
    /// have all ended. Without a share, waits (a restart's delay).
    fn poll_share(&mut self, wait: Duration, reports: &mut Vec<ToJobManager>) {
        let Some(share) = &mut self.share else {
            std::thread::sleep(wait);
            return;
        };
        if !share.poll(wait, &mut |report| reports.push(report))
            && let Some(share) = self.share.take()
        {
            share.join();
        }
    }

    /// Says on stderr that the job restarts, once per restart.
    fn report_restart(&mut self, job: &str, view: &JobView, state: &ClusterState) {
        if view.restarts <= self.reported_restarts {
            return;
        }
        self.reported_restarts = view.restarts;
        let from = state
            .restoring_from(JOB)
            .map_or("the beginning".to_string(), |p| p.display().to_string());
        if let Some(failure) = view.failures.last() {
            eprintln!(
                "job `{job}`: {failure}; restarting from {from} (restart {})",
                view.restarts
            );
        }
    }
}

/// Carries out the storage work the state asked for (this loop holds no lock), handing each
/// completion's result back; returns the messages that makes.
fn store(state: &mut ClusterState, now: Instant) -> Vec<Outgoing> {
    let mut out = Vec::new();
    loop {
        let work = state.take_storage_work();
        if work.is_empty() {
            return out;
        }
        for (job, work) in work {
            if let Some(done) = work.run(&job) {
                out.extend(state.storage_done(&job, done, now));
            }
        }
    }
}

/// A stop asked from outside, in progress.
#[derive(Default)]
struct Stopping {
    /// The stop was asked for and started.
    requested: bool,
    /// Why the stop could not take its savepoint.
    failure: Option<String>,
}

impl Stopping {
    /// Starts the stop once `request` is raised: with a savepoint when it asks for one (the
    /// job is cancelled once it is written), else at once. A savepoint that fails cancels the
    /// job too.
    fn check(
        &mut self,
        request: &StopRequest,
        job: &str,
        view: &JobView,
        state: &mut ClusterState,
        now: Instant,
    ) -> Vec<Outgoing> {
        if !request.flag.load(Ordering::Relaxed) || view.summary.status.is_terminal() {
            return Vec::new();
        }
        if !self.requested {
            self.requested = true;
            let Some(dir) = &request.savepoint_dir else {
                self.failure = Some("stopped without a savepoint".into());
                return state.cancel(JOB, now).unwrap_or_default();
            };
            match state.savepoint(JOB, Some(dir.clone()), true) {
                Ok((id, out)) => {
                    eprintln!("stopping job `{job}` with savepoint {id}");
                    return out;
                }
                Err(error) => {
                    self.failure = Some(error.to_string());
                    return state.cancel(JOB, now).unwrap_or_default();
                }
            }
        }
        if let Some(error) = &view.savepoint_error
            && self.failure.is_none()
        {
            self.failure = Some(error.clone());
            return state.cancel(JOB, now).unwrap_or_default();
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests;
