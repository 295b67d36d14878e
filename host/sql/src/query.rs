//! One query's steps: the table (or windowing function) it reads, a `select` step for a
//! projection and filter, or `key_by` and a windowed `aggregate` for `GROUP BY` over a window.

use crate::catalog::Table;
use crate::error::SqlError;
use crate::expr::{Compiler, Scope, arguments, interval_ms};
use crate::group_window::{GroupWindow, group_window, window_bound};
use crate::plan::lookup;
use crate::projection::default_name;
use sqlparser::ast::{
    Expr, FunctionArguments, GroupByExpr, Query, Select, SelectItem, SetExpr, Spanned, TableFactor,
};
use std::collections::BTreeMap;
use weir_proto::spec::{
    AggregateFn, AggregateSpec, BuiltinAggregate, KeyBySpec, SelectSpec, SinkSpec, StepSpec,
    WindowSpec,
};

pub(crate) fn step(name: &str) -> StepSpec {
    StepSpec {
        name: Some(name.to_string()),
        ..StepSpec::default()
    }
}

/// The window a windowing table-valued function asks for.
pub(crate) struct Windowed {
    pub(crate) window: WindowSpec,
    /// A session's `PARTITION BY` column, and where it is.
    partition: Option<(String, sqlparser::tokenizer::Span)>,
}

/// The table (and window) a query reads.
fn relation<'t>(
    select: &Select,
    tables: &'t BTreeMap<String, Table>,
) -> Result<(&'t Table, Option<Windowed>), SqlError> {
    let [from] = select.from.as_slice() else {
        return Err(SqlError::at(
            select.span(),
            "a query reads one table (joins are not supported yet)",
        ));
    };
    if let Some(join) = from.joins.first() {
        return Err(SqlError::at(
            join.relation.span(),
            "a join is a window join: JOIN over two TABLE(TUMBLE(…)) or HOP(…)",
        ));
    }
    factor(&from.relation, tables)
}

/// The table (and window) a FROM item reads: a table, or a windowing table-valued function.
pub(crate) fn factor<'t>(
    relation: &TableFactor,
    tables: &'t BTreeMap<String, Table>,
) -> Result<(&'t Table, Option<Windowed>), SqlError> {
    match relation {
        TableFactor::Table {
            name, args: None, ..
        } => Ok((lookup(tables, &name.to_string(), name.span())?, None)),
        TableFactor::TableFunction { expr, .. } => {
            let Expr::Function(function) = expr else {
                return Err(SqlError::at(expr.span(), "TABLE(TUMBLE(…)), TABLE(HOP(…))"));
            };
            let mut args = arguments(&function.args, expr)?;
            let kind = function.name.to_string().to_ascii_uppercase();
            // `SESSION(TABLE t PARTITION BY k, …)`: the pre-pass made `k` the second argument.
            let partition = match (kind.as_str(), args.len()) {
                ("SESSION", 4) => Some(args.remove(1)),
                _ => None,
            };
            let partition = match partition {
                Some(Expr::Identifier(column)) => Some((column.value.clone(), column.span)),
                Some(other) => {
                    return Err(SqlError::at(
                        other.span(),
                        "SESSION(TABLE t PARTITION BY column, …): one column",
                    ));
                }
                None => None,
            };
            let table = match args.first() {
                Some(Expr::Identifier(name)) => lookup(tables, &name.value, name.span)?,
                _ => {
                    return Err(SqlError::at(
                        expr.span(),
                        format!("{kind}(TABLE name, DESCRIPTOR(time column), …)"),
                    ));
                }
            };
            match args.get(1) {
                Some(Expr::Function(descriptor))
                    if descriptor
                        .name
                        .to_string()
                        .eq_ignore_ascii_case("DESCRIPTOR") =>
                {
                    let column = match &descriptor.args {
                        FunctionArguments::List(list) => list.args.first().map(|a| a.to_string()),
                        _ => None,
                    }
                    .unwrap_or_default();
                    let time = table.watermark.as_ref().map(|(c, _)| c.as_str());
                    if !time.is_some_and(|t| t.eq_ignore_ascii_case(column.trim_matches('`'))) {
                        return Err(SqlError::at(
                            descriptor.name.span(),
                            format!(
                                "DESCRIPTOR({column}): windows need the time attribute of `{}` (its WATERMARK FOR column{})",
                                table.name,
                                time.map(|t| format!(", `{t}`")).unwrap_or_default()
                            ),
                        ));
                    }
                }
                _ => {
                    return Err(SqlError::at(
                        expr.span(),
                        format!("{kind}(TABLE name, DESCRIPTOR(time column), …)"),
                    ));
                }
            }
            let interval = |i: usize| -> Result<u64, SqlError> {
                match args.get(i) {
                    Some(Expr::Interval(interval)) => interval_ms(interval)
                        .and_then(|ms| u64::try_from(ms).ok())
                        .filter(|&ms| ms > 0)
                        .ok_or_else(|| SqlError::at(args[i].span(), "a positive INTERVAL 'n' SECOND (or MINUTE, HOUR, DAY, MILLISECOND)")),
                    _ => Err(SqlError::at(expr.span(), format!("{kind}: argument {} is an INTERVAL", i + 1))),
                }
            };
            let window = match kind.as_str() {
                "TUMBLE" => WindowSpec::Tumbling {
                    size_ms: interval(2)?,
                },
                "HOP" => WindowSpec::Sliding {
                    slide_ms: interval(2)?,
                    size_ms: interval(3)?,
                },
                "SESSION" => WindowSpec::Session {
                    gap_ms: interval(2)?,
                },
                other => {
                    return Err(SqlError::at(
                        function.name.span(),
                        format!(
                            "window function {other} is not supported yet (TUMBLE, HOP, SESSION)"
                        ),
                    ));
                }
            };
            Ok((table, Some(Windowed { window, partition })))
        }
        other => Err(SqlError::at(
            other.span(),
            "FROM a table or TABLE(TUMBLE(…))",
        )),
    }
}

/// The steps of `query` writing into `sink`.
pub(crate) fn query_steps(
    query: &Query,
    tables: &BTreeMap<String, Table>,
    functions: &[String],
    mut sink: SinkSpec,
) -> Result<Vec<StepSpec>, SqlError> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err(SqlError::at(
            query.span(),
            "SELECT … FROM … (set operations are not supported)",
        ));
    };
    if let Some(order) = &query.order_by {
        return Err(SqlError::at(
            order.span(),
            "ORDER BY is not supported on a stream",
        ));
    }
    if select.from.len() == 1 && !select.from[0].joins.is_empty() {
        return crate::join::join_steps(select, tables, functions, sink);
    }
    let (table, windowed) = relation(select, tables)?;
    let (source, watermark) = table.source()?;
    let mut steps = vec![StepSpec {
        source: Some(source),
        ..step(&table.name)
    }];
    if let Some(watermark) = watermark {
        steps.push(StepSpec {
            watermark: Some(watermark),
            ..step("watermark")
        });
    }
    let group_by = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs.as_slice(),
        GroupByExpr::All(_) => {
            return Err(SqlError::at(select.span(), "GROUP BY ALL is not supported"));
        }
    };
    match (group_by.is_empty(), windowed) {
        (true, None) => steps.push(projection_step(select, table, functions)?),
        (false, windowed) => {
            if let Some(Windowed {
                partition: Some((column, span)),
                ..
            }) = &windowed
                && !group_by
                    .iter()
                    .any(|g| identifier(g).is_some_and(|c| c.eq_ignore_ascii_case(column)))
            {
                return Err(SqlError::at(
                    *span,
                    format!(
                        "sessions are per `{column}`: GROUP BY {column}, window_start, window_end"
                    ),
                ));
            }
            let window = windowed.map(|w| w.window);
            let group = group_steps(select, group_by, table, window, functions)?;
            let updating = group
                .iter()
                .any(|s| s.aggregate.as_ref().is_some_and(|a| a.changelog));
            if updating {
                accept_updates(&mut sink, select)?;
            }
            steps.extend(group)
        }
        (true, Some(_)) => {
            return Err(SqlError::at(
                select.span(),
                "a windowing function is used with GROUP BY window_start, window_end",
            ));
        }
    }
    steps.push(StepSpec {
        sink: Some(sink),
        ..step("sink")
    });
    Ok(steps)
}

/// Readies `sink` for an updating result: a JDBC table upserts by its primary key and applies
/// the changelog; one without a key would append every version of every row, so it is refused.
/// Print and files write the rows with their kind in `op`.
fn accept_updates(sink: &mut SinkSpec, select: &Select) -> Result<(), SqlError> {
    if let SinkSpec::Postgres(postgres) = sink {
        if postgres.key.is_empty() {
            return Err(SqlError::at(
                select.span(),
                format!(
                    "GROUP BY without a window is an updating result: table `{}` needs a PRIMARY KEY (…) NOT ENFORCED to apply it",
                    postgres.table
                ),
            ));
        }
        postgres.changelog = true;
    }
    Ok(())
}

/// SQL text of a select column: the expression and its output name.
pub(crate) fn column_text(expr: &Expr, name: &str) -> String {
    format!("{expr} AS \"{}\"", name.replace('"', "\"\""))
}

/// `SELECT … WHERE …` over `table`: one `select` step, type-checked against the table.
fn projection_step(
    select: &Select,
    table: &Table,
    functions: &[String],
) -> Result<StepSpec, SqlError> {
    let rowtime = table.rowtime()?;
    let mut compiler = Compiler::new(Scope {
        columns: Some(&table.columns),
        rowtime,
        functions,
    });
    let mut columns = Vec::new();
    for (index, item) in select.projection.iter().enumerate() {
        match item {
            SelectItem::UnnamedExpr(expr) => {
                reject_aggregate(expr)?;
                compiler.compile(expr)?;
                columns.push(column_text(expr, &default_name(expr, index)));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                reject_aggregate(expr)?;
                compiler.compile(expr)?;
                columns.push(column_text(expr, &alias.value));
            }
            SelectItem::Wildcard(_) => {
                columns.extend(table.columns.iter().map(|(c, _)| format!("\"{c}\"")));
            }
            other => return Err(SqlError::at(other.span(), "unsupported select item")),
        }
    }
    let condition = match &select.selection {
        Some(condition) => Some(compiler.condition(condition)?),
        None => None,
    };
    Ok(StepSpec {
        select: Some(SelectSpec {
            columns,
            condition,
            rowtime: rowtime.map(str::to_string),
            functions: functions.to_vec(),
        }),
        ..step("select")
    })
}

fn reject_aggregate(expr: &Expr) -> Result<(), SqlError> {
    if let Expr::Function(f) = expr
        && aggregate_fn(&f.name.to_string()).is_some()
    {
        return Err(SqlError::at(
            expr.span(),
            "an aggregate needs GROUP BY window_start, window_end over TABLE(TUMBLE(…))",
        ));
    }
    Ok(())
}

fn aggregate_fn(name: &str) -> Option<AggregateFn> {
    Some(match name.to_ascii_uppercase().as_str() {
        "COUNT" => AggregateFn::Count,
        "SUM" => AggregateFn::Sum,
        "MIN" => AggregateFn::Min,
        "MAX" => AggregateFn::Max,
        "AVG" => AggregateFn::Avg,
        _ => return None,
    })
}

fn identifier(expr: &Expr) -> Option<&str> {
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
/// its kind in `op` (`+I`, `-U`, `+U`), as Flink's.
fn group_steps(
    select: &Select,
    group_by: &[Expr],
    table: &Table,
    window: Option<WindowSpec>,
    udfs: &[String],
) -> Result<Vec<StepSpec>, SqlError> {
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
                keys.push((column.0.clone(), expr.span()));
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
    if keys.len() > 1 {
        return Err(SqlError::at(
            keys[1].1,
            "GROUP BY one column besides the window (more are not supported yet)",
        ));
    }
    let key = keys.first().map(|(k, _)| k.clone());
    let mut functions = Vec::new();
    let mut outputs = Vec::new();
    let mut read = Vec::new();
    for (index, item) in select.projection.iter().enumerate() {
        let (expr, name) = match item {
            SelectItem::UnnamedExpr(expr) => (expr, default_name(expr, index)),
            SelectItem::ExprWithAlias { expr, alias } => (expr, alias.value.clone()),
            other => {
                return Err(SqlError::at(
                    other.span(),
                    "name the columns of a windowed query",
                ));
            }
        };
        if let Some(bound) = window_bound(expr, grouped.as_ref(), table)? {
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
                let field = column.to_ascii_lowercase();
                outputs.push(format!(
                    "TO_TIMESTAMP_LTZ({field}, 3) AS \"{}\"",
                    name.replace('"', "\"\"")
                ));
            } else if key
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(column))
            {
                outputs.push(column_text(&Expr::Identifier(column.into()), &name));
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
        let function = aggregate_fn(&call.name.to_string()).ok_or_else(|| {
            SqlError::at(
                expr.span(),
                format!(
                    "unknown aggregate `{}` (COUNT, SUM, MIN, MAX, AVG)",
                    call.name
                ),
            )
        })?;
        let field = match &call.args {
            FunctionArguments::List(list) if list.args.len() == 1 => {
                let arg = list.args[0].to_string();
                match (function, arg.as_str()) {
                    (AggregateFn::Count, "*") => None,
                    _ => {
                        let column = table
                            .columns
                            .iter()
                            .find(|(c, _)| c.eq_ignore_ascii_case(arg.trim_matches('`')))
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
    let mut steps = Vec::new();
    if let Some(condition) = &select.selection {
        let mut compiler = Compiler::new(Scope {
            columns: Some(&table.columns),
            rowtime: table.rowtime()?,
            functions: udfs,
        });
        let condition = compiler.condition(condition)?;
        let mut kept: Vec<String> = key.iter().cloned().chain(read).collect();
        kept.dedup();
        steps.push(StepSpec {
            select: Some(SelectSpec {
                columns: kept.iter().map(|c| format!("\"{c}\"")).collect(),
                condition: Some(condition),
                rowtime: table.rowtime()?.map(str::to_string),
                functions: udfs.to_vec(),
            }),
            ..step("where")
        });
    }
    if let Some(key) = &key {
        steps.push(StepSpec {
            key_by: Some(KeyBySpec {
                field: Some(key.clone()),
                module: None,
            }),
            ..step("key_by")
        });
    }
    steps.push(StepSpec {
        aggregate: Some(AggregateSpec {
            module: None,
            functions,
            process: None,
            key_as: key.clone(),
            window,
            allowed_lateness_ms: 0,
            late_output: None,
            processing_time: false,
            changelog: window.is_none(),
        }),
        ..step(if window.is_some() { "window" } else { "group" })
    });
    if window.is_none() {
        outputs.insert(0, "\"op\" AS \"op\"".to_string());
    }
    steps.push(StepSpec {
        select: Some(SelectSpec {
            columns: outputs,
            condition: None,
            rowtime: None,
            functions: Vec::new(),
        }),
        ..step("project")
    });
    Ok(steps)
}
