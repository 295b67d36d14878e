//! One run of a job's checkpoints: the coordinator's actions turned into storage work
//! (metadata written on completion, checkpoints discarded when aborted or no longer retained),
//! which the caller carries out outside any lock, and into mail for the tasks (triggers for
//! the sources; completions for all, once the metadata is written), which the caller
//! delivers: through channels in this process, or over the control plane to TaskManagers.

use crate::storage_work::{StorageDone, StorageWork};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use weir_core::coordinator::{
    CheckpointAction, CheckpointConfig, CheckpointCoordinator, CompletedCheckpoint, StateHandle,
};
use weir_proto::graph::JobGraph;
use weir_proto::spec::CheckpointSpec;
use weir_state::checkpoint::{
    CheckpointMetadata, CheckpointStorage, FORMAT, OperatorState, SubtaskState,
};
use weir_tasks::{CheckpointAck, CheckpointMail, FinalState};

/// A running job's checkpoints.
pub struct JobCheckpoints {
    coordinator: CheckpointCoordinator,
    storage: CheckpointStorage,
    /// Which run of the job this is: storage results of an older run are orphans.
    run: u32,
    /// Mail for the tasks, not yet collected by the caller.
    outbox: Vec<CheckpointMail>,
    /// Storage work, not yet collected by the caller.
    work: Vec<StorageWork>,
    /// Acknowledged parts of checkpoints in progress, and when each was triggered.
    parts: HashMap<u64, (i64, Vec<OperatorState>)>,
    /// What a completed checkpoint's metadata needs besides the parts.
    template: CheckpointMetadata,
    /// Completed checkpoints in storage (an earlier run's included), by id: what discarding
    /// one needs to know. The coordinator decides which are retained.
    stored: BTreeMap<u64, CheckpointMetadata>,
    /// Checkpoints whose metadata is being written.
    writing: BTreeSet<u64>,
    /// Checkpoints completed in this run, in order.
    pub completed: Vec<CompletedCheckpoint>,
    /// The newest completed checkpoint: its id and directory.
    pub latest: Option<(u64, PathBuf)>,
    /// Tasks that ran to their end → what they leave in every later checkpoint.
    finished: BTreeMap<(usize, u32), Vec<OperatorState>>,
    /// The savepoint asked for: its id, where it goes, and where it went.
    savepoint: Option<(u64, PathBuf, Option<PathBuf>)>,
    /// Finished tasks that wait for a checkpoint holding their final state to commit their
    /// output (they end once it does).
    awaiting_commit: BTreeSet<(usize, u32)>,
    /// The final checkpoint taken once every task finished, while its metadata is written or
    /// after; `None` again if writing failed, so it is taken anew.
    final_checkpoint: Option<u64>,
    /// When the last final checkpoint could not be written: the next try waits a moment.
    final_failed: Option<Instant>,
}

/// Time between two tries of a final checkpoint whose metadata could not be written.
const FINAL_RETRY: Duration = Duration::from_secs(1);

impl JobCheckpoints {
    /// Run `run`'s checkpoints of `graph` into `storage`, numbered past `after` and past the
    /// checkpoints `earlier` runs left in storage (which are kept until newer ones replace
    /// them, so the newest in storage is always the newest taken). Without `checkpointing:` in
    /// the job, only savepoints are taken. No I/O: `earlier` was read by the caller.
    pub fn new(
        graph: &JobGraph,
        storage: CheckpointStorage,
        run: u32,
        after: Option<u64>,
        earlier: Vec<CheckpointMetadata>,
    ) -> Self {
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
            aligned_timeout_ms: None,
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
        let coordinator = CheckpointCoordinator::new(config, tasks, first_id)
            .with_sources(sources)
            .with_retained(earlier.iter().map(|m| m.id));
        JobCheckpoints {
            coordinator,
            storage,
            run,
            outbox: Vec::new(),
            work: Vec::new(),
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
            stored: earlier.into_iter().map(|m| (m.id, m)).collect(),
            writing: BTreeSet::new(),
            completed: Vec::new(),
            latest: None,
            finished: BTreeMap::new(),
            savepoint: None,
            awaiting_commit: BTreeSet::new(),
            final_checkpoint: None,
            final_failed: None,
        }
    }

    /// Which run of the job this is.
    pub fn run(&self) -> u32 {
        self.run
    }

    /// The storage work asked for since the last call, in order.
    pub fn take_work(&mut self) -> Vec<StorageWork> {
        std::mem::take(&mut self.work)
    }

    /// The completed checkpoints in storage whose metadata is written, oldest first: what
    /// the job's next run starts from.
    pub fn stored(&self) -> Vec<CheckpointMetadata> {
        self.stored
            .values()
            .filter(|m| !self.writing.contains(&m.id))
            .cloned()
            .collect()
    }

    /// What came of writing a checkpoint's metadata: the checkpoint exists (the tasks hear,
    /// and commit) or it does not (they must not). Returns the mail for the tasks.
    pub fn on_stored(&mut self, job: &str, done: StorageDone) -> Vec<CheckpointMail> {
        let id = done.id;
        self.writing.remove(&id);
        let dir = match done.written {
            Ok(dir) => dir,
            Err(error) => {
                tracing::error!(job, checkpoint = id, %error, "cannot write a checkpoint's metadata");
                self.stored.remove(&id);
                if self.final_checkpoint == Some(id) {
                    self.final_checkpoint = None;
                    self.final_failed = Some(Instant::now());
                }
                return Vec::new();
            }
        };
        if self.latest.as_ref().is_none_or(|(newest, _)| *newest < id) {
            self.latest = Some((id, dir));
        }
        if let Some((savepoint, _, written)) = &mut self.savepoint
            && *savepoint == id
        {
            match done.exported {
                Some(Ok(dir)) => *written = Some(dir),
                Some(Err(error)) => {
                    tracing::error!(job, checkpoint = id, %error, "cannot write the savepoint");
                }
                None => {}
            }
        }
        if let Some(completed) = self.coordinator.completed().find(|c| c.id == id) {
            tracing::info!(
                job,
                checkpoint = id,
                duration_ms = completed.duration.as_millis() as u64,
                bytes = completed.bytes(),
                "checkpoint complete"
            );
            self.completed.push(completed.clone());
        }
        vec![CheckpointMail::Complete(id)]
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
            Some((id, _, None)) if !self.parts.contains_key(id) && !self.writing.contains(id) => {
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
        if self
            .final_failed
            .is_none_or(|at| at.elapsed() >= FINAL_RETRY)
        {
            self.start_final_checkpoint(job);
        }
        std::mem::take(&mut self.outbox)
    }

    /// Once every task has finished while some still wait to commit their output: takes the
    /// checkpoint of the final states alone, whose completion lets them commit and end.
    fn start_final_checkpoint(&mut self, job: &str) {
        if self.awaiting_commit.is_empty()
            || !self.coordinator.all_finished()
            || self.final_checkpoint.is_some()
        {
            return;
        }
        let actions = self
            .coordinator
            .final_checkpoint(Instant::now(), weir_state::clock::now_ms());
        self.final_checkpoint = self.coordinator.last_triggered();
        tracing::info!(job, checkpoint = ?self.final_checkpoint, "every task finished: final checkpoint");
        for action in actions {
            self.act(job, action);
        }
    }

    fn act(&mut self, job: &str, action: CheckpointAction) {
        match action {
            CheckpointAction::Trigger { id, timestamp } => {
                let finished = self.finished.values().flatten().cloned().collect();
                self.parts.insert(id, (timestamp, finished));
                self.outbox.push(CheckpointMail::Trigger(id));
            }
            CheckpointAction::NotifyComplete { id } => self.complete(id),
            CheckpointAction::Abort { id, reason } => {
                tracing::info!(job, checkpoint = id, %reason, "checkpoint aborted");
                self.parts.remove(&id);
                self.work.push(StorageWork::Discard {
                    storage: self.storage.clone(),
                    id,
                    metadata: None,
                    retained: Vec::new(),
                });
            }
            CheckpointAction::Discard { id } => {
                let metadata = self.stored.remove(&id);
                self.work.push(StorageWork::Discard {
                    storage: self.storage.clone(),
                    id,
                    metadata,
                    retained: self.stored.values().cloned().collect(),
                });
            }
        }
    }

    /// Every task acknowledged `id`: its metadata is to be written (which makes it a
    /// checkpoint); the tasks hear once it is ([`Self::on_stored`]).
    fn complete(&mut self, id: u64) {
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
        let export = match &self.savepoint {
            Some((savepoint, target, _)) if *savepoint == id => Some(target.clone()),
            _ => None,
        };
        self.stored.insert(id, metadata.clone());
        self.writing.insert(id);
        self.work.push(StorageWork::Complete {
            run: self.run,
            storage: self.storage.clone(),
            metadata,
            export,
        });
    }

    /// Task `task` ran to its end: checkpoints in progress that it never saw count it with its
    /// final state, later ones carry that state; returns the mail for the tasks. A task
    /// `awaiting_commit` runs on until a checkpoint with its final state completes, then
    /// reports again: once every task has finished, a final checkpoint is taken for it.
    pub fn task_finished(
        &mut self,
        job: &str,
        task: (usize, u32),
        final_state: Option<FinalState>,
        awaiting_commit: bool,
    ) -> Vec<CheckpointMail> {
        match awaiting_commit {
            true => self.awaiting_commit.insert(task),
            false => self.awaiting_commit.remove(&task),
        };
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
        self.start_final_checkpoint(job);
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
