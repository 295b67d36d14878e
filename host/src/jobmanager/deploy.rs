//! Deployment: the local channels of every edge and the operators of every subtask, all made
//! before any task starts, so a job that cannot start fails with nothing running.

use crate::error::TaskError;
use crate::operators::{OperatorFactory, build_chain};
use crate::taskmanager::{InputChannel, RecordWriter, StreamElement, TaskDeployment, TaskMetrics};
use std::sync::Arc;
use std::time::Duration;
use weir_proto::graph::{JobGraph, Partitioning};

/// Batches a local channel holds before its producer blocks.
const CHANNEL_CAPACITY: usize = 4;

/// A subtask that could not be deployed.
#[derive(Debug)]
pub(crate) struct DeployError {
    pub(crate) task: String,
    pub(crate) error: TaskError,
}

/// Makes every subtask's deployment for `graph`.
pub(crate) fn deployments(
    graph: &JobGraph,
    factory: &OperatorFactory<'_>,
) -> Result<Vec<TaskDeployment>, DeployError> {
    let batch_size = graph.config.batch_size as usize;
    let mut inputs: Vec<Vec<Vec<InputChannel>>> = graph
        .vertices
        .iter()
        .map(|v| (0..v.parallelism).map(|_| Vec::new()).collect())
        .collect();
    let mut outputs: Vec<Vec<Vec<RecordWriter>>> = graph
        .vertices
        .iter()
        .map(|v| (0..v.parallelism).map(|_| Vec::new()).collect())
        .collect();
    let mut dead_letters: Vec<Vec<Option<RecordWriter>>> = graph
        .vertices
        .iter()
        .map(|v| (0..v.parallelism).map(|_| None).collect())
        .collect();
    for edge in &graph.edges {
        let (producer, consumer) = (&graph.vertices[edge.source], &graph.vertices[edge.target]);
        for i in 0..producer.parallelism as usize {
            let targets: Vec<usize> = match edge.partitioning {
                Partitioning::Forward => vec![i],
                _ => (0..consumer.parallelism as usize).collect(),
            };
            let mut senders = Vec::with_capacity(targets.len());
            for j in targets {
                let (sender, receiver) =
                    crossbeam_channel::bounded::<StreamElement>(CHANNEL_CAPACITY);
                senders.push(sender);
                inputs[edge.target][j].push(InputChannel {
                    receiver,
                    upstream: producer.name.clone(),
                });
            }
            let writer = RecordWriter::new(
                consumer.name.clone(),
                edge.partitioning,
                senders,
                batch_size,
                graph.config.max_parallelism,
            );
            if edge.dead_letter {
                dead_letters[edge.source][i] = Some(writer);
            } else {
                outputs[edge.source][i].push(writer);
            }
        }
    }
    let mut deployments = Vec::new();
    for vertex in &graph.vertices {
        let vertex_inputs = std::mem::take(&mut inputs[vertex.id]);
        let vertex_outputs = std::mem::take(&mut outputs[vertex.id]);
        let vertex_dead_letters = std::mem::take(&mut dead_letters[vertex.id]);
        for (subtask, ((inputs, outputs), dead_letters)) in vertex_inputs
            .into_iter()
            .zip(vertex_outputs)
            .zip(vertex_dead_letters)
            .enumerate()
        {
            let name = format!("{}[{}/{}]", vertex.name, subtask + 1, vertex.parallelism);
            let chain =
                build_chain(factory, vertex, subtask as u32).map_err(|error| DeployError {
                    task: name.clone(),
                    error,
                })?;
            deployments.push(TaskDeployment {
                name,
                vertex: vertex.id,
                subtask: subtask as u32,
                chain,
                inputs,
                outputs,
                dead_letters,
                buffer_timeout: Duration::from_millis(graph.config.buffer_timeout_ms),
                metrics: Arc::new(TaskMetrics::default()),
            });
        }
    }
    Ok(deployments)
}
