//! Joins without a window (Flink's regular joins), of any two relations — tables, subqueries,
//! aggregates — on equal columns:
//!
//! ```sql
//! SELECT P.name, A.id FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
//! WHERE A.category = 10;
//! SELECT … FROM auction A, bid B WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//! ```
//!
//! Each side's steps (named under its alias), `key_by` its columns of the equalities, and the
//! engine's regular join (`join` without a window, each side's fields flattened as
//! `alias$column`) keeping both sides in keyed state. The rest of `ON` and `WHERE` filters the
//! pairs, and the query's `SELECT` (a projection, or a `GROUP BY`) reads them with `A.column`
//! rewritten to `"a$column"`. An updating side (an aggregate without a window) makes the join's
//! result updating: its `-U`/`-D` rows take their pairs back. `LEFT`, `RIGHT` and `FULL` joins
//! keep a side's unmatched rows, their other side's columns NULL, as an updating result (a
//! match arriving later takes the unmatched row back).

use crate::catalog::Table;
use crate::error::SqlError;
use crate::expr::Udfs;
use crate::group::key_by_step;
use crate::plan::lookup;
use crate::query::{Input, select_over, step, table_steps};
use crate::relation::{Relation, cast_times, query_relation};
use crate::value::SqlType;
use sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Ident, JoinConstraint, JoinOperator, Select, SelectItem,
    Spanned, TableFactor, visit_expressions_mut,
};
use sqlparser::tokenizer::Span;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use weir_proto::spec::{JoinOuter, JoinSpec, SelectSpec, StepSpec};

/// One side of a join: its alias and rows.
struct Side {
    alias: String,
    relation: Relation,
}

/// The rows of `select`, a query over a join of two relations.
pub(crate) fn join(
    select: &Select,
    tables: &BTreeMap<String, Table>,
    functions: &Udfs,
) -> Result<Relation, SqlError> {
    let mut outer = JoinOuter::Inner;
    let (left, right, on) = match select.from.as_slice() {
        [only] => match only.joins.as_slice() {
            [join] => {
                let (on, kind) = match &join.join_operator {
                    JoinOperator::Join(JoinConstraint::On(on))
                    | JoinOperator::Inner(JoinConstraint::On(on)) => (on, JoinOuter::Inner),
                    JoinOperator::Left(JoinConstraint::On(on))
                    | JoinOperator::LeftOuter(JoinConstraint::On(on)) => (on, JoinOuter::Left),
                    JoinOperator::Right(JoinConstraint::On(on))
                    | JoinOperator::RightOuter(JoinConstraint::On(on)) => (on, JoinOuter::Right),
                    JoinOperator::FullOuter(JoinConstraint::On(on)) => (on, JoinOuter::Full),
                    _ => {
                        return Err(SqlError::at(
                            join.relation.span(),
                            "JOIN, LEFT JOIN, RIGHT JOIN or FULL JOIN … ON …",
                        ));
                    }
                };
                outer = kind;
                (&only.relation, &join.relation, Some(on))
            }
            _ => return Err(SqlError::at(select.span(), "one JOIN per query")),
        },
        [a, b] if a.joins.is_empty() && b.joins.is_empty() => (&a.relation, &b.relation, None),
        _ => {
            return Err(SqlError::at(
                select.span(),
                "a query reads one table, or joins two",
            ));
        }
    };
    let left = side(left, tables, functions)?;
    let right = side(right, tables, functions)?;
    if left.alias == right.alias {
        return Err(SqlError::at(
            select.span(),
            format!(
                "the two sides of the join are both `{}`: give each an alias",
                left.alias
            ),
        ));
    }
    let sides = [&left, &right];
    let (mut matching, mut filtering) = (Vec::new(), Vec::new());
    conjuncts(on, &mut matching);
    conjuncts(select.selection.as_ref(), &mut filtering);
    let mut keys: (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut rest = Vec::new();
    for (condition, in_on) in matching
        .into_iter()
        .map(|c| (c, true))
        .chain(filtering.into_iter().map(|c| (c, false)))
    {
        match key_equality(condition, sides)? {
            Some((l, r)) if in_on || outer == JoinOuter::Inner => {
                keys.0.push(l);
                keys.1.push(r);
            }
            // In an outer join, ON decides what matches, and WHERE filters what comes out
            // (unmatched rows included): only equalities of the sides can match here.
            _ if in_on && outer != JoinOuter::Inner => {
                return Err(SqlError::at(
                    condition.span(),
                    "an outer join's ON equates a column of each side (other conditions there are not supported yet: filter a side in a subquery, or the result in WHERE)",
                ));
            }
            _ => rest.push(rewrite(condition, sides)?),
        }
    }
    if keys.0.is_empty() {
        return Err(SqlError::at(
            on.map_or_else(|| select.span(), Spanned::span),
            "a join needs an equality of a column of each side: L.key = R.key",
        ));
    }
    let updating = left.relation.updating || right.relation.updating || outer != JoinOuter::Inner;
    let mut columns = Vec::new();
    let mut steps = Vec::new();
    let mut outputs = Vec::new();
    for (side, key) in [(&left, &keys.0), (&right, &keys.1)] {
        columns.extend(
            side.relation
                .table
                .columns
                .iter()
                .map(|(c, t)| (format!("{}${c}", side.alias), *t)),
        );
        steps.extend(side.relation.steps.iter().cloned());
        let output = side.relation.output();
        steps.push(StepSpec {
            input: Some(output),
            ..key_by_step(key)
        });
        let named = format!("{}-key", side.alias);
        if let Some(last) = steps.last_mut() {
            last.name = Some(named.clone());
        }
        outputs.push(named);
    }
    steps.push(StepSpec {
        input: Some(outputs[0].clone()),
        join: Some(JoinSpec {
            with: outputs[1].clone(),
            window: None,
            left_as: Some(left.alias.clone()),
            right_as: Some(right.alias.clone()),
            flatten: true,
            changelog: updating,
            outer,
            ..JoinSpec::default()
        }),
        ..step("join")
    });
    let table = Table::derived("join", columns);
    let mut query = select.clone();
    query.selection = conjunction(rest);
    for (index, item) in query.projection.iter_mut().enumerate() {
        let named = crate::projection::named_item(item, index);
        let Some((expr, name)) = named.map(|(e, n)| (e.clone(), n)) else {
            return Err(SqlError::at(
                item.span(),
                "a join selects its columns by name (no *)",
            ));
        };
        *item = SelectItem::ExprWithAlias {
            expr: rewrite(&expr, sides)?,
            alias: Ident::with_quote('"', name),
        };
    }
    if let GroupByExpr::Expressions(exprs, _) = &mut query.group_by {
        for expr in exprs {
            *expr = rewrite(expr, sides)?;
        }
    }
    let query = cast_times(&query, &table)?;
    let input = Input {
        steps,
        table: &table,
        lateral: None,
        windowed: None,
        updating,
    };
    select_over(&query, input, functions)
}

/// A side of a join: a table (its rows with every column a field, its time attribute too), or
/// a subquery; named under its alias.
fn side(
    relation: &TableFactor,
    tables: &BTreeMap<String, Table>,
    functions: &Udfs,
) -> Result<Side, SqlError> {
    let (inner, alias) = match relation {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            let table = lookup(tables, &name.to_string(), name.span())?;
            (
                fields_of(table)?,
                alias
                    .as_ref()
                    .map_or(&table.name, |a| &a.name.value)
                    .clone(),
            )
        }
        TableFactor::Derived {
            subquery,
            alias: Some(alias),
            ..
        } => (
            query_relation(subquery, tables, functions)?,
            alias.name.value.clone(),
        ),
        TableFactor::Derived { .. } => {
            return Err(SqlError::at(
                relation.span(),
                "a subquery in a join needs an alias: (SELECT …) AS name",
            ));
        }
        TableFactor::TableFunction { .. } => {
            return Err(SqlError::at(
                relation.span(),
                "a windowing function joins another in a window join: ON L.key = R.key AND L.window_start = R.window_start AND L.window_end = R.window_end",
            ));
        }
        other => {
            return Err(SqlError::at(
                other.span(),
                "a join's side is a table or (SELECT …) AS alias",
            ));
        }
    };
    let alias = alias.to_ascii_lowercase();
    Ok(Side {
        relation: inner.prefixed(&alias),
        alias,
    })
}

/// `table`'s rows with each column a field of the record: its time attribute, which a generated
/// table keeps as the record's timestamp, and every TIMESTAMP as SQL's time text.
fn fields_of(table: &Table) -> Result<Relation, SqlError> {
    let mut steps = table_steps(table)?;
    let rowtime = table.rowtime()?;
    let columns = table
        .columns
        .iter()
        .map(|(c, t)| match t {
            SqlType::Timestamp if rowtime != Some(c.as_str()) => {
                format!("CAST(\"{c}\" AS TIMESTAMP(3)) AS \"{c}\"")
            }
            _ => format!("\"{c}\""),
        })
        .collect();
    steps.push(StepSpec {
        select: Some(SelectSpec {
            columns,
            rowtime: rowtime.map(str::to_string),
            ..SelectSpec::default()
        }),
        ..step("fields")
    });
    Ok(Relation {
        steps,
        table: Table::derived(&table.name, table.columns.clone()),
        updating: false,
    })
}

/// The conditions `AND`ed in `expr`, into `out`.
pub(crate) fn conjuncts<'e>(expr: Option<&'e Expr>, out: &mut Vec<&'e Expr>) {
    match expr {
        Some(Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        }) => {
            conjuncts(Some(left), out);
            conjuncts(Some(right), out);
        }
        Some(Expr::Nested(inner))
            if matches!(
                inner.as_ref(),
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(Some(inner), out)
        }
        Some(expr) => out.push(expr),
        None => {}
    }
}

/// `conditions` `AND`ed together; `None` for none.
pub(crate) fn conjunction(conditions: Vec<Expr>) -> Option<Expr> {
    conditions.into_iter().reduce(|a, b| Expr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    })
}

/// The side (0 or 1) and column of a column reference `A.c` or `c`; `Ok(None)` for anything
/// else; an error for an unknown or ambiguous column.
fn resolve(expr: &Expr, sides: [&Side; 2]) -> Result<Option<(usize, String)>, SqlError> {
    let (qualifier, name, span): (Option<String>, &str, Span) = match expr {
        Expr::Identifier(ident) => (None, ident.value.as_str(), ident.span),
        Expr::CompoundIdentifier(parts) if parts.len() == 2 => (
            Some(parts[0].value.to_ascii_lowercase()),
            parts[1].value.as_str(),
            parts[1].span,
        ),
        _ => return Ok(None),
    };
    let column = |side: &Side| {
        side.relation
            .table
            .columns
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
            .map(|(c, _)| c.clone())
    };
    let found: Vec<(usize, String)> = (0..2)
        .filter(|&i| qualifier.as_ref().is_none_or(|q| *q == sides[i].alias))
        .filter_map(|i| column(sides[i]).map(|c| (i, c)))
        .collect();
    match (found.as_slice(), &qualifier) {
        ([one], _) => Ok(Some(one.clone())),
        ([], Some(q)) if !sides.iter().any(|s| s.alias == *q) => Err(SqlError::at(
            span,
            format!(
                "`{expr}`: no side is called `{q}` (the sides are {} and {})",
                sides[0].alias, sides[1].alias
            ),
        )),
        ([], _) => Err(SqlError::at(span, format!("unknown column `{expr}`"))),
        _ => Err(SqlError::at(
            span,
            format!(
                "`{name}` is a column of both sides: write {}.{name} or {}.{name}",
                sides[0].alias, sides[1].alias
            ),
        )),
    }
}

/// The key columns `(left, right)` of `condition` when it equates a column of each side (as
/// each side's records name them).
fn key_equality(condition: &Expr, sides: [&Side; 2]) -> Result<Option<(String, String)>, SqlError> {
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = condition
    else {
        return Ok(None);
    };
    match (resolve(left, sides)?, resolve(right, sides)?) {
        (Some(a), Some(b)) if a.0 != b.0 => Ok(Some(match a.0 {
            0 => (a.1, b.1),
            _ => (b.1, a.1),
        })),
        _ => Ok(None),
    }
}

/// `expr` over the join's rows: each column reference becomes its field, `"a$column"`.
fn rewrite(expr: &Expr, sides: [&Side; 2]) -> Result<Expr, SqlError> {
    let mut expr = expr.clone();
    let flow = visit_expressions_mut(&mut expr, |e| {
        match resolve(e, sides) {
            Ok(Some((side, column))) => {
                *e = Expr::Identifier(Ident::with_quote(
                    '"',
                    format!("{}${column}", sides[side].alias),
                ));
            }
            Ok(None) => {}
            Err(error) => return ControlFlow::Break(error),
        }
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(expr),
    }
}

#[cfg(test)]
mod tests {
    fn example(name: &str) -> Vec<weir_proto::spec::StepSpec> {
        let path = format!(
            "{}/../../examples/sql/nexmark/{name}.sql",
            env!("CARGO_MANIFEST_DIR")
        );
        let script = std::fs::read_to_string(path).expect("example");
        crate::plan(&script, name).expect("plans").spec.pipeline
    }

    fn named<'s>(
        steps: &'s [weir_proto::spec::StepSpec],
        name: &str,
    ) -> &'s weir_proto::spec::StepSpec {
        steps
            .iter()
            .find(|s| s.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no step {name} in {steps:#?}"))
    }

    #[test]
    fn a_join_of_two_aggregates_keys_each_side_by_every_equated_column() {
        let steps = example("q8");
        let join = named(&steps, "join").join.as_ref().expect("a join");
        assert_eq!(join.window, None, "a regular join");
        assert_eq!(join.with, "a-key");
        assert!(!join.changelog, "window aggregates are not updating");
        let keys = |name: &str| named(&steps, name).key_by.clone().expect("a key_by").fields;
        assert_eq!(keys("p-key"), ["id", "starttime", "endtime"]);
        assert_eq!(keys("a-key"), ["seller", "starttime", "endtime"]);
        assert_eq!(named(&steps, "join").input.as_deref(), Some("p-key"));
        let person_groups = named(&steps, "p-key_by").key_by.clone().expect("a key_by");
        assert_eq!(person_groups.fields, ["id", "name"]);
    }

    #[test]
    fn an_updating_side_makes_the_join_and_what_follows_updating() {
        let steps = example("q5");
        let join = named(&steps, "join").join.as_ref().expect("a join");
        assert!(join.changelog, "MaxBids is an updating aggregate");
        let q4 = example("q4");
        let outer = named(&q4, "group")
            .aggregate
            .as_ref()
            .expect("an aggregate");
        assert!(
            outer.changelog && outer.retract,
            "AVG over the per-auction maxima takes rows back"
        );
    }

    #[test]
    fn a_join_names_what_is_wrong_with_it() {
        let tables = "CREATE TABLE a (k BIGINT, x BIGINT) WITH ('connector' = 'filesystem', 'path' = 'a.json');\n\
                      CREATE TABLE b (k BIGINT, y BIGINT) WITH ('connector' = 'filesystem', 'path' = 'b.json');\n";
        for (query, expected) in [
            (
                "SELECT a.x FROM a JOIN b ON a.x > b.y",
                "a join needs an equality of a column of each side",
            ),
            (
                "SELECT k FROM a JOIN b ON a.k = b.k",
                "`k` is a column of both sides",
            ),
            (
                "SELECT a.z FROM a JOIN b ON a.k = b.k",
                "unknown column `a.z`",
            ),
            (
                "SELECT c.x FROM a JOIN b ON a.k = b.k",
                "no side is called `c`",
            ),
            (
                "SELECT a.x FROM a LEFT JOIN b ON a.k = b.k AND b.y > 1",
                "an outer join's ON equates a column of each side",
            ),
            (
                "SELECT a.x FROM a JOIN a ON a.k = a.k",
                "give each an alias",
            ),
        ] {
            let error = crate::plan(&format!("{tables}{query};"), "bad").expect_err(query);
            assert!(error.to_string().contains(expected), "{query}: {error}");
        }
    }
}
