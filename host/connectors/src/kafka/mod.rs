//! Kafka: a source reading partitions with their offsets in checkpoints, and a sink writing one
//! transaction per checkpoint (or at least once).

mod partitions;
mod sink;
mod source;

pub use sink::KafkaSink;
pub use source::KafkaSource;

use crate::properties::resolve;
use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::time::Duration;
use weir_runtime::error::TaskError;

/// How long a metadata, offset or commit request may take before the step fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings of a client of `brokers`: Weir's own, then the job's `properties` over them.
fn client_config(
    operator: &str,
    brokers: &str,
    own: &[(&str, &str)],
    properties: &BTreeMap<String, String>,
) -> Result<ClientConfig, TaskError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (key, value) in own {
        config.set(*key, *value);
    }
    for (key, value) in properties {
        config.set(key, resolve(operator, key, value)?);
    }
    Ok(config)
}

/// A failure of the brokers at `brokers`, as the step's error.
fn broker_error(operator: &str, brokers: &str, detail: impl std::fmt::Display) -> TaskError {
    TaskError::External {
        operator: operator.to_string(),
        system: "Kafka",
        address: brokers.to_string(),
        detail: detail.to_string(),
    }
}
