//! The JobManager's state, sans-IO: TaskManagers and their slots, jobs and their tasks. Every
//! input (a registration, a heartbeat, a task's end, a submission, a tick of the clock) is a
//! method taking `now`; every output is a message for a TaskManager, returned to the caller to
//! send. Job status changes only through [`JobStatus::become_`], so the lifecycle's rules hold.

use crate::job::Job;
use crate::storage_work::{StorageDone, StorageWork};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use weir_core::FailureDetector;
use weir_core::SlotOffer;
use weir_core::schedule;
use weir_net::rpc::{Deployment, PeerInfo, ToTaskManager};
use weir_proto::failure::{Failure, FailureClass};
use weir_proto::graph::JobGraph;
use weir_proto::progress::JobProgress;
use weir_proto::progress::TaskCounters;
use weir_proto::status::JobStatus;
use weir_state::checkpoint::CheckpointMetadata;
use weir_tasks::CheckpointAck;
use weir_tasks::FinalState;

/// A message for the TaskManager named first.
pub type Outgoing = (String, ToTaskManager);

/// Timeouts of the cluster.
#[derive(Debug, Clone, Copy)]
pub struct ClusterTimeouts {
    /// Silence after which a TaskManager is lost.
    pub heartbeat: Duration,
    /// How long a job waits for enough free slots before it fails.
    pub slot_wait: Duration,
}

struct TaskManagerEntry {
    session: u64,
    slots: u32,
    used: u32,
    data_address: SocketAddr,
    last_seen: Instant,
    resident_bytes: Option<u64>,
}

/// How a task ended, as its TaskManager reported it.
#[derive(Debug)]
pub struct TaskEnd {
    /// Its vertex and subtask.
    pub task: (usize, u32),
    /// Its final counters.
    pub counters: TaskCounters,
    /// `Ok` when it ran to the end of its input.
    pub result: Result<(), Failure>,
    /// Its part of later checkpoints, when it ran to its end in a checkpointing job.
    pub final_state: Option<FinalState>,
    /// It ran to its end but runs on until a checkpoint holding its final state commits its
    /// output; it reports its end later.
    pub awaiting_commit: bool,
}

/// How a job is submitted.
#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    /// The checkpoint or savepoint its first run restores.
    pub restore: Option<RestorePoint>,
    /// The completed checkpoints its storage already holds (an earlier run's, read with
    /// `CheckpointStorage::recover` by the caller): kept until newer ones replace them, and
    /// numbered past.
    pub earlier_checkpoints: Vec<CheckpointMetadata>,
    /// Where its checkpoints go: the storage directory itself, kept across runs of the job
    /// (`weir run` resumes there), and set up even when the job does not checkpoint, so it can
    /// take savepoints. By default a directory per job under the cluster's checkpoint
    /// directory, for jobs that checkpoint.
    pub checkpoint_storage: Option<PathBuf>,
}

/// A checkpoint or savepoint to restore: its directory and id.
#[derive(Debug, Clone)]
pub struct RestorePoint {
    /// Its directory.
    pub dir: PathBuf,
    /// Its id (the job's checkpoints are numbered past it).
    pub id: u64,
}

/// Why a request about a job (cancel, savepoint) was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum JobRequestError {
    /// No job has that id.
    #[error("no job `{0}`")]
    NoSuchJob(String),
    /// The job's state does not allow it (it ended, takes no checkpoints, is already taking a
    /// savepoint).
    #[error("{0}")]
    Refused(String),
}

/// TaskManagers, slots and jobs.
pub struct ClusterState {
    timeouts: ClusterTimeouts,
    taskmanagers: BTreeMap<String, TaskManagerEntry>,
    detector: FailureDetector<String>,
    jobs: BTreeMap<u32, Job>,
    ids: HashMap<String, u32>,
    next_sequence: u32,
    next_session: u64,
    /// Where jobs' checkpoints go (a directory per job beneath it).
    checkpoint_dir: PathBuf,
}

mod views;

impl ClusterState {
    /// An empty cluster.
    pub fn new(timeouts: ClusterTimeouts) -> Self {
        ClusterState {
            timeouts,
            taskmanagers: BTreeMap::new(),
            detector: FailureDetector::new(timeouts.heartbeat),
            jobs: BTreeMap::new(),
            ids: HashMap::new(),
            next_sequence: 1,
            next_session: 1,
            checkpoint_dir: std::env::temp_dir().join("weir-checkpoints"),
        }
    }

    /// The same, keeping jobs' checkpoints under `dir`.
    pub fn with_checkpoint_dir(mut self, dir: PathBuf) -> Self {
        self.checkpoint_dir = dir;
        self
    }

    /// TaskManager `name` registered; returns its session number (what its later messages and
    /// its loss are matched against) and messages for others. A TaskManager registering again
    /// under a live name replaces the old session, which is treated as lost.
    pub fn register(
        &mut self,
        name: &str,
        slots: u32,
        data_address: SocketAddr,
        now: Instant,
    ) -> (u64, Vec<Outgoing>) {
        let mut out = Vec::new();
        if let Some(old) = self.taskmanagers.get(name).map(|tm| tm.session) {
            out = self.taskmanager_lost(
                name,
                old,
                "it registered again (the old session is gone)",
                now,
            );
        }
        let session = self.next_session;
        self.next_session += 1;
        self.taskmanagers.insert(
            name.to_string(),
            TaskManagerEntry {
                session,
                slots,
                used: 0,
                data_address,
                last_seen: now,
                resident_bytes: None,
            },
        );
        self.detector.on_heartbeat(name.to_string(), now);
        tracing::info!(target: crate::BOOKKEEPING, taskmanager = name, slots, data = %data_address, "TaskManager registered");
        (session, out)
    }

    /// A heartbeat from `name`.
    pub fn heartbeat(&mut self, name: &str, session: u64, now: Instant) {
        if let Some(tm) = self
            .taskmanagers
            .get_mut(name)
            .filter(|tm| tm.session == session)
        {
            tm.last_seen = now;
            self.detector.on_heartbeat(name.to_string(), now);
        }
    }

    /// TaskManager `name`'s memory, as its heartbeat reported it.
    pub fn memory(&mut self, name: &str, session: u64, resident_bytes: Option<u64>) {
        if let Some(tm) = self
            .taskmanagers
            .get_mut(name)
            .filter(|tm| tm.session == session)
        {
            tm.resident_bytes = resident_bytes;
        }
    }

    /// The session of `name` ended (`reason`): its tasks are lost, their jobs fail.
    pub fn taskmanager_lost(
        &mut self,
        name: &str,
        session: u64,
        reason: &str,
        now: Instant,
    ) -> Vec<Outgoing> {
        let Some(tm) = self.taskmanagers.get(name) else {
            return Vec::new();
        };
        if tm.session != session {
            return Vec::new();
        }
        let address = tm.data_address;
        self.taskmanagers.remove(name);
        self.detector.remove(&name.to_string());
        tracing::error!(taskmanager = name, %address, reason, "TaskManager lost");
        let mut out = Vec::new();
        for job in self.jobs.values_mut() {
            let before = job.pending.len();
            job.pending.retain(|_, tm| tm != name);
            job.slots.retain(|(tm, _)| tm != name);
            if before == job.pending.len() {
                continue;
            }
            job.blame(
                Failure::new(
                    FailureClass::LostPeer,
                    true,
                    format!("TaskManager `{name}` ({address}) lost: {reason}"),
                )
                .on(name),
            );
            out.extend(job.fail());
        }
        self.settle(now);
        out
    }

    /// Accepts `graph` as a new job; it waits for slots from the next [`ClusterState::tick`].
    pub fn submit(&mut self, id: String, graph: JobGraph, now: Instant) -> Vec<Outgoing> {
        self.submit_resuming(id, graph, None, now)
    }

    /// [`ClusterState::submit`], with state from the checkpoint or savepoint at `restore`.
    pub fn submit_resuming(
        &mut self,
        id: String,
        graph: JobGraph,
        restore: Option<RestorePoint>,
        now: Instant,
    ) -> Vec<Outgoing> {
        let options = SubmitOptions {
            restore,
            ..SubmitOptions::default()
        };
        self.submit_with(id, graph, options, now)
    }

    /// [`ClusterState::submit`], as `options` say.
    pub fn submit_with(
        &mut self,
        id: String,
        graph: JobGraph,
        options: SubmitOptions,
        now: Instant,
    ) -> Vec<Outgoing> {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let mut job = Job::new(id.clone(), sequence, graph, now);
        job.restore_id = options.restore.as_ref().map(|r| r.id);
        job.restore = options.restore.map(|r| r.dir);
        job.earlier = options.earlier_checkpoints;
        job.storage = options.checkpoint_storage;
        job.enter(JobStatus::Scheduling);
        self.ids.insert(id, sequence);
        self.jobs.insert(sequence, job);
        self.tick(now)
    }

    /// Time passed: lost TaskManagers, jobs that can now be scheduled, jobs that waited too long.
    pub fn tick(&mut self, now: Instant) -> Vec<Outgoing> {
        let mut out = Vec::new();
        for name in self.detector.poll_lost(now) {
            if let Some(session) = self.taskmanagers.get(&name).map(|tm| tm.session) {
                let reason = format!("no heartbeat for {:?}", self.timeouts.heartbeat);
                out.extend(self.taskmanager_lost(&name, session, &reason, now));
            }
        }
        let waiting: Vec<u32> = self
            .jobs
            .values()
            .filter(|job| job.wants_slots(now))
            .map(|job| job.sequence)
            .collect();
        for sequence in waiting {
            out.extend(self.try_schedule(sequence, now));
        }
        for job in self.jobs.values_mut() {
            out.extend(job.step_checkpoints(Vec::new()));
        }
        self.settle(now);
        out
    }

    /// A task of `job` took its part of a checkpoint.
    pub fn checkpoint_ack(&mut self, job: &str, ack: CheckpointAck, now: Instant) -> Vec<Outgoing> {
        let Some(job) = self.ids.get(job).and_then(|s| self.jobs.get_mut(s)) else {
            return Vec::new();
        };
        let out = job.step_checkpoints(vec![ack]);
        self.settle(now);
        out
    }

    /// Starts a savepoint of `job` into `dir` (the cluster's savepoint directory when `None`);
    /// with `stop`, the job stops once it is written. Returns the savepoint's id.
    pub fn savepoint(
        &mut self,
        job: &str,
        dir: Option<PathBuf>,
        stop: bool,
    ) -> Result<(u64, Vec<Outgoing>), JobRequestError> {
        let default = self.checkpoint_dir.with_file_name("savepoints");
        let Some(job) = self.ids.get(job).and_then(|s| self.jobs.get_mut(s)) else {
            return Err(JobRequestError::NoSuchJob(job.to_string()));
        };
        job.savepoint(dir.unwrap_or(default), stop)
            .map_err(JobRequestError::Refused)
    }

    fn try_schedule(&mut self, sequence: u32, now: Instant) -> Vec<Outgoing> {
        let offers: Vec<SlotOffer> = self
            .taskmanagers
            .iter()
            .filter(|(_, tm)| tm.slots > tm.used)
            .map(|(name, tm)| SlotOffer {
                taskmanager: name.clone(),
                slots: tm.slots - tm.used,
            })
            .collect();
        let deployed_sequence = self.next_sequence;
        let checkpoint_dir = self.checkpoint_dir.clone();
        let Some(job) = self.jobs.get_mut(&sequence) else {
            return Vec::new();
        };
        let placement = match schedule(&job.graph, &offers) {
            Ok(placement) => placement,
            Err(not_enough) => {
                let waited = now.saturating_duration_since(job.submitted);
                if waited >= self.timeouts.slot_wait {
                    job.blame(Failure::new(
                        FailureClass::ResourceLimit,
                        false,
                        format!("no slots after waiting {waited:.0?}: {not_enough}"),
                    ));
                    job.enter(JobStatus::Failing);
                    job.enter(JobStatus::Failed);
                    job.ended = Some(now);
                }
                return Vec::new();
            }
        };
        let checkpoint_storage = job.start_checkpoints(&checkpoint_dir);
        // A fresh sequence per deployment: a restarted run's channels never meet the old one's.
        self.next_sequence += 1;
        let peers: Vec<PeerInfo> = offers
            .iter()
            .map(|offer| PeerInfo {
                name: offer.taskmanager.clone(),
                data_address: self.taskmanagers[&offer.taskmanager].data_address,
            })
            .collect();
        let mut held = vec![0u32; offers.len()];
        for slot in &placement.slots {
            held[slot.taskmanager] += 1;
        }
        job.slots = offers
            .iter()
            .zip(&held)
            .filter(|(_, n)| **n > 0)
            .map(|(offer, n)| (offer.taskmanager.clone(), *n))
            .collect();
        for (name, n) in &job.slots {
            if let Some(tm) = self.taskmanagers.get_mut(name) {
                tm.used += n;
            }
        }
        job.deployed_on = job.slots.iter().map(|(tm, _)| tm.clone()).collect();
        let mut where_: Vec<Vec<usize>> = Vec::new();
        for vertex in &job.graph.vertices {
            let row: Vec<usize> = (0..vertex.parallelism)
                .map(|subtask| placement.taskmanager(vertex.id, subtask))
                .collect();
            for (subtask, tm) in row.iter().enumerate() {
                job.pending
                    .insert((vertex.id, subtask as u32), peers[*tm].name.clone());
            }
            where_.push(row);
        }
        let deployment = Deployment {
            job: job.id.clone(),
            sequence: deployed_sequence,
            graph: (*job.graph).clone(),
            placement: where_,
            taskmanagers: peers,
            checkpoint_storage,
            restore: job.restore.as_ref().map(|p| p.display().to_string()),
        };
        job.started.get_or_insert(now);
        job.restart_at = None;
        job.enter(JobStatus::Running);
        job.slots
            .iter()
            .map(|(tm, _)| {
                (
                    tm.clone(),
                    ToTaskManager::Deploy(Box::new(deployment.clone())),
                )
            })
            .collect()
    }

    /// A task of `job` ended on TaskManager `from`.
    pub fn task_ended(
        &mut self,
        from: &str,
        job: &str,
        end: TaskEnd,
        now: Instant,
    ) -> Vec<Outgoing> {
        let TaskEnd {
            task,
            counters,
            result,
            final_state,
            awaiting_commit,
        } = end;
        let Some(job) = self.ids.get(job).and_then(|s| self.jobs.get_mut(s)) else {
            return Vec::new();
        };
        if job.pending.get(&task).map(String::as_str) != Some(from) {
            return Vec::new();
        }
        if !awaiting_commit {
            job.pending.remove(&task);
        }
        job.counters.insert(task, counters);
        let mut out = Vec::new();
        match result {
            Err(error) => {
                job.blame(error.on(from));
                out.extend(job.fail());
            }
            // A finished task leaves its final state to later checkpoints; the rest go on.
            Ok(()) => out.extend(job.task_finished(task, final_state, awaiting_commit)),
        }
        self.settle(now);
        out
    }

    /// TaskManager `from` could not deploy its share of `job`.
    pub fn deploy_failed(
        &mut self,
        from: &str,
        job: &str,
        failure: Failure,
        now: Instant,
    ) -> Vec<Outgoing> {
        let Some(job) = self.ids.get(job).and_then(|s| self.jobs.get_mut(s)) else {
            return Vec::new();
        };
        job.pending.retain(|_, tm| tm != from);
        let message = format!("cannot deploy on `{from}`: {}", failure.message);
        job.blame(Failure { message, ..failure }.on(from));
        let out = job.fail();
        self.settle(now);
        out
    }

    /// Live counters of `job`'s tasks on one TaskManager.
    pub fn progress(&mut self, job: &str, tasks: Vec<TaskCounters>, now: Instant) {
        if let Some(job) = self.ids.get(job).and_then(|s| self.jobs.get_mut(s)) {
            for counters in tasks {
                if job
                    .pending
                    .contains_key(&(counters.vertex, counters.subtask))
                {
                    job.counters
                        .insert((counters.vertex, counters.subtask), counters);
                }
            }
            let totals = JobProgress::aggregate(
                Duration::ZERO,
                &job.graph.vertex_names(),
                job.counters.values(),
            );
            job.rates.record(now, &totals);
        }
    }

    /// Asks `job` to stop; `Err` says why it cannot.
    pub fn cancel(&mut self, job: &str, now: Instant) -> Result<Vec<Outgoing>, JobRequestError> {
        let Some(job) = self.ids.get(job).and_then(|s| self.jobs.get_mut(s)) else {
            return Err(JobRequestError::NoSuchJob(job.to_string()));
        };
        if job.status.is_terminal() {
            return Err(JobRequestError::Refused(format!(
                "job `{}` already {}",
                job.id, job.status
            )));
        }
        if matches!(job.status, JobStatus::Failing | JobStatus::Cancelling) {
            return Ok(Vec::new());
        }
        job.enter(JobStatus::Cancelling);
        let out = job.cancel_messages();
        self.settle(now);
        Ok(out)
    }

    /// Ends (or restarts) jobs with no task left and frees their slots.
    fn settle(&mut self, now: Instant) {
        for job in self.jobs.values_mut() {
            if !job.pending.is_empty() || job.status.is_terminal() {
                continue;
            }
            match job.status {
                JobStatus::Running => {
                    job.enter(JobStatus::Finishing);
                    job.enter(JobStatus::Finished);
                }
                JobStatus::Failing => job.failed(now),
                JobStatus::Cancelling => job.enter(JobStatus::Cancelled),
                _ => continue,
            }
            if job.status.is_terminal() {
                job.ended.get_or_insert(now);
                if let Some(checkpoints) = &mut job.checkpoints {
                    checkpoints.on_job_ended(&job.id);
                }
            }
            for (name, n) in job.slots.drain(..) {
                if let Some(tm) = self.taskmanagers.get_mut(&name) {
                    tm.used = tm.used.saturating_sub(n);
                }
            }
        }
    }

    /// The checkpoint storage work every job asked for since the last call, in order per job:
    /// the caller carries it out outside any lock and hands each completion's result to
    /// [`ClusterState::storage_done`].
    pub fn take_storage_work(&mut self) -> Vec<(String, StorageWork)> {
        self.jobs
            .values_mut()
            .flat_map(|job| {
                let id = job.id.clone();
                job.take_storage_work()
                    .into_iter()
                    .map(move |w| (id.clone(), w))
            })
            .collect()
    }

    /// What came of writing one of `job`'s checkpoints (see [`StorageWork::Complete`]).
    pub fn storage_done(&mut self, job: &str, done: StorageDone, now: Instant) -> Vec<Outgoing> {
        let Some(job) = self.ids.get(job).and_then(|s| self.jobs.get_mut(s)) else {
            return Vec::new();
        };
        let out = job.storage_done(done);
        self.settle(now);
        out
    }
}
