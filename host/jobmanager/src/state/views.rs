//! What the JobManager's state shows: the REST views of jobs, their graphs and checkpoints,
//! TaskManagers and the cluster, read off [`ClusterState`] without changing it.

use super::ClusterState;
use crate::job::Job;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use weir_core::coordinator::CompletedCheckpoint;
use weir_proto::progress::JobProgress;
use weir_proto::rest::{
    CheckpointSummary, GraphEdge, GraphVertex, GraphView, JobSummary, JobView, Overview,
    TaskManagerView,
};
use weir_proto::status::JobStatus;

impl ClusterState {
    /// Every job, oldest first.
    pub fn jobs(&self, now: Instant) -> Vec<JobSummary> {
        self.jobs.values().map(|job| job.summary(now)).collect()
    }

    /// One job in full.
    pub fn job(&self, id: &str, now: Instant) -> Option<JobView> {
        let job = self.ids.get(id).and_then(|s| self.jobs.get(s))?;
        let summary = job.summary(now);
        let elapsed = Duration::from_millis(summary.duration_ms);
        let last = job.checkpoints.as_ref().and_then(|c| c.completed.last());
        let mut progress =
            JobProgress::aggregate(elapsed, &job.graph.vertex_names(), job.counters.values());
        job.rates.apply(&mut progress);
        Some(JobView {
            progress,
            summary,
            error: job.error.clone(),
            taskmanagers: job.deployed_on.clone(),
            restarts: job.restarts.restarts(),
            failures: job.failures.clone(),
            checkpoints: job
                .checkpoints
                .as_ref()
                .map_or(0, |c| c.completed.len() as u64),
            latest_checkpoint: job
                .checkpoints
                .as_ref()
                .and_then(|c| c.latest.as_ref())
                .map(|(_, dir)| dir)
                .map(|p| p.display().to_string()),
            checkpoint_history: job
                .checkpoints
                .iter()
                .flat_map(|c| c.completed.iter().rev().take(20).rev())
                .map(|c| CheckpointSummary {
                    id: c.id,
                    duration_ms: c.duration.as_millis() as u64,
                    bytes: c.bytes(),
                })
                .collect(),
            last_checkpoint_ms: last.map(|c| c.duration.as_millis() as u64),
            last_checkpoint_bytes: last.map(|c| c.bytes()),
            savepoint: job.savepoint.as_ref().map(|p| p.display().to_string()),
            savepoint_error: job.savepoint_error.clone(),
        })
    }

    /// The graph of job `id`, as the dashboard draws it.
    pub fn graph(&self, id: &str) -> Option<GraphView> {
        let job = self.ids.get(id).and_then(|s| self.jobs.get(s))?;
        Some(GraphView {
            vertices: job
                .graph
                .vertices
                .iter()
                .map(|v| GraphVertex {
                    id: v.id,
                    name: v.name.clone(),
                    parallelism: v.parallelism,
                    steps: v.operators.iter().map(|o| o.name.clone()).collect(),
                })
                .collect(),
            edges: job
                .graph
                .edges
                .iter()
                .map(|e| GraphEdge {
                    source: e.source,
                    target: e.target,
                    partitioning: format!("{:?}", e.partitioning).to_lowercase(),
                    dead_letter: e.dead_letter,
                })
                .collect(),
        })
    }

    /// Every registered TaskManager.
    pub fn taskmanagers(&self, now: Instant) -> Vec<TaskManagerView> {
        self.taskmanagers
            .iter()
            .map(|(name, tm)| TaskManagerView {
                name: name.clone(),
                data_address: tm.data_address.to_string(),
                slots: tm.slots,
                free_slots: tm.slots.saturating_sub(tm.used),
                last_heartbeat_ms: now.saturating_duration_since(tm.last_seen).as_millis() as u64,
                resident_bytes: tm.resident_bytes,
            })
            .collect()
    }

    /// The checkpoints completed in `id`'s current (or last) run, in order.
    pub fn completed_checkpoints(&self, id: &str) -> Vec<CompletedCheckpoint> {
        self.find(id)
            .and_then(|job| job.checkpoints.as_ref())
            .map(|c| c.completed.clone())
            .unwrap_or_default()
    }

    /// The newest completed checkpoint of `id`'s current (or last) run.
    pub fn latest_checkpoint(&self, id: &str) -> Option<PathBuf> {
        self.find(id)
            .and_then(|job| job.checkpoints.as_ref())
            .and_then(|c| c.latest.as_ref())
            .map(|(_, dir)| dir.clone())
    }

    /// The checkpoint or savepoint `id`'s next (or current) run restores.
    pub fn restoring_from(&self, id: &str) -> Option<PathBuf> {
        self.find(id).and_then(|job| job.restore.clone())
    }

    fn find(&self, id: &str) -> Option<&Job> {
        self.ids.get(id).and_then(|s| self.jobs.get(s))
    }

    /// The cluster at a glance.
    pub fn overview(&self) -> Overview {
        let count = |status: JobStatus| self.jobs.values().filter(|j| j.status == status).count();
        Overview {
            version: env!("CARGO_PKG_VERSION").to_string(),
            taskmanagers: self.taskmanagers.len(),
            slots: self.taskmanagers.values().map(|tm| tm.slots).sum(),
            free_slots: self
                .taskmanagers
                .values()
                .map(|tm| tm.slots.saturating_sub(tm.used))
                .sum(),
            jobs_active: self
                .jobs
                .values()
                .filter(|j| !j.status.is_terminal())
                .count(),
            jobs_finished: count(JobStatus::Finished),
            jobs_failed: count(JobStatus::Failed),
            jobs_cancelled: count(JobStatus::Cancelled),
        }
    }
}
