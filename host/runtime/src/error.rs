//! Task failures, typed by cause, each carrying its culprit and a class that drives recovery.

use crate::operators::Rejection;
use weir_proto::failure::{Failure, FailureClass};
use weir_state::{OperatorStateError, StateError};
use weir_wasm::{ModuleError, UdfError, UdfFailure};

/// Why a task stopped before its input ended.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A UDF call failed (trap, time limit, memory limit, bad output).
    #[error("step `{operator}`: {error}{}", record.as_ref().map(|r| format!("\n  record: {r}")).unwrap_or_default())]
    Udf {
        /// The step whose UDF failed.
        operator: String,
        /// The failure, naming module and export.
        error: UdfError,
        /// The input record that caused it, when it could be isolated.
        record: Option<String>,
    },
    /// A record was rejected and the job has no dead-letter sink.
    #[error(
        "{0}\n  hint: add a `dead_letter:` sink to the job spec to route bad records there instead of failing the job"
    )]
    Rejected(Box<Rejection>),
    /// A module could not be loaded or linked.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// A file or stream could not be read or written.
    #[error("step `{operator}`: {path}: {source}")]
    Io {
        /// The step.
        operator: String,
        /// The file or stream.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A step's configuration cannot work (found when the task starts).
    #[error("step `{operator}`: {message}")]
    Config {
        /// The step.
        operator: String,
        /// What is wrong.
        message: String,
    },
    /// An external system a connector talks to (a Kafka broker, a database) failed or could not
    /// be reached: the restart strategy applies, as for a lost peer.
    #[error("step `{operator}`: {system} at {address}: {detail}")]
    External {
        /// The step.
        operator: String,
        /// Which kind of system ("Kafka", "PostgreSQL").
        system: &'static str,
        /// Where it was reached (brokers, host and port).
        address: String,
        /// What failed.
        detail: String,
    },
    /// An upstream task went away without ending its stream (it failed or was cancelled).
    #[error("input from `{upstream}` ended without end-of-stream: that task stopped")]
    UpstreamLost {
        /// The upstream vertex's name.
        upstream: String,
    },
    /// A channel from another TaskManager broke.
    #[error("input from `{upstream}`: {detail}")]
    Network {
        /// The upstream vertex's name.
        upstream: String,
        /// What broke.
        detail: String,
        /// Whether the peer went away (an echo of its failure) rather than sent bad data.
        peer_lost: bool,
    },
    /// A downstream task went away (it failed or was cancelled).
    #[error("output to `{downstream}` is closed: that task stopped")]
    DownstreamLost {
        /// The downstream vertex's name.
        downstream: String,
    },
    /// The state backend failed (a RocksDB read or write, its directory).
    #[error("step `{operator}`: state backend: {detail}")]
    State {
        /// The step whose state it is.
        operator: String,
        /// What failed, naming the store's directory.
        detail: String,
    },
    /// The job was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// An invariant broke inside Weir.
    #[error("internal error: {0}")]
    Internal(String),
}

impl TaskError {
    /// This failure as data, classified: the one place a task's failure is classified, so
    /// restarts, root-cause choice, REST and the dashboard agree. `task` names the subtask.
    pub fn failure(&self, task: &str) -> Failure {
        let (class, retryable, secondary) = self.classify();
        let mut failure = Failure::new(class, retryable, self.to_string()).in_task(task);
        failure.secondary = secondary;
        match self {
            TaskError::Udf { error, record, .. } => {
                failure.module = Some(error.module.to_string());
                failure.export = Some(error.export.clone());
                failure.record = record.clone();
            }
            TaskError::Rejected(rejection) => {
                failure.module = rejection.module.as_ref().map(ToString::to_string);
                failure.export = rejection.export.clone();
                failure.record = Some(rejection.record.to_string());
            }
            _ => {}
        }
        failure
    }

    /// Class, whether a restart may get past it, whether it echoes another failure.
    fn classify(&self) -> (FailureClass, bool, bool) {
        use FailureClass::*;
        match self {
            TaskError::Udf { error, .. } => match error.failure {
                UdfFailure::Timeout { .. } | UdfFailure::MemoryLimit { .. } => {
                    (ResourceLimit, true, false)
                }
                UdfFailure::State { .. } => (Storage, true, false),
                _ => (UserCode, true, false),
            },
            TaskError::Rejected(_) => (UserCode, true, false),
            TaskError::Module(_) | TaskError::Config { .. } => (Configuration, false, false),
            TaskError::Io { .. } | TaskError::State { .. } => (Storage, true, false),
            TaskError::Network {
                peer_lost: false, ..
            }
            | TaskError::External { .. } => (Network, true, false),
            TaskError::Network {
                peer_lost: true, ..
            }
            | TaskError::UpstreamLost { .. }
            | TaskError::DownstreamLost { .. } => (LostPeer, true, true),
            TaskError::Cancelled => (LostPeer, false, true),
            TaskError::Internal(_) => (Internal, true, false),
        }
    }
}

/// A state error as the task error of `operator`.
pub fn task_error(operator: &str, error: StateError) -> TaskError {
    TaskError::State {
        operator: operator.to_string(),
        detail: error.to_string(),
    }
}

impl From<OperatorStateError> for TaskError {
    fn from(failed: OperatorStateError) -> Self {
        task_error(&failed.operator, failed.error)
    }
}
