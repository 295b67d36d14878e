//! The embedded mini-cluster: a JobManager and one TaskManager in this process.

use super::checkpoint::CompletedCheckpoint;
use super::deploy::{ChannelFactory, LocalChannels, deployments};
use super::job_checkpoints::JobCheckpoints;
use super::job_status::JobStatus;
use super::progress::JobProgress;
use super::restart::RestartTracker;
use crate::checkpoint::{CheckpointStorage, Restore, RestoreError};
use crate::error::TaskError;
use crate::operators::{NativeRegistry, OperatorFactory};
use crate::state::{JobState, StateSettings, file_name};
use crate::taskmanager::{CheckpointAck, CheckpointMail, RunningTasks, TaskCheckpoints};
use crate::wasm::{LoadedModule, ModuleError, WasmEngine};
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use weir_proto::graph::JobGraph;

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A module could not be loaded.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// A subtask failed (the root cause, not its echoes in other tasks).
    #[error("task {task} failed: {error}")]
    Task {
        /// `vertex[subtask/parallelism]`.
        task: String,
        /// What went wrong.
        error: TaskError,
    },
    /// Checkpoint storage cannot be read or written.
    #[error("checkpoint storage: {0}")]
    Storage(String),
    /// The job was stopped from outside before its end.
    #[error("the job was stopped: {0}")]
    Stopped(String),
    /// The checkpoint to resume from cannot be read, or does not fit the job.
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// A task thread could not be started.
    #[error("cannot start task {task}: {source}")]
    Spawn {
        /// The task.
        task: String,
        /// Why.
        source: std::io::Error,
    },
}

impl JobError {
    /// The task error behind this failure, if a task failed.
    pub fn task_error(&self) -> Option<&TaskError> {
        match self {
            JobError::Task { error, .. } => Some(error),
            _ => None,
        }
    }
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
    engine: WasmEngine,
    native: NativeRegistry,
    state: StateSettings,
    checkpoint_dir: PathBuf,
    resume: Option<Restore>,
    stop: Option<StopRequest>,
}

/// Why one run of a job ended early, and where a restart would resume.
struct RunFailure {
    error: JobError,
    /// The newest checkpoint completed in the run.
    latest: Option<PathBuf>,
    /// The highest checkpoint id the run used (the next run numbers past it).
    last_id: Option<u64>,
}

impl MiniCluster {
    /// A mini-cluster on `engine`, with `native` operators available to jobs, and state and
    /// checkpoints under the system's temporary directory.
    pub fn new(engine: WasmEngine, native: NativeRegistry) -> Self {
        MiniCluster {
            engine,
            native,
            state: StateSettings::default(),
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
        self.state = settings;
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
    pub fn run_with_channels(
        &self,
        graph: &JobGraph,
        interval: Duration,
        on_progress: &mut dyn FnMut(&JobProgress),
        channels: &mut dyn ChannelFactory,
    ) -> Result<JobOutcome, JobError> {
        let mut restore = self.resume.clone();
        if let Some(restore) = &restore {
            restore.check(graph)?;
        }
        let mut status = Lifecycle::new(&graph.name);
        let mut restarts = RestartTracker::new(graph.config.restart_strategy);
        let mut after = restore.as_ref().map(|r| r.metadata.id);
        loop {
            let run = self.run_once(
                graph,
                interval,
                on_progress,
                channels,
                (restore.as_ref(), after),
                &mut status,
            );
            let failure = match run {
                Ok(mut outcome) => {
                    outcome.restarts = restarts.restarts();
                    return Ok(outcome);
                }
                Err(failure) => failure,
            };
            let restartable = failure
                .error
                .task_error()
                .is_some_and(TaskError::is_restartable);
            let delay = match restartable {
                true => restarts.on_failure(Instant::now()),
                false => None,
            };
            let Some(delay) = delay else {
                status.enter(JobStatus::Failed);
                return Err(failure.error);
            };
            if let Some(latest) = &failure.latest {
                restore = Some(Restore::open(latest)?);
            }
            after = after.max(failure.last_id);
            let from = restore.as_ref().map(|r| r.dir().display().to_string());
            tracing::warn!(
                job = %graph.name,
                error = %failure.error,
                restart = restarts.restarts(),
                delay_ms = delay.as_millis() as u64,
                from = from.as_deref().unwrap_or("the beginning"),
                "task failed; restarting the job"
            );
            eprintln!(
                "job `{}`: {}; restarting from {} in {} ms (restart {})",
                graph.name,
                failure.error,
                from.as_deref().unwrap_or("the beginning"),
                delay.as_millis(),
                restarts.restarts()
            );
            std::thread::sleep(delay);
        }
    }

    /// One run of `graph` (the first, or a restart from `restore`).
    fn run_once(
        &self,
        graph: &JobGraph,
        interval: Duration,
        on_progress: &mut dyn FnMut(&JobProgress),
        channels: &mut dyn ChannelFactory,
        (restore, after): (Option<&Restore>, Option<u64>),
        status: &mut Lifecycle<'_>,
    ) -> Result<JobOutcome, RunFailure> {
        let started = Instant::now();
        status.enter(JobStatus::Scheduling);
        let acks = crossbeam_channel::unbounded::<CheckpointAck>();
        let mut checkpoints = match self.checkpoint_storage(graph) {
            None => None,
            Some(storage) => {
                let root = storage.root().display().to_string();
                let checkpoints = JobCheckpoints::new(graph, storage, after);
                Some(checkpoints.map_err(|e| RunFailure {
                    error: JobError::Storage(format!("{root}: {e}")),
                    latest: None,
                    last_id: None,
                })?)
            }
        };
        let wiring = checkpoints
            .as_ref()
            .map(|c| (acks.0.clone(), c.storage().clone()));
        let mut mailboxes = Mailboxes::default();
        let started_tasks =
            self.start_wired(graph, channels, restore, wiring, &mut |source, mail| {
                mailboxes.0.push((source, mail))
            });
        let mut tasks = match started_tasks {
            Ok(tasks) => tasks,
            Err(error) => {
                status.enter(JobStatus::Failing);
                return Err(RunFailure {
                    error,
                    latest: None,
                    last_id: None,
                });
            }
        };
        status.enter(JobStatus::Running);
        let vertices = vertex_names(graph);
        let mut failures: Vec<(String, TaskError)> = Vec::new();
        let mut last_report = Instant::now();
        let mut stop = Stopping::default();
        while tasks.remaining() > 0 {
            if let Some(request) = &self.stop {
                let mail = stop.check(request, &graph.name, &tasks, checkpoints.as_mut());
                mailboxes.deliver(mail);
            }
            let wait = match &checkpoints {
                Some(_) => interval.min(Duration::from_millis(20)),
                None => interval.min(Duration::from_millis(200)),
            };
            let event = tasks.next_event(wait);
            if let Some(checkpoints) = &mut checkpoints {
                // A finished task takes no more barriers: checkpoints stop with the first one.
                checkpoints.stopped |= event.is_some();
                if failures.is_empty() {
                    let mail = checkpoints.step(&graph.name, acks.1.try_iter());
                    mailboxes.deliver(mail);
                }
            }
            if let Some(event) = event
                && let Err(error) = event.result
                // Cancelling for a stop echoes through the tasks: not failures.
                && !(stop.cancelled && error.is_secondary())
            {
                if failures.is_empty() {
                    status.enter(JobStatus::Failing);
                    tasks.cancel();
                    if let Some(checkpoints) = &mut checkpoints {
                        checkpoints.on_job_failed(&graph.name);
                    }
                }
                failures.push((tasks.task_name(event.vertex, event.subtask), error));
            }
            if last_report.elapsed() >= interval {
                on_progress(&JobProgress::aggregate(
                    started.elapsed(),
                    &vertices,
                    &tasks.counters(),
                ));
                last_report = Instant::now();
            }
        }
        tasks.join();
        if let Some(checkpoints) = &mut checkpoints {
            checkpoints.on_job_ended(&graph.name);
        }
        let latest = checkpoints.as_ref().and_then(|c| c.latest.clone());
        let last_id = checkpoints
            .as_ref()
            .and_then(JobCheckpoints::last_triggered);
        if stop.cancelled && failures.is_empty() {
            status.enter(JobStatus::Cancelling);
            status.enter(JobStatus::Cancelled);
            let progress = JobProgress::aggregate(started.elapsed(), &vertices, &tasks.counters());
            return match stop.savepoint {
                Some(savepoint) => Ok(JobOutcome {
                    progress,
                    checkpoints: checkpoints.map(|c| c.completed).unwrap_or_default(),
                    latest_checkpoint: latest,
                    restarts: 0,
                    savepoint: Some(savepoint),
                }),
                None => Err(RunFailure {
                    error: JobError::Stopped(stop.failure.unwrap_or_default()),
                    latest: None,
                    last_id,
                }),
            };
        }
        if !failures.is_empty() {
            let root = failures
                .iter()
                .position(|(_, e)| !e.is_secondary())
                .unwrap_or(0);
            let (task, error) = failures.swap_remove(root);
            return Err(RunFailure {
                error: JobError::Task { task, error },
                latest,
                last_id,
            });
        }
        let progress = JobProgress::aggregate(started.elapsed(), &vertices, &tasks.counters());
        on_progress(&progress);
        status.enter(JobStatus::Finishing);
        status.enter(JobStatus::Finished);
        Ok(JobOutcome {
            progress,
            checkpoints: checkpoints.map(|c| c.completed).unwrap_or_default(),
            latest_checkpoint: latest,
            restarts: 0,
            savepoint: None,
        })
    }

    /// Loads `graph`'s modules, deploys the subtasks `channels` says run here, and starts them.
    /// Nothing runs if any of it fails.
    pub fn start(
        &self,
        graph: &JobGraph,
        channels: &mut dyn ChannelFactory,
    ) -> Result<RunningTasks, JobError> {
        self.start_wired(graph, channels, None, None, &mut |_, _| {})
    }

    /// [`Self::start`] for a share of a job that checkpoints into `storage` (a TaskManager's):
    /// state restored from `restore`, and the tasks' mailboxes and acknowledgements returned
    /// for the caller to connect to the JobManager.
    pub fn start_checkpointed(
        &self,
        graph: &JobGraph,
        channels: &mut dyn ChannelFactory,
        restore: Option<&Restore>,
        storage: CheckpointStorage,
    ) -> Result<(RunningTasks, CheckpointWires), JobError> {
        let (acks, acknowledged) = crossbeam_channel::unbounded();
        let mut mailboxes = Mailboxes::default();
        let tasks = self.start_wired(
            graph,
            channels,
            restore,
            Some((acks, storage)),
            &mut |source, mail| mailboxes.0.push((source, mail)),
        )?;
        Ok((
            tasks,
            CheckpointWires {
                mailboxes,
                acks: acknowledged,
            },
        ))
    }

    /// [`Self::start`], restoring state from `restore`, with checkpoints when `wiring` says
    /// where tasks acknowledge them and store their state: each task gets a mailbox, whose
    /// sender goes to `on_mailbox` (with whether the task is a source's).
    fn start_wired(
        &self,
        graph: &JobGraph,
        channels: &mut dyn ChannelFactory,
        restore: Option<&Restore>,
        wiring: Option<(Sender<CheckpointAck>, CheckpointStorage)>,
        on_mailbox: &mut dyn FnMut(bool, Sender<CheckpointMail>),
    ) -> Result<RunningTasks, JobError> {
        let mut modules: HashMap<String, LoadedModule> = HashMap::new();
        for (name, module) in &graph.modules {
            modules.insert(
                name.clone(),
                self.engine
                    .load(name, Path::new(&module.path), Some(&module.sha256))?,
            );
        }
        let state = JobState::new(
            &self.state,
            &graph.name,
            graph.config.state_backend,
            graph.config.max_parallelism,
        );
        let factory = OperatorFactory {
            engine: &self.engine,
            modules: &modules,
            native: &self.native,
            limits: self.engine.limits_for(&graph.config.limits),
            batch_size: graph.config.batch_size as usize,
            state: &state,
            checkpointing: wiring.is_some(),
            restore,
        };
        let mut deployments =
            deployments(graph, &factory, channels).map_err(|e| JobError::Task {
                task: e.task,
                error: e.error,
            })?;
        if let Some((acks, storage)) = &wiring {
            for deployment in &mut deployments {
                let (mail, mailbox) = crossbeam_channel::unbounded();
                on_mailbox(deployment.chain.0.is_some(), mail);
                deployment.checkpoints = Some(TaskCheckpoints {
                    mail: mailbox,
                    acks: acks.clone(),
                    storage: storage.clone(),
                });
            }
        }
        RunningTasks::spawn(deployments).map_err(|e| JobError::Spawn {
            task: e.task,
            source: e.source,
        })
    }
}

/// A share of a checkpointing job's ends of the checkpoint wires: the tasks' mailboxes, and
/// their acknowledgements.
pub struct CheckpointWires {
    /// Where the coordinator's mail goes.
    pub mailboxes: Mailboxes,
    /// What the tasks acknowledge.
    pub acks: Receiver<CheckpointAck>,
}

/// The tasks' checkpoint mailboxes in this process, with whether each is a source's.
#[derive(Default)]
pub struct Mailboxes(Vec<(bool, Sender<CheckpointMail>)>);

impl Mailboxes {
    /// Delivers the coordinator's mail: triggers to the sources, completions to every task.
    pub fn deliver(&self, mail: impl IntoIterator<Item = CheckpointMail>) {
        for mail in mail {
            let sources_only = matches!(mail, CheckpointMail::Trigger(_));
            for (source, mailbox) in &self.0 {
                if *source || !sources_only {
                    // A task that ended has no mailbox left: nothing to tell it.
                    let _ = mailbox.send(mail);
                }
            }
        }
    }
}

/// A stop in progress.
#[derive(Default)]
struct Stopping {
    requested: bool,
    /// The tasks were cancelled for the stop.
    cancelled: bool,
    savepoint: Option<PathBuf>,
    failure: Option<String>,
}

impl Stopping {
    /// Starts the stop once `request` is raised, and cancels the tasks once its savepoint is
    /// written (or failed, or none was asked for).
    fn check(
        &mut self,
        request: &StopRequest,
        job: &str,
        tasks: &RunningTasks,
        checkpoints: Option<&mut JobCheckpoints>,
    ) -> Vec<CheckpointMail> {
        if self.cancelled || !request.flag.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let (Some(checkpoints), Some(dir)) = (checkpoints, &request.savepoint_dir) else {
            self.failure = Some("stopped without a savepoint".into());
            self.cancel(tasks);
            return Vec::new();
        };
        if !self.requested {
            self.requested = true;
            let (id, mail) = checkpoints.trigger_savepoint(job, dir.clone());
            eprintln!("stopping job `{job}` with savepoint {id}");
            return mail;
        } else if let Some(written) = checkpoints.savepoint_written() {
            self.savepoint = Some(written.clone());
            self.cancel(tasks);
        } else if let Some(failure) = checkpoints.savepoint_failed() {
            self.failure = Some(failure);
            self.cancel(tasks);
        }
        Vec::new()
    }

    fn cancel(&mut self, tasks: &RunningTasks) {
        self.cancelled = true;
        tasks.cancel();
    }
}

/// Each vertex's name and parallelism, as progress snapshots need them.
pub(crate) fn vertex_names(graph: &JobGraph) -> Vec<(String, u32)> {
    graph
        .vertices
        .iter()
        .map(|v| (v.name.clone(), v.parallelism))
        .collect()
}

/// The job's status, moved only along legal transitions (an illegal one is logged as the bug it
/// is and not applied).
struct Lifecycle<'a> {
    job: &'a str,
    status: JobStatus,
}

impl<'a> Lifecycle<'a> {
    fn new(job: &'a str) -> Self {
        Lifecycle {
            job,
            status: JobStatus::Created,
        }
    }

    fn enter(&mut self, to: JobStatus) {
        match self.status.become_(to) {
            Ok(status) => {
                tracing::debug!(job = self.job, from = %self.status, to = %status, "job status");
                self.status = status;
            }
            Err(error) => tracing::error!(job = self.job, %error, "illegal job status transition"),
        }
    }
}
