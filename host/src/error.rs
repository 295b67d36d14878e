//! Task failures, typed by cause, each carrying its culprit and a class that drives recovery.

use crate::operators::Rejection;
use crate::wasm::{ModuleError, UdfError};

/// Who is at fault for a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOrigin {
    /// The job: its spec, its UDFs or its data.
    User,
    /// Something outside Weir: a file, a disk, a peer.
    External,
    /// Weir itself: an invariant broke.
    Internal,
}

/// How a failure should be handled: who caused it and whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClass {
    /// Who is at fault.
    pub origin: ErrorOrigin,
    /// Whether a restart may succeed.
    pub retryable: bool,
}

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
    /// How to handle this failure.
    pub fn class(&self) -> ErrorClass {
        let (origin, retryable) = match self {
            TaskError::Udf { error, .. } => (ErrorOrigin::User, !error.failure.is_deterministic()),
            TaskError::Rejected(_) | TaskError::Config { .. } => (ErrorOrigin::User, false),
            TaskError::Module(_) => (ErrorOrigin::User, false),
            TaskError::Io { .. } | TaskError::Network { .. } | TaskError::State { .. } => {
                (ErrorOrigin::External, true)
            }
            TaskError::UpstreamLost { .. }
            | TaskError::DownstreamLost { .. }
            | TaskError::Cancelled => (ErrorOrigin::Internal, true),
            TaskError::Internal(_) => (ErrorOrigin::Internal, false),
        };
        ErrorClass { origin, retryable }
    }

    /// Whether a restart may get past this failure: not a configuration the job will meet
    /// again, a module that does not load, or a cancellation.
    pub fn is_restartable(&self) -> bool {
        !matches!(
            self,
            TaskError::Config { .. } | TaskError::Module(_) | TaskError::Cancelled
        )
    }

    /// Whether this failure only echoes another task's (lost peers, cancellation): the
    /// JobManager reports the root cause, not its echoes.
    pub fn is_secondary(&self) -> bool {
        matches!(
            self,
            TaskError::UpstreamLost { .. }
                | TaskError::DownstreamLost { .. }
                | TaskError::Cancelled
                | TaskError::Network {
                    peer_lost: true,
                    ..
                }
        )
    }
}
