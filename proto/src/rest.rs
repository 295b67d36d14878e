//! What the REST API shows: the JSON the JobManager serves and the client reads.

use crate::failure::Failure;
use crate::progress::JobProgress;
use crate::status::JobStatus;
use serde::{Deserialize, Serialize};

/// A job in the job list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSummary {
    /// The job's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Where it is in its lifecycle.
    pub status: JobStatus,
    /// Milliseconds since it started running (0 before).
    pub duration_ms: u64,
}

/// One job in full.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobView {
    /// Id, name, status and duration.
    #[serde(flatten)]
    pub summary: JobSummary,
    /// Why it failed (or is failing), when it did: the root cause, classified, naming the task
    /// and TaskManager.
    pub error: Option<Failure>,
    /// The TaskManagers its subtasks run on.
    pub taskmanagers: Vec<String>,
    /// Counters per vertex.
    pub progress: JobProgress,
    /// Restarts after failures so far…
    #[serde(default)]
    pub restarts: u32,
    /// …and the failures that caused them, oldest first.
    #[serde(default)]
    pub failures: Vec<Failure>,
    /// Checkpoints completed in the current run.
    #[serde(default)]
    pub checkpoints: u64,
    /// The newest completed checkpoint's directory…
    #[serde(default)]
    pub latest_checkpoint: Option<String>,
    /// …how long it took, ms…
    #[serde(default)]
    pub last_checkpoint_ms: Option<u64>,
    /// …and the bytes written for it.
    #[serde(default)]
    pub last_checkpoint_bytes: Option<u64>,
    /// The completed checkpoints of the current run still in memory, oldest first (at most
    /// the last 20).
    #[serde(default)]
    pub checkpoint_history: Vec<CheckpointSummary>,
    /// The savepoint taken on request, once written.
    #[serde(default)]
    pub savepoint: Option<String>,
    /// Why the savepoint asked for was not taken.
    #[serde(default)]
    pub savepoint_error: Option<String>,
}

/// One completed checkpoint, for the history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointSummary {
    /// Its id.
    pub id: u64,
    /// From trigger to the last acknowledgement, ms.
    pub duration_ms: u64,
    /// State written for it.
    pub bytes: u64,
}

/// A job's graph as the dashboard draws it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphView {
    /// Vertices in topological order.
    pub vertices: Vec<GraphVertex>,
    /// Edges between them (dead-letter edges included, marked).
    pub edges: Vec<GraphEdge>,
}

/// A vertex: a chain of steps run by `parallelism` subtasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphVertex {
    /// Its index (edges refer to it).
    pub id: usize,
    /// Its name (its steps joined by ` -> `, as in progress counters).
    pub name: String,
    /// Subtasks.
    pub parallelism: u32,
    /// Its steps' names, head first.
    pub steps: Vec<String>,
}

/// An edge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphEdge {
    /// Producing vertex.
    pub source: usize,
    /// Consuming vertex.
    pub target: usize,
    /// `forward`, `rebalance`, `hash` or `broadcast`.
    pub partitioning: String,
    /// Whether it carries rejected records to the dead-letter sink.
    pub dead_letter: bool,
}

/// A request for a savepoint of a running job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavepointRequest {
    /// Where the savepoint goes (a directory the JobManager and TaskManagers reach); the
    /// cluster's `savepoints` directory when unset.
    #[serde(default)]
    pub dir: Option<String>,
    /// Stop the job once the savepoint is written.
    #[serde(default)]
    pub stop: bool,
}

/// A registered TaskManager.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskManagerView {
    /// Its identity.
    pub name: String,
    /// Its data endpoint.
    pub data_address: String,
    /// Slots it offers.
    pub slots: u32,
    /// Slots not held by a job.
    pub free_slots: u32,
    /// Milliseconds since its last heartbeat.
    pub last_heartbeat_ms: u64,
    /// Its resident memory at its last heartbeat, when known.
    #[serde(default)]
    pub resident_bytes: Option<u64>,
}

/// The cluster at a glance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Overview {
    /// Weir's version on the JobManager.
    pub version: String,
    /// Registered TaskManagers.
    pub taskmanagers: usize,
    /// All their slots.
    pub slots: u32,
    /// Slots not held by a job.
    pub free_slots: u32,
    /// Jobs not yet ended.
    pub jobs_active: usize,
    /// Jobs that finished.
    pub jobs_finished: usize,
    /// Jobs that failed.
    pub jobs_failed: usize,
    /// Jobs that were cancelled.
    pub jobs_cancelled: usize,
}

/// The JobManager's answer to a job submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submitted {
    /// The new job's id.
    pub id: String,
}
