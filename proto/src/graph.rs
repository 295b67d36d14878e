//! The JobGraph: what the client hands to the JobManager.
//!
//! A DAG of vertices, each a chain of operators that runs as one task per subtask, joined by
//! edges that say how records are partitioned between the subtasks of the two ends. All paths in
//! it are absolute and every module is pinned by sha256, so the graph means the same thing on
//! any machine that can fetch those modules.

use crate::spec::{
    AggregateSpec, CheckpointSpec, JoinSpec, KeyBySpec, RestartStrategy, SelectSpec, SinkSpec,
    SourceSpec, StateBackend, ThrottleSpec, TopNSpec, UdfLimits, WasmCall, WatermarkSpec,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Index of a vertex in [`JobGraph::vertices`].
pub type VertexId = usize;

/// A job ready to schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobGraph {
    /// The job's name.
    pub name: String,
    /// Settings every task of the job shares.
    pub config: JobConfig,
    /// The modules the job's operators call, by the name the job spec gave them.
    pub modules: BTreeMap<String, ModuleRef>,
    /// The vertices, in topological order (every edge goes from a lower to a higher index).
    pub vertices: Vec<JobVertex>,
    /// The edges.
    pub edges: Vec<JobEdge>,
}

/// Settings every task of a job shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobConfig {
    /// Number of key groups.
    pub max_parallelism: u32,
    /// Records per batch.
    pub batch_size: u32,
    /// A partly filled batch is sent after this long.
    pub buffer_timeout_ms: u64,
    /// UDF sandbox overrides.
    pub limits: UdfLimits,
    /// Where keyed state lives.
    #[serde(default)]
    pub state_backend: StateBackend,
    /// Periodic checkpoints, if any.
    #[serde(default)]
    pub checkpointing: Option<CheckpointSpec>,
    /// What happens when a task fails.
    #[serde(default = "no_restarts")]
    pub restart_strategy: RestartStrategy,
}

fn no_restarts() -> RestartStrategy {
    RestartStrategy::None
}

/// A Wasm module pinned by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRef {
    /// The name the job spec gave it (shown in errors).
    pub name: String,
    /// Hex sha256 of the component's bytes: its identity.
    pub sha256: String,
    /// Where its bytes are on the machine that built the graph.
    pub path: String,
}

/// A vertex: a chain of operators run by `parallelism` subtasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobVertex {
    /// Its index in the graph.
    pub id: VertexId,
    /// A readable name: the names of its operators joined by ` -> `.
    pub name: String,
    /// Number of subtasks.
    pub parallelism: u32,
    /// The chained operators, head first.
    pub operators: Vec<OperatorDescriptor>,
}

/// One operator of a chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorDescriptor {
    /// The step's name from the job spec.
    pub name: String,
    /// What it does.
    pub kind: OperatorKind,
}

/// What an operator does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OperatorKind {
    /// Reads records from outside the job.
    Source(SourceSpec),
    /// A Wasm map.
    Map(WasmCall),
    /// A Wasm filter.
    Filter(WasmCall),
    /// A Wasm flat_map.
    FlatMap(WasmCall),
    /// Sets each record's key.
    KeyBy(KeyBySpec),
    /// Assigns event time and generates watermarks.
    Watermark(WatermarkSpec),
    /// Aggregates per key until the end of input, or per event-time window.
    Aggregate {
        /// The functions.
        spec: AggregateSpec,
        /// Name of the key field in the JSON output; `None` for a window over all records
        /// (Flink's `windowAll`), whose output has no key.
        key_as: Option<String>,
        /// The fields of a key of several (`key_by: {fields}`), each written under its name
        /// instead of `key_as`.
        #[serde(default)]
        key_fields: Vec<String>,
    },
    /// A keyed process function.
    Process(WasmCall),
    /// Pairs two keyed inputs' records per key and window.
    Join(JoinSpec),
    /// Passes records on at most at a rate.
    Throttle(ThrottleSpec),
    /// Projects and filters records by SQL expressions.
    Select(SelectSpec),
    /// Keeps each key's first records by a field, as an updating result.
    TopN(TopNSpec),
    /// Writes records out.
    Sink(SinkSpec),
    /// Writes rejected records, with the reason, out.
    DeadLetter(SinkSpec),
    /// A native Rust operator registered in the process by name (Rust builder API, benchmarks).
    Native(String),
}

impl OperatorKind {
    /// Whether the operator may reject single records (routed to the dead-letter output).
    pub fn can_reject_records(&self) -> bool {
        match self {
            OperatorKind::Source(source) => {
                !matches!(source, SourceSpec::Datagen(_) | SourceSpec::Nexmark(_))
            }
            OperatorKind::Map(_)
            | OperatorKind::Filter(_)
            | OperatorKind::FlatMap(_)
            | OperatorKind::KeyBy(_)
            | OperatorKind::Aggregate { .. }
            | OperatorKind::Watermark(_)
            | OperatorKind::Join(_)
            | OperatorKind::Process(_)
            | OperatorKind::Select(_)
            | OperatorKind::TopN(_)
            | OperatorKind::Sink(_) => true,
            OperatorKind::DeadLetter(_) | OperatorKind::Native(_) | OperatorKind::Throttle(_) => {
                false
            }
        }
    }
}

/// An edge between two vertices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEdge {
    /// Producing vertex.
    pub source: VertexId,
    /// Consuming vertex.
    pub target: VertexId,
    /// How records pick a consumer subtask.
    pub partitioning: Partitioning,
    /// Whether this edge carries rejected records to the dead-letter sink.
    pub dead_letter: bool,
    /// Which input of the consumer this edge feeds: 0, or 1 for a join's right side.
    #[serde(default)]
    pub input: u8,
    /// For a side output of late records, the step whose late records it carries (Flink's
    /// `sideOutputLateData`); `None` for the records the source vertex emits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_of: Option<String>,
}

impl JobEdge {
    /// Whether it carries a side output (dead letters or late records) rather than the records
    /// its source vertex emits.
    pub fn is_side_output(&self) -> bool {
        self.dead_letter || self.late_of.is_some()
    }
}

/// How records on an edge are distributed over the consumer's subtasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Partitioning {
    /// Subtask i sends to subtask i (equal parallelism).
    Forward,
    /// Round-robin over all consumers.
    Rebalance,
    /// By the record's key, over key groups.
    Hash,
    /// Every record to every consumer.
    Broadcast,
}

impl JobGraph {
    /// The edges into `vertex`.
    pub fn inputs(&self, vertex: VertexId) -> impl Iterator<Item = (usize, &JobEdge)> {
        self.edges
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.target == vertex)
    }

    /// The edges out of `vertex`.
    pub fn outputs(&self, vertex: VertexId) -> impl Iterator<Item = (usize, &JobEdge)> {
        self.edges
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.source == vertex)
    }

    /// Each vertex's name and parallelism, in vertex order: what progress snapshots sum
    /// subtasks' counters by.
    pub fn vertex_names(&self) -> Vec<(String, u32)> {
        self.vertices
            .iter()
            .map(|v| (v.name.clone(), v.parallelism))
            .collect()
    }
}
