//! Turns a vertex's operator descriptors into live operators for one subtask.

use super::aggregate::{
    BuiltinAggregate, CountAggregate, KeyCache, KeyField, PerKey, Plain, SessionAggregate,
    SessionTimers, WasmAggregate, WasmWindowAggregate, WasmWindowStore, WindowAggregate,
    WindowStore,
};
use super::connectors::{ConnectorSite, Connectors};
use super::join::WindowJoin;
use super::key_by::{KeyByField, KeyByUdf};
use super::process::KeyedProcess;
use super::regular_join::RegularJoin;
use super::sinks::{Blackhole, Console, ConsoleStream, FileSink, LineFormatter, PartFileSink};
use super::sources::{Datagen, FileSource, LineDecoder, NexmarkSource, StdinSource};
use super::wasm_transform::WasmTransform;
use super::window_function::WindowFunction;
use super::window_lists::WindowLists;
use super::{NativeRegistry, Operator, Source};
use crate::error::TaskError;
use crate::json::FieldPath;
use std::collections::HashMap;
use std::path::Path;
use weir_proto::graph::{JobVertex, OperatorKind};
use weir_proto::spec::{AggregateForm, SinkSpec, SourceSpec, WasmCall};
use weir_state::JobState;
use weir_state::checkpoint::Restore;
use weir_wasm::{
    AggregateUdf, KeyUdf, LoadedModule, ProcessUdf, SandboxLimits, TransformUdf, WasmEngine,
};

/// What a task needs to build its operators.
pub struct OperatorFactory<'a> {
    /// The Wasm engine.
    pub engine: &'a WasmEngine,
    /// The job's modules, loaded, by name.
    pub modules: &'a HashMap<String, LoadedModule>,
    /// Native operators by name.
    pub native: &'a NativeRegistry,
    /// Sources and sinks of external systems.
    pub connectors: &'a dyn Connectors,
    /// The job's name.
    pub job: &'a str,
    /// Sandbox limits of the job.
    pub limits: SandboxLimits,
    /// Records per batch.
    pub batch_size: usize,
    /// Where the job's keyed state lives.
    pub state: &'a JobState,
    /// Whether the job checkpoints (its file sinks then commit with checkpoints).
    pub checkpointing: bool,
    /// The checkpoint the job resumes from, if any.
    pub restore: Option<&'a Restore>,
}

/// A subtask's chain: its source, if it is a source vertex, and its operators in order.
pub type Chain = (Option<Box<dyn Source>>, Vec<Box<dyn Operator>>);

/// Builds the chain of `vertex` for `subtask`.
pub fn build_chain(
    factory: &OperatorFactory<'_>,
    vertex: &JobVertex,
    subtask: u32,
) -> Result<Chain, TaskError> {
    let parallelism = vertex.parallelism;
    let max_parallelism = factory.state.max_parallelism();
    let mut source: Option<Box<dyn Source>> = None;
    let mut operators: Vec<Box<dyn Operator>> = Vec::new();
    for descriptor in &vertex.operators {
        let name = descriptor.name.clone();
        let module = |module: &str| {
            factory.modules.get(module).ok_or_else(|| {
                TaskError::Internal(format!("module `{module}` of step `{name}` was not loaded"))
            })
        };
        let operator: Box<dyn Operator> = match &descriptor.kind {
            OperatorKind::Source(spec) => {
                source = Some(build_source(
                    factory,
                    spec,
                    name.clone(),
                    subtask,
                    parallelism,
                )?);
                continue;
            }
            OperatorKind::Map(call) => transform(
                factory,
                module(&call.module)?,
                name.clone(),
                ("map", call),
                subtask,
            )?,
            OperatorKind::Filter(call) => transform(
                factory,
                module(&call.module)?,
                name.clone(),
                ("filter", call),
                subtask,
            )?,
            OperatorKind::FlatMap(call) => transform(
                factory,
                module(&call.module)?,
                name.clone(),
                ("flat_map", call),
                subtask,
            )?,
            OperatorKind::KeyBy(spec) => match (&spec.field, &spec.module) {
                _ if !spec.fields.is_empty() => Box::new(KeyByField::new(
                    name.clone(),
                    spec.fields.iter().map(|f| FieldPath::parse(f)).collect(),
                )),
                (Some(field), _) => {
                    Box::new(KeyByField::new(name.clone(), vec![FieldPath::parse(field)]))
                }
                (None, Some(m)) => Box::new(KeyByUdf::new(
                    name.clone(),
                    KeyUdf::new(factory.engine, module(m)?, factory.limits)?,
                )),
                (None, None) => {
                    return Err(TaskError::Internal(format!(
                        "key_by step `{name}` has neither field nor module"
                    )));
                }
            },
            OperatorKind::Aggregate {
                spec,
                key_as,
                key_fields,
            } => {
                let functions = || {
                    spec.functions
                        .iter()
                        .map(|f| super::aggregate::BuiltinFunction {
                            function: f.function,
                            field: f.field.as_deref().map(FieldPath::parse),
                            output: f.output_name(),
                        })
                        .collect()
                };
                let key_as = KeyField::new(key_as.as_deref(), key_fields);
                let lateness = i64::try_from(spec.allowed_lateness_ms).unwrap_or(i64::MAX);
                let Some(form) = spec.form() else {
                    return Err(TaskError::Internal(format!(
                        "aggregate step `{name}` has no form the graph builder accepts"
                    )));
                };
                match form {
                    AggregateForm::WindowFunction(size, slide) => {
                        let process = module_of("window function", &name, &spec.process)?;
                        let store = factory.state.store(
                            &name,
                            subtask,
                            Some(WindowLists::merge_operator()),
                        )?;
                        let udf = TransformUdf::new(
                            factory.engine,
                            module(process)?,
                            "window",
                            factory.limits,
                        )?;
                        Box::new(WindowFunction::new(
                            name.clone(),
                            udf,
                            (size, slide),
                            factory.batch_size,
                            WindowLists::new(name.clone(), size, store, max_parallelism),
                        ))
                    }
                    AggregateForm::WasmWindow(size, slide) => {
                        let m = module_of("Wasm aggregate", &name, &spec.module)?;
                        let store = factory.state.store(&name, subtask, None)?.map(|store| {
                            WasmWindowStore::new(store, factory.state.write_cache_entries())
                        });
                        Box::new(WasmWindowAggregate::new(
                            name.clone(),
                            AggregateUdf::new(factory.engine, module(m)?, factory.limits)?,
                            key_as,
                            (size, slide, lateness),
                            (factory.batch_size, max_parallelism),
                            store,
                        ))
                    }
                    AggregateForm::Wasm => Box::new(WasmAggregate::new(
                        name.clone(),
                        AggregateUdf::new(
                            factory.engine,
                            module(module_of("Wasm aggregate", &name, &spec.module)?)?,
                            factory.limits,
                        )?,
                        factory.batch_size,
                        per_key(factory, &name, subtask)?,
                    )),
                    AggregateForm::AlignedWindow(size, slide)
                    | AggregateForm::CumulativeWindow(size, slide) => {
                        let store = factory
                            .state
                            .store(&name, subtask, Some(WindowStore::merge_operator()))?
                            .map(|store| {
                                WindowStore::new(store, factory.state.write_cache_entries())
                            });
                        let window = WindowAggregate::new(
                            name.clone(),
                            key_as,
                            (size, slide),
                            lateness,
                            functions(),
                            factory.batch_size,
                            store,
                        )
                        .with_key_groups(max_parallelism);
                        let window = match form {
                            AggregateForm::CumulativeWindow(..) => window.cumulative(),
                            _ => window,
                        };
                        match spec.processing_time {
                            true => Box::new(window.over_processing_time()),
                            false => Box::new(window),
                        }
                    }
                    AggregateForm::Count(size) => Box::new(CountAggregate::new(
                        name.clone(),
                        key_as,
                        size,
                        functions(),
                        factory.batch_size,
                        per_key(factory, &name, subtask)?,
                    )),
                    AggregateForm::Session(gap) => {
                        let store = factory.state.store(&name, subtask, None)?;
                        let sessions = KeyCache::new(
                            name.clone(),
                            store.map(|store| (store, SessionTimers::new(lateness))),
                            factory.state.write_cache_entries(),
                            max_parallelism,
                        );
                        Box::new(SessionAggregate::new(
                            name.clone(),
                            key_as,
                            (i64::try_from(gap).unwrap_or(i64::MAX), lateness),
                            functions(),
                            factory.batch_size,
                            sessions,
                        ))
                    }
                    AggregateForm::Builtin => Box::new(
                        BuiltinAggregate::new(
                            name.clone(),
                            key_as.unwrap_or_else(|| KeyField::One("\"key\"".into())),
                            functions(),
                            factory.batch_size,
                            per_key(factory, &name, subtask)?,
                        )
                        .with_changelog(spec.changelog)
                        .with_retract(spec.retract),
                    ),
                }
            }
            OperatorKind::Process(call) => {
                let state = factory
                    .state
                    .keyed_values(&name, subtask, call.state_ttl_ms)?;
                let udf =
                    ProcessUdf::new(factory.engine, module(&call.module)?, factory.limits, state)?;
                Box::new(KeyedProcess::new(name.clone(), udf, factory.batch_size))
            }
            OperatorKind::Join(spec) if spec.window.is_none() => {
                let state = factory.state.keyed_values(&name, subtask, None)?;
                let sides = (
                    spec.left_as.as_deref().unwrap_or("left"),
                    spec.right_as.as_deref().unwrap_or("right"),
                );
                Box::new(RegularJoin::new(
                    name.clone(),
                    sides,
                    (spec.flatten, spec.changelog, spec.outer),
                    state,
                ))
            }
            OperatorKind::Join(spec) => {
                let window = spec.window.and_then(|w| w.aligned());
                let window = window.ok_or_else(|| TaskError::Config {
                    operator: name.clone(),
                    message: "a join pairs records in tumbling or sliding windows".into(),
                })?;
                let store =
                    factory
                        .state
                        .store(&name, subtask, Some(WindowLists::merge_operator()))?;
                let lists = WindowLists::new(name.clone(), window.0, store, max_parallelism);
                let sides = (
                    spec.left_as.as_deref().unwrap_or("left"),
                    spec.right_as.as_deref().unwrap_or("right"),
                );
                Box::new(
                    WindowJoin::new(window, sides, factory.batch_size, lists)
                        .flattened(spec.flatten),
                )
            }
            OperatorKind::TopN(spec) => {
                let state = factory.state.keyed_values(&name, subtask, None)?;
                Box::new(super::top_n::TopN::new(name.clone(), spec, state))
            }
            OperatorKind::Throttle(spec) => {
                Box::new(super::throttle::Throttle::new(spec.records_per_second))
            }
            OperatorKind::Select(spec) => {
                let instance = |function: &str| -> Result<TransformUdf, TaskError> {
                    Ok(TransformUdf::new(
                        factory.engine,
                        module(function)?,
                        "select",
                        factory.limits,
                    )?
                    .stateless())
                };
                Box::new(super::select::Select::new(name.clone(), spec, instance)?)
            }
            OperatorKind::Watermark(spec) => {
                Box::new(super::watermark::WatermarkAssigner::new(name.clone(), spec))
            }
            OperatorKind::Sink(spec) | OperatorKind::DeadLetter(spec) => {
                build_sink(factory, spec, name.clone(), (subtask, parallelism))?
            }
            OperatorKind::Native(native) => factory
                .native
                .create(native, subtask, parallelism)
                .ok_or_else(|| TaskError::Config {
                    operator: name.clone(),
                    message: format!(
                        "no native operator `{native}` is registered (registered: {:?})",
                        factory.native.names()
                    ),
                })?,
        };
        operators.push(operator);
    }
    let mut chain = (source, operators);
    if let Some(restore) = factory.restore {
        restore_chain(&mut chain, vertex, subtask, restore)?;
    }
    Ok(chain)
}

/// Values kept one per key by step `name`'s subtask: on the heap, or in its RocksDB store behind
/// the job's write cache.
fn per_key<V: PerKey>(
    factory: &OperatorFactory<'_>,
    name: &str,
    subtask: u32,
) -> Result<KeyCache<V, Plain>, TaskError> {
    let store = factory.state.store(name, subtask, None)?;
    Ok(KeyCache::new(
        name.to_string(),
        store.map(|store| (store, Plain)),
        factory.state.write_cache_entries(),
        factory.state.max_parallelism(),
    ))
}

/// The module a Wasm `role` step calls (the graph builder gave it one).
fn module_of<'a>(
    role: &str,
    name: &str,
    module: &'a Option<String>,
) -> Result<&'a String, TaskError> {
    module
        .as_ref()
        .ok_or_else(|| TaskError::Internal(format!("{role} step `{name}` without its module")))
}

/// Gives each operator of the chain its state from `restore`: a source its position, the
/// others their keyed and inline state (matched by step name).
fn restore_chain(
    (source, operators): &mut Chain,
    vertex: &JobVertex,
    subtask: u32,
    restore: &Restore,
) -> Result<(), TaskError> {
    let parallelism = vertex.parallelism;
    let mut descriptors = vertex.operators.iter();
    if let Some(source) = source {
        let Some(descriptor) = descriptors.next() else {
            return Ok(());
        };
        if let Some(state) = restore.operator(&descriptor.name, subtask, parallelism) {
            source.seek(&state).map_err(|error| TaskError::Config {
                operator: descriptor.name.clone(),
                message: error.to_string(),
            })?;
        }
    }
    for (descriptor, operator) in descriptors.zip(operators.iter_mut()) {
        if let Some(state) = restore.operator(&descriptor.name, subtask, parallelism) {
            operator.restore(&state)?;
        }
    }
    Ok(())
}

fn transform(
    factory: &OperatorFactory<'_>,
    module: &LoadedModule,
    name: String,
    (kind, call): (&'static str, &WasmCall),
    subtask: u32,
) -> Result<Box<dyn Operator>, TaskError> {
    let mut udf = TransformUdf::new(factory.engine, module, kind, factory.limits)?;
    if udf.uses_keyed_state() {
        let state = factory
            .state
            .keyed_values(&name, subtask, call.state_ttl_ms)?;
        udf.keep_state_in(state);
    }
    Ok(Box::new(WasmTransform::new(name, udf)))
}

fn build_source(
    factory: &OperatorFactory<'_>,
    spec: &SourceSpec,
    operator: String,
    subtask: u32,
    parallelism: u32,
) -> Result<Box<dyn Source>, TaskError> {
    Ok(match spec {
        SourceSpec::Datagen(spec) => Box::new(Datagen::new(
            spec.clone(),
            subtask,
            parallelism,
            factory.batch_size,
        )),
        SourceSpec::Nexmark(spec) => Box::new(NexmarkSource::new(
            spec,
            subtask,
            parallelism,
            factory.batch_size,
        )),
        SourceSpec::File(spec) => {
            let decoder = LineDecoder {
                operator,
                format: spec.format,
            };
            Box::new(FileSource::new(
                decoder,
                Path::new(&spec.path),
                subtask,
                parallelism,
                factory.batch_size,
            )?)
        }
        SourceSpec::Stdin(spec) => Box::new(StdinSource::new(
            LineDecoder {
                operator,
                format: spec.format,
            },
            factory.batch_size,
        )),
        SourceSpec::Kafka(_) => factory
            .connectors
            .source(spec, site(factory, operator, (subtask, parallelism)))?,
    })
}

/// Where a connector of `factory`'s job runs.
fn site(
    factory: &OperatorFactory<'_>,
    operator: String,
    (subtask, parallelism): (u32, u32),
) -> ConnectorSite {
    ConnectorSite {
        job: factory.job.to_string(),
        operator,
        subtask,
        parallelism,
        batch_size: factory.batch_size,
        checkpointing: factory.checkpointing,
    }
}

fn build_sink(
    factory: &OperatorFactory<'_>,
    spec: &SinkSpec,
    operator: String,
    (subtask, parallelism): (u32, u32),
) -> Result<Box<dyn Operator>, TaskError> {
    let checkpointing = factory.checkpointing;
    Ok(match spec {
        SinkSpec::Stdout(console) => Box::new(Console::new(
            operator.clone(),
            ConsoleStream::Stdout,
            LineFormatter::new(operator, console.format),
        )),
        SinkSpec::Stderr(console) => Box::new(Console::new(
            operator.clone(),
            ConsoleStream::Stderr,
            LineFormatter::new(operator, console.format),
        )),
        SinkSpec::File(file) if checkpointing => {
            let formatter = LineFormatter::new(operator.clone(), file.format);
            Box::new(PartFileSink::open(
                operator,
                Path::new(&file.path),
                (subtask, parallelism),
                formatter,
            )?)
        }
        SinkSpec::File(file) => {
            let formatter = LineFormatter::new(operator.clone(), file.format);
            Box::new(FileSink::open(
                operator,
                Path::new(&file.path),
                subtask,
                parallelism,
                formatter,
            )?)
        }
        SinkSpec::Blackhole(_) => Box::new(Blackhole),
        SinkSpec::Kafka(_) | SinkSpec::Postgres(_) => factory
            .connectors
            .sink(spec, site(factory, operator, (subtask, parallelism)))?,
    })
}
