//! The embedded mini-cluster: a JobManager and one TaskManager in this process.

use super::checkpoint::{
    CheckpointAction, CheckpointConfig, CheckpointCoordinator, CompletedCheckpoint, StateHandle,
};
use super::deploy::{ChannelFactory, LocalChannels, deployments};
use super::job_status::JobStatus;
use super::progress::JobProgress;
use crate::error::TaskError;
use crate::operators::{NativeRegistry, OperatorFactory};
use crate::state::{JobState, StateSettings};
use crate::taskmanager::CheckpointAck;
use crate::taskmanager::RunningTasks;
use crate::wasm::{LoadedModule, ModuleError, WasmEngine};
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::path::Path;
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
    /// The checkpoints that completed, in order (none when the job does not checkpoint).
    pub checkpoints: Vec<CompletedCheckpoint>,
}

/// A JobManager and a TaskManager sharing one process and one Wasm engine.
pub struct MiniCluster {
    engine: WasmEngine,
    native: NativeRegistry,
    state: StateSettings,
}

impl MiniCluster {
    /// A mini-cluster on `engine`, with `native` operators available to jobs, and state under
    /// the system's temporary directory.
    pub fn new(engine: WasmEngine, native: NativeRegistry) -> Self {
        MiniCluster {
            engine,
            native,
            state: StateSettings::default(),
        }
    }

    /// The same, keeping state as `settings` say.
    pub fn with_state(mut self, settings: StateSettings) -> Self {
        self.state = settings;
        self
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
    pub fn run_with_channels(
        &self,
        graph: &JobGraph,
        interval: Duration,
        on_progress: &mut dyn FnMut(&JobProgress),
        channels: &mut dyn ChannelFactory,
    ) -> Result<JobOutcome, JobError> {
        let started = Instant::now();
        let mut status = Lifecycle::new(&graph.name);
        status.enter(JobStatus::Scheduling);
        let acks = crossbeam_channel::unbounded::<CheckpointAck>();
        let mut checkpoints = graph.config.checkpointing.map(|spec| {
            let config = CheckpointConfig {
                interval: Duration::from_millis(spec.interval_ms.max(1)),
                timeout: Duration::from_millis(spec.timeout_ms.max(1)),
                ..CheckpointConfig::default()
            };
            let tasks = graph
                .vertices
                .iter()
                .flat_map(|v| (0..v.parallelism).map(move |s| (v.id, s)));
            Checkpoints {
                coordinator: CheckpointCoordinator::new(config, tasks, 1),
                triggers: Vec::new(),
                acks: acks.1.clone(),
                completed: Vec::new(),
                stopped: false,
            }
        });
        let wiring = checkpoints.as_ref().map(|_| acks.0.clone());
        let started_tasks = self.start_wired(graph, channels, wiring, &mut |trigger| {
            if let Some(checkpoints) = &mut checkpoints {
                checkpoints.triggers.push(trigger);
            }
        });
        let mut tasks = match started_tasks {
            Ok(tasks) => tasks,
            Err(error) => {
                status.enter(JobStatus::Failing);
                status.enter(JobStatus::Failed);
                return Err(error);
            }
        };
        status.enter(JobStatus::Running);
        let vertices = vertex_names(graph);
        let mut failures: Vec<(String, TaskError)> = Vec::new();
        let mut last_report = Instant::now();
        while tasks.remaining() > 0 {
            let wait = match &checkpoints {
                Some(_) => interval.min(Duration::from_millis(20)),
                None => interval.min(Duration::from_millis(200)),
            };
            let event = tasks.next_event(wait);
            if let Some(checkpoints) = &mut checkpoints {
                // A finished task takes no more barriers: checkpoints stop with the first one.
                checkpoints.stopped |= event.is_some();
                checkpoints.step(&graph.name);
            }
            if let Some(event) = event
                && let Err(error) = event.result
            {
                if failures.is_empty() {
                    status.enter(JobStatus::Failing);
                    tasks.cancel();
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
        let root = failures
            .iter()
            .position(|(_, e)| !e.is_secondary())
            .unwrap_or(0);
        if !failures.is_empty() {
            status.enter(JobStatus::Failed);
            let (task, error) = failures.swap_remove(root);
            return Err(JobError::Task { task, error });
        }
        let progress = JobProgress::aggregate(started.elapsed(), &vertices, &tasks.counters());
        on_progress(&progress);
        status.enter(JobStatus::Finishing);
        status.enter(JobStatus::Finished);
        let checkpoints = checkpoints.map(|c| c.completed).unwrap_or_default();
        Ok(JobOutcome {
            progress,
            checkpoints,
        })
    }

    /// Loads `graph`'s modules, deploys the subtasks `channels` says run here, and starts them.
    /// Nothing runs if any of it fails.
    pub fn start(
        &self,
        graph: &JobGraph,
        channels: &mut dyn ChannelFactory,
    ) -> Result<RunningTasks, JobError> {
        self.start_wired(graph, channels, None, &mut |_| {})
    }

    /// [`Self::start`], with checkpoints when `wiring` says where tasks acknowledge them: each
    /// source subtask gets a trigger channel, whose sender goes to `on_source`.
    fn start_wired(
        &self,
        graph: &JobGraph,
        channels: &mut dyn ChannelFactory,
        wiring: Option<Sender<CheckpointAck>>,
        on_source: &mut dyn FnMut(Sender<u64>),
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
        };
        let mut deployments =
            deployments(graph, &factory, channels).map_err(|e| JobError::Task {
                task: e.task,
                error: e.error,
            })?;
        if let Some(acks) = &wiring {
            for deployment in &mut deployments {
                deployment.checkpoint_acks = Some(acks.clone());
                if deployment.chain.0.is_some() {
                    let (trigger, triggers) = crossbeam_channel::unbounded();
                    on_source(trigger);
                    deployment.checkpoint_triggers = Some(triggers);
                }
            }
        }
        RunningTasks::spawn(deployments).map_err(|e| JobError::Spawn {
            task: e.task,
            source: e.source,
        })
    }
}

/// A running job's checkpoints: the coordinator, and its wires to the tasks.
struct Checkpoints {
    coordinator: CheckpointCoordinator,
    /// One per source subtask.
    triggers: Vec<Sender<u64>>,
    acks: Receiver<CheckpointAck>,
    completed: Vec<CompletedCheckpoint>,
    /// No more checkpoints start (a task has ended).
    stopped: bool,
}

impl Checkpoints {
    /// Takes the acknowledgements that came, then lets time pass for the coordinator.
    fn step(&mut self, job: &str) {
        let now = Instant::now();
        let mut actions = Vec::new();
        for ack in self.acks.try_iter() {
            let handle = StateHandle {
                location: format!("memory:{}/{}", ack.vertex, ack.subtask),
                bytes: ack.state_bytes,
            };
            actions.extend(
                self.coordinator
                    .on_ack(ack.id, (ack.vertex, ack.subtask), handle, now),
            );
        }
        if !self.stopped {
            actions.extend(self.coordinator.on_tick(now, crate::clock::now_ms()));
        }
        for action in actions {
            match action {
                CheckpointAction::Trigger { id, .. } => {
                    for trigger in &self.triggers {
                        let _ = trigger.send(id);
                    }
                }
                CheckpointAction::NotifyComplete { id } => {
                    if let Some(done) = self.coordinator.completed().find(|c| c.id == id) {
                        tracing::info!(
                            job,
                            checkpoint = id,
                            duration_ms = done.duration.as_millis() as u64,
                            bytes = done.bytes(),
                            "checkpoint complete"
                        );
                        self.completed.push(done.clone());
                    }
                }
                CheckpointAction::Abort { id, reason } => {
                    tracing::info!(job, checkpoint = id, %reason, "checkpoint aborted");
                }
                CheckpointAction::Discard { .. } => {}
            }
        }
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
