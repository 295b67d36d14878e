//! The StreamGraph: one node per operator step, rebalance/broadcast steps folded into the
//! partitioning of the edge that reads them (Flink's virtual partition nodes).

use super::GraphError;
use super::step_kinds::{error, operator_kind, resolve_sink, step_kind};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use weir_proto::graph::{ModuleRef, OperatorKind, Partitioning};
use weir_proto::spec::{JobSpec, JoinSpec, SinkSpec, SourceSpec};

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
    /// For a side output of late records, the step whose late records it carries.
    pub late_of: Option<String>,
}

impl StreamEdge {
    /// Whether it carries a side output (dead letters or late records), never chained.
    pub fn is_side_output(&self) -> bool {
        self.dead_letter || self.late_of.is_some()
    }
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
    /// The node's side output of late records rather than its records.
    late: bool,
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
    // Per node, the key_by whose keys its records still carry on a forward path through
    // `select` steps (which keep each record's key): a keyed step may follow such a select.
    let mut keyed_via: Vec<Option<usize>> = Vec::new();
    // Late outputs by name, with the step field that declared them and whether a step reads them.
    let mut late_outputs: Vec<(String, String, usize, bool)> = Vec::new();
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
            match output.late {
                true => late_outputs
                    .iter_mut()
                    .filter(|late| late.2 == output.node)
                    .for_each(|late| late.3 = true),
                false => read[output.node] = true,
            }
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
        let keyed_input = input.map(|o| {
            let through = match &graph.nodes[o.node].kind {
                OperatorKind::Select(_) if o.partitioning.is_none() && !o.late => keyed_via[o.node]
                    .filter(|_| {
                        step.parallelism
                            .is_none_or(|p| p == graph.nodes[o.node].parallelism)
                    }),
                _ => None,
            };
            &graph.nodes[through.unwrap_or(o.node)]
        });
        let operator = operator_kind(spec, step, &field, base_dir, modules, keyed_input)?;
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
                late_of: input.late.then(|| producer.name.clone()),
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
                late_of: right.late.then(|| graph.nodes[right.node].name.clone()),
            });
        }
        let is_sink = matches!(operator, OperatorKind::Sink(_));
        let late_output = match &operator {
            OperatorKind::Aggregate { spec, .. } => spec.late_output.clone(),
            OperatorKind::Join(join) => join.late_output.clone(),
            _ => None,
        };
        keyed_via.push(match (&operator, input) {
            (OperatorKind::KeyBy(_), _) => Some(node),
            (OperatorKind::Select(_), Some(input))
                if input.partitioning.is_none() && !input.late =>
            {
                keyed_via[input.node]
            }
            _ => None,
        });
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
            late: false,
        };
        by_name.insert(name.clone(), output);
        if let Some(late) = late_output {
            let late_field = format!("{field}.{kind}.late_output");
            if by_name.contains_key(&late) {
                return Err(error(
                    late_field,
                    format!("another step is already named `{late}`"),
                    Some("a late output's name must differ from every step's".into()),
                ));
            }
            let late_records = Output {
                late: true,
                ..output
            };
            by_name.insert(late.clone(), late_records);
            late_outputs.push((late, late_field, node, false));
        }
        previous = Some((name, output));
    }
    if let Some((late, field, _, _)) = late_outputs.iter().find(|late| !late.3) {
        return Err(error(
            field.clone(),
            format!("no step reads the late output `{late}`"),
            Some(format!(
                "read it with `input: {late}` (a sink, or steps and a sink), or remove `late_output` to send late records to the dead-letter sink"
            )),
        ));
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
                late_of: None,
            });
        }
    }
    graph.nodes.push(StreamNode {
        name: "dead-letter".into(),
        kind: OperatorKind::DeadLetter(sink),
        parallelism: 1,
    });
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
