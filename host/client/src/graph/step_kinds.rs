//! What each step is: its kind decoded from the spec and checked against the rules of that
//! kind (fields it needs, windows it allows, modules it names), with paths resolved against the
//! job spec's directory. Errors name the field at fault.

use super::{GraphError, StreamNode};
use std::collections::BTreeMap;
use std::path::Path;
use weir_proto::graph::{ModuleRef, OperatorKind};
use weir_proto::spec::{
    AggregateFn, AggregateForm, JobSpec, JoinOuter, STEP_KINDS, SinkSpec, SourceSpec, StepSpec,
};

pub(super) fn error(field: String, message: impl Into<String>, hint: Option<String>) -> GraphError {
    GraphError {
        field,
        message: message.into(),
        hint,
    }
}

pub(super) fn step_kind(step: &StepSpec, field: &str) -> Result<&'static str, GraphError> {
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

pub(super) fn module_ref(
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

pub(super) fn operator_kind(
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
            (None, None) if !key_by.fields.is_empty() => {
                if let Some(empty) = key_by.fields.iter().position(String::is_empty) {
                    return Err(error(
                        format!("{field}.key_by.fields[{empty}]"),
                        "a field name is not empty",
                        None,
                    ));
                }
            }
            (Some(_), None) if key_by.fields.is_empty() => {}
            (None, Some(module)) => module_ref(modules, module, format!("{field}.key_by.module"))?,
            _ => {
                return Err(error(
                    format!("{field}.key_by"),
                    "give exactly one of `field` (a JSON field), `fields` (several) and `module` (a Wasm key selector)",
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
        let event_time_window = aggregate.window.is_some_and(|w| {
            !matches!(w, weir_proto::spec::WindowSpec::Count { .. }) && !aggregate.processing_time
        });
        if aggregate.late_output.is_some() && !event_time_window {
            return Err(error(
                format!("{field}.aggregate.late_output"),
                "only event-time windows (tumbling, sliding, session) have late records",
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
                weir_proto::spec::WindowSpec::Cumulate { step_ms, size_ms } => {
                    step_ms == 0 || size_ms == 0 || size_ms % step_ms != 0
                }
            };
            if bad {
                return Err(error(
                    format!("{field}.aggregate.window"),
                    "a window needs a size (or session gap) above 0, a slide above 0 and at most the size, and a cumulating window a step that divides its size",
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
            if aggregate.allowed_lateness_ms > 0 && !event_time_window {
                return Err(error(
                    format!("{field}.aggregate.allowed_lateness_ms"),
                    "allowed lateness applies to event-time windows (tumbling, sliding, session), not count or processing-time windows",
                    None,
                ));
            }
            if aggregate.module.is_some()
                && (window.aligned().is_none() || aggregate.processing_time)
            {
                return Err(error(
                    format!("{field}.aggregate.window"),
                    "a Wasm aggregate windows by event time in tumbling or sliding windows",
                    Some("use built-in `functions` for sessions or processing time".into()),
                ));
            }
        }
        let key_fields = match input.map(|n| &n.kind) {
            Some(OperatorKind::KeyBy(key_by)) => key_by.fields.clone(),
            _ => Vec::new(),
        };
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
        if aggregate.changelog && aggregate.form() != Some(AggregateForm::Builtin) {
            return Err(error(
                format!("{field}.aggregate.changelog"),
                "an updating result (changelog) is for built-in functions over the whole input",
                Some("drop `window` and `module`, or `changelog`".into()),
            ));
        }
        if aggregate.retract && !aggregate.changelog {
            return Err(error(
                format!("{field}.aggregate.retract"),
                "taking rows back (retract) is for an updating result (changelog: true)",
                None,
            ));
        }
        if let Some(function) = aggregate.functions.iter().find(|f| {
            aggregate.retract
                && !matches!(
                    f.function,
                    AggregateFn::Count | AggregateFn::Sum | AggregateFn::Avg
                )
        }) {
            return Err(error(
                format!("{field}.aggregate.functions"),
                format!(
                    "`{}` cannot take a row back: over an updating input (retract) use count, sum or avg",
                    function.function.name()
                ),
                None,
            ));
        }
        return Ok(OperatorKind::Aggregate {
            spec: aggregate.clone(),
            key_as,
            key_fields,
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
    if let Some(top_n) = &step.top_n {
        if !matches!(input.map(|n| &n.kind), Some(OperatorKind::KeyBy(_))) {
            return Err(error(
                format!("{field}.top_n"),
                "a top_n needs a key_by step right before it (it ranks each key's records)",
                Some("insert `- key_by: { field: <json field> }`".into()),
            ));
        }
        if top_n.n == 0 || top_n.order_by.is_empty() {
            return Err(error(
                format!("{field}.top_n"),
                "a top_n keeps at least one record (`n` ≥ 1) ranked by a field (`order_by`)",
                None,
            ));
        }
        return Ok(OperatorKind::TopN(top_n.clone()));
    }
    if let Some(join) = &step.join {
        if !matches!(input.map(|n| &n.kind), Some(OperatorKind::KeyBy(_))) {
            return Err(error(
                format!("{field}.join"),
                "a join needs a key_by step right before it (its left side)",
                Some("insert `- key_by: { field: <json field> }`".into()),
            ));
        }
        if join.window.is_some() && join.outer != JoinOuter::Inner {
            return Err(error(
                format!("{field}.join.outer"),
                "a window join is an inner join: outer joins are regular joins (no `window`)",
                None,
            ));
        }
        if join.window.is_some_and(|w| w.aligned().is_none()) {
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
    if let Some(select) = &step.select {
        for (i, function) in select.functions.iter().enumerate() {
            module_ref(modules, function, format!("{field}.select.functions[{i}]"))?;
        }
        if let Some(lateral) = &select.lateral {
            module_ref(
                modules,
                &lateral.function,
                format!("{field}.select.lateral.function"),
            )?;
        }
        if let Err(e) = weir_sql::Projection::parse(select) {
            return Err(error(format!("{field}.select"), e.to_string(), None));
        }
        return Ok(OperatorKind::Select(select.clone()));
    }
    if let Some(throttle) = step.throttle {
        if throttle.records_per_second == 0 {
            return Err(error(
                format!("{field}.throttle.records_per_second"),
                "must be at least 1",
                None,
            ));
        }
        return Ok(OperatorKind::Throttle(throttle));
    }
    let _ = spec;
    Err(error(field.to_string(), "the step does nothing", None))
}

pub(super) fn resolve_path(path: &str, base_dir: &Path) -> String {
    let path = Path::new(path);
    if path.is_absolute() {
        path.display().to_string()
    } else {
        base_dir.join(path).display().to_string()
    }
}

pub(super) fn resolve_source(source: &SourceSpec, base_dir: &Path) -> SourceSpec {
    match source {
        SourceSpec::File(file) => {
            let mut file = file.clone();
            file.path = resolve_path(&file.path, base_dir);
            SourceSpec::File(file)
        }
        other => other.clone(),
    }
}

pub(super) fn resolve_sink(sink: &SinkSpec, base_dir: &Path) -> SinkSpec {
    match sink {
        SinkSpec::File(file) => {
            let mut file = file.clone();
            file.path = resolve_path(&file.path, base_dir);
            SinkSpec::File(file)
        }
        other => other.clone(),
    }
}
