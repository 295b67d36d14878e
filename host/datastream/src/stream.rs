//! Streams: handles on a step of the job under construction. Each transformation appends a
//! step reading this one (`input:` in a YAML spec), so a program can branch, join and read
//! side outputs as a spec can.

use crate::env::StreamEnvironment;
use crate::typed;
use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_proto::spec::{
    AggregateSpec, BuiltinAggregate, JoinSpec, KeyBySpec, SelectSpec, SinkSpec, StepSpec, WasmCall,
    WatermarkSpec, WindowSpec,
};

/// A stream of records: the output of one step (Flink's `DataStream`).
#[derive(Clone)]
pub struct DataStream {
    env: StreamEnvironment,
    step: String,
}

/// A stream partitioned by key: what keyed state, windows and joins read (Flink's
/// `KeyedStream`). Everything a [`DataStream`] does, it does too (a Wasm `map` after `key_by`
/// keeps keyed state).
#[derive(Clone)]
pub struct KeyedStream(DataStream);

/// A keyed stream cut into windows, waiting for its aggregate (Flink's `WindowedStream`).
pub struct WindowedStream {
    keyed: KeyedStream,
    spec: AggregateSpec,
}

fn call(module: &str) -> Option<WasmCall> {
    Some(WasmCall {
        module: module.to_string(),
        state_ttl_ms: None,
    })
}

impl DataStream {
    /// Appends `step` named `name` (reading `input`) to `env`'s job.
    pub(crate) fn add(
        env: &StreamEnvironment,
        name: &str,
        input: Option<&str>,
        step: StepSpec,
    ) -> DataStream {
        env.graph.borrow_mut().spec.pipeline.push(StepSpec {
            name: Some(name.to_string()),
            input: input.map(str::to_string),
            ..step
        });
        DataStream {
            env: env.clone(),
            step: name.to_string(),
        }
    }

    /// A step reading this stream, named `kind-N`.
    fn then(&self, kind: &str, step: StepSpec) -> DataStream {
        let name = self.env.graph.borrow_mut().fresh_name(kind);
        DataStream::add(&self.env, &name, Some(&self.step), step)
    }

    /// The step's name (what `input:` and dead letters call it).
    pub fn name(&self) -> &str {
        &self.step
    }

    /// Renames the step (Flink's `.name(…)`): names show in metrics, the dashboard and errors.
    pub fn named(mut self, name: &str) -> Self {
        let mut graph = self.env.graph.borrow_mut();
        for step in &mut graph.spec.pipeline {
            if step.name.as_deref() == Some(&self.step) {
                step.name = Some(name.to_string());
            }
            if step.input.as_deref() == Some(&self.step) {
                step.input = Some(name.to_string());
            }
            if let Some(join) = &mut step.join
                && join.with == self.step
            {
                join.with = name.to_string();
            }
        }
        drop(graph);
        self.step = name.to_string();
        self
    }

    /// This step's own parallelism (Flink's `.setParallelism(…)`).
    pub fn parallelism(self, parallelism: u32) -> Self {
        if let Some(step) = self.env.graph.borrow_mut().step_mut(&self.step) {
            step.parallelism = Some(parallelism);
        }
        self
    }

    /// A side output of this step (a window's late records): its records, as a stream.
    pub fn side_output(&self, name: &str) -> DataStream {
        DataStream {
            env: self.env.clone(),
            step: name.to_string(),
        }
    }

    /// One record per record, by Wasm module `module`.
    pub fn map(&self, module: &str) -> DataStream {
        self.then(
            "map",
            StepSpec {
                map: call(module),
                ..StepSpec::default()
            },
        )
    }

    /// The records Wasm module `module` accepts.
    pub fn filter(&self, module: &str) -> DataStream {
        self.then(
            "filter",
            StepSpec {
                filter: call(module),
                ..StepSpec::default()
            },
        )
    }

    /// Zero or more records per record, by Wasm module `module`.
    pub fn flat_map(&self, module: &str) -> DataStream {
        self.then(
            "flat_map",
            StepSpec {
                flat_map: call(module),
                ..StepSpec::default()
            },
        )
    }

    /// One `U` per `T`, by a Rust closure run natively in this process. A record that is not
    /// a `T`, or on which `f` panics, is rejected naming the step and the reason.
    pub fn map_fn<T, U, F>(&self, name: &str, f: F) -> DataStream
    where
        T: DeserializeOwned + 'static,
        U: Serialize + 'static,
        F: Fn(T) -> U + Clone + Send + Sync + 'static,
    {
        self.flat_map_fn(name, move |t| std::iter::once(f(t)))
    }

    /// The records whose `T` `f` accepts, passed on unchanged.
    pub fn filter_fn<T, F>(&self, name: &str, f: F) -> DataStream
    where
        T: DeserializeOwned + 'static,
        F: Fn(&T) -> bool + Clone + Send + Sync + 'static,
    {
        self.closure(name, typed::filter(name, f))
    }

    /// Any number of `U` per `T`, by a Rust closure.
    pub fn flat_map_fn<T, U, I, F>(&self, name: &str, f: F) -> DataStream
    where
        T: DeserializeOwned + 'static,
        U: Serialize + 'static,
        I: IntoIterator<Item = U>,
        F: Fn(T) -> I + Clone + Send + Sync + 'static,
    {
        self.closure(name, typed::flat_map(name, f))
    }

    fn closure(&self, name: &str, factory: weir_runtime::operators::NativeFactory) -> DataStream {
        {
            let mut graph = self.env.graph.borrow_mut();
            graph.native.register(name, factory);
            graph.closures.push(name.to_string());
        }
        let step = StepSpec {
            native: Some(name.to_string()),
            ..StepSpec::default()
        };
        DataStream::add(&self.env, name, Some(&self.step), step)
    }

    /// A native operator registered under `name` in this process.
    pub fn native(&self, name: &str) -> DataStream {
        self.then(
            "native",
            StepSpec {
                native: Some(name.to_string()),
                ..StepSpec::default()
            },
        )
    }

    /// Projects and filters by SQL expressions over the JSON fields (`["auction", "price *
    /// 908 / 1000 AS euros"]`, `Some("price > 500")`), evaluated natively a batch at a time.
    pub fn select(&self, columns: &[&str], condition: Option<&str>) -> DataStream {
        let select = SelectSpec {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            condition: condition.map(str::to_string),
            rowtime: None,
            functions: Vec::new(),
            ..SelectSpec::default()
        };
        self.then(
            "select",
            StepSpec {
                select: Some(select),
                ..StepSpec::default()
            },
        )
    }

    /// Event time from the records, and watermarks (Flink's
    /// `assignTimestampsAndWatermarks`).
    pub fn assign_watermarks(&self, watermark: WatermarkSpec) -> DataStream {
        self.then(
            "watermark",
            StepSpec {
                watermark: Some(watermark),
                ..StepSpec::default()
            },
        )
    }

    /// Partitions by JSON field `field` (a dotted path for nested fields).
    pub fn key_by(&self, field: &str) -> KeyedStream {
        let key_by = KeyBySpec {
            field: Some(field.to_string()),
            ..KeyBySpec::default()
        };
        KeyedStream(self.then(
            "key_by",
            StepSpec {
                key_by: Some(key_by),
                ..StepSpec::default()
            },
        ))
    }

    /// Partitions by the key Wasm module `module` computes.
    pub fn key_by_module(&self, module: &str) -> KeyedStream {
        let key_by = KeyBySpec {
            module: Some(module.to_string()),
            ..KeyBySpec::default()
        };
        KeyedStream(self.then(
            "key_by",
            StepSpec {
                key_by: Some(key_by),
                ..StepSpec::default()
            },
        ))
    }

    /// Spreads records round-robin over the next step's subtasks.
    pub fn rebalance(&self) -> DataStream {
        self.then(
            "rebalance",
            StepSpec {
                rebalance: true,
                ..StepSpec::default()
            },
        )
    }

    /// Sends every record to every subtask of the next step.
    pub fn broadcast(&self) -> DataStream {
        self.then(
            "broadcast",
            StepSpec {
                broadcast: true,
                ..StepSpec::default()
            },
        )
    }

    /// Writes the stream to `sink`; returns the sink's step.
    pub fn sink(&self, sink: SinkSpec) -> DataStream {
        self.then(
            "sink",
            StepSpec {
                sink: Some(sink),
                ..StepSpec::default()
            },
        )
    }
}

impl std::ops::Deref for KeyedStream {
    type Target = DataStream;

    fn deref(&self) -> &DataStream {
        &self.0
    }
}

fn aggregate_spec() -> AggregateSpec {
    AggregateSpec::default()
}

impl KeyedStream {
    fn aggregate_step(&self, kind: &str, spec: AggregateSpec) -> DataStream {
        self.0.then(
            kind,
            StepSpec {
                aggregate: Some(spec),
                ..StepSpec::default()
            },
        )
    }

    /// Built-in functions per key over the whole (bounded) input: one result per key at the end.
    pub fn aggregate(&self, functions: Vec<BuiltinAggregate>) -> DataStream {
        self.aggregate_step(
            "aggregate",
            AggregateSpec {
                functions,
                ..aggregate_spec()
            },
        )
    }

    /// Built-in functions per key as an updating result (Flink's changelog): `+I`, `-U`, `+U`
    /// rows in `op` as keys change.
    pub fn aggregate_changelog(&self, functions: Vec<BuiltinAggregate>) -> DataStream {
        let spec = AggregateSpec {
            functions,
            changelog: true,
            ..aggregate_spec()
        };
        self.aggregate_step("aggregate", spec)
    }

    /// A Wasm aggregate (`weir:udf/aggregate`) per key over the whole input.
    pub fn aggregate_module(&self, module: &str) -> DataStream {
        let spec = AggregateSpec {
            module: Some(module.to_string()),
            ..aggregate_spec()
        };
        self.aggregate_step("aggregate", spec)
    }

    /// A keyed process function (`weir:udf/process`): keyed state and timers.
    pub fn process(&self, module: &str) -> DataStream {
        self.0.then(
            "process",
            StepSpec {
                process: call(module),
                ..StepSpec::default()
            },
        )
    }

    /// Windows of `window` per key.
    pub fn window(&self, window: WindowSpec) -> WindowedStream {
        WindowedStream {
            keyed: self.clone(),
            spec: AggregateSpec {
                window: Some(window),
                ..aggregate_spec()
            },
        }
    }

    /// Pairs records of this stream and `other` with equal keys in the same `window`:
    /// `{"key", "window_start", "window_end", "left": …, "right": …}`.
    pub fn window_join(&self, other: &KeyedStream, window: WindowSpec) -> DataStream {
        self.window_join_as(other, window, "left", "right")
    }

    /// The same, naming the two sides' fields.
    pub fn window_join_as(
        &self,
        other: &KeyedStream,
        window: WindowSpec,
        left_as: &str,
        right_as: &str,
    ) -> DataStream {
        let join = JoinSpec {
            with: other.step.clone(),
            window: Some(window),
            left_as: Some(left_as.to_string()),
            right_as: Some(right_as.to_string()),
            ..JoinSpec::default()
        };
        self.0.then(
            "join",
            StepSpec {
                join: Some(join),
                ..StepSpec::default()
            },
        )
    }
}

impl WindowedStream {
    /// Keeps windows this long after they fire: a late record updates its window's result.
    pub fn allowed_lateness(mut self, ms: u64) -> Self {
        self.spec.allowed_lateness_ms = ms;
        self
    }

    /// Records too late for any window go to side output `name` (Flink's
    /// `sideOutputLateData`), read with [`DataStream::side_output`], instead of dead letters.
    pub fn side_output_late_data(mut self, name: &str) -> Self {
        self.spec.late_output = Some(name.to_string());
        self
    }

    /// Windows of processing time (the wall clock when a record arrives).
    pub fn processing_time(mut self) -> Self {
        self.spec.processing_time = true;
        self
    }

    /// The output field that holds the key (by default, the key_by field's name).
    pub fn key_as(mut self, field: &str) -> Self {
        self.spec.key_as = Some(field.to_string());
        self
    }

    fn step(self, kind: &str) -> DataStream {
        let aggregate = StepSpec {
            aggregate: Some(self.spec),
            ..StepSpec::default()
        };
        self.keyed.0.then(kind, aggregate)
    }

    /// Built-in functions per key and window.
    pub fn aggregate(mut self, functions: Vec<BuiltinAggregate>) -> DataStream {
        self.spec.functions = functions;
        self.step("window")
    }

    /// A Wasm aggregate per key and window.
    pub fn aggregate_module(mut self, module: &str) -> DataStream {
        self.spec.module = Some(module.to_string());
        self.step("window")
    }

    /// A Wasm whole-window function (a `weir:udf/transform` module called once per fired
    /// window with all its records) per key and window.
    pub fn process(mut self, module: &str) -> DataStream {
        self.spec.process = Some(module.to_string());
        self.step("window")
    }
}
