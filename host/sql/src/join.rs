//! Window joins, as Flink writes them: two windowing table-valued functions joined on a key
//! and on their windows,
//!
//! ```sql
//! SELECT L.auction, L.price, R.price, L.window_start
//! FROM (SELECT * FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), INTERVAL '10' SECOND))) L
//! JOIN (SELECT * FROM TABLE(TUMBLE(TABLE b, DESCRIPTOR(ts), INTERVAL '10' SECOND))) R
//! ON L.auction = R.auction AND L.window_start = R.window_start AND L.window_end = R.window_end
//! ```
//!
//! compile to the engine's keyed window join: each side's source (and watermark) and `key_by`,
//! the `join` step with its sides' fields flattened as `l$column` and `r$column`, and a
//! `select` projecting the query's columns, with `L.column` rewritten to `"l$column"`.

use crate::catalog::Table;
use crate::error::SqlError;
use crate::expr::{Compiler, Scope, Udfs};
use crate::projection::named_item;
use crate::query::{column_text, factor, step};
use crate::relation::Relation;
use crate::value::SqlType;
use sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Ident, JoinConstraint, JoinOperator, Select, SelectItem,
    SetExpr, Spanned, TableFactor, TableWithJoins, visit_expressions_mut,
};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use weir_proto::spec::{JoinSpec, KeyBySpec, SelectSpec, StepSpec, WindowSpec};

/// One side of a window join: its alias, table and window.
struct Side<'t> {
    alias: String,
    table: &'t Table,
    window: WindowSpec,
}

/// A side: `(SELECT * FROM TABLE(TUMBLE(…))) alias` or `TABLE(TUMBLE(…)) alias`.
fn side<'t>(
    relation: &TableFactor,
    tables: &'t BTreeMap<String, Table>,
) -> Result<Side<'t>, SqlError> {
    let usage = "a window join's side is (SELECT * FROM TABLE(TUMBLE(…))) AS alias";
    let (inner, alias) = match relation {
        TableFactor::Derived {
            subquery, alias, ..
        } => {
            let SetExpr::Select(select) = subquery.body.as_ref() else {
                return Err(SqlError::at(relation.span(), usage));
            };
            let star = matches!(select.projection.as_slice(), [SelectItem::Wildcard(_)]);
            let [from] = select.from.as_slice() else {
                return Err(SqlError::at(relation.span(), usage));
            };
            if !star || !from.joins.is_empty() || select.selection.is_some() {
                return Err(SqlError::at(relation.span(), usage));
            }
            (&from.relation, alias)
        }
        TableFactor::TableFunction { alias, .. } => (relation, alias),
        _ => return Err(SqlError::at(relation.span(), usage)),
    };
    let (table, windowed) = factor(inner, tables)?;
    let window = windowed
        .map(|w| w.window)
        .ok_or_else(|| SqlError::at(relation.span(), usage))?;
    let alias = alias
        .as_ref()
        .map_or_else(|| table.name.clone(), |a| a.name.value.clone());
    Ok(Side {
        alias: alias.to_ascii_lowercase(),
        table,
        window,
    })
}

/// `(alias, column)` of a qualified column `alias.column`.
fn qualified(expr: &Expr) -> Option<(String, String)> {
    match expr {
        Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
            Some((parts[0].value.to_ascii_lowercase(), parts[1].value.clone()))
        }
        _ => None,
    }
}

/// The key columns `(left, right)` of `ON`: one equality of columns besides the windows',
/// which must be equal too.
fn key_columns(on: &Expr, left: &Side, right: &Side) -> Result<(String, String), SqlError> {
    let mut equalities = Vec::new();
    let mut pending = vec![on];
    while let Some(expr) = pending.pop() {
        match expr {
            Expr::BinaryOp {
                left: a,
                op: BinaryOperator::And,
                right: b,
            } => pending.extend([a.as_ref(), b.as_ref()]),
            Expr::Nested(inner) => pending.push(inner),
            Expr::BinaryOp {
                left: a,
                op: BinaryOperator::Eq,
                right: b,
            } => match (qualified(a), qualified(b)) {
                (Some(a), Some(b)) => equalities.push((a, b, expr.span())),
                _ => {
                    return Err(SqlError::at(
                        expr.span(),
                        "ON compares columns of both sides: L.key = R.key",
                    ));
                }
            },
            other => {
                return Err(SqlError::at(
                    other.span(),
                    "ON L.key = R.key AND L.window_start = R.window_start AND L.window_end = R.window_end",
                ));
            }
        }
    }
    let mut key = None;
    let mut windows = (false, false);
    for ((qa, ca), (qb, cb), span) in equalities {
        let ((lq, lc), (rq, rc)) = match (qa == left.alias, qb == left.alias) {
            (true, false) => ((qa, ca), (qb, cb)),
            (false, true) => ((qb, cb), (qa, ca)),
            _ => return Err(SqlError::at(span, "ON compares a column of each side")),
        };
        if rq != right.alias || lq != left.alias {
            return Err(SqlError::at(
                span,
                "ON names the two sides by their aliases",
            ));
        }
        let window = |c: &str, bound: &str| c.eq_ignore_ascii_case(bound);
        match (lc.as_str(), rc.as_str()) {
            (l, r) if window(l, "window_start") && window(r, "window_start") => windows.0 = true,
            (l, r) if window(l, "window_end") && window(r, "window_end") => windows.1 = true,
            _ if key.is_some() => {
                return Err(SqlError::at(span, "a window join has one key equality"));
            }
            _ => {
                let column = |side: &Side, name: &str| {
                    side.table
                        .columns
                        .iter()
                        .find(|(c, _)| c.eq_ignore_ascii_case(name))
                        .map(|(c, _)| c.clone())
                        .ok_or_else(|| {
                            SqlError::at(span, format!("unknown column `{}.{name}`", side.alias))
                        })
                };
                key = Some((column(left, &lc)?, column(right, &rc)?));
            }
        }
    }
    match (key, windows) {
        (Some(key), (true, true)) => Ok(key),
        (None, _) => Err(SqlError::at(
            on.span(),
            "ON needs a key equality: L.key = R.key",
        )),
        _ => Err(SqlError::at(
            on.span(),
            "a window join's ON equates both window_start and window_end",
        )),
    }
}

/// Whether `from` is a window join: two windowing table-valued functions joined (the window
/// join's own checks then name what is wrong with it).
pub(crate) fn is_window_join(from: &TableWithJoins) -> bool {
    let windowed = |relation: &TableFactor| match relation {
        TableFactor::TableFunction { .. } => true,
        TableFactor::Derived { subquery, .. } => match subquery.body.as_ref() {
            SetExpr::Select(select) => {
                matches!(select.projection.as_slice(), [SelectItem::Wildcard(_)])
                    && matches!(select.from.as_slice(), [only] if only.joins.is_empty()
                        && matches!(only.relation, TableFactor::TableFunction { .. }))
            }
            _ => false,
        },
        _ => false,
    };
    matches!(from.joins.as_slice(), [join] if windowed(&from.relation) && windowed(&join.relation))
}

/// The rows of a window join query.
pub(crate) fn window_join(
    select: &Select,
    tables: &BTreeMap<String, Table>,
    functions: &Udfs,
) -> Result<Relation, SqlError> {
    let from = &select.from[0];
    let [join] = from.joins.as_slice() else {
        return Err(SqlError::at(select.span(), "one JOIN per query"));
    };
    let on = match &join.join_operator {
        JoinOperator::Join(JoinConstraint::On(on))
        | JoinOperator::Inner(JoinConstraint::On(on)) => on,
        _ => {
            return Err(SqlError::at(
                join.relation.span(),
                "window joins are inner joins: JOIN … ON … (outer joins are not supported yet)",
            ));
        }
    };
    if !matches!(&select.group_by, GroupByExpr::Expressions(exprs, _) if exprs.is_empty()) {
        return Err(SqlError::at(
            select.span(),
            "GROUP BY over a join is not supported yet",
        ));
    }
    let left = side(&from.relation, tables)?;
    let right = side(&join.relation, tables)?;
    if left.alias == right.alias {
        return Err(SqlError::at(
            join.relation.span(),
            "the two sides need different aliases",
        ));
    }
    if left.window != right.window {
        return Err(SqlError::at(
            join.relation.span(),
            "a window join's sides have the same window",
        ));
    }
    let (left_key, right_key) = key_columns(on, &left, &right)?;
    let mut steps = Vec::new();
    for (side, key, prefix) in [(&left, &left_key, "left"), (&right, &right_key, "right")] {
        let (source, watermark) = side.table.source()?;
        steps.push(StepSpec {
            source: Some(source),
            ..step(&format!("{prefix}-{}", side.table.name))
        });
        if let Some(watermark) = watermark {
            steps.push(StepSpec {
                watermark: Some(watermark),
                ..step(&format!("{prefix}-watermark"))
            });
        }
        steps.push(StepSpec {
            key_by: Some(KeyBySpec {
                field: Some(key.clone()),
                ..KeyBySpec::default()
            }),
            ..step(&format!("{prefix}-key"))
        });
    }
    steps.push(StepSpec {
        input: Some("left-key".into()),
        join: Some(JoinSpec {
            with: "right-key".into(),
            window: Some(left.window),
            left_as: Some(left.alias.clone()),
            right_as: Some(right.alias.clone()),
            flatten: true,
            ..JoinSpec::default()
        }),
        ..step("join")
    });
    let mut columns: Vec<(String, SqlType)> = vec![
        ("window_start".into(), SqlType::Bigint),
        ("window_end".into(), SqlType::Bigint),
    ];
    for side in [&left, &right] {
        for (column, sql_type) in &side.table.columns {
            columns.push((format!("{}${column}", side.alias), *sql_type));
        }
    }
    let aliases = [left.alias.clone(), right.alias.clone()];
    let mut compiler = Compiler::new(Scope {
        columns: Some(&columns),
        rowtime: None,
        functions,
    });
    let mut outputs = Vec::new();
    let mut typed = Vec::new();
    for (index, item) in select.projection.iter().enumerate() {
        let (expr, name) = named_item(item, index).ok_or_else(|| {
            SqlError::at(item.span(), "a join selects columns as L.column (no *)")
        })?;
        let expr = rewrite(expr, &aliases)?;
        let (_, sql_type) = compiler.compile(&expr)?;
        outputs.push(column_text(&expr, &name));
        typed.push((name, sql_type.unwrap_or(SqlType::Any)));
    }
    let condition = match &select.selection {
        Some(condition) => Some(compiler.condition(&rewrite(condition, &aliases)?)?),
        None => None,
    };
    steps.push(StepSpec {
        select: Some(SelectSpec {
            columns: outputs,
            condition,
            rowtime: None,
            functions: functions.to_vec(),
            ..SelectSpec::default()
        }),
        ..step("project")
    });
    Ok(Relation {
        steps,
        table: Table::derived("join", typed),
        updating: false,
    })
}

/// `expr` over the join's output: `L.column` becomes `"l$column"`, a window bound (qualified
/// or not) its timestamp; an unqualified column is an error (which side's?).
fn rewrite(expr: &Expr, aliases: &[String; 2]) -> Result<Expr, SqlError> {
    let mut expr = expr.clone();
    let bound = |name: &str| {
        ["window_start", "window_end"]
            .into_iter()
            .find(|b| b.eq_ignore_ascii_case(name))
    };
    let flow = visit_expressions_mut(&mut expr, |e| {
        let replaced = match &*e {
            Expr::CompoundIdentifier(_) => match qualified(e) {
                Some((alias, column)) if aliases.contains(&alias) => match bound(&column) {
                    Some(bound) => timestamp_of(bound),
                    None => Expr::Identifier(Ident::with_quote('"', format!("{alias}${column}"))),
                },
                _ => {
                    return ControlFlow::Break(SqlError::at(
                        e.span(),
                        format!(
                            "`{e}`: columns of a join are {}.column or {}.column",
                            aliases[0], aliases[1]
                        ),
                    ));
                }
            },
            Expr::Identifier(ident) if ident.quote_style.is_none() => match bound(&ident.value) {
                Some(bound) => timestamp_of(bound),
                None => {
                    return ControlFlow::Break(SqlError::at(
                        e.span(),
                        format!(
                            "`{ident}`: which side's? In a join, write {}.{ident} or {}.{ident}",
                            aliases[0], aliases[1]
                        ),
                    ));
                }
            },
            _ => return ControlFlow::Continue(()),
        };
        *e = replaced;
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(expr),
    }
}

/// `TO_TIMESTAMP_LTZ(<bound>, 3)`: a window bound of the join's output as a timestamp.
fn timestamp_of(bound: &str) -> Expr {
    sqlparser::parser::Parser::new(&sqlparser::dialect::GenericDialect {})
        .try_with_sql(&format!("TO_TIMESTAMP_LTZ(\"{bound}\", 3)"))
        .and_then(|mut parser| parser.parse_expr())
        .unwrap_or_else(|_| Expr::Identifier(Ident::new(bound)))
}
