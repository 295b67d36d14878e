//! The StreamGraph: one node per operator step, rebalance/broadcast steps folded into the
//! partitioning of the edge that reads them (Flink's virtual partition nodes).

use super::GraphError;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use weir_proto::graph::{ModuleRef, OperatorKind, Partitioning};
use weir_proto::spec::{
    AggregateFn, JobSpec, JoinSpec, STEP_KINDS, SinkSpec, SourceSpec, StepSpec,
};

/// A node: one operator.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamNode {
    /// The step's name.
    pub name: String,
    /// What it does.
    pub kind: OperatorKind,
    /// Its parallelism.
    pub parallelism: u32,
}

/// An edge between two nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEdge {
    /// Producing node.
    pub source: usize,
    /// Consuming node.
    pub target: usize,
    /// Distribution over the consumer's subtasks.
    pub partitioning: Partitioning,
    /// Whether it carries rejected records to the dead-letter sink.
    pub dead_letter: bool,
    /// Which input of the consumer it feeds (1: a join's right side).
    pub input: u8,
}

/// Nodes in step order (a topological order) and edges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamGraph {
    /// The nodes.
    pub nodes: Vec<StreamNode>,
    /// The edges.
    pub edges: Vec<StreamEdge>,
}

/// What a step name refers to: a node, or a partitioning of a node's output.
#[derive(Clone, Copy)]
struct Output {
    node: usize,
    partitioning: Option<Partitioning>,
    is_sink: bool,
}

fn error(field: String, message: impl Into<String>, hint: Option<String>) -> GraphError {
    GraphError {
        field,
        message: message.into(),
        hint,
    }
}

/// Builds the StreamGraph of `spec`.
pub fn build_stream_graph(
    spec: &JobSpec,
    base_dir: &Path,
    modules: &BTreeMap<String, ModuleRef>,
) -> Result<StreamGraph, GraphError> {
    if spec.pipeline.is_empty() {
        return Err(error(
            "pipeline".into(),
            "the pipeline has no steps",
            Some("start with a `source` step and end with a `sink` step".into()),
        ));
    }
    if spec.max_parallelism == 0 || spec.batch_size == 0 {
        let field = if spec.max_parallelism == 0 {
            "max_parallelism"
        } else {
            "batch_size"
        };
        return Err(error(field.into(), "must be at least 1", None));
    }
    let mut graph = StreamGraph::default();
    let mut by_name: HashMap<String, Output> = HashMap::new();
    let mut previous: Option<(String, Output)> = None;
    let mut read: Vec<bool> = Vec::new();
    for (index, step) in spec.pipeline.iter().enumerate() {
        let field = format!("pipeline[{index}]");
        let kind = step_kind(step, &field)?;
        let name = step
            .name
            .clone()
            .unwrap_or_else(|| format!("{kind}-{index}"));
        if by_name.contains_key(&name) {
            return Err(error(
                format!("{field}.name"),
                format!("another step is already named `{name}`"),
                Some("step names must be unique".into()),
            ));
        }
        // What this step reads.
        let input = if kind == "source" {
            if step.input.is_some() {
                return Err(error(
                    format!("{field}.input"),
                    "a source reads from outside the job and takes no `input`",
                    None,
                ));
            }
            None
        } else {
            let output = match &step.input {
                Some(input) => *by_name.get(input).ok_or_else(|| {
                    let known: Vec<&String> = spec.pipeline[..index]
                        .iter()
                        .filter_map(|s| s.name.as_ref())
                        .collect();
                    error(
                        format!("{field}.input"),
                        format!("no earlier step is named `{input}`"),
                        Some(format!("named earlier steps: {known:?}")),
                    )
                })?,
                None => match &previous {
                    Some((_, output)) => *output,
                    None => {
                        return Err(error(
                            field.clone(),
                            format!("the first step must be a source, not `{kind}`"),
                            None,
                        ));
                    }
                },
            };
            if output.is_sink {
                return Err(error(
                    field.clone(),
                    "this step reads a sink, which has no output",
                    Some("name the step to read with `input:`".into()),
                ));
            }
            read[output.node] = true;
            Some(output)
        };
        // rebalance and broadcast only change how the next step reads.
        if kind == "rebalance" || kind == "broadcast" {
            let mut output =
                input.ok_or_else(|| error(field.clone(), "nothing to partition", None))?;
            output.partitioning = Some(if kind == "rebalance" {
                Partitioning::Rebalance
            } else {
                Partitioning::Broadcast
            });
            by_name.insert(name.clone(), output);
            previous = Some((name, output));
            continue;
        }
        let operator = operator_kind(
            spec,
            step,
            &field,
            base_dir,
            modules,
            input.map(|o| &graph.nodes[o.node]),
        )?;
        let global_window = matches!(&operator, OperatorKind::Aggregate { key_as: None, .. });
        let default_parallelism = match (&operator, input) {
            // key_by runs beside its input so it chains with it; the hash edge follows it.
            (OperatorKind::KeyBy(_), Some(input)) => graph.nodes[input.node].parallelism,
            (OperatorKind::Source(SourceSpec::Stdin(_)), _) => 1,
            // A window over all records sees every record: one subtask.
            _ if global_window => 1,
            _ => spec.parallelism,
        };
        let parallelism = step.parallelism.unwrap_or(default_parallelism);
        if parallelism == 0 || parallelism > spec.max_parallelism {
            return Err(error(
                format!("{field}.parallelism"),
                format!(
                    "parallelism {parallelism} is outside 1..={}",
                    spec.max_parallelism
                ),
                Some("raise `max_parallelism` to run more subtasks".into()),
            ));
        }
        if global_window && parallelism != 1 {
            return Err(error(
                format!("{field}.parallelism"),
                "a window over all records (no key_by before it) has exactly one subtask",
                Some("key the stream with a `key_by` step to window per key in parallel".into()),
            ));
        }
        if matches!(operator, OperatorKind::Source(SourceSpec::Stdin(_))) && parallelism != 1 {
            return Err(error(
                format!("{field}.parallelism"),
                "a stdin source has exactly one subtask",
                None,
            ));
        }
        let node = graph.nodes.len();
        if let Some(input) = input {
            let producer = &graph.nodes[input.node];
            let partitioning = match input.partitioning {
                Some(partitioning) => partitioning,
                None if matches!(producer.kind, OperatorKind::KeyBy(_)) => Partitioning::Hash,
                None if producer.parallelism == parallelism => Partitioning::Forward,
                None => Partitioning::Rebalance,
            };
            graph.edges.push(StreamEdge {
                source: input.node,
                target: node,
                partitioning,
                dead_letter: false,
                input: 0,
            });
        }
        if let Some(join) = &step.join {
            let right = join_right_input(&graph, &by_name, join, &field)?;
            read[right.node] = true;
            graph.edges.push(StreamEdge {
                source: right.node,
                target: node,
                partitioning: Partitioning::Hash,
                dead_letter: false,
                input: 1,
            });
        }
        let is_sink = matches!(operator, OperatorKind::Sink(_));
        graph.nodes.push(StreamNode {
            name: name.clone(),
            kind: operator,
            parallelism,
        });
        read.push(false);
        let output = Output {
            node,
            partitioning: None,
            is_sink,
        };
        by_name.insert(name.clone(), output);
        previous = Some((name, output));
    }
    if let Some(dangling) = (0..graph.nodes.len()).find(|&n| {
        // A native operator may be a sink of its own (the builder API's escape hatch).
        !read[n]
            && !matches!(
                graph.nodes[n].kind,
                OperatorKind::Sink(_) | OperatorKind::Native(_)
            )
    }) {
        let index = spec
            .pipeline
            .iter()
            .position(|s| s.name.as_deref() == Some(&graph.nodes[dangling].name))
            .unwrap_or(spec.pipeline.len() - 1);
        return Err(error(
            format!("pipeline[{index}]"),
            format!(
                "the output of step `{}` goes nowhere",
                graph.nodes[dangling].name
            ),
            Some("add a `sink` step after it (stdout, file or blackhole)".into()),
        ));
    }
    if let Some(dead_letter) = &spec.dead_letter {
        add_dead_letter_sink(&mut graph, resolve_sink(dead_letter, base_dir));
    }
    Ok(graph)
}

/// Adds the dead-letter sink and a side-output edge from every node that can reject records.
fn add_dead_letter_sink(graph: &mut StreamGraph, sink: SinkSpec) {
    let sink_node = graph.nodes.len();
    for (node, n) in graph.nodes.iter().enumerate() {
        if n.kind.can_reject_records() {
            graph.edges.push(StreamEdge {
                source: node,
                target: sink_node,
                partitioning: Partitioning::Rebalance,
                dead_letter: true,
                input: 0,
            });
        }
    }
    graph.nodes.push(StreamNode {
        name: "dead-letter".into(),
        kind: OperatorKind::DeadLetter(sink),
        parallelism: 1,
    });
}

fn step_kind(step: &StepSpec, field: &str) -> Result<&'static str, GraphError> {
    match step.kinds().as_slice() {
        [kind] => Ok(kind),
        [] => Err(error(
            field.to_string(),
            "the step does nothing",
            Some(format!("give it one of: {}", STEP_KINDS.join(", "))),
        )),
        kinds => Err(error(
            field.to_string(),
            format!("the step has several kinds ({})", kinds.join(", ")),
            Some("split it into one step per kind".into()),
        )),
    }
}

fn module_ref(
    modules: &BTreeMap<String, ModuleRef>,
    name: &str,
    field: String,
) -> Result<(), GraphError> {
    if modules.contains_key(name) {
        return Ok(());
    }
    let known: Vec<&String> = modules.keys().collect();
    Err(error(
        field,
        format!("no module named `{name}`"),
        Some(format!("modules defined under `modules:`: {known:?}")),
    ))
}

/// The right input of a join: an earlier `key_by` step named by `with`.
fn join_right_input(
    graph: &StreamGraph,
    by_name: &HashMap<String, Output>,
    join: &JoinSpec,
    field: &str,
) -> Result<Output, GraphError> {
    let right = by_name.get(&join.with).copied().ok_or_else(|| {
        error(
            format!("{field}.join.with"),
            format!("no earlier step is named `{}`", join.with),
            Some("name a `key_by` step before this one".into()),
        )
    })?;
    if !matches!(graph.nodes[right.node].kind, OperatorKind::KeyBy(_))
        || right.partitioning.is_some()
    {
        return Err(error(
            format!("{field}.join.with"),
            format!(
                "`{}` is not a `key_by` step: a join pairs records by key",
                join.with
            ),
            Some("key the right side with a `key_by` step and name that step".into()),
        ));
    }
    Ok(right)
}

fn operator_kind(
    spec: &JobSpec,
    step: &StepSpec,
    field: &str,
    base_dir: &Path,
    modules: &BTreeMap<String, ModuleRef>,
    input: Option<&StreamNode>,
) -> Result<OperatorKind, GraphError> {
    if let Some(source) = &step.source {
        return Ok(OperatorKind::Source(resolve_source(source, base_dir)));
    }
    for (kind, call) in [
        ("map", &step.map),
        ("filter", &step.filter),
        ("flat_map", &step.flat_map),
    ] {
        if let Some(call) = call {
            module_ref(modules, &call.module, format!("{field}.{kind}.module"))?;
            return Ok(match kind {
                "map" => OperatorKind::Map(call.clone()),
                "filter" => OperatorKind::Filter(call.clone()),
                _ => OperatorKind::FlatMap(call.clone()),
            });
        }
    }
    if let Some(key_by) = &step.key_by {
        match (&key_by.field, &key_by.module) {
            (Some(_), None) => {}
            (None, Some(module)) => module_ref(modules, module, format!("{field}.key_by.module"))?,
            _ => {
                return Err(error(
                    format!("{field}.key_by"),
                    "give exactly one of `field` (a JSON field) and `module` (a Wasm key selector)",
                    None,
                ));
            }
        }
        return Ok(OperatorKind::KeyBy(key_by.clone()));
    }
    if let Some(watermark) = &step.watermark {
        if watermark.timestamp_field.as_deref() == Some("") {
            return Err(error(
                format!("{field}.watermark.timestamp_field"),
                "an empty field name",
                None,
            ));
        }
        if watermark.ingestion_time && watermark.timestamp_field.is_some() {
            return Err(error(
                format!("{field}.watermark"),
                "give either `timestamp_field` (event time) or `ingestion_time: true`, not both",
                None,
            ));
        }
        return Ok(OperatorKind::Watermark(watermark.clone()));
    }
    if let Some(aggregate) = &step.aggregate {
        if aggregate.window.is_none() && aggregate.allowed_lateness_ms > 0 {
            return Err(error(
                format!("{field}.aggregate.allowed_lateness_ms"),
                "allowed lateness needs a `window`",
                None,
            ));
        }
        if aggregate.window.is_none() && aggregate.processing_time {
            return Err(error(
                format!("{field}.aggregate.processing_time"),
                "processing time needs a `window`",
                None,
            ));
        }
        if let Some(window) = &aggregate.window {
            let bad = match *window {
                weir_proto::spec::WindowSpec::Tumbling { size_ms } => size_ms == 0,
                weir_proto::spec::WindowSpec::Sliding { size_ms, slide_ms } => {
                    slide_ms == 0 || size_ms == 0 || slide_ms > size_ms
                }
                weir_proto::spec::WindowSpec::Session { gap_ms } => gap_ms == 0,
                weir_proto::spec::WindowSpec::Count { size } => size == 0,
            };
            if bad {
                return Err(error(
                    format!("{field}.aggregate.window"),
                    "a window needs a size (or session gap) above 0, and a slide above 0 and at most the size",
                    None,
                ));
            }
            if aggregate.processing_time && window.aligned().is_none() {
                return Err(error(
                    format!("{field}.aggregate.processing_time"),
                    "processing-time windows are tumbling or sliding, not sessions or count windows",
                    None,
                ));
            }
            if aggregate.allowed_lateness_ms > 0 && window.aligned().is_none() {
                return Err(error(
                    format!("{field}.aggregate.allowed_lateness_ms"),
                    "allowed lateness applies to tumbling and sliding windows, not sessions (yet) or count windows",
                    None,
                ));
            }
            if aggregate.module.is_some()
                && (window.aligned().is_none()
                    || aggregate.allowed_lateness_ms > 0
                    || aggregate.processing_time)
            {
                return Err(error(
                    format!("{field}.aggregate.window"),
                    "a Wasm aggregate windows by event time in tumbling or sliding windows, without allowed lateness",
                    Some(
                        "use built-in `functions` for sessions, lateness or processing time".into(),
                    ),
                ));
            }
        }
        let key_field = match input.map(|n| &n.kind) {
            Some(OperatorKind::KeyBy(key_by)) => key_by.field.clone(),
            // A window needs no key: without one it covers all records (Flink's windowAll).
            _ if aggregate.window.is_some() => {
                if aggregate.key_as.is_some() {
                    return Err(error(
                        format!("{field}.aggregate.key_as"),
                        "a window over all records has no key to name",
                        None,
                    ));
                }
                None
            }
            _ => {
                return Err(error(
                    format!("{field}.aggregate"),
                    "an aggregate needs a key_by step right before it",
                    Some("insert `- key_by: { field: <json field> }`".into()),
                ));
            }
        };
        if let Some(process) = &aggregate.process {
            module_ref(modules, process, format!("{field}.aggregate.process"))?;
            let aligned = aggregate.window.and_then(|w| w.aligned()).is_some();
            if aggregate.module.is_some()
                || !aggregate.functions.is_empty()
                || !aligned
                || aggregate.allowed_lateness_ms > 0
                || aggregate.processing_time
                || key_field.is_none()
            {
                return Err(error(
                    format!("{field}.aggregate.process"),
                    "a window function goes alone, after a key_by, over tumbling or sliding event-time windows without allowed lateness",
                    None,
                ));
            }
        }
        match (&aggregate.module, aggregate.functions.is_empty()) {
            _ if aggregate.process.is_some() => {}
            (Some(module), true) => {
                module_ref(modules, module, format!("{field}.aggregate.module"))?
            }
            (None, false) => {
                for (i, function) in aggregate.functions.iter().enumerate() {
                    if function.function != AggregateFn::Count && function.field.is_none() {
                        return Err(error(
                            format!("{field}.aggregate.functions[{i}]"),
                            format!(
                                "`{}` needs the `field` it aggregates",
                                function.function.name()
                            ),
                            None,
                        ));
                    }
                }
            }
            _ => {
                return Err(error(
                    format!("{field}.aggregate"),
                    "give exactly one of `module` (a Wasm aggregate) and `functions` (built-ins)",
                    None,
                ));
            }
        }
        let global = !matches!(input.map(|n| &n.kind), Some(OperatorKind::KeyBy(_)));
        let key_as = match global {
            true => None,
            false => Some(aggregate.key_as.clone().unwrap_or_else(|| {
                key_field
                    .as_deref()
                    .and_then(|f| f.rsplit('.').next())
                    .unwrap_or("key")
                    .to_string()
            })),
        };
        if aggregate.form().is_none() {
            return Err(error(
                format!("{field}.aggregate.window"),
                "a Wasm aggregate or window function runs over tumbling or sliding windows",
                Some("use built-in `functions` for sessions and count windows".into()),
            ));
        }
        return Ok(OperatorKind::Aggregate {
            spec: aggregate.clone(),
            key_as,
        });
    }
    if let Some(call) = &step.process {
        module_ref(modules, &call.module, format!("{field}.process.module"))?;
        if !matches!(input.map(|n| &n.kind), Some(OperatorKind::KeyBy(_))) {
            return Err(error(
                format!("{field}.process"),
                "a process function needs a key_by step right before it (its state and timers are per key)",
                Some("insert `- key_by: { field: <json field> }`".into()),
            ));
        }
        return Ok(OperatorKind::Process(call.clone()));
    }
    if let Some(join) = &step.join {
        if !matches!(input.map(|n| &n.kind), Some(OperatorKind::KeyBy(_))) {
            return Err(error(
                format!("{field}.join"),
                "a join needs a key_by step right before it (its left side)",
                Some("insert `- key_by: { field: <json field> }`".into()),
            ));
        }
        if join.window.aligned().is_none() {
            return Err(error(
                format!("{field}.join.window"),
                "a join pairs records in tumbling or sliding windows",
                None,
            ));
        }
        return Ok(OperatorKind::Join(join.clone()));
    }
    if let Some(sink) = &step.sink {
        return Ok(OperatorKind::Sink(resolve_sink(sink, base_dir)));
    }
    if let Some(native) = &step.native {
        return Ok(OperatorKind::Native(native.clone()));
    }
    let _ = spec;
    Err(error(field.to_string(), "the step does nothing", None))
}

fn resolve_path(path: &str, base_dir: &Path) -> String {
    let path = Path::new(path);
    if path.is_absolute() {
        path.display().to_string()
    } else {
        base_dir.join(path).display().to_string()
    }
}

fn resolve_source(source: &SourceSpec, base_dir: &Path) -> SourceSpec {
    match source {
        SourceSpec::File(file) => {
            let mut file = file.clone();
            file.path = resolve_path(&file.path, base_dir);
            SourceSpec::File(file)
        }
        other => other.clone(),
    }
}

fn resolve_sink(sink: &SinkSpec, base_dir: &Path) -> SinkSpec {
    match sink {
        SinkSpec::File(file) => {
            let mut file = file.clone();
            file.path = resolve_path(&file.path, base_dir);
            SinkSpec::File(file)
        }
        other => other.clone(),
    }
}
