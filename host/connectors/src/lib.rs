//! Weir's connectors to external systems: Kafka topics in and out (offsets in checkpoints,
//! transactions committed with checkpoints) and PostgreSQL tables out (two-phase commit or
//! idempotent upserts). The TaskManager hands [`ExternalConnectors`] to the task builder; the
//! runtime itself knows these only as sources and operators.

mod kafka;
mod postgres;
mod properties;

pub use kafka::{KafkaSink, KafkaSource};
pub use postgres::PostgresSink;

use weir_proto::spec::{SinkSpec, SourceSpec};
use weir_runtime::error::TaskError;
use weir_runtime::operators::{ConnectorSite, Connectors, Operator, Source};

/// Every connector of this crate.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExternalConnectors;

impl Connectors for ExternalConnectors {
    fn source(&self, spec: &SourceSpec, site: ConnectorSite) -> Result<Box<dyn Source>, TaskError> {
        match spec {
            SourceSpec::Kafka(kafka) => Ok(Box::new(KafkaSource::new(kafka.clone(), site))),
            other => Err(TaskError::Internal(format!(
                "a `{}` source is not an external connector",
                other.kind()
            ))),
        }
    }

    fn sink(&self, spec: &SinkSpec, site: ConnectorSite) -> Result<Box<dyn Operator>, TaskError> {
        match spec {
            SinkSpec::Kafka(kafka) => Ok(Box::new(KafkaSink::new(kafka.clone(), site))),
            SinkSpec::Postgres(postgres) => Ok(Box::new(PostgresSink::new(postgres.clone(), site))),
            other => Err(TaskError::Internal(format!(
                "a `{}` sink is not an external connector",
                other.kind()
            ))),
        }
    }
}
