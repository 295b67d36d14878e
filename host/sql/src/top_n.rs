//! Top-N, as Flink writes it: a subquery numbering each partition's rows with `ROW_NUMBER()`,
//! and a query keeping the first N,
//!
//! ```sql
//! SELECT * FROM (
//!   SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number
//!   FROM bid)
//! WHERE rank_number <= 10;
//! ```
//!
//! compiles to the subquery's rows without the number, `key_by` the partition, and the engine's
//! `top_n` (each key's first N in keyed state), whose updating result numbers the rows; then
//! the outer query over it, without the condition on the number.

use crate::catalog::Table;
use crate::error::SqlError;
use crate::expr::Udfs;
use crate::group::key_by_step;
use crate::query::{Input, select_over, step};
use crate::relation::{Relation, cast_times, query_relation};
use crate::value::SqlType;
use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArguments, OrderBySort, Query, Select, SelectItem, SetExpr,
    Spanned, Value as Literal, WindowType,
};
use std::collections::BTreeMap;
use weir_proto::spec::{StepSpec, TopNSpec};

/// `ROW_NUMBER() OVER (PARTITION BY … ORDER BY …) AS name` in a select list: its place, the
/// partition's columns, the ordering column and whether it is descending, and the name.
struct RowNumber {
    index: usize,
    partition: Vec<String>,
    order_by: String,
    descending: bool,
    name: String,
}

fn row_number(select: &Select) -> Result<Option<RowNumber>, SqlError> {
    for (index, item) in select.projection.iter().enumerate() {
        let (expr, name) = match item {
            SelectItem::ExprWithAlias { expr, alias } => (expr, alias.value.clone()),
            SelectItem::UnnamedExpr(expr) => (expr, format!("EXPR${index}")),
            _ => continue,
        };
        let Expr::Function(call) = expr else {
            continue;
        };
        if !call.name.to_string().eq_ignore_ascii_case("ROW_NUMBER") {
            continue;
        }
        let usage = "ROW_NUMBER() OVER (PARTITION BY column, … ORDER BY column [DESC])";
        let no_arguments = match &call.args {
            FunctionArguments::None => true,
            FunctionArguments::List(list) => list.args.is_empty(),
            FunctionArguments::Subquery(_) => false,
        };
        let Some(WindowType::WindowSpec(window)) = &call.over else {
            return Err(SqlError::at(expr.span(), usage));
        };
        let column = |expr: &Expr| crate::group::identifier(expr).map(str::to_string);
        let partition: Option<Vec<String>> = window.partition_by.iter().map(column).collect();
        let partition = partition.filter(|p| !p.is_empty()).ok_or_else(|| {
            SqlError::at(
                expr.span(),
                format!(
                    "{usage}: PARTITION BY columns (a top-N over all rows is not supported yet)"
                ),
            )
        })?;
        let [order] = window.order_by.as_slice() else {
            return Err(SqlError::at(
                expr.span(),
                format!("{usage}: ORDER BY one column"),
            ));
        };
        let order_by = column(&order.expr).ok_or_else(|| {
            SqlError::at(order.expr.span(), format!("{usage}: ORDER BY a column"))
        })?;
        if !no_arguments || window.window_frame.is_some() {
            return Err(SqlError::at(expr.span(), usage));
        }
        return Ok(Some(RowNumber {
            index,
            partition,
            order_by,
            descending: matches!(order.options.sort, Some(OrderBySort::Desc)),
            name,
        }));
    }
    Ok(None)
}

/// The rows of `outer`, a query over `(subquery) AS alias`, when the subquery numbers its rows
/// with `ROW_NUMBER()`; `None` when it does not.
pub(crate) fn top_n(
    outer: &Select,
    (subquery, alias): (&Query, &str),
    tables: &BTreeMap<String, Table>,
    functions: &Udfs,
) -> Result<Option<Relation>, SqlError> {
    let SetExpr::Select(inner) = subquery.body.as_ref() else {
        return Ok(None);
    };
    let Some(number) = row_number(inner)? else {
        return Ok(None);
    };
    let mut conditions = Vec::new();
    crate::regular_join::conjuncts(outer.selection.as_ref(), &mut conditions);
    let mut n = None;
    let mut rest = Vec::new();
    for condition in conditions {
        match limit(condition, &number.name) {
            Some(limit) if n.is_none() => n = Some(limit),
            _ => rest.push(condition.clone()),
        }
    }
    let n = n.ok_or_else(|| {
        SqlError::at(
            outer.span(),
            format!(
                "a top-N keeps its first rows: WHERE {0} <= N (or {0} < N, {0} = 1)",
                number.name
            ),
        )
    })?;
    let mut unnumbered = inner.as_ref().clone();
    unnumbered.projection.remove(number.index);
    let unnumbered = Query {
        body: Box::new(SetExpr::Select(Box::new(unnumbered))),
        ..subquery.clone()
    };
    let rows = query_relation(&unnumbered, tables, functions)?;
    if rows.updating {
        return Err(SqlError::at(
            subquery.span(),
            "a top-N over an updating query is not supported yet",
        ));
    }
    let column = |name: &str| {
        rows.table
            .columns
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
            .cloned()
            .ok_or_else(|| {
                SqlError::at(
                    subquery.span(),
                    format!("ROW_NUMBER() OVER (…): `{name}` is not a column of the subquery"),
                )
            })
    };
    let keys: Vec<String> = number
        .partition
        .iter()
        .map(|p| column(p).map(|(c, _)| c))
        .collect::<Result<_, _>>()?;
    let (order_by, order_type) = column(&number.order_by)?;
    if !order_type.is_numeric() {
        return Err(SqlError::at(
            subquery.span(),
            format!("ROW_NUMBER() OVER (… ORDER BY {order_by}): a number, not {order_type}"),
        ));
    }
    let mut columns = rows.table.columns.clone();
    columns.push((number.name.clone(), SqlType::Bigint));
    let mut steps = rows.steps;
    steps.push(key_by_step(&keys));
    steps.push(StepSpec {
        top_n: Some(TopNSpec {
            order_by,
            descending: number.descending,
            n,
            number_as: Some(number.name.clone()),
        }),
        ..step("top_n")
    });
    let numbered = Relation {
        steps,
        table: Table::derived(alias, columns),
        updating: true,
    }
    .prefixed(alias);
    let mut outer = outer.clone();
    outer.selection = crate::regular_join::conjunction(rest);
    let outer = cast_times(&outer, &numbered.table)?;
    let input = Input {
        steps: numbered.steps,
        table: &numbered.table,
        lateral: None,
        windowed: None,
        updating: true,
    };
    select_over(&outer, input, functions).map(Some)
}

/// N of `condition` when it is `name <= N`, `name < N + 1` or `name = 1`.
fn limit(condition: &Expr, name: &str) -> Option<u32> {
    let Expr::BinaryOp { left, op, right } = condition else {
        return None;
    };
    let is_number = crate::group::identifier(left).is_some_and(|c| c.eq_ignore_ascii_case(name));
    let Expr::Value(value) = right.as_ref() else {
        return None;
    };
    let Literal::Number(text, _) = &value.value else {
        return None;
    };
    let bound: u32 = text.parse().ok()?;
    match (is_number, op) {
        (true, BinaryOperator::LtEq) => Some(bound),
        (true, BinaryOperator::Lt) => bound.checked_sub(1),
        (true, BinaryOperator::Eq) if bound == 1 => Some(1),
        _ => None,
    }
    .filter(|&n| n > 0)
}
