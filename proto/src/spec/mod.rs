//! The job spec: what a user writes in YAML (or builds with the Rust builder API).
//!
//! Every struct denies unknown fields, so a typo names the field instead of being ignored.
//! These types only describe a job; checking that it makes sense (modules exist, steps connect)
//! is the client's job, which also knows the file and line of each field.

mod connector;
mod operator;
mod sink;
mod source;

pub use connector::{
    AtTimestamp, Delivery, KafkaBound, KafkaFormat, KafkaIsolation, KafkaSinkSpec, KafkaSourceSpec,
    KafkaStart, MessageTime, PartitionWatermarks, PostgresMode, PostgresSinkSpec, Topics,
};
pub use operator::{
    AggregateFn, AggregateForm, AggregateSpec, BuiltinAggregate, JoinOuter, JoinSpec, KeyBySpec,
    LateralSpec, SelectOutput, SelectSpec, TopNSpec, WasmCall, WatermarkSpec, WindowSpec,
    cumulate_bounds, cumulate_windows, window_starts,
};
pub use sink::{Blackhole, FileSinkSpec, SinkFormat, SinkSpec, StdoutSinkSpec};
pub use source::{
    BID_ROW_COLUMNS, DatagenMode, DatagenSpec, FileFormat, FileSourceSpec, NexmarkEvent,
    NexmarkSpec, PayloadFormat, SourceSpec, StdinSpec,
};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole job, as written in a job spec file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The job's name, shown in progress output and logs.
    pub name: String,
    /// Default parallelism of every step that does not set its own.
    #[serde(default = "one")]
    pub parallelism: u32,
    /// Number of key groups: the upper bound of any keyed step's parallelism, fixed for the
    /// lifetime of the job's state.
    #[serde(default = "default_max_parallelism")]
    pub max_parallelism: u32,
    /// Records per batch handed to UDFs and sent between tasks.
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// A partly filled batch is sent after this long, bounding latency on slow streams.
    #[serde(default = "default_buffer_timeout_ms")]
    pub buffer_timeout_ms: u64,
    /// Whether consecutive steps with forward edges and equal parallelism run in one task.
    #[serde(default = "yes")]
    pub chaining: bool,
    /// Sandbox limits for this job's UDF instances; unset fields keep the TaskManager defaults.
    #[serde(default)]
    pub limits: UdfLimits,
    /// Where keyed state (window contents, UDF state) lives while the job runs.
    #[serde(default)]
    pub state_backend: StateBackend,
    /// Periodic checkpoints; unset takes none.
    #[serde(default)]
    pub checkpointing: Option<CheckpointSpec>,
    /// What happens when a task fails; unset takes [`RestartStrategy::default_for`].
    #[serde(default)]
    pub restart_strategy: Option<RestartStrategy>,
    /// Wasm modules by the name steps use for them.
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleSpec>,
    /// Where records that a UDF or a parser rejects go; without it such a record fails the job.
    #[serde(default)]
    pub dead_letter: Option<SinkSpec>,
    /// The steps, in order; a step reads the previous one unless it names its `input`.
    #[serde(default)]
    pub pipeline: Vec<StepSpec>,
    /// The job as a Flink SQL script instead of `pipeline` (`CREATE TABLE …` and one `INSERT
    /// INTO … SELECT …`): the client plans it into the steps, so a YAML file keeps the job's
    /// settings, modules and dead letters beside the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

/// How often a job checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSpec {
    /// Time between the starts of two checkpoints, ms.
    pub interval_ms: u64,
    /// A checkpoint not complete after this long is aborted, ms.
    #[serde(default = "default_checkpoint_timeout_ms")]
    pub timeout_ms: u64,
    /// Completed checkpoints kept in storage (older ones are deleted); a restart or a resume
    /// takes the newest.
    #[serde(default = "one")]
    pub retained: u32,
    /// On the RocksDB backend, upload only the SST files a checkpoint adds (files shared with
    /// earlier checkpoints are referenced, not copied); `false` copies every file every time.
    #[serde(default = "yes")]
    pub incremental: bool,
    /// Checkpoints in progress at once.
    #[serde(default = "one")]
    pub max_concurrent: u32,
    /// Least time between a checkpoint's completion and the next one's start, ms.
    #[serde(default)]
    pub min_pause_ms: u64,
    /// A task whose barriers have not all arrived this long after the checkpoint started takes
    /// it unaligned: its state at once, and the records still in flight before the barriers
    /// stored with it (Flink's aligned checkpoint timeout). Unset: always aligned.
    #[serde(default)]
    pub aligned_timeout_ms: Option<u64>,
}

impl CheckpointSpec {
    /// Checkpoints every `interval_ms` with every other setting at its job-spec default (what a
    /// YAML `checkpointing: { interval_ms: N }` gives).
    pub fn every(interval_ms: u64) -> Self {
        CheckpointSpec {
            interval_ms,
            timeout_ms: default_checkpoint_timeout_ms(),
            retained: one(),
            incremental: yes(),
            max_concurrent: one(),
            min_pause_ms: 0,
            aligned_timeout_ms: None,
        }
    }
}

/// What the job does when a task fails (Flink's restart strategies). A restart cancels every
/// task, waits, and redeploys the job from its newest completed checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RestartStrategy {
    /// Fail the job at the first task failure.
    None,
    /// Up to `attempts` restarts, `delay_ms` apart.
    FixedDelay {
        /// Restarts before the job fails.
        attempts: u32,
        /// Wait before each restart, ms.
        #[serde(default = "default_restart_delay_ms")]
        delay_ms: u64,
    },
    /// Restarts with a delay that grows by `multiplier` from `initial_delay_ms` up to
    /// `max_delay_ms`; it falls back to the initial delay after `reset_after_ms` without
    /// failures. Never gives up.
    ExponentialDelay {
        /// First wait, ms.
        #[serde(default = "default_restart_delay_ms")]
        initial_delay_ms: u64,
        /// Longest wait, ms.
        #[serde(default = "default_max_restart_delay_ms")]
        max_delay_ms: u64,
        /// Growth per failure.
        #[serde(default = "default_restart_multiplier")]
        multiplier: f64,
        /// A run this long without failure resets the delay, ms.
        #[serde(default = "default_restart_reset_ms")]
        reset_after_ms: u64,
    },
    /// Restarts unless more than `max_failures` happened within the last `interval_ms`.
    FailureRate {
        /// Failures tolerated per interval.
        max_failures: u32,
        /// The interval, ms.
        interval_ms: u64,
        /// Wait before each restart, ms.
        #[serde(default = "default_restart_delay_ms")]
        delay_ms: u64,
    },
}

impl RestartStrategy {
    /// Flink's default: no restarts without checkpoints; with them, restarts 1 s apart (here
    /// at most 3, so a job that fails deterministically still ends).
    pub fn default_for(checkpointing: bool) -> Self {
        match checkpointing {
            false => RestartStrategy::None,
            true => RestartStrategy::FixedDelay {
                attempts: 3,
                delay_ms: default_restart_delay_ms(),
            },
        }
    }
}

fn default_restart_delay_ms() -> u64 {
    1_000
}
fn default_max_restart_delay_ms() -> u64 {
    60_000
}
fn default_restart_multiplier() -> f64 {
    2.0
}
fn default_restart_reset_ms() -> u64 {
    3_600_000
}

fn default_checkpoint_timeout_ms() -> u64 {
    60_000
}

/// Where a job keeps its keyed state. Both give the same results; they differ in how much
/// state fits and how fast it is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// Objects on the heap: fastest, limited by the TaskManager's memory.
    #[default]
    Memory,
    /// An embedded RocksDB per stateful operator subtask, on the TaskManager's disk, with a
    /// bounded memory budget: for state larger than memory.
    Rocksdb,
}

impl StateBackend {
    /// Its name in job specs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StateBackend::Memory => "memory",
            StateBackend::Rocksdb => "rocksdb",
        }
    }
}

impl std::str::FromStr for StateBackend {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "memory" => Ok(StateBackend::Memory),
            "rocksdb" => Ok(StateBackend::Rocksdb),
            other => Err(format!(
                "unknown state backend `{other}`: use `memory` or `rocksdb`"
            )),
        }
    }
}

/// Per-job overrides of the UDF sandbox limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdfLimits {
    /// Linear memory an instance may grow to, in MiB.
    pub memory_mb: Option<u64>,
    /// Wall-clock time one UDF call (one batch) may take, in milliseconds.
    pub call_timeout_ms: Option<u64>,
}

/// Where a module comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSpec {
    /// A `.wasm` component file, or a UDF source directory that Weir builds; relative paths are
    /// relative to the job spec's directory.
    pub path: String,
}

/// One step of the pipeline: exactly one of the operator fields is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// A name for the step (unique); defaults to its kind and position, e.g. `map-3`.
    #[serde(default)]
    pub name: Option<String>,
    /// The step this one reads; defaults to the step before it.
    #[serde(default)]
    pub input: Option<String>,
    /// Parallelism of this step; defaults to the job's.
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// Reads records from outside the job.
    #[serde(default)]
    pub source: Option<SourceSpec>,
    /// One output record per input record, by a Wasm UDF.
    #[serde(default)]
    pub map: Option<WasmCall>,
    /// Keeps the records a Wasm UDF accepts.
    #[serde(default)]
    pub filter: Option<WasmCall>,
    /// Zero or more output records per input record, by a Wasm UDF.
    #[serde(default)]
    pub flat_map: Option<WasmCall>,
    /// Gives each record a key and hash-partitions the stream by it.
    #[serde(default)]
    pub key_by: Option<KeyBySpec>,
    /// Redistributes records round-robin over the next step's subtasks.
    #[serde(default, deserialize_with = "present")]
    pub rebalance: bool,
    /// Sends every record to every subtask of the next step.
    #[serde(default, deserialize_with = "present")]
    pub broadcast: bool,
    /// Assigns event time and generates watermarks.
    #[serde(default)]
    pub watermark: Option<WatermarkSpec>,
    /// Aggregates per key over the whole (bounded) input, or per event-time window.
    #[serde(default)]
    pub aggregate: Option<AggregateSpec>,
    /// A keyed process function: a Wasm UDF with keyed state and timers, after a `key_by`.
    #[serde(default)]
    pub process: Option<WasmCall>,
    /// Joins this step's input with another keyed step's, per key and window.
    #[serde(default)]
    pub join: Option<JoinSpec>,
    /// Passes records on at most at a given rate, holding the task (and so, by backpressure,
    /// everything upstream) back: to spare a slow system downstream.
    #[serde(default)]
    pub throttle: Option<ThrottleSpec>,
    /// Projects and filters records by SQL expressions over their fields.
    #[serde(default)]
    pub select: Option<SelectSpec>,
    /// The first records of each key by a field, as an updating result, after a `key_by`.
    #[serde(default)]
    pub top_n: Option<TopNSpec>,
    /// Writes records out of the job.
    #[serde(default)]
    pub sink: Option<SinkSpec>,
    /// A native Rust operator registered by the process that runs the job (Rust builder API
    /// and benchmarks; a plain `weir run` registers none).
    #[serde(default)]
    pub native: Option<String>,
}

impl StepSpec {
    /// The names of the operator fields that are set: a valid step has exactly one.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        let flags = [
            ("source", self.source.is_some()),
            ("map", self.map.is_some()),
            ("filter", self.filter.is_some()),
            ("flat_map", self.flat_map.is_some()),
            ("key_by", self.key_by.is_some()),
            ("rebalance", self.rebalance),
            ("broadcast", self.broadcast),
            ("watermark", self.watermark.is_some()),
            ("aggregate", self.aggregate.is_some()),
            ("join", self.join.is_some()),
            ("process", self.process.is_some()),
            ("throttle", self.throttle.is_some()),
            ("select", self.select.is_some()),
            ("top_n", self.top_n.is_some()),
            ("sink", self.sink.is_some()),
            ("native", self.native.is_some()),
        ];
        for (name, set) in flags {
            if set {
                kinds.push(name);
            }
        }
        kinds
    }
}

/// A rate limit: `throttle: { records_per_second: N }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSpec {
    /// Records per second (per subtask) it passes on at most.
    pub records_per_second: u64,
}

/// The operator kinds a step may have, for messages that list what would have been valid.
pub const STEP_KINDS: &[&str] = &[
    "source",
    "map",
    "filter",
    "flat_map",
    "key_by",
    "rebalance",
    "broadcast",
    "watermark",
    "aggregate",
    "join",
    "process",
    "throttle",
    "select",
    "top_n",
    "sink",
];

/// Accepts `rebalance:`, `rebalance: {}` or `rebalance: true` as "this step is a rebalance".
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Marker {
        Flag(bool),
        Empty(Empty),
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Empty {}
    Ok(match Option::<Marker>::deserialize(deserializer)? {
        None => true,
        Some(Marker::Flag(flag)) => flag,
        Some(Marker::Empty(Empty {})) => true,
    })
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_max_parallelism() -> u32 {
    128
}
fn default_batch_size() -> u32 {
    1024
}
fn default_buffer_timeout_ms() -> u64 {
    100
}
