//! Operator chaining: consecutive nodes joined by a forward edge, with equal parallelism, where
//! the consumer has one input and the producer one output, run as one task with direct calls.

use super::StreamGraph;
use weir_proto::graph::{JobEdge, JobVertex, OperatorDescriptor, OperatorKind, Partitioning};

/// The vertices and edges of `graph`, chaining where allowed (and `enabled`).
pub fn chain(graph: &StreamGraph, enabled: bool) -> (Vec<JobVertex>, Vec<JobEdge>) {
    let data_inputs = |node: usize| {
        graph
            .edges
            .iter()
            .filter(move |e| e.target == node && !e.is_side_output())
    };
    let data_outputs = |node: usize| {
        graph
            .edges
            .iter()
            .filter(move |e| e.source == node && !e.is_side_output())
    };
    let mut vertex_of = vec![0usize; graph.nodes.len()];
    let mut vertices: Vec<JobVertex> = Vec::new();
    for (node, n) in graph.nodes.iter().enumerate() {
        let mut inputs = data_inputs(node);
        let chained_to = match (inputs.next(), inputs.next()) {
            (Some(edge), None)
                if enabled
                    && edge.partitioning == Partitioning::Forward
                    && graph.nodes[edge.source].parallelism == n.parallelism
                    && data_outputs(edge.source).count() == 1
                    && !matches!(n.kind, OperatorKind::DeadLetter(_)) =>
            {
                Some(vertex_of[edge.source])
            }
            _ => None,
        };
        let descriptor = OperatorDescriptor {
            name: n.name.clone(),
            kind: n.kind.clone(),
        };
        match chained_to {
            Some(vertex) => {
                let vertex = &mut vertices[vertex];
                vertex.name = format!("{} -> {}", vertex.name, n.name);
                vertex.operators.push(descriptor);
                vertex_of[node] = vertex.id;
            }
            None => {
                let id = vertices.len();
                vertices.push(JobVertex {
                    id,
                    name: n.name.clone(),
                    parallelism: n.parallelism,
                    operators: vec![descriptor],
                });
                vertex_of[node] = id;
            }
        }
    }
    let mut edges: Vec<JobEdge> = Vec::new();
    for edge in &graph.edges {
        let (source, target) = (vertex_of[edge.source], vertex_of[edge.target]);
        if source == target {
            continue;
        }
        let job_edge = JobEdge {
            source,
            target,
            partitioning: edge.partitioning,
            dead_letter: edge.dead_letter,
            input: edge.input,
            late_of: edge.late_of.clone(),
        };
        // A chain may hold several operators that reject records: one side-output edge is enough.
        if !edges.contains(&job_edge) {
            edges.push(job_edge);
        }
    }
    (vertices, edges)
}
