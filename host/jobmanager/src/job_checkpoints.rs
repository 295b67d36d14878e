//! One run of a job's checkpoints: the coordinator's actions carried out against storage
//! (metadata written on completion, checkpoints discarded when no longer retained), and turned
//! into mail for the tasks (triggers for the sources, completions for all), which the caller
//! delivers: through channels in this process, or over the control plane to TaskManagers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use weir_core::coordinator::{
    CheckpointAction, CheckpointConfig, CheckpointCoordinator, CompletedCheckpoint, StateHandle,
};
use weir_proto::graph::JobGraph;
use weir_proto::spec::CheckpointSpec;
use weir_runtime::tasks::{CheckpointAck, CheckpointMail, FinalState};
use weir_state::checkpoint::{
    CheckpointMetadata, CheckpointStorage, FORMAT, OperatorState, SubtaskState,
};

/// A running job's checkpoints.
pub struct JobCheckpoints {
    coordinator: CheckpointCoordinator,
    storage: CheckpointStorage,
    /// Mail for the tasks, not yet collected by the caller.
    outbox: Vec<CheckpointMail>,
    /// Acknowledged parts of checkpoints in progress, and when each was triggered.
    parts: HashMap<u64, (i64, Vec<OperatorState>)>,
    /// What a completed checkpoint's metadata needs besides the parts.
    template: CheckpointMetadata,
    /// Completed checkpoints in storage, oldest first (an earlier run's included)…
    retained: VecDeque<CheckpointMetadata>,
    /// …and how many are kept.
    retain: usize,
    /// Checkpoints completed in this run, in order.
    pub completed: Vec<CompletedCheckpoint>,
    /// The newest completed checkpoint's directory.
    pub latest: Option<PathBuf>,
    /// Tasks that ran to their end → what they leave in every later checkpoint.
    finished: BTreeMap<(usize, u32), Vec<OperatorState>>,
    /// The savepoint asked for: its id, where it goes, and where it went.
    savepoint: Option<(u64, PathBuf, Option<PathBuf>)>,
}

impl JobCheckpoints {
    /// Checkpoints of `graph` into `storage`, numbered past `after` and past every checkpoint
    /// an earlier run left in storage (which are kept until newer ones replace them, so the
    /// newest in storage is always the newest taken). Without `checkpointing:` in the job,
    /// only savepoints are taken.
    pub fn new(
        graph: &JobGraph,
        storage: CheckpointStorage,
        after: Option<u64>,
    ) -> std::io::Result<Self> {
        let earlier = storage.recover()?;
        let first_id = after
            .into_iter()
            .chain(earlier.iter().map(|m| m.id))
            .max()
            .map_or(1, |id| id + 1);
        let periodic = graph.config.checkpointing.is_some();
        let spec = graph.config.checkpointing.unwrap_or(CheckpointSpec {
            interval_ms: u64::MAX,
            timeout_ms: 600_000,
            retained: 1,
            incremental: false,
            max_concurrent: 1,
            min_pause_ms: 0,
        });
        let config = CheckpointConfig {
            interval: Duration::from_millis(spec.interval_ms.max(1)),
            timeout: Duration::from_millis(spec.timeout_ms.max(1)),
            retained: spec.retained.max(1) as usize,
            max_concurrent: spec.max_concurrent.max(1) as usize,
            min_pause: Duration::from_millis(spec.min_pause_ms),
            periodic,
        };
        let tasks = graph
            .vertices
            .iter()
            .flat_map(|v| (0..v.parallelism).map(move |s| (v.id, s)));
        // Barriers start at the vertices that read from outside the job.
        let sources: Vec<(usize, u32)> = graph
            .vertices
            .iter()
            .filter(|v| graph.inputs(v.id).next().is_none())
            .flat_map(|v| (0..v.parallelism).map(move |s| (v.id, s)))
            .collect();
        Ok(JobCheckpoints {
            coordinator: CheckpointCoordinator::new(config, tasks, first_id).with_sources(sources),
            storage,
            outbox: Vec::new(),
            parts: HashMap::new(),
            template: CheckpointMetadata {
                format: FORMAT,
                job: graph.name.clone(),
                id: 0,
                timestamp: 0,
                savepoint: false,
                max_parallelism: graph.config.max_parallelism,
                backend: graph.config.state_backend,
                modules: graph
                    .modules
                    .iter()
                    .map(|(name, m)| (name.clone(), m.sha256.clone()))
                    .collect(),
                operators: Vec::new(),
            },
            retained: earlier.into(),
            retain: spec.retained.max(1) as usize,
            completed: Vec::new(),
            latest: None,
            finished: BTreeMap::new(),
            savepoint: None,
        })
    }

    /// Starts a savepoint now: a checkpoint that, once complete, is copied whole under
    /// `target`. Returns its id.
    pub fn trigger_savepoint(&mut self, job: &str, target: PathBuf) -> (u64, Vec<CheckpointMail>) {
        let (id, action) = self
            .coordinator
            .trigger_now(Instant::now(), weir_state::clock::now_ms());
        self.savepoint = Some((id, target, None));
        self.act(job, action);
        (id, std::mem::take(&mut self.outbox))
    }

    /// The savepoint's directory, once it is written.
    pub fn savepoint_written(&self) -> Option<&PathBuf> {
        self.savepoint
            .as_ref()
            .and_then(|(_, _, written)| written.as_ref())
    }

    /// Whether the savepoint asked for has failed (aborted, or not written).
    pub fn savepoint_failed(&self) -> Option<String> {
        match &self.savepoint {
            Some((id, _, None)) if !self.parts.contains_key(id) => {
                Some(format!("savepoint {id} did not complete (see the log)"))
            }
            _ => None,
        }
    }

    /// The highest checkpoint id this run triggered.
    pub fn last_triggered(&self) -> Option<u64> {
        self.coordinator.last_triggered()
    }

    /// The storage.
    pub fn storage(&self) -> &CheckpointStorage {
        &self.storage
    }

    /// Takes the acknowledgements that came, then lets time pass for the coordinator; returns
    /// the mail for the tasks (a trigger goes to the sources, a completion to every task).
    pub fn step(
        &mut self,
        job: &str,
        acks: impl IntoIterator<Item = CheckpointAck>,
    ) -> Vec<CheckpointMail> {
        let now = Instant::now();
        let mut actions = Vec::new();
        for ack in acks {
            let task = (ack.vertex, ack.subtask);
            match ack.state {
                Ok(state) => {
                    let handle = StateHandle {
                        location: self
                            .storage
                            .checkpoint_dir(ack.id, false)
                            .display()
                            .to_string(),
                        bytes: state.bytes(),
                    };
                    if let Some((_, parts)) = self.parts.get_mut(&ack.id) {
                        parts.extend(state.operators);
                    }
                    actions.extend(self.coordinator.on_ack(ack.id, task, handle, now));
                }
                Err(reason) => {
                    tracing::warn!(job, checkpoint = ack.id, ?task, %reason, "a task declined a checkpoint");
                    actions.extend(self.coordinator.on_decline(ack.id, task, &reason));
                }
            }
        }
        actions.extend(self.coordinator.on_tick(now, weir_state::clock::now_ms()));
        for action in actions {
            self.act(job, action);
        }
        std::mem::take(&mut self.outbox)
    }

    fn act(&mut self, job: &str, action: CheckpointAction) {
        match action {
            CheckpointAction::Trigger { id, timestamp } => {
                let finished = self.finished.values().flatten().cloned().collect();
                self.parts.insert(id, (timestamp, finished));
                self.outbox.push(CheckpointMail::Trigger(id));
            }
            CheckpointAction::NotifyComplete { id } => self.complete(job, id),
            CheckpointAction::Abort { id, reason } => {
                tracing::info!(job, checkpoint = id, %reason, "checkpoint aborted");
                self.parts.remove(&id);
                if let Err(error) = self.storage.discard(id, None, &[]) {
                    tracing::warn!(job, checkpoint = id, %error, "cannot delete an aborted checkpoint");
                }
            }
            // Retention is kept in `complete`, which also counts checkpoints of earlier runs.
            CheckpointAction::Discard { .. } => {}
        }
    }

    /// Every task acknowledged `id`: its metadata makes it a checkpoint; then the tasks hear.
    fn complete(&mut self, job: &str, id: u64) {
        let Some((timestamp, mut operators)) = self.parts.remove(&id) else {
            return;
        };
        operators.sort_by(|a, b| (&a.operator, a.subtask).cmp(&(&b.operator, b.subtask)));
        let metadata = CheckpointMetadata {
            id,
            timestamp,
            operators,
            ..self.template.clone()
        };
        match self.storage.complete(&metadata) {
            Ok(dir) => self.latest = Some(dir),
            Err(error) => {
                // Without its metadata the checkpoint does not exist; the tasks must not commit.
                tracing::error!(job, checkpoint = id, %error, "cannot write a checkpoint's metadata");
                return;
            }
        }
        if let Some((savepoint, target, written)) = &mut self.savepoint
            && *savepoint == id
        {
            match self.storage.export(&metadata, target) {
                Ok(dir) => *written = Some(dir),
                Err(error) => {
                    tracing::error!(job, checkpoint = id, %error, "cannot write the savepoint");
                }
            }
        }
        self.retained.push_back(metadata);
        while self.retained.len() > self.retain {
            let Some(discarded) = self.retained.pop_front() else {
                break;
            };
            let retained: Vec<CheckpointMetadata> = self.retained.iter().cloned().collect();
            if let Err(error) = self
                .storage
                .discard(discarded.id, Some(&discarded), &retained)
            {
                tracing::warn!(job, checkpoint = discarded.id, %error, "cannot delete a checkpoint no longer retained");
            }
        }
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
        self.outbox.push(CheckpointMail::Complete(id));
    }

    /// Task `task` ran to its end: checkpoints in progress that it never saw count it with its
    /// final state, later ones carry that state; returns the mail for the tasks.
    pub fn task_finished(
        &mut self,
        job: &str,
        task: (usize, u32),
        final_state: Option<FinalState>,
    ) -> Vec<CheckpointMail> {
        // Every task of a checkpointing run reports one; one without it (an older TaskManager)
        // cannot be counted in any checkpoint in progress.
        let FinalState {
            last_barrier,
            state,
        } = final_state.unwrap_or(FinalState {
            last_barrier: u64::MAX,
            state: SubtaskState {
                operators: Vec::new(),
            },
        });
        let handle = StateHandle {
            location: "(finished)".into(),
            bytes: 0,
        };
        let (counted, actions) =
            self.coordinator
                .on_task_finished(task, last_barrier, handle, Instant::now());
        for id in counted {
            if let Some((_, parts)) = self.parts.get_mut(&id) {
                parts.extend(state.operators.iter().cloned());
            }
        }
        self.finished.insert(task, state.operators);
        for action in actions {
            self.act(job, action);
        }
        std::mem::take(&mut self.outbox)
    }

    /// The job failed: checkpoints in progress are aborted (completed ones stay to restore).
    pub fn on_job_failed(&mut self, job: &str) {
        self.abort_all(job, "the job failed");
    }

    /// The job ended (its tasks, and so their uploads, are done): checkpoints still in progress
    /// will not complete; what they wrote is deleted.
    pub fn on_job_ended(&mut self, job: &str) {
        self.abort_all(job, "the job ended");
    }

    fn abort_all(&mut self, job: &str, reason: &str) {
        for action in self.coordinator.abort_all(reason) {
            self.act(job, action);
        }
    }
}
