//! Table functions from SQL: `FROM t, LATERAL TABLE(f(…)) AS alias(a, b)`, or `CROSS JOIN
//! LATERAL TABLE(…)`, or `LEFT JOIN LATERAL TABLE(…) AS alias(a) ON TRUE` (Flink's forms).
//! The call runs in the query's first `select` step ([`LateralSpec`]); its columns join the
//! table's, typed when the query runs (a module does not declare its result's types).

use crate::catalog::Table;
use crate::error::SqlError;
use crate::expr::{Compiler, Scope, Udfs};
use crate::value::SqlType;
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, JoinConstraint, JoinOperator, Select, Spanned, TableFactor,
    Value,
};
use weir_proto::spec::LateralSpec;

/// A query's FROM clause: the relation it reads, and a table function joined to it.
pub(crate) struct From<'q> {
    pub(crate) base: &'q TableFactor,
    lateral: Option<(&'q TableFactor, bool)>,
}

/// Splits `select`'s FROM into its relation and a lateral table function; `None` for a FROM
/// that is neither one relation nor one relation with a table function (a join, or an error the
/// caller reports).
pub(crate) fn split(select: &Select) -> Result<Option<From<'_>>, SqlError> {
    let is_lateral =
        |factor: &TableFactor| matches!(factor, TableFactor::Function { lateral: true, .. });
    match select.from.as_slice() {
        [only] if only.joins.is_empty() => Ok(Some(From {
            base: &only.relation,
            lateral: None,
        })),
        [base, call]
            if base.joins.is_empty() && call.joins.is_empty() && is_lateral(&call.relation) =>
        {
            Ok(Some(From {
                base: &base.relation,
                lateral: Some((&call.relation, false)),
            }))
        }
        [only] if only.joins.len() == 1 && is_lateral(&only.joins[0].relation) => {
            let join = &only.joins[0];
            let outer = match &join.join_operator {
                JoinOperator::CrossJoin(_) => false,
                JoinOperator::Left(JoinConstraint::On(on))
                | JoinOperator::LeftOuter(JoinConstraint::On(on))
                    if is_true(on) =>
                {
                    true
                }
                _ => {
                    return Err(SqlError::at(
                        join.relation.span(),
                        "a table function joins as `, LATERAL TABLE(f(…)) AS t(c)`, `CROSS JOIN LATERAL TABLE(…)` or `LEFT JOIN LATERAL TABLE(…) AS t(c) ON TRUE`",
                    ));
                }
            };
            Ok(Some(From {
                base: &only.relation,
                lateral: Some((&join.relation, outer)),
            }))
        }
        _ => Ok(None),
    }
}

fn is_true(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(v) if v.value == Value::Boolean(true))
}

impl From<'_> {
    /// Whether a table function is joined to the relation.
    pub(crate) fn has_lateral(&self) -> bool {
        self.lateral.is_some()
    }

    /// The table function's call as a `select` step runs it, and `table` with its columns
    /// added; `None` without one.
    pub(crate) fn lateral(
        &self,
        table: &Table,
        functions: &Udfs,
    ) -> Result<Option<(LateralSpec, Table)>, SqlError> {
        let Some((factor, outer)) = self.lateral else {
            return Ok(None);
        };
        let TableFactor::Function {
            name, args, alias, ..
        } = factor
        else {
            return Ok(None);
        };
        let shape = || {
            SqlError::at(
                factor.span(),
                "LATERAL TABLE(function(arguments)) AS alias(column, …)",
            )
        };
        let call = match (
            name.to_string().eq_ignore_ascii_case("TABLE"),
            args.as_slice(),
        ) {
            (true, [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(call)))]) => call,
            _ => return Err(shape()),
        };
        let called = call.name.to_string();
        let function = functions
            .iter()
            .find(|f| f.eq_ignore_ascii_case(called.trim_matches('`')))
            .ok_or_else(|| {
                SqlError::at(
                    call.name.span(),
                    format!(
                        "unknown table function `{called}` (CREATE FUNCTION {called} AS 'module' LANGUAGE WASM{})",
                        match functions.is_empty() {
                            true => String::new(),
                            false => format!("; created: {}", functions.join(", ")),
                        }
                    ),
                )
            })?;
        let mut compiler = Compiler::new(Scope {
            columns: Some(&table.columns),
            rowtime: table.rowtime()?,
            functions,
        });
        let texts = compiler.argument_texts(call)?;
        let alias = alias.as_ref().ok_or_else(|| {
            SqlError::at(
                factor.span(),
                format!("name the columns of {called}'s rows: LATERAL TABLE({called}(…)) AS t(column, …)"),
            )
        })?;
        if alias.columns.is_empty() {
            return Err(SqlError::at(
                alias.name.span,
                format!(
                    "name the columns of {called}'s rows: AS {}(column, …)",
                    alias.name.value
                ),
            ));
        }
        let mut extended = table.clone();
        let mut columns = Vec::new();
        for column in &alias.columns {
            let name = column.name.value.clone();
            if extended
                .columns
                .iter()
                .any(|(c, _)| c.eq_ignore_ascii_case(&name))
            {
                return Err(SqlError::at(
                    column.name.span,
                    format!(
                        "column `{name}` of {called} is also a column of `{}` or named twice",
                        table.name
                    ),
                ));
            }
            extended.columns.push((name.clone(), SqlType::Any));
            columns.push(name);
        }
        Ok(Some((
            LateralSpec {
                function: function.clone(),
                args: texts,
                columns,
                outer,
            },
            extended,
        )))
    }
}
