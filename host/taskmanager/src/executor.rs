//! The TaskManager's executor: loads a job's modules, builds the operator chains of the subtasks
//! placed here, wires their checkpoint mailboxes and starts their threads. The TaskManager
//! process runs each deployed share of a job through it, and so does the embedded
//! mini-cluster: one deployment path, whoever supervises the job.

use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use weir_proto::failure::{Failure, FailureClass};
use weir_proto::graph::JobGraph;
use weir_runtime::error::TaskError;
use weir_runtime::operators::{NativeRegistry, OperatorFactory};
use weir_state::checkpoint::{CheckpointStorage, Restore, RestoreError};
use weir_state::{JobState, StateSettings};
use weir_tasks::deploy::{ChannelFactory, deployments};
use weir_tasks::{CheckpointAck, CheckpointMail, RunningTasks, TaskCheckpoints};
use weir_wasm::{LoadedModule, ModuleError, WasmEngine};

/// Why a share of a job could not be deployed here.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A module could not be loaded.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// A subtask could not be built (its step's configuration cannot work).
    #[error("task {task} failed: {error}")]
    Task {
        /// `vertex[subtask/parallelism]`.
        task: String,
        /// What went wrong.
        error: TaskError,
    },
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
    /// This failure as data, classified.
    pub fn failure(&self) -> Failure {
        match self {
            JobError::Task { task, error } => error.failure(task),
            JobError::Module(_) | JobError::Restore(_) => {
                Failure::new(FailureClass::Configuration, false, self.to_string())
            }
            JobError::Spawn { task, .. } => {
                Failure::new(FailureClass::Internal, true, self.to_string()).in_task(task)
            }
        }
    }
}

/// Runs shares of jobs in this process on one Wasm engine.
pub struct TaskExecutor {
    engine: WasmEngine,
    native: NativeRegistry,
    state: StateSettings,
}

impl TaskExecutor {
    /// An executor on `engine`, with `native` operators available to jobs, keeping state as
    /// the defaults say.
    pub fn new(engine: WasmEngine, native: NativeRegistry) -> Self {
        TaskExecutor {
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

    /// Loads `graph`'s modules, deploys the subtasks `channels` says run here, and starts them.
    /// Nothing runs if any of it fails.
    pub fn start(
        &self,
        graph: &JobGraph,
        channels: &mut dyn ChannelFactory,
    ) -> Result<RunningTasks, JobError> {
        self.start_wired(graph, channels, None, None, &mut |_| {})
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
            &mut |mail| mailboxes.add(mail),
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
    /// sender goes to `on_mailbox`.
    pub fn start_wired(
        &self,
        graph: &JobGraph,
        channels: &mut dyn ChannelFactory,
        restore: Option<&Restore>,
        wiring: Option<(Sender<CheckpointAck>, CheckpointStorage)>,
        on_mailbox: &mut dyn FnMut(Sender<CheckpointMail>),
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
            connectors: &weir_connectors::ExternalConnectors,
            job: &graph.name,
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
            let aligned_timeout = graph
                .config
                .checkpointing
                .and_then(|c| c.aligned_timeout_ms)
                .map(Duration::from_millis);
            for deployment in &mut deployments {
                let (mail, mailbox) = crossbeam_channel::unbounded();
                on_mailbox(mail);
                deployment.checkpoints = Some(TaskCheckpoints {
                    mail: mailbox,
                    acks: acks.clone(),
                    storage: storage.clone(),
                    aligned_timeout,
                    max_parallelism: graph.config.max_parallelism,
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

/// The tasks' checkpoint mailboxes in this process.
#[derive(Default)]
pub struct Mailboxes(Vec<Sender<CheckpointMail>>);

impl Mailboxes {
    /// Adds a task's mailbox.
    pub fn add(&mut self, mailbox: Sender<CheckpointMail>) {
        self.0.push(mailbox);
    }

    /// Delivers the coordinator's mail to every task: a trigger makes a source take its part,
    /// and starts a task with inputs' aligned timeout.
    pub fn deliver(&self, mail: impl IntoIterator<Item = CheckpointMail>) {
        for mail in mail {
            for mailbox in &self.0 {
                // A task that ended has no mailbox left: nothing to tell it.
                let _ = mailbox.send(mail);
            }
        }
    }
}
