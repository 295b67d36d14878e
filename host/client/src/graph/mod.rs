//! From job spec to JobGraph: the StreamGraph (one node per step, edges with partitioning) and
//! operator chaining (Flink's rule: forward edge, equal parallelism, one input, one output).
//!
//! Pure functions over the spec: no I/O, so every rule is unit-tested. Errors name the field
//! path of the step at fault; the client turns that into file and line.

mod chaining;
mod step_kinds;
mod stream_graph;

#[cfg(test)]
mod tests;

pub use chaining::chain;
pub use stream_graph::{StreamEdge, StreamGraph, StreamNode, build_stream_graph};

use std::collections::BTreeMap;
use std::path::Path;
use weir_proto::graph::{JobConfig, JobGraph, ModuleRef};
use weir_proto::spec::JobSpec;

/// A job spec that does not describe a valid job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct GraphError {
    /// The field at fault, e.g. `pipeline[3].aggregate`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// What would have been valid.
    pub hint: Option<String>,
}

/// Builds the JobGraph of `spec`; relative paths resolve against `base_dir`, module names against
/// `modules`.
pub fn build_job_graph(
    spec: &JobSpec,
    base_dir: &Path,
    modules: &BTreeMap<String, ModuleRef>,
) -> Result<JobGraph, GraphError> {
    let stream_graph = build_stream_graph(spec, base_dir, modules)?;
    let (vertices, edges) = chain(&stream_graph, spec.chaining);
    Ok(JobGraph {
        name: spec.name.clone(),
        config: JobConfig {
            max_parallelism: spec.max_parallelism,
            batch_size: spec.batch_size,
            buffer_timeout_ms: spec.buffer_timeout_ms,
            limits: spec.limits.clone(),
            state_backend: spec.state_backend,
            checkpointing: spec.checkpointing,
            restart_strategy: spec.restart_strategy.unwrap_or_else(|| {
                weir_proto::spec::RestartStrategy::default_for(spec.checkpointing.is_some())
            }),
        },
        modules: modules.clone(),
        vertices,
        edges,
    })
}
