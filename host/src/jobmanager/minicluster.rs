//! The embedded mini-cluster: a JobManager and one TaskManager in this process.

use super::deploy::{ChannelFactory, LocalChannels, deployments};
use super::job_status::JobStatus;
use super::progress::JobProgress;
use crate::error::TaskError;
use crate::operators::{NativeRegistry, OperatorFactory};
use crate::taskmanager::{Control, TaskEvent, TaskMetrics, spawn_task};
use crate::wasm::{LoadedModule, ModuleError, WasmEngine};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
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
}

impl MiniCluster {
    /// A mini-cluster on `engine`, with `native` operators available to jobs.
    pub fn new(engine: WasmEngine, native: NativeRegistry) -> Self {
        MiniCluster { engine, native }
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
        let mut modules: HashMap<String, LoadedModule> = HashMap::new();
        for (name, module) in &graph.modules {
            modules.insert(
                name.clone(),
                self.engine
                    .load(name, Path::new(&module.path), Some(&module.sha256))?,
            );
        }
        let factory = OperatorFactory {
            engine: &self.engine,
            modules: &modules,
            native: &self.native,
            limits: self.engine.limits_for(&graph.config.limits),
            batch_size: graph.config.batch_size as usize,
        };
        let deployments = deployments(graph, &factory, channels).map_err(|e| JobError::Task {
            task: e.task,
            error: e.error,
        })?;
        let mut metrics: Vec<(String, Vec<Arc<TaskMetrics>>)> = graph
            .vertices
            .iter()
            .map(|v| (v.name.clone(), Vec::new()))
            .collect();
        let names: Vec<String> = deployments.iter().map(|d| d.name.clone()).collect();
        let (events_sender, events) =
            crossbeam_channel::bounded::<TaskEvent>(deployments.len().max(1));
        let mut controls = Vec::new();
        let mut threads = Vec::new();
        let mut spawn_error = None;
        for deployment in deployments {
            metrics[deployment.vertex]
                .1
                .push(deployment.metrics.clone());
            let (control_sender, control) = crossbeam_channel::bounded(1);
            let name = deployment.name.clone();
            match spawn_task(deployment, control, events_sender.clone()) {
                Ok(thread) => {
                    controls.push(control_sender);
                    threads.push(thread);
                }
                Err(source) => {
                    spawn_error = Some(JobError::Spawn { task: name, source });
                    break;
                }
            }
        }
        drop(events_sender);
        status.enter(if spawn_error.is_some() {
            JobStatus::Failing
        } else {
            JobStatus::Running
        });
        let cancel_all = |controls: &[crossbeam_channel::Sender<Control>]| {
            for control in controls {
                let _ = control.try_send(Control::Cancel);
            }
        };
        if spawn_error.is_some() {
            cancel_all(&controls);
        }
        let task_name = |event: &TaskEvent| {
            let offset: usize = graph.vertices[..event.vertex]
                .iter()
                .map(|v| v.parallelism as usize)
                .sum();
            names
                .get(offset + event.subtask as usize)
                .cloned()
                .unwrap_or_default()
        };
        let mut failures: Vec<(String, TaskError)> = Vec::new();
        let mut running = threads.len();
        let mut last_report = Instant::now();
        while running > 0 {
            match events.recv_timeout(interval.min(Duration::from_millis(200))) {
                Ok(event) => {
                    running -= 1;
                    let task = task_name(&event);
                    if let Err(error) = event.result {
                        if failures.is_empty() {
                            status.enter(JobStatus::Failing);
                            cancel_all(&controls);
                        }
                        failures.push((task, error));
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
            if last_report.elapsed() >= interval {
                on_progress(&JobProgress::snapshot(started.elapsed(), &metrics));
                last_report = Instant::now();
            }
        }
        for thread in threads {
            let _ = thread.join();
        }
        if let Some(error) = spawn_error {
            status.enter(JobStatus::Failed);
            return Err(error);
        }
        let root = failures
            .iter()
            .position(|(_, e)| !e.is_secondary())
            .unwrap_or(0);
        if !failures.is_empty() {
            status.enter(JobStatus::Failed);
            let (task, error) = failures.swap_remove(root);
            return Err(JobError::Task { task, error });
        }
        let progress = JobProgress::snapshot(started.elapsed(), &metrics);
        on_progress(&progress);
        status.enter(JobStatus::Finishing);
        status.enter(JobStatus::Finished);
        Ok(JobOutcome { progress })
    }
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
