//! A query's rows as steps of the job: what a table, a windowing function, a subquery or a
//! join gives the `SELECT` around it. Subqueries nest (`FROM (SELECT …) AS q`), a join takes any
//! two of them, and an updating result (a changelog, `op` in each row) flows on into the
//! projections, joins and aggregates that read it.

use crate::catalog::Table;
use crate::error::SqlError;
use crate::expr::Udfs;
use crate::query::{Input, factor, select_over, table_steps};
use crate::value::SqlType;
use sqlparser::ast::{
    CastKind, DataType, Expr, Ident, Query, Select, SelectItem, SetExpr, Spanned, TableFactor,
    visit_expressions_mut,
};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use weir_proto::spec::StepSpec;

/// The rows of a query or a FROM item, as steps of the job.
pub(crate) struct Relation {
    /// The steps, in order; the last one gives the rows.
    pub(crate) steps: Vec<StepSpec>,
    /// The rows' columns, each a field of the records.
    pub(crate) table: Table,
    /// Whether the rows are an updating result: each has its kind in `op` (`+I`, `-U`, `+U`,
    /// `-D`), and a later row may take an earlier one back.
    pub(crate) updating: bool,
}

impl Relation {
    /// The same steps named under `prefix` (`q-project`), so that two relations in one job do
    /// not collide; the references between them (`input`, a join's `with`) follow.
    pub(crate) fn prefixed(mut self, prefix: &str) -> Relation {
        let rename = |name: &mut Option<String>| {
            if let Some(name) = name {
                *name = format!("{prefix}-{name}");
            }
        };
        for step in &mut self.steps {
            rename(&mut step.name);
            rename(&mut step.input);
            if let Some(join) = &mut step.join {
                join.with = format!("{prefix}-{}", join.with);
            }
        }
        self
    }

    /// The name of the step giving the rows.
    pub(crate) fn output(&self) -> String {
        self.steps
            .last()
            .and_then(|s| s.name.clone())
            .unwrap_or_default()
    }
}

/// The rows of `query`.
pub(crate) fn query_relation(
    query: &Query,
    tables: &BTreeMap<String, Table>,
    functions: &Udfs,
) -> Result<Relation, SqlError> {
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
    let Some(from) = crate::table_function::split(select)? else {
        let window_join = match select.from.as_slice() {
            [only] => crate::join::is_window_join(only),
            _ => false,
        };
        return match window_join {
            true => crate::join::window_join(select, tables, functions),
            false => crate::regular_join::join(select, tables, functions),
        };
    };
    if let TableFactor::Derived {
        subquery, alias, ..
    } = from.base
    {
        if from.has_lateral() {
            return Err(SqlError::at(
                from.base.span(),
                "LATERAL TABLE joins a table, not a subquery (not supported yet)",
            ));
        }
        let name = alias.as_ref().map_or_else(
            || "subquery".to_string(),
            |a| a.name.value.to_ascii_lowercase(),
        );
        if let Some(ranked) = crate::top_n::top_n(select, (subquery, &name), tables, functions)? {
            return Ok(ranked);
        }
        let inner = query_relation(subquery, tables, functions)?.prefixed(&name);
        let table = Table::derived(&name, inner.table.columns.clone());
        let select = cast_times(select, &table)?;
        let input = Input {
            steps: inner.steps,
            table: &table,
            lateral: None,
            windowed: None,
            updating: inner.updating,
        };
        return select_over(&select, input, functions);
    }
    let (table, windowed) = factor(from.base, tables)?;
    let (lateral, table) = match from.lateral(table, functions)? {
        Some((lateral, extended)) => (Some(lateral), std::borrow::Cow::Owned(extended)),
        None => (None, std::borrow::Cow::Borrowed(table)),
    };
    let input = Input {
        steps: table_steps(&table)?,
        table: table.as_ref(),
        lateral,
        windowed,
        updating: false,
    };
    select_over(select, input, functions)
}

/// `select` with each TIMESTAMP column of `table` (a subquery's or a join's rows, where a
/// time is the text `YYYY-MM-DD HH:MM:SS.sss`) read as a time wherever an expression computes
/// with it: `CAST(col AS TIMESTAMP(3))` in the WHERE and in every select item but a bare
/// column (which passes its text on as it is, and may be a GROUP BY key).
pub(crate) fn cast_times(select: &Select, table: &Table) -> Result<Select, SqlError> {
    let times: Vec<&str> = table
        .columns
        .iter()
        .filter(|(_, t)| *t == SqlType::Timestamp)
        .map(|(c, _)| c.as_str())
        .collect();
    let mut select = select.clone();
    if times.is_empty() {
        return Ok(select);
    }
    let cast = |expr: &mut Expr| {
        let _ = visit_expressions_mut(expr, |e| {
            let name = match &*e {
                Expr::Identifier(ident) => Some(ident.value.as_str()),
                Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.as_str()),
                _ => None,
            };
            if let Some(column) =
                name.and_then(|n| times.iter().find(|t| t.eq_ignore_ascii_case(n)))
            {
                *e = Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(Expr::Identifier(Ident::with_quote('"', *column))),
                    data_type: DataType::Timestamp(Some(3), sqlparser::ast::TimezoneInfo::None),
                    format: None,
                };
            }
            ControlFlow::<()>::Continue(())
        });
    };
    if let Some(condition) = &mut select.selection {
        cast(condition);
    }
    for item in &mut select.projection {
        match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }
                if !is_column(expr) =>
            {
                cast(expr)
            }
            _ => {}
        }
    }
    Ok(select)
}

/// Whether `expr` is a bare column (`c` or `q.c`).
fn is_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
}
