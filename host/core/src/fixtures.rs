//! JobGraphs for unit tests of schedulers and supervisors: vertices of given parallelism, no operators.

use weir_proto::graph::{JobConfig, JobGraph, JobVertex};
use weir_proto::spec::UdfLimits;

/// A graph with one vertex per entry of `parallelism`.
pub fn graph(parallelism: &[u32]) -> JobGraph {
    JobGraph {
        name: "g".into(),
        config: JobConfig {
            max_parallelism: 128,
            batch_size: 1024,
            buffer_timeout_ms: 100,
            limits: UdfLimits::default(),
            state_backend: Default::default(),
            checkpointing: None,
            restart_strategy: weir_proto::spec::RestartStrategy::None,
        },
        modules: Default::default(),
        vertices: parallelism
            .iter()
            .enumerate()
            .map(|(id, &p)| JobVertex {
                id,
                name: format!("v{id}"),
                parallelism: p,
                operators: Vec::new(),
            })
            .collect(),
        edges: Vec::new(),
    }
}
