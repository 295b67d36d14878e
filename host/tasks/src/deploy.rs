//! Deployment: the channels of every edge and the operators of every subtask, all made before
//! any task starts, so a job that cannot start fails with nothing running. Channels come from a
//! [`ChannelFactory`]: local bounded queues, or queues bridged over QUIC when producer and
//! consumer run on different TaskManagers.

use crate::in_flight::{self, IN_FLIGHT_SUFFIX};
use crate::{InputChannel, RecordWriter, StreamElement, TaskDeployment, TaskMetrics};
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;
use weir_proto::graph::{JobGraph, Partitioning};
use weir_runtime::error::TaskError;
use weir_runtime::operators::{OperatorFactory, build_chain};

/// Batches a local channel holds before its producer blocks.
pub const CHANNEL_CAPACITY: usize = 4;

/// The ends of a channel that live in this TaskManager: the sending end if the producer runs
/// here, the receiving end if the consumer does.
pub type LocalEnds = (
    Option<Sender<StreamElement>>,
    Option<Receiver<StreamElement>>,
);

/// Makes the channels of a job's edges, and says which subtasks run in this TaskManager.
pub trait ChannelFactory {
    /// Whether subtask `subtask` of vertex `vertex` runs here (by default every one does).
    fn runs_here(&self, _vertex: usize, _subtask: u32) -> bool {
        true
    }

    /// The channel from subtask `producer.1` of vertex `producer.0` to subtask `consumer.1` of
    /// vertex `consumer.0`. `index` numbers the job's channels in the order every TaskManager
    /// enumerates them, so both ends of a channel crossing TaskManagers name it alike. Called
    /// only when at least one end runs here.
    fn channel(
        &mut self,
        index: u64,
        producer: (usize, u32),
        consumer: (usize, u32),
    ) -> Result<LocalEnds, TaskError>;
}

/// Every channel local: all subtasks in one TaskManager.
pub struct LocalChannels;

impl ChannelFactory for LocalChannels {
    fn channel(
        &mut self,
        _index: u64,
        _producer: (usize, u32),
        _consumer: (usize, u32),
    ) -> Result<LocalEnds, TaskError> {
        let (sender, receiver) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        Ok((Some(sender), Some(receiver)))
    }
}

/// A subtask that could not be deployed.
#[derive(Debug)]
pub struct DeployError {
    /// The task, `vertex[subtask/parallelism]`.
    pub task: String,
    /// Why it could not be built.
    pub error: TaskError,
}

/// Makes every subtask's deployment for `graph`.
pub fn deployments(
    graph: &JobGraph,
    factory: &OperatorFactory<'_>,
    channels: &mut dyn ChannelFactory,
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
    let mut late_outputs: Vec<Vec<Vec<(String, RecordWriter)>>> = graph
        .vertices
        .iter()
        .map(|v| (0..v.parallelism).map(|_| Vec::new()).collect())
        .collect();
    let mut index = 0u64;
    for edge in &graph.edges {
        let (producer, consumer) = (&graph.vertices[edge.source], &graph.vertices[edge.target]);
        for i in 0..producer.parallelism as usize {
            let targets: Vec<usize> = match edge.partitioning {
                Partitioning::Forward => vec![i],
                _ => (0..consumer.parallelism as usize).collect(),
            };
            let producer_here = channels.runs_here(edge.source, i as u32);
            let mut senders = Vec::with_capacity(targets.len());
            for j in targets {
                let channel = index;
                index += 1;
                if !producer_here && !channels.runs_here(edge.target, j as u32) {
                    continue;
                }
                let (sender, receiver) = channels
                    .channel(channel, (edge.source, i as u32), (edge.target, j as u32))
                    .map_err(|error| DeployError {
                        task: format!("{}[{}/{}]", producer.name, i + 1, producer.parallelism),
                        error,
                    })?;
                senders.extend(sender);
                if let Some(receiver) = receiver {
                    inputs[edge.target][j].push(InputChannel {
                        receiver,
                        upstream: producer.name.clone(),
                        side: edge.input,
                    });
                }
            }
            if !producer_here {
                continue;
            }
            let writer = RecordWriter::new(
                consumer.name.clone(),
                edge.partitioning,
                senders,
                batch_size,
                graph.config.max_parallelism,
            );
            match (&edge.late_of, edge.dead_letter) {
                (Some(step), _) => late_outputs[edge.source][i].push((step.clone(), writer)),
                (None, true) => dead_letters[edge.source][i] = Some(writer),
                (None, false) => outputs[edge.source][i].push(writer),
            }
        }
    }
    let mut deployments = Vec::new();
    for vertex in &graph.vertices {
        let vertex_inputs = std::mem::take(&mut inputs[vertex.id]);
        let vertex_outputs = std::mem::take(&mut outputs[vertex.id]);
        let vertex_dead_letters = std::mem::take(&mut dead_letters[vertex.id]);
        let vertex_late = std::mem::take(&mut late_outputs[vertex.id]);
        for (subtask, (((inputs, outputs), dead_letters), late_outputs)) in vertex_inputs
            .into_iter()
            .zip(vertex_outputs)
            .zip(vertex_dead_letters)
            .zip(vertex_late)
            .enumerate()
        {
            if !channels.runs_here(vertex.id, subtask as u32) {
                continue;
            }
            let name = format!("{}[{}/{}]", vertex.name, subtask + 1, vertex.parallelism);
            let deploy_error = |error| DeployError {
                task: name.clone(),
                error,
            };
            let chain = build_chain(factory, vertex, subtask as u32).map_err(deploy_error)?;
            let in_flight = match (factory.restore, vertex.operators.first()) {
                (Some(restore), Some(head)) if chain.0.is_none() => {
                    let name = format!("{}{IN_FLIGHT_SUFFIX}", head.name);
                    match restore.operator(&name, subtask as u32, vertex.parallelism) {
                        Some(restored) => {
                            in_flight::restore(&restored, batch_size).map_err(deploy_error)?
                        }
                        None => Vec::new(),
                    }
                }
                _ => Vec::new(),
            };
            deployments.push(TaskDeployment {
                name,
                vertex: vertex.id,
                subtask: subtask as u32,
                chain,
                inputs,
                outputs,
                dead_letters,
                late_outputs,
                buffer_timeout: Duration::from_millis(graph.config.buffer_timeout_ms),
                metrics: Arc::new(TaskMetrics::default()),
                operator_names: vertex.operators.iter().map(|o| o.name.clone()).collect(),
                parallelism: vertex.parallelism,
                checkpoints: None,
                in_flight,
            });
        }
    }
    Ok(deployments)
}
