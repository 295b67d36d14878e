//! The Rust builder API: a job built in code, as the same [`JobSpec`] a YAML file gives, so both
//! go through one validation and one graph builder.

use std::collections::BTreeMap;
use weir_proto::spec::{
    AggregateSpec, BuiltinAggregate, JobSpec, KeyBySpec, ModuleSpec, SinkSpec, SourceSpec,
    StepSpec, UdfLimits, WasmCall,
};

/// Builds a job step by step; each step reads the one before it.
#[derive(Debug, Clone)]
pub struct JobBuilder {
    spec: JobSpec,
}

impl JobBuilder {
    /// A job named `name` with the defaults a YAML spec would have.
    pub fn new(name: &str) -> Self {
        JobBuilder {
            spec: JobSpec {
                name: name.to_string(),
                parallelism: 1,
                max_parallelism: 128,
                batch_size: 1024,
                buffer_timeout_ms: 100,
                chaining: true,
                limits: UdfLimits::default(),
                state_backend: Default::default(),
                checkpointing: None,
                restart_strategy: None,
                modules: BTreeMap::new(),
                dead_letter: None,
                pipeline: Vec::new(),
                sql: None,
            },
        }
    }

    /// Default parallelism of the steps.
    pub fn parallelism(mut self, parallelism: u32) -> Self {
        self.spec.parallelism = parallelism;
        self
    }

    /// Where keyed state lives (memory or RocksDB).
    pub fn state_backend(mut self, backend: weir_proto::spec::StateBackend) -> Self {
        self.spec.state_backend = backend;
        self
    }

    /// Records per batch.
    pub fn batch_size(mut self, batch_size: u32) -> Self {
        self.spec.batch_size = batch_size;
        self
    }

    /// Whether to chain operators.
    pub fn chaining(mut self, chaining: bool) -> Self {
        self.spec.chaining = chaining;
        self
    }

    /// Sandbox limits of the job's UDFs.
    pub fn limits(mut self, limits: UdfLimits) -> Self {
        self.spec.limits = limits;
        self
    }

    /// Declares module `name` at `path` (a .wasm file or a UDF source directory).
    pub fn module(mut self, name: &str, path: &str) -> Self {
        self.spec.modules.insert(
            name.to_string(),
            ModuleSpec {
                path: path.to_string(),
            },
        );
        self
    }

    /// Routes rejected records to `sink`.
    pub fn dead_letter(mut self, sink: SinkSpec) -> Self {
        self.spec.dead_letter = Some(sink);
        self
    }

    /// Appends a step.
    pub fn step(mut self, step: StepSpec) -> Self {
        self.spec.pipeline.push(step);
        self
    }

    /// Appends a source.
    pub fn source(self, source: SourceSpec) -> Self {
        self.step(StepSpec {
            source: Some(source),
            ..StepSpec::default()
        })
    }

    /// Appends a Wasm map.
    pub fn map(self, module: &str) -> Self {
        self.step(StepSpec {
            map: Some(WasmCall {
                module: module.into(),
                state_ttl_ms: None,
            }),
            ..StepSpec::default()
        })
    }

    /// Appends a Wasm filter.
    pub fn filter(self, module: &str) -> Self {
        self.step(StepSpec {
            filter: Some(WasmCall {
                module: module.into(),
                state_ttl_ms: None,
            }),
            ..StepSpec::default()
        })
    }

    /// Appends a Wasm flat_map.
    pub fn flat_map(self, module: &str) -> Self {
        self.step(StepSpec {
            flat_map: Some(WasmCall {
                module: module.into(),
                state_ttl_ms: None,
            }),
            ..StepSpec::default()
        })
    }

    /// Keys records by a JSON field.
    pub fn key_by_field(self, field: &str) -> Self {
        self.step(StepSpec {
            key_by: Some(KeyBySpec {
                field: Some(field.into()),
                ..KeyBySpec::default()
            }),
            ..StepSpec::default()
        })
    }

    /// Aggregates per key with built-in functions.
    pub fn aggregate(self, functions: Vec<BuiltinAggregate>) -> Self {
        let aggregate = AggregateSpec {
            window: None,
            allowed_lateness_ms: 0,
            late_output: None,
            processing_time: false,
            process: None,
            module: None,
            functions,
            ..AggregateSpec::default()
        };
        self.step(StepSpec {
            aggregate: Some(aggregate),
            ..StepSpec::default()
        })
    }

    /// Appends a native operator registered in this process.
    pub fn native(self, name: &str) -> Self {
        self.step(StepSpec {
            native: Some(name.into()),
            ..StepSpec::default()
        })
    }

    /// Appends a sink.
    pub fn sink(self, sink: SinkSpec) -> Self {
        self.step(StepSpec {
            sink: Some(sink),
            ..StepSpec::default()
        })
    }

    /// The job spec.
    pub fn build(self) -> JobSpec {
        self.spec
    }
}
