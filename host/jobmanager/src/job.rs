//! One job as the JobManager holds it: its lifecycle, where its tasks run, its failures and
//! restarts, and its checkpoints. [`super::ClusterState`] drives it; everything here is
//! sans-network (outputs are messages returned to the caller).

use super::state::Outgoing;
use crate::BOOKKEEPING;
use crate::job_checkpoints::JobCheckpoints;
use crate::storage_work::{StorageDone, StorageWork};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::restart::RestartTracker;
use weir_net::rpc::ToTaskManager;
use weir_proto::failure::{Failure, FailureClass};
use weir_proto::graph::JobGraph;
use weir_proto::progress::TaskCounters;
use weir_proto::rest::JobSummary;
use weir_proto::status::JobStatus;
use weir_state::checkpoint::CheckpointMetadata;
use weir_state::checkpoint::CheckpointStorage;
use weir_state::file_name;
use weir_tasks::{CheckpointAck, CheckpointMail, FinalState};

pub(super) struct Job {
    pub(super) id: String,
    pub(super) sequence: u32,
    pub(super) graph: Arc<JobGraph>,
    pub(super) status: JobStatus,
    /// When it began waiting for slots (its submission, or its restart).
    pub(super) submitted: Instant,
    pub(super) started: Option<Instant>,
    pub(super) ended: Option<Instant>,
    /// TaskManager → slots held (until the run ends).
    pub(super) slots: Vec<(String, u32)>,
    /// The TaskManagers its subtasks were deployed to.
    pub(super) deployed_on: Vec<String>,
    /// Tasks not yet ended → the TaskManager running them.
    pub(super) pending: HashMap<(usize, u32), String>,
    pub(super) counters: HashMap<(usize, u32), TaskCounters>,
    /// The root cause of this run's failure, as far as known (an echo until a root cause
    /// arrives).
    pub(super) error: Option<Failure>,
    /// Whether a restart may get past this run's failures (one that is not retryable, such as
    /// a configuration error, is met again).
    restartable: bool,
    /// Failures the job restarted from, oldest first.
    pub(super) failures: Vec<Failure>,
    pub(super) restarts: RestartTracker,
    /// A restarting job waits until then before it is scheduled again.
    pub(super) restart_at: Option<Instant>,
    /// Where its checkpoints go, when the submission chose (see [`crate::SubmitOptions`]).
    pub(super) storage: Option<PathBuf>,
    /// The checkpoint or savepoint the next deployment restores from…
    pub(super) restore: Option<PathBuf>,
    /// …and its id.
    pub(super) restore_id: Option<u64>,
    /// The completed checkpoints in storage that the next run starts from.
    pub(super) earlier: Vec<CheckpointMetadata>,
    /// Runs of the job so far (each restart is one more).
    runs: u32,
    /// Storage work of runs that ended, not yet collected.
    orphans: Vec<StorageWork>,
    /// This run's checkpoints, when the job takes them.
    pub(super) checkpoints: Option<JobCheckpoints>,
    /// The highest checkpoint id an earlier run used: ids are never used twice.
    last_checkpoint_id: Option<u64>,
    /// A savepoint asked for: whether the job stops once it is written.
    savepoint_stops: Option<bool>,
    pub(super) savepoint: Option<PathBuf>,
    pub(super) savepoint_error: Option<String>,
    /// Recent totals, for live rates.
    pub(super) rates: weir_proto::progress::RateWindow,
}

impl Job {
    pub(super) fn new(id: String, sequence: u32, graph: JobGraph, now: Instant) -> Self {
        Job {
            restarts: RestartTracker::new(graph.config.restart_strategy),
            id,
            sequence,
            graph: Arc::new(graph),
            status: JobStatus::Created,
            submitted: now,
            started: None,
            ended: None,
            slots: Vec::new(),
            deployed_on: Vec::new(),
            pending: HashMap::new(),
            counters: HashMap::new(),
            error: None,
            restartable: true,
            failures: Vec::new(),
            restart_at: None,
            storage: None,
            restore: None,
            restore_id: None,
            earlier: Vec::new(),
            runs: 0,
            orphans: Vec::new(),
            checkpoints: None,
            last_checkpoint_id: None,
            savepoint_stops: None,
            savepoint: None,
            savepoint_error: None,
            rates: Default::default(),
        }
    }

    pub(super) fn enter(&mut self, to: JobStatus) {
        match self.status.become_(to) {
            Ok(status) => {
                tracing::info!(target: BOOKKEEPING, job = self.id, name = self.graph.name, from = %self.status, to = %status, "job status");
                self.status = status;
            }
            Err(error) => tracing::error!(job = self.id, %error, "illegal job status transition"),
        }
    }

    /// Keeps the first root cause; an echo only until a root cause arrives.
    pub(super) fn blame(&mut self, failure: Failure) {
        if !failure.secondary {
            self.restartable &= failure.retryable;
        }
        if self.error.as_ref().is_none_or(|e| failure.outranks(e)) {
            self.error = Some(failure);
        }
    }

    /// A task failed (or its TaskManager was lost): the other tasks are cancelled.
    pub(super) fn fail(&mut self) -> Vec<Outgoing> {
        if !matches!(self.status, JobStatus::Running | JobStatus::Finishing) {
            return Vec::new();
        }
        self.enter(JobStatus::Failing);
        if let Some(checkpoints) = &mut self.checkpoints {
            checkpoints.on_job_failed(&self.id);
        }
        self.cancel_messages()
    }

    /// Every task of a failing job has ended: restart it if the strategy allows (it waits for
    /// the delay, then for slots, and resumes from the newest checkpoint), else it has failed.
    pub(super) fn failed(&mut self, now: Instant) {
        let delay = match self.restartable {
            true => self.restarts.on_failure(now),
            false => None,
        };
        let Some(delay) = delay else {
            self.enter(JobStatus::Failed);
            return;
        };
        let run = self.checkpoints.take();
        let used = run.as_ref().and_then(JobCheckpoints::last_triggered);
        self.last_checkpoint_id = self.last_checkpoint_id.max(used);
        if let Some(mut run) = run {
            self.orphans.extend(run.take_work());
            self.earlier = run.stored();
            if let Some((id, dir)) = run.latest {
                self.restore = Some(dir);
                self.restore_id = Some(id);
            }
        }
        let error = self.error.take().unwrap_or_else(|| {
            Failure::new(
                FailureClass::Internal,
                true,
                "a task failed without a reason",
            )
        });
        tracing::warn!(
            job = self.id,
            %error,
            restart = self.restarts.restarts(),
            delay_ms = delay.as_millis() as u64,
            from = ?self.restore,
            "restarting the job"
        );
        self.failures.push(error);
        self.restartable = true;
        self.pending.clear();
        self.deployed_on.clear();
        self.rates.clear();
        self.restart_at = Some(now + delay);
        self.submitted = now + delay;
        self.enter(JobStatus::Scheduling);
    }

    /// Whether it waits for slots now.
    pub(super) fn wants_slots(&self, now: Instant) -> bool {
        self.status == JobStatus::Scheduling && self.restart_at.is_none_or(|at| now >= at)
    }

    /// Sets up this run's checkpoints in storage under `root`; returns where they go.
    pub(super) fn start_checkpoints(&mut self, root: &Path) -> Option<String> {
        if self.graph.config.checkpointing.is_none() && self.storage.is_none() {
            return None;
        }
        let dir = match &self.storage {
            Some(dir) => dir.clone(),
            None => root.join(format!("{}-{}", file_name(&self.graph.name), self.id)),
        };
        let incremental = self
            .graph
            .config
            .checkpointing
            .is_some_and(|c| c.incremental);
        let storage = CheckpointStorage::new(dir.clone(), incremental);
        let after = self.restore_id.max(self.last_checkpoint_id);
        self.runs += 1;
        let earlier = std::mem::take(&mut self.earlier);
        let checkpoints = JobCheckpoints::new(&self.graph, storage, self.runs, after, earlier);
        self.checkpoints = Some(checkpoints);
        Some(dir.display().to_string())
    }

    /// The storage work asked for since the last call, in order.
    pub(super) fn take_storage_work(&mut self) -> Vec<StorageWork> {
        let mut work = std::mem::take(&mut self.orphans);
        if let Some(checkpoints) = &mut self.checkpoints {
            work.extend(checkpoints.take_work());
        }
        work
    }

    /// What came of writing a checkpoint's metadata; returns the mail for the TaskManagers. A
    /// checkpoint of a run that has ended was never announced to its tasks, so it is deleted:
    /// the newest checkpoint in storage is always one the tasks committed or could.
    pub(super) fn storage_done(&mut self, done: StorageDone) -> Vec<Outgoing> {
        let current = self
            .checkpoints
            .as_ref()
            .is_some_and(|c| c.run() == done.run);
        if !current {
            if done.written.is_ok() {
                self.orphans.push(StorageWork::Discard {
                    storage: done.storage,
                    id: done.id,
                    metadata: None,
                    retained: Vec::new(),
                });
            }
            return Vec::new();
        }
        self.with_checkpoints(|checkpoints, job| checkpoints.on_stored(job, done))
    }

    /// Lets the coordinator act on `acks` and the time; returns the mail for the TaskManagers.
    pub(super) fn step_checkpoints(&mut self, acks: Vec<CheckpointAck>) -> Vec<Outgoing> {
        if self.status != JobStatus::Running {
            return Vec::new();
        }
        self.with_checkpoints(|checkpoints, job| checkpoints.step(job, acks))
    }

    /// Task `task` ran to its end: the coordinator counts it in the checkpoints in progress it
    /// never saw, later ones carry its final state; returns the mail for the TaskManagers.
    pub(super) fn task_finished(
        &mut self,
        task: (usize, u32),
        final_state: Option<FinalState>,
        awaiting_commit: bool,
    ) -> Vec<Outgoing> {
        if self.status != JobStatus::Running {
            return Vec::new();
        }
        self.with_checkpoints(|checkpoints, job| {
            checkpoints.task_finished(job, task, final_state, awaiting_commit)
        })
    }

    /// Lets this run's checkpoints act (`act` gets them and the job's id); returns their mail
    /// for the TaskManagers, and what a savepoint written by it means for the job.
    fn with_checkpoints(
        &mut self,
        act: impl FnOnce(&mut JobCheckpoints, &str) -> Vec<CheckpointMail>,
    ) -> Vec<Outgoing> {
        let Some(checkpoints) = &mut self.checkpoints else {
            return Vec::new();
        };
        let mail = act(checkpoints, &self.id);
        let mut out = self.mail(mail);
        out.extend(self.savepoint_progress());
        out
    }

    /// Mail for every TaskManager the job runs on (each routes it to its own tasks).
    fn mail(&self, mail: Vec<CheckpointMail>) -> Vec<Outgoing> {
        mail.into_iter()
            .flat_map(|mail| {
                self.deployed_on.iter().map(move |tm| {
                    (
                        tm.clone(),
                        ToTaskManager::Checkpoint {
                            job: self.id.clone(),
                            mail,
                        },
                    )
                })
            })
            .collect()
    }

    /// Starts a savepoint into `dir`; with `stop`, the job is cancelled once it is written.
    pub(super) fn savepoint(
        &mut self,
        dir: PathBuf,
        stop: bool,
    ) -> Result<(u64, Vec<Outgoing>), String> {
        if self.status != JobStatus::Running {
            return Err(format!("job `{}` is {}, not running", self.id, self.status));
        }
        let Some(checkpoints) = &mut self.checkpoints else {
            return Err(format!(
                "job `{}` takes no checkpoints: add `checkpointing:` to its spec to take savepoints",
                self.id
            ));
        };
        if self.savepoint_stops.is_some()
            && self.savepoint.is_none()
            && self.savepoint_error.is_none()
        {
            return Err(format!("job `{}` is already taking a savepoint", self.id));
        }
        let (id, mail) = checkpoints.trigger_savepoint(&self.id, dir);
        self.savepoint_stops = Some(stop);
        self.savepoint = None;
        self.savepoint_error = None;
        Ok((id, self.mail(mail)))
    }

    /// Notes a savepoint written (or failed); stops the job when that was asked.
    fn savepoint_progress(&mut self) -> Vec<Outgoing> {
        let (Some(stop), Some(checkpoints)) = (self.savepoint_stops, &self.checkpoints) else {
            return Vec::new();
        };
        if self.savepoint.is_some() || self.savepoint_error.is_some() {
            return Vec::new();
        }
        if let Some(written) = checkpoints.savepoint_written() {
            tracing::info!(job = self.id, savepoint = %written.display(), "savepoint written");
            self.savepoint = Some(written.clone());
            if stop {
                self.enter(JobStatus::Cancelling);
                return self.cancel_messages();
            }
        } else if let Some(failure) = checkpoints.savepoint_failed() {
            self.savepoint_error = Some(failure);
        }
        Vec::new()
    }

    /// Cancel messages for every TaskManager still running tasks of the job.
    pub(super) fn cancel_messages(&self) -> Vec<Outgoing> {
        let mut targets: Vec<&String> = self.pending.values().collect();
        targets.sort();
        targets.dedup();
        targets
            .into_iter()
            .map(|tm| {
                (
                    tm.clone(),
                    ToTaskManager::Cancel {
                        job: self.id.clone(),
                    },
                )
            })
            .collect()
    }

    pub(super) fn summary(&self, now: Instant) -> JobSummary {
        let duration = match (self.started, self.ended) {
            (Some(started), Some(ended)) => ended - started,
            (Some(started), None) => now - started,
            _ => Duration::ZERO,
        };
        JobSummary {
            id: self.id.clone(),
            name: self.graph.name.clone(),
            status: self.status,
            duration_ms: duration.as_millis() as u64,
        }
    }
}
