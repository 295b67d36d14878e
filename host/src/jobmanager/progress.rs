//! Snapshots of a running job's counters, for progress lines and the final summary.

use crate::taskmanager::{TaskActivity, TaskMetrics};
use std::sync::Arc;
use std::time::Duration;

/// Counters of one vertex, summed over its subtasks.
#[derive(Debug, Clone, PartialEq)]
pub struct VertexProgress {
    /// The vertex's name.
    pub name: String,
    /// Its parallelism.
    pub parallelism: u32,
    /// Records in (read, for a source).
    pub records_in: u64,
    /// Records out.
    pub records_out: u64,
    /// Records that reached the last operator of the vertex's chain.
    pub records_to_last: u64,
    /// Records rejected to the dead-letter sink.
    pub records_rejected: u64,
    /// Share of wall time its subtasks spent processing (0..1, averaged).
    pub busy_ratio: f64,
    /// Share of wall time its subtasks spent waiting for downstream room (0..1, averaged).
    pub backpressured_ratio: f64,
    /// How many subtasks are blocked on a full output right now.
    pub backpressured_now: u32,
}

/// A snapshot of the whole job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobProgress {
    /// Time since the job started.
    pub elapsed: Duration,
    /// Per vertex.
    pub vertices: Vec<VertexProgress>,
}

impl JobProgress {
    pub(crate) fn snapshot(
        elapsed: Duration,
        vertices: &[(String, Vec<Arc<TaskMetrics>>)],
    ) -> Self {
        let wall = elapsed.as_nanos().max(1) as f64;
        let vertices = vertices
            .iter()
            .map(|(name, tasks)| {
                let sum = |f: &dyn Fn(&TaskMetrics) -> u64| tasks.iter().map(|t| f(t)).sum::<u64>();
                let n = tasks.len().max(1) as f64;
                VertexProgress {
                    name: name.clone(),
                    parallelism: tasks.len() as u32,
                    records_in: sum(&|t| TaskMetrics::get(&t.records_in)),
                    records_out: sum(&|t| TaskMetrics::get(&t.records_out)),
                    records_to_last: sum(&|t| TaskMetrics::get(&t.records_to_last)),
                    records_rejected: sum(&|t| TaskMetrics::get(&t.records_rejected)),
                    busy_ratio: sum(&|t| TaskMetrics::get(&t.busy_ns)) as f64 / wall / n,
                    backpressured_ratio: sum(&|t| TaskMetrics::get(&t.backpressured_ns)) as f64
                        / wall
                        / n,
                    backpressured_now: tasks
                        .iter()
                        .filter(|t| t.activity() == TaskActivity::Backpressured)
                        .count() as u32,
                }
            })
            .collect();
        JobProgress { elapsed, vertices }
    }
}
