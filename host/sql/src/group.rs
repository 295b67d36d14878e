//! `GROUP BY` queries: a key and a window (a windowing table-valued function or a group
//! window), or a key alone for an updating result. Built-in aggregates run on the engine's
//! aggregate operators; an aggregate function from a module (`CREATE FUNCTION … LANGUAGE WASM`,
//! `#[weir_sdk::aggregate_function]`) runs as a Wasm window aggregate fed the argument lists.

use crate::catalog::{Columns, Table};
use crate::error::SqlError;
use crate::expr::{Compiler, Scope, Udfs};
use crate::group_window::{GroupWindow, group_window, window_bound};
use crate::projection::named_item;
use crate::query::{column_text, step};
use crate::value::SqlType;
use sqlparser::ast::{Expr, FunctionArguments, Select, Spanned};
use sqlparser::tokenizer::Span;
use weir_proto::spec::{
    AggregateFn, AggregateSpec, BuiltinAggregate, KeyBySpec, LateralSpec, SelectOutput, SelectSpec,
    StepSpec, WindowSpec,
};

pub(crate) fn aggregate_fn(name: &str) -> Option<AggregateFn> {
    Some(match name.to_ascii_uppercase().as_str() {
        "COUNT" => AggregateFn::Count,
        "SUM" => AggregateFn::Sum,
        "MIN" => AggregateFn::Min,
        "MAX" => AggregateFn::Max,
        "AVG" => AggregateFn::Avg,
        _ => return None,
    })
}

pub(crate) fn identifier(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Identifier(i) => Some(i.value.as_str()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.as_str()),
        _ => None,
    }
}

/// `SELECT key, window_start, window_end, COUNT(*), MAX(x) FROM TABLE(TUMBLE(…)) [WHERE …]
/// GROUP BY key, window_start, window_end`: a `select` for the WHERE, `key_by`, the windowed
/// `aggregate`, and a `select` naming the output as the query does. Without a window
/// (`GROUP BY key` over a table), an updating result: the aggregate's changelog, each row with
/// its kind in `op` (`+I`, `-U`, `+U`), as Flink's. A table function joined to the table runs
/// in the first `select` step.
///
/// Over an updating input (`updating`: a changelog with `op` in each row), the aggregate takes
/// `-U`/`-D` rows back out (`retract`), so COUNT, SUM and AVG only, and no window. Returns the
/// steps and the result's columns.
pub(crate) fn group_steps(
    select: &Select,
    group_by: &[Expr],
    (table, lateral, updating): (&Table, Option<LateralSpec>, bool),
    window: Option<WindowSpec>,
    udfs: &Udfs,
) -> Result<(Vec<StepSpec>, Columns), SqlError> {
    let is_window_column = |name: &str| {
        name.eq_ignore_ascii_case("window_start") || name.eq_ignore_ascii_case("window_end")
    };
    let mut keys = Vec::new();
    let mut has_window = (false, false);
    let mut grouped: Option<GroupWindow> = None;
    for expr in group_by {
        if let Some(named) = group_window(expr, table)? {
            if grouped.is_some() || window.is_some() {
                return Err(SqlError::at(expr.span(), "GROUP BY one window"));
            }
            grouped = Some(named);
            has_window = (true, true);
            continue;
        }
        match identifier(expr) {
            Some(name) if name.eq_ignore_ascii_case("window_start") => has_window.0 = true,
            Some(name) if name.eq_ignore_ascii_case("window_end") => has_window.1 = true,
            Some(name) => {
                let column = table
                    .columns
                    .iter()
                    .find(|(c, _)| c.eq_ignore_ascii_case(name))
                    .ok_or_else(|| SqlError::at(expr.span(), format!("unknown column `{name}`")))?;
                keys.push(column.clone());
            }
            None => {
                return Err(SqlError::at(
                    expr.span(),
                    "GROUP BY columns (an expression: compute it in a subquery — not supported yet)",
                ));
            }
        }
    }
    let window = window.or(grouped.map(|g| g.window));
    match (window.is_some(), has_window) {
        (true, (true, true)) | (false, (false, false)) => {}
        (true, _) => {
            return Err(SqlError::at(
                select.span(),
                "GROUP BY over a window names window_start and window_end",
            ));
        }
        (false, _) => {
            return Err(SqlError::at(
                select.span(),
                "window_start and window_end come from a windowing function: FROM TABLE(TUMBLE(…))",
            ));
        }
    }
    if window.is_none() && keys.is_empty() {
        return Err(SqlError::at(select.span(), "GROUP BY a column"));
    }
    if updating && window.is_some() {
        return Err(SqlError::at(
            select.span(),
            "a window over an updating query is not supported (its rows change after they are written)",
        ));
    }
    let mut columns: Columns = Vec::new();
    let mut functions = Vec::new();
    let mut outputs = Vec::new();
    let mut read = Vec::new();
    let mut module_aggregate: Option<ModuleAggregate> = None;
    let mut compiler = Compiler::new(Scope {
        columns: Some(&table.columns),
        rowtime: table.rowtime()?,
        functions: udfs,
    });
    for (index, item) in select.projection.iter().enumerate() {
        let (expr, name) = named_item(item, index)
            .ok_or_else(|| SqlError::at(item.span(), "name the columns of a windowed query"))?;
        if let Some(bound) = window_bound(expr, grouped.as_ref(), table)? {
            columns.push((name.clone(), SqlType::Timestamp));
            outputs.push(format!(
                "TO_TIMESTAMP_LTZ({bound}, 3) AS \"{}\"",
                name.replace('"', "\"\"")
            ));
            continue;
        }
        if let Some(column) = identifier(expr) {
            if is_window_column(column) && window.is_none() {
                return Err(SqlError::at(
                    expr.span(),
                    format!("`{column}` comes from a windowing function: FROM TABLE(TUMBLE(…))"),
                ));
            }
            if is_window_column(column) {
                columns.push((name.clone(), SqlType::Timestamp));
                let field = column.to_ascii_lowercase();
                outputs.push(format!(
                    "TO_TIMESTAMP_LTZ({field}, 3) AS \"{}\"",
                    name.replace('"', "\"\"")
                ));
            } else if let Some((key, key_type)) =
                keys.iter().find(|(k, _)| k.eq_ignore_ascii_case(column))
            {
                columns.push((name.clone(), *key_type));
                outputs.push(column_text(&Expr::Identifier(key.as_str().into()), &name));
            } else {
                return Err(SqlError::at(
                    expr.span(),
                    format!("`{column}` is neither grouped nor aggregated"),
                ));
            }
            continue;
        }
        let Expr::Function(call) = expr else {
            return Err(SqlError::at(
                expr.span(),
                "a windowed query selects its key, window_start, window_end and aggregates",
            ));
        };
        let called = call.name.to_string();
        if let Some(module) = udfs.iter().find(|f| f.eq_ignore_ascii_case(&called)) {
            if module_aggregate.is_some() {
                return Err(SqlError::at(
                    expr.span(),
                    "one aggregate function from a module per query (more are not supported yet)",
                ));
            }
            columns.push((name.clone(), SqlType::Any));
            module_aggregate = Some(ModuleAggregate {
                module: module.clone(),
                args: compiler.argument_texts(call)?,
                span: expr.span(),
            });
            outputs.push(column_text(&Expr::Identifier("result".into()), &name));
            continue;
        }
        let function = aggregate_fn(&called).ok_or_else(|| {
            SqlError::at(
                expr.span(),
                format!(
                    "unknown aggregate `{}` (COUNT, SUM, MIN, MAX, AVG, or CREATE FUNCTION {} AS 'module' LANGUAGE WASM)",
                    call.name, call.name
                ),
            )
        })?;
        let mut value_type = SqlType::Bigint;
        let field = match &call.args {
            FunctionArguments::List(list) if list.args.len() == 1 => {
                let arg = list.args[0].to_string();
                match (function, arg.as_str()) {
                    (AggregateFn::Count, "*") => None,
                    _ => {
                        // `q.column` names the one table's column; `"a$x"` a join's.
                        let named = arg.rsplit('.').next().unwrap_or(&arg);
                        let named = named.trim_matches(|c| c == '`' || c == '"');
                        let column = table
                            .columns
                            .iter()
                            .find(|(c, _)| c.eq_ignore_ascii_case(named))
                            .ok_or_else(|| {
                                SqlError::at(
                                    expr.span(),
                                    format!(
                                        "{}({arg}): aggregate a column of `{}`",
                                        call.name, table.name
                                    ),
                                )
                            })?;
                        if function != AggregateFn::Count && !column.1.is_numeric() {
                            return Err(SqlError::at(
                                expr.span(),
                                format!(
                                    "{}({arg}): `{arg}` is {}, where a number is expected",
                                    call.name, column.1
                                ),
                            ));
                        }
                        read.push(column.0.clone());
                        value_type = column.1;
                        (function != AggregateFn::Count).then(|| column.0.clone())
                    }
                }
            }
            _ => {
                return Err(SqlError::at(
                    expr.span(),
                    format!("{}: one argument", call.name),
                ));
            }
        };
        if updating
            && !matches!(
                function,
                AggregateFn::Count | AggregateFn::Sum | AggregateFn::Avg
            )
        {
            return Err(SqlError::at(
                expr.span(),
                format!(
                    "{}: over an updating query (its rows can be taken back) COUNT, SUM and AVG work, MIN and MAX not yet",
                    call.name
                ),
            ));
        }
        columns.push((
            name.clone(),
            match function {
                AggregateFn::Count => SqlType::Bigint,
                AggregateFn::Avg => SqlType::Double,
                _ => value_type,
            },
        ));
        let internal = format!("agg{}", functions.len());
        functions.push(BuiltinAggregate {
            function,
            field,
            output: Some(internal.clone()),
        });
        outputs.push(format!(
            "\"{internal}\" AS \"{}\"",
            name.replace('"', "\"\"")
        ));
    }
    if let Some(udf) = module_aggregate {
        let key = match keys.as_slice() {
            [] => None,
            [(key, _)] if !updating => Some(key.clone()),
            _ => {
                return Err(SqlError::at(
                    udf.span,
                    format!(
                        "{}: an aggregate function from a module groups by one column besides the window, over a table",
                        udf.module
                    ),
                ));
            }
        };
        let steps = udf.steps(
            select,
            (table, lateral),
            (key, window),
            functions,
            outputs,
            udfs,
            compiler,
        )?;
        return Ok((steps, columns));
    }
    let keys: Vec<String> = keys.into_iter().map(|(k, _)| k).collect();
    if functions.is_empty() {
        // Distinct groups, no aggregate: the engine's aggregate counts the rows, and the
        // projection leaves the count out.
        functions.push(BuiltinAggregate {
            function: AggregateFn::Count,
            field: None,
            output: Some("$rows".into()),
        });
    }
    let mut steps = Vec::new();
    if select.selection.is_some() || lateral.is_some() {
        let condition = match &select.selection {
            Some(condition) => Some(compiler.condition(condition)?),
            None => None,
        };
        let mut kept: Vec<String> = keys.iter().cloned().chain(read).collect();
        kept.dedup();
        if updating {
            kept.insert(0, "op".into());
        }
        let inputs = SelectSpec {
            columns: kept.iter().map(|c| format!("\"{c}\"")).collect(),
            condition,
            rowtime: table.rowtime()?.map(str::to_string),
            functions: udfs.to_vec(),
            lateral,
            ..SelectSpec::default()
        };
        steps.push(select_step("where", inputs));
    }
    if !keys.is_empty() {
        steps.push(key_by_step(&keys));
    }
    steps.push(StepSpec {
        aggregate: Some(AggregateSpec {
            module: None,
            functions,
            process: None,
            key_as: match keys.as_slice() {
                [key] => Some(key.clone()),
                _ => None,
            },
            window,
            allowed_lateness_ms: 0,
            late_output: None,
            processing_time: false,
            changelog: window.is_none(),
            retract: updating,
        }),
        ..step(if window.is_some() { "window" } else { "group" })
    });
    if window.is_none() {
        outputs.insert(0, "\"op\" AS \"op\"".to_string());
    }
    let projection = SelectSpec {
        columns: outputs,
        ..SelectSpec::default()
    };
    steps.push(select_step("project", projection));
    Ok((steps, columns))
}

/// A `select` step named `name`.
fn select_step(name: &str, spec: SelectSpec) -> StepSpec {
    StepSpec {
        select: Some(spec),
        ..step(name)
    }
}

/// The `key_by` step keying records by field `keys` (one, or several together).
pub(crate) fn key_by_step(keys: &[String]) -> StepSpec {
    let key_by = match keys {
        [key] => KeyBySpec {
            field: Some(key.clone()),
            ..KeyBySpec::default()
        },
        _ => KeyBySpec {
            fields: keys.to_vec(),
            ..KeyBySpec::default()
        },
    };
    StepSpec {
        key_by: Some(key_by),
        ..step("key_by")
    }
}

/// An aggregate function from a module in a query's select list.
struct ModuleAggregate {
    module: String,
    /// Its arguments' SQL text.
    args: Vec<String>,
    span: Span,
}

impl ModuleAggregate {
    /// A `select` computing the key and the arguments (after the WHERE and any table
    /// function), `key_by`, a `select` writing each row's arguments as a JSON array, the
    /// module's window aggregate, and the `select` naming the output.
    #[allow(clippy::too_many_arguments)]
    fn steps(
        self,
        select: &Select,
        (table, lateral): (&Table, Option<LateralSpec>),
        (key, window): (Option<String>, Option<WindowSpec>),
        builtins: Vec<BuiltinAggregate>,
        outputs: Vec<String>,
        udfs: &Udfs,
        mut compiler: Compiler,
    ) -> Result<Vec<StepSpec>, SqlError> {
        let fail = |why: &str| Err(SqlError::at(self.span, format!("{}: {why}", self.module)));
        if !builtins.is_empty() {
            return fail(
                "an aggregate function from a module is its query's only aggregate (COUNT, SUM, MIN, MAX or AVG beside it is not supported yet)",
            );
        }
        let window = match window {
            Some(window) if window.aligned().is_some() => window,
            Some(_) => {
                return fail(
                    "an aggregate function from a module runs over TUMBLE or HOP windows (not SESSION or CUMULATE yet)",
                );
            }
            None => {
                return fail(
                    "an aggregate function from a module needs a window: GROUP BY key, window_start, window_end over TABLE(TUMBLE(…)) (an updating result from one is not supported yet)",
                );
            }
        };
        let Some(key) = key else {
            return fail("GROUP BY a column besides the window");
        };
        let condition = match &select.selection {
            Some(condition) => Some(compiler.condition(condition)?),
            None => None,
        };
        let args: Vec<String> = (0..self.args.len())
            .map(|i| format!("\"$arg{i}\""))
            .collect();
        let mut columns = vec![format!("\"{key}\"")];
        columns.extend(
            self.args
                .iter()
                .zip(&args)
                .map(|(text, name)| format!("{text} AS {name}")),
        );
        let inputs = SelectSpec {
            columns,
            condition,
            rowtime: table.rowtime()?.map(str::to_string),
            functions: udfs.to_vec(),
            lateral,
            ..SelectSpec::default()
        };
        let arguments = SelectSpec {
            columns: args,
            output: SelectOutput::Array,
            ..SelectSpec::default()
        };
        let projection = SelectSpec {
            columns: outputs,
            ..SelectSpec::default()
        };
        Ok(vec![
            select_step("where", inputs),
            key_by_step(std::slice::from_ref(&key)),
            select_step("arguments", arguments),
            StepSpec {
                aggregate: Some(AggregateSpec {
                    module: Some(self.module),
                    functions: Vec::new(),
                    process: None,
                    key_as: Some(key),
                    window: Some(window),
                    allowed_lateness_ms: 0,
                    ..AggregateSpec::default()
                }),
                ..step("window")
            },
            select_step("project", projection),
        ])
    }
}
