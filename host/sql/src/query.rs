//! One query's steps: the table (or windowing function) it reads and any table function
//! joined to it, then a `select` step for a projection and filter, or the steps of a `GROUP BY`
//! (crate::group).

use crate::catalog::{Columns, Table};
use crate::error::SqlError;
use crate::expr::{Compiler, Scope, Udfs, arguments, interval_ms};
use crate::group::{aggregate_fn, identifier};
use crate::plan::lookup;
use crate::projection::named_item;
use crate::value::SqlType;
use sqlparser::ast::{
    Expr, FunctionArguments, GroupByExpr, Query, Select, SelectItem, Spanned, TableFactor,
};
use sqlparser::tokenizer::Span;
use std::collections::BTreeMap;
use weir_proto::spec::{LateralSpec, SelectSpec, SinkSpec, StepSpec, WindowSpec};

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
    pub(crate) partition: Option<(String, Span)>,
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
                "CUMULATE" => {
                    let (step_ms, size_ms) = (interval(2)?, interval(3)?);
                    if size_ms % step_ms != 0 {
                        return Err(SqlError::at(
                            args[3].span(),
                            "CUMULATE's size is a whole number of its steps",
                        ));
                    }
                    WindowSpec::Cumulate { step_ms, size_ms }
                }
                other => {
                    return Err(SqlError::at(
                        function.name.span(),
                        format!(
                            "window function {other} is not supported yet (TUMBLE, HOP, CUMULATE, SESSION)"
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
    functions: &Udfs,
    mut sink: SinkSpec,
) -> Result<Vec<StepSpec>, SqlError> {
    let relation = crate::relation::query_relation(query, tables, functions)?;
    if relation.updating {
        accept_updates(&mut sink, query.span())?;
    }
    let mut steps = relation.steps;
    steps.push(StepSpec {
        sink: Some(sink),
        ..step("sink")
    });
    crate::binary_rows::use_binary_rows(&mut steps);
    Ok(steps)
}

/// The steps reading `table`: its source, and a `watermark` step if it has a time attribute.
pub(crate) fn table_steps(table: &Table) -> Result<Vec<StepSpec>, SqlError> {
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
    Ok(steps)
}

/// What a query's `SELECT` reads: the steps giving its rows, their table (columns), a table
/// function joined to them, the window of a windowing function, and whether the rows are an
/// updating result.
pub(crate) struct Input<'t> {
    pub(crate) steps: Vec<StepSpec>,
    pub(crate) table: &'t Table,
    pub(crate) lateral: Option<LateralSpec>,
    pub(crate) windowed: Option<Windowed>,
    pub(crate) updating: bool,
}

/// `select` over `input`: a projection and filter, or the steps of a `GROUP BY`; the rows it
/// gives.
pub(crate) fn select_over(
    select: &Select,
    input: Input<'_>,
    functions: &Udfs,
) -> Result<crate::relation::Relation, SqlError> {
    let Input {
        mut steps,
        table,
        lateral,
        windowed,
        updating,
    } = input;
    let group_by = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs.as_slice(),
        GroupByExpr::All(_) => {
            return Err(SqlError::at(select.span(), "GROUP BY ALL is not supported"));
        }
    };
    let (columns, updating) = match (group_by.is_empty(), windowed) {
        (true, None) => {
            let (step, columns) = projection_step(select, table, functions, lateral, updating)?;
            steps.push(step);
            (columns, updating)
        }
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
            let (group, columns) = crate::group::group_steps(
                select,
                group_by,
                (table, lateral, updating),
                window,
                functions,
            )?;
            let updating = group
                .iter()
                .any(|s| s.aggregate.as_ref().is_some_and(|a| a.changelog));
            steps.extend(group);
            (columns, updating)
        }
        (true, Some(_)) => {
            return Err(SqlError::at(
                select.span(),
                "a windowing function is used with GROUP BY window_start, window_end",
            ));
        }
    };
    Ok(crate::relation::Relation {
        steps,
        table: Table::derived(&table.name, columns),
        updating,
    })
}

/// Readies `sink` for an updating result: a JDBC table upserts by its primary key and applies
/// the changelog, and an `upsert-kafka` table writes each key's latest row (a tombstone for a
/// deleted one); a JDBC table without a key, or a plain Kafka topic, would append every version
/// of every row, so they are refused, as Flink refuses them. Print and files write the rows
/// with their kind in `op`.
fn accept_updates(sink: &mut SinkSpec, span: Span) -> Result<(), SqlError> {
    let refused = |table: &str, how: &str| {
        Err(SqlError::at(
            span,
            format!(
                "the query is an updating result (its rows change after they are written): table `{table}` {how}"
            ),
        ))
    };
    match sink {
        SinkSpec::Postgres(postgres) if postgres.key.is_empty() => refused(
            &postgres.table,
            "needs a PRIMARY KEY (…) NOT ENFORCED to apply it",
        ),
        SinkSpec::Postgres(postgres) => {
            postgres.changelog = true;
            Ok(())
        }
        SinkSpec::Kafka(kafka) if kafka.upsert_key.is_empty() => refused(
            &kafka.topic,
            "appends: write it to 'connector' = 'upsert-kafka' with a PRIMARY KEY (…) NOT ENFORCED",
        ),
        _ => Ok(()),
    }
}

/// SQL text of a select column: the expression and its output name.
pub(crate) fn column_text(expr: &Expr, name: &str) -> String {
    format!("{expr} AS \"{}\"", name.replace('"', "\"\""))
}

/// `SELECT … WHERE …` over `table`: one `select` step, type-checked against the table, and
/// its columns. Over an updating input each row keeps its kind (`op`).
fn projection_step(
    select: &Select,
    table: &Table,
    functions: &Udfs,
    lateral: Option<LateralSpec>,
    updating: bool,
) -> Result<(StepSpec, Columns), SqlError> {
    let rowtime = table.rowtime()?;
    let mut compiler = Compiler::new(Scope {
        columns: Some(&table.columns),
        rowtime,
        functions,
    });
    let mut columns = Vec::new();
    let mut typed = Vec::new();
    if updating {
        columns.push("\"op\"".to_string());
    }
    for (index, item) in select.projection.iter().enumerate() {
        match (item, named_item(item, index)) {
            (_, Some((expr, name))) => {
                reject_aggregate(expr)?;
                let (_, sql_type) = compiler.compile(expr)?;
                columns.push(column_text(expr, &name));
                typed.push((name, sql_type.unwrap_or(SqlType::Any)));
            }
            (SelectItem::Wildcard(_), None) => {
                columns.extend(table.columns.iter().map(|(c, _)| format!("\"{c}\"")));
                typed.extend(table.columns.iter().cloned());
            }
            (other, None) => return Err(SqlError::at(other.span(), "unsupported select item")),
        }
    }
    let condition = match &select.selection {
        Some(condition) => Some(compiler.condition(condition)?),
        None => None,
    };
    let step = StepSpec {
        select: Some(SelectSpec {
            columns,
            condition,
            rowtime: rowtime.map(str::to_string),
            functions: functions.to_vec(),
            lateral,
            ..SelectSpec::default()
        }),
        ..step("select")
    };
    Ok((step, typed))
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
