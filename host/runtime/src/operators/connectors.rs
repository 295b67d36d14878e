//! The hook through which sources and sinks of external systems (Kafka, PostgreSQL) reach the
//! task builder. They live in their own crate, `weir-connectors`: their client libraries are
//! heavy to build and nothing else of the runtime needs them.

use super::{Operator, Source};
use crate::error::TaskError;
use weir_proto::spec::{SinkSpec, SourceSpec};

/// Where a connector runs: enough to name it, share its input and tell its transactions apart.
#[derive(Debug, Clone)]
pub struct ConnectorSite {
    /// The job's name (part of transaction ids, so two jobs do not fence each other).
    pub job: String,
    /// The step.
    pub operator: String,
    /// This subtask's index.
    pub subtask: u32,
    /// The step's parallelism.
    pub parallelism: u32,
    /// Records per batch.
    pub batch_size: usize,
    /// Whether the job checkpoints (transactional sinks then commit with checkpoints).
    pub checkpointing: bool,
}

/// Builds the sources and sinks of external systems.
pub trait Connectors: Send + Sync {
    /// The source `spec` for one subtask.
    fn source(&self, spec: &SourceSpec, site: ConnectorSite) -> Result<Box<dyn Source>, TaskError>;

    /// The sink `spec` for one subtask.
    fn sink(&self, spec: &SinkSpec, site: ConnectorSite) -> Result<Box<dyn Operator>, TaskError>;
}

/// No external connectors: a process built without them refuses such steps by name.
pub struct NoConnectors;

impl NoConnectors {
    fn refuse(kind: &str, site: ConnectorSite) -> TaskError {
        TaskError::Config {
            operator: site.operator,
            message: format!("this process was built without the `{kind}` connector"),
        }
    }
}

impl Connectors for NoConnectors {
    fn source(&self, spec: &SourceSpec, site: ConnectorSite) -> Result<Box<dyn Source>, TaskError> {
        Err(Self::refuse(spec.kind(), site))
    }

    fn sink(&self, spec: &SinkSpec, site: ConnectorSite) -> Result<Box<dyn Operator>, TaskError> {
        Err(Self::refuse(spec.kind(), site))
    }
}
