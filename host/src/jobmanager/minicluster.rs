//! The embedded mini-cluster: a JobManager and one TaskManager in this process.

use super::deploy::{ChannelFactory, LocalChannels, deployments};
use super::job_status::JobStatus;
use super::progress::JobProgress;
use crate::error::TaskError;
use crate::operators::{NativeRegistry, OperatorFactory};
use crate::state::{JobState, StateSettings};
use crate::taskmanager::RunningTasks;
use crate::wasm::{LoadedModule, ModuleError, WasmEngine};
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
        let mut tasks = match self.start(graph, channels) {
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
            if let Some(event) = tasks.next_event(interval.min(Duration::from_millis(200)))
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
        Ok(JobOutcome { progress })
    }

    /// Loads `graph`'s modules, deploys the subtasks `channels` says run here, and starts them.
    /// Nothing runs if any of it fails.
    pub fn start(
        &self,
        graph: &JobGraph,
        channels: &mut dyn ChannelFactory,
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
        let deployments = deployments(graph, &factory, channels).map_err(|e| JobError::Task {
            task: e.task,
            error: e.error,
        })?;
        RunningTasks::spawn(deployments).map_err(|e| JobError::Spawn {
            task: e.task,
            source: e.source,
        })
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
