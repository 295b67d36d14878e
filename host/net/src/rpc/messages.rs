//! The control-plane messages.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use weir_proto::failure::Failure;
use weir_proto::graph::JobGraph;
use weir_proto::progress::TaskCounters;
use weir_tasks::{CheckpointAck, CheckpointMail, FinalState};

/// TaskManager → JobManager, on the control stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ToJobManager {
    /// The first message: who this TaskManager is and what it offers.
    Register {
        /// Its identity (its certificate must be valid for it).
        name: String,
        /// Task slots.
        slots: u32,
        /// Where peer TaskManagers reach its data endpoint.
        data_address: SocketAddr,
        /// The Weir version it runs.
        version: String,
    },
    /// Still alive.
    Heartbeat {
        /// Its resident memory, when the platform tells (for the dashboard).
        #[serde(default)]
        resident_bytes: Option<u64>,
    },
    /// Live counters of its tasks of `job`.
    Progress {
        /// The job's id.
        job: String,
        /// One entry per local task.
        tasks: Vec<TaskCounters>,
    },
    /// A task ended (or finished its input and awaits a commit).
    TaskEnded {
        /// The job's id.
        job: String,
        /// Its vertex.
        vertex: usize,
        /// Its subtask.
        subtask: u32,
        /// Its final counters.
        counters: TaskCounters,
        /// `Ok` when it ran to the end of its input.
        result: Result<(), Failure>,
        /// Its part of later checkpoints, when it ran to its end in a checkpointing job.
        #[serde(default)]
        final_state: Option<FinalState>,
        /// It ran to its end but still runs, waiting for a checkpoint with its final state to
        /// commit its output; it reports again when it ends.
        #[serde(default)]
        awaiting_commit: bool,
    },
    /// A task of `job` took its part of a checkpoint (or declined).
    CheckpointAck {
        /// The job's id.
        job: String,
        /// The acknowledgement.
        ack: CheckpointAck,
    },
    /// Its share of `job` could not be deployed (no task of it runs).
    DeployFailed {
        /// The job's id.
        job: String,
        /// Why.
        failure: Failure,
    },
}

/// JobManager → TaskManager, on the control stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ToTaskManager {
    /// Registration accepted.
    Registered,
    /// Registration refused; the connection closes after this.
    Refused {
        /// Why.
        reason: String,
    },
    /// The JobManager is alive.
    Heartbeat,
    /// Run this TaskManager's share of a job.
    Deploy(Box<Deployment>),
    /// Checkpoint mail for the tasks of a job here (triggers go to its source subtasks).
    Checkpoint {
        /// The job's id.
        job: String,
        /// The mail.
        mail: CheckpointMail,
    },
    /// Stop every task of a job.
    Cancel {
        /// The job's id.
        job: String,
    },
}

/// A job as one TaskManager runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    /// The job's id.
    pub job: String,
    /// A number unique to this job in the JobManager's lifetime; the high half of the job's
    /// data channel ids, so channels of different jobs never meet.
    pub sequence: u32,
    /// The whole graph (module paths name the client's machine; modules go by sha256).
    pub graph: JobGraph,
    /// `placement[vertex][subtask]`: index into `taskmanagers` of where that subtask runs.
    pub placement: Vec<Vec<usize>>,
    /// The TaskManagers the job runs on.
    pub taskmanagers: Vec<PeerInfo>,
    /// Where the job's checkpoints go (a directory every TaskManager reaches), when it takes
    /// checkpoints or savepoints.
    #[serde(default)]
    pub checkpoint_storage: Option<String>,
    /// The checkpoint or savepoint to restore state from.
    #[serde(default)]
    pub restore: Option<String>,
}

/// A TaskManager as its peers reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Its identity.
    pub name: String,
    /// Its data endpoint.
    pub data_address: SocketAddr,
}

/// TaskManager → JobManager, first frame of a module stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModuleRequest {
    /// Hex sha256 of the module wanted.
    pub sha256: String,
}

/// JobManager → TaskManager, answer on a module stream; `Found` is followed by the bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ModuleReply {
    /// The module's bytes follow, this many.
    Found {
        /// Length in bytes.
        bytes: u64,
    },
    /// The JobManager does not have it.
    Missing {
        /// Why.
        reason: String,
    },
}
