//! The checkpoint coordinator (Flink's lightweight asynchronous snapshots, Chandy-Lamport with
//! aligned barriers), as a sans-IO state machine: every input carries `now`, every output is an
//! action for the JobManager to carry out (inject barriers at the sources, tell tasks a
//! checkpoint completed or was aborted, delete a checkpoint no longer retained). So each rule —
//! the trigger interval, at most N concurrent, timeouts, completion when every task has
//! acknowledged, subsumption, retention of the last K — is tested without a cluster.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// A subtask: (vertex, subtask index).
pub type TaskId = (usize, u32);

/// How a job checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// Time between the starts of two checkpoints.
    pub interval: Duration,
    /// A checkpoint not complete this long after its start is aborted.
    pub timeout: Duration,
    /// Checkpoints in progress at once.
    pub max_concurrent: usize,
    /// Completed checkpoints kept (older ones are discarded).
    pub retained: usize,
    /// Least time between a checkpoint's completion and the next one's start.
    pub min_pause: Duration,
    /// Whether checkpoints start by themselves every interval (else only on request: a job
    /// without `checkpointing:` still takes savepoints).
    pub periodic: bool,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            max_concurrent: 1,
            retained: 1,
            min_pause: Duration::ZERO,
            periodic: true,
        }
    }
}

/// Where a task's part of a checkpoint is, and how big it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateHandle {
    /// A path or URI under the checkpoint storage.
    pub location: String,
    /// Bytes of state it holds.
    pub bytes: u64,
}

/// What the JobManager must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointAction {
    /// Inject barrier `id` at every source subtask (`timestamp` is the wall-clock ms).
    Trigger {
        /// The checkpoint.
        id: u64,
        /// When it started, ms since the epoch.
        timestamp: i64,
    },
    /// Every task acknowledged `id`: tell them (a sink commits its pending output).
    NotifyComplete {
        /// The checkpoint.
        id: u64,
    },
    /// `id` will not complete: tell the tasks to drop what they hold of it.
    Abort {
        /// The checkpoint.
        id: u64,
        /// Why, for the log and the REST API.
        reason: String,
    },
    /// Completed checkpoint `id` is no longer retained: delete its files.
    Discard {
        /// The checkpoint.
        id: u64,
    },
}

/// A checkpoint every task acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedCheckpoint {
    /// Its id (increasing).
    pub id: u64,
    /// From trigger to the last acknowledgement.
    pub duration: Duration,
    /// Each task's state.
    pub handles: BTreeMap<TaskId, StateHandle>,
}

impl CompletedCheckpoint {
    /// Bytes of state over all tasks.
    pub fn bytes(&self) -> u64 {
        self.handles.values().map(|h| h.bytes).sum()
    }
}

struct Pending {
    started: Instant,
    waiting: BTreeSet<TaskId>,
    handles: BTreeMap<TaskId, StateHandle>,
}

/// The coordinator of one job's checkpoints.
pub struct CheckpointCoordinator {
    config: CheckpointConfig,
    tasks: BTreeSet<TaskId>,
    next_id: u64,
    last_trigger: Option<Instant>,
    last_completion: Option<Instant>,
    pending: BTreeMap<u64, Pending>,
    completed: VecDeque<CompletedCheckpoint>,
    /// Where barriers start (the sources); empty: any task.
    sources: BTreeSet<TaskId>,
    /// Tasks that ran to their end: checkpoints started later leave them out (Flink's
    /// checkpoints after tasks finished, FLIP-147).
    finished: BTreeSet<TaskId>,
}

impl CheckpointCoordinator {
    /// A coordinator for a job of `tasks`, whose first checkpoint will be `first_id` (above
    /// the checkpoint a restored job started from).
    pub fn new(
        config: CheckpointConfig,
        tasks: impl IntoIterator<Item = TaskId>,
        first_id: u64,
    ) -> Self {
        CheckpointCoordinator {
            config,
            tasks: tasks.into_iter().collect(),
            next_id: first_id.max(1),
            last_trigger: None,
            last_completion: None,
            pending: BTreeMap::new(),
            completed: VecDeque::new(),
            sources: BTreeSet::new(),
            finished: BTreeSet::new(),
        }
    }

    /// The same, starting barriers at `sources`: once they have all finished, no checkpoint
    /// can start.
    pub fn with_sources(mut self, sources: impl IntoIterator<Item = TaskId>) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// The same, with checkpoints `ids` that earlier runs completed (oldest first) counted as
    /// retained: as newer ones complete, they are discarded in turn like this run's own.
    pub fn with_retained(mut self, ids: impl IntoIterator<Item = u64>) -> Self {
        for id in ids {
            self.completed.push_back(CompletedCheckpoint {
                id,
                duration: Duration::ZERO,
                handles: BTreeMap::new(),
            });
        }
        self
    }

    /// Whether a barrier can start anywhere: some source still runs.
    fn can_start(&self) -> bool {
        let starts = match self.sources.is_empty() {
            true => &self.tasks,
            false => &self.sources,
        };
        starts.iter().any(|task| !self.finished.contains(task))
    }

    /// Task `task` ran to the end of its input, having seen barriers up to `last_barrier`.
    /// Checkpoints started from now on leave it out. Of those in progress that still wait for
    /// it, a later one counts it as acknowledged with `handle` (its final state: everything it
    /// sent is ahead of that barrier downstream); an earlier one was abandoned there and will
    /// never be acknowledged, so it is aborted. Returns the checkpoints it counts in, and what
    /// to do.
    pub fn on_task_finished(
        &mut self,
        task: TaskId,
        last_barrier: u64,
        handle: StateHandle,
        now: Instant,
    ) -> (Vec<u64>, Vec<CheckpointAction>) {
        if !self.tasks.contains(&task) || !self.finished.insert(task) {
            return (Vec::new(), Vec::new());
        }
        if self.finished.len() == self.tasks.len() {
            return (Vec::new(), self.abort_all("every task finished"));
        }
        let waiting: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.waiting.contains(&task))
            .map(|(&id, _)| id)
            .collect();
        let (mut counted, mut actions) = (Vec::new(), Vec::new());
        for id in waiting {
            if id <= last_barrier {
                let reason = "a task ended after abandoning this checkpoint";
                actions.extend(self.on_decline(id, task, reason));
            } else {
                counted.push(id);
                actions.extend(self.on_ack(id, task, handle.clone(), now));
            }
        }
        (counted, actions)
    }

    /// Time passed: aborts checkpoints past their timeout and starts one when it is due.
    pub fn on_tick(&mut self, now: Instant, wall_ms: i64) -> Vec<CheckpointAction> {
        let mut actions = Vec::new();
        let timeout = self.config.timeout;
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.started) >= timeout)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            self.pending.remove(&id);
            actions.push(CheckpointAction::Abort {
                id,
                reason: format!("not complete after {timeout:?}"),
            });
        }
        let interval_passed = self
            .last_trigger
            .is_none_or(|last| now.saturating_duration_since(last) >= self.config.interval);
        let paused = self
            .last_completion
            .is_some_and(|last| now.saturating_duration_since(last) < self.config.min_pause);
        let room = self.pending.len() < self.config.max_concurrent.max(1);
        if self.config.periodic && interval_passed && !paused && room && self.can_start() {
            actions.push(self.start(now, wall_ms));
        }
        actions
    }

    /// Starts a checkpoint now, whatever the interval and the ones in progress (a savepoint).
    pub fn trigger_now(&mut self, now: Instant, wall_ms: i64) -> (u64, CheckpointAction) {
        let action = self.start(now, wall_ms);
        (self.next_id - 1, action)
    }

    fn start(&mut self, now: Instant, wall_ms: i64) -> CheckpointAction {
        let id = self.next_id;
        self.next_id += 1;
        self.last_trigger = Some(now);
        self.pending.insert(
            id,
            Pending {
                started: now,
                waiting: self.tasks.difference(&self.finished).copied().collect(),
                handles: BTreeMap::new(),
            },
        );
        CheckpointAction::Trigger {
            id,
            timestamp: wall_ms,
        }
    }

    /// Task `task` snapshotted its state for checkpoint `id`. Acknowledgements of unknown,
    /// aborted or already acknowledged checkpoints are ignored (they may cross an abort).
    pub fn on_ack(
        &mut self,
        id: u64,
        task: TaskId,
        handle: StateHandle,
        now: Instant,
    ) -> Vec<CheckpointAction> {
        let Some(pending) = self.pending.get_mut(&id) else {
            return Vec::new();
        };
        if !pending.waiting.remove(&task) {
            return Vec::new();
        }
        pending.handles.insert(task, handle);
        if !pending.waiting.is_empty() {
            return Vec::new();
        }
        self.complete(id, now)
    }

    /// Every task ran to its end and some still hold output that a checkpoint with their
    /// final states must commit: starts that checkpoint (Flink's final checkpoint), which is
    /// complete at once, since no task is left to acknowledge it.
    pub fn final_checkpoint(&mut self, now: Instant, wall_ms: i64) -> Vec<CheckpointAction> {
        let trigger = self.start(now, wall_ms);
        let id = self.next_id - 1;
        let mut actions = vec![trigger];
        if self.pending.get(&id).is_some_and(|p| p.waiting.is_empty()) {
            actions.extend(self.complete(id, now));
        }
        actions
    }

    /// Whether every task ran to its end.
    pub fn all_finished(&self) -> bool {
        self.finished.len() == self.tasks.len()
    }

    /// Checkpoint `id` has every task's part: it completes, subsuming older ones.
    fn complete(&mut self, id: u64, now: Instant) -> Vec<CheckpointAction> {
        let Some(done) = self.pending.remove(&id) else {
            return Vec::new();
        };
        let mut actions = Vec::new();
        // A completed checkpoint subsumes the older ones still in progress.
        let older: Vec<u64> = self.pending.range(..id).map(|(&older, _)| older).collect();
        for older in older {
            self.pending.remove(&older);
            actions.push(CheckpointAction::Abort {
                id: older,
                reason: format!("subsumed by checkpoint {id}"),
            });
        }
        self.completed.push_back(CompletedCheckpoint {
            id,
            duration: now.saturating_duration_since(done.started),
            handles: done.handles,
        });
        self.last_completion = Some(now);
        actions.push(CheckpointAction::NotifyComplete { id });
        while self.completed.len() > self.config.retained.max(1) {
            if let Some(evicted) = self.completed.pop_front() {
                actions.push(CheckpointAction::Discard { id: evicted.id });
            }
        }
        actions
    }

    /// Task `task` could not take part in checkpoint `id`: it is aborted.
    pub fn on_decline(&mut self, id: u64, task: TaskId, reason: &str) -> Vec<CheckpointAction> {
        if self.pending.remove(&id).is_none() {
            return Vec::new();
        }
        vec![CheckpointAction::Abort {
            id,
            reason: format!("task {task:?} declined: {reason}"),
        }]
    }

    /// The job failed: every checkpoint in progress is aborted; completed ones stay for the
    /// restart to restore from.
    pub fn on_job_failed(&mut self) -> Vec<CheckpointAction> {
        self.abort_all("the job failed")
    }

    /// Aborts every checkpoint in progress (the job ended or failed) for `reason`.
    pub fn abort_all(&mut self, reason: &str) -> Vec<CheckpointAction> {
        std::mem::take(&mut self.pending)
            .into_keys()
            .map(|id| CheckpointAction::Abort {
                id,
                reason: reason.to_string(),
            })
            .collect()
    }

    /// The newest completed checkpoint: where a restart restores from.
    pub fn latest(&self) -> Option<&CompletedCheckpoint> {
        self.completed.back()
    }

    /// The retained completed checkpoints, oldest first.
    pub fn completed(&self) -> impl Iterator<Item = &CompletedCheckpoint> {
        self.completed.iter()
    }

    /// The highest id triggered so far, if any: a restarted job numbers on past it, so no id
    /// is ever used twice (a late upload of an abandoned checkpoint cannot mix into a new one).
    pub fn last_triggered(&self) -> Option<u64> {
        (self.last_trigger.is_some()).then(|| self.next_id - 1)
    }

    /// Checkpoints in progress.
    pub fn in_progress(&self) -> usize {
        self.pending.len()
    }
}
