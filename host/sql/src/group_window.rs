//! Flink's group window functions, the form older queries (Nexmark's q11 among them) use:
//! `GROUP BY key, TUMBLE(ts, INTERVAL …)`, `HOP(ts, slide, size)` or `SESSION(ts, gap)`, with
//! `TUMBLE_START(…)` and `TUMBLE_END(…)` (`HOP_…`, `SESSION_…`) in the select list naming the
//! window's bounds. They compile to the same windowed aggregate as the windowing table-valued
//! functions.

use crate::catalog::Table;
use crate::error::SqlError;
use crate::expr::{arguments, interval_ms};
use sqlparser::ast::{Expr, Spanned};
use weir_proto::spec::WindowSpec;

/// A group window named in `GROUP BY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupWindow {
    family: &'static str,
    /// The window it compiles to.
    pub(crate) window: WindowSpec,
}

const FAMILIES: [&str; 3] = ["TUMBLE", "HOP", "SESSION"];

/// The family and window of a call `family(ts, intervals…)` over `table`'s time attribute.
fn window_of(
    family: &'static str,
    call: &Expr,
    args: &[&Expr],
    table: &Table,
) -> Result<GroupWindow, SqlError> {
    let usage = match family {
        "HOP" => "HOP(time attribute, INTERVAL slide, INTERVAL size)",
        "TUMBLE" => "TUMBLE(time attribute, INTERVAL size)",
        _ => "SESSION(time attribute, INTERVAL gap)",
    };
    let intervals = if family == "HOP" { 2 } else { 1 };
    if args.len() != 1 + intervals {
        return Err(SqlError::at(call.span(), usage));
    }
    let column = match args[0] {
        Expr::Identifier(i) => i.value.as_str(),
        Expr::CompoundIdentifier(parts) => parts.last().map_or("", |p| p.value.as_str()),
        other => return Err(SqlError::at(other.span(), usage)),
    };
    let time = table.watermark.as_ref().map(|(c, _)| c.as_str());
    if !time.is_some_and(|t| t.eq_ignore_ascii_case(column)) {
        return Err(SqlError::at(
            args[0].span(),
            format!(
                "{family}({column}, …): group windows need the time attribute of `{}` (its WATERMARK FOR column{})",
                table.name,
                time.map(|t| format!(", `{t}`")).unwrap_or_default()
            ),
        ));
    }
    let mut ms = Vec::with_capacity(intervals);
    for arg in &args[1..] {
        let value = match arg {
            Expr::Interval(interval) => interval_ms(interval)
                .and_then(|ms| u64::try_from(ms).ok())
                .filter(|&ms| ms > 0),
            _ => None,
        };
        ms.push(value.ok_or_else(|| {
            SqlError::at(
                arg.span(),
                format!(
                    "{usage}: a positive INTERVAL 'n' SECOND (or MINUTE, HOUR, DAY, MILLISECOND)"
                ),
            )
        })?);
    }
    let window = match family {
        "TUMBLE" => WindowSpec::Tumbling { size_ms: ms[0] },
        "HOP" => WindowSpec::Sliding {
            slide_ms: ms[0],
            size_ms: ms[1],
        },
        _ => WindowSpec::Session { gap_ms: ms[0] },
    };
    Ok(GroupWindow { family, window })
}

/// A call named like `TUMBLE` or `TUMBLE_START`: its family, the rest of its name, its
/// arguments.
type FamilyCall<'e> = (&'static str, String, Vec<&'e Expr>);

/// The [`FamilyCall`] `expr` is, if it is one.
fn family_call(expr: &Expr) -> Result<Option<FamilyCall<'_>>, SqlError> {
    let Expr::Function(call) = expr else {
        return Ok(None);
    };
    let name = call.name.to_string().to_ascii_uppercase();
    let Some((family, suffix)) = FAMILIES.into_iter().find_map(|family| {
        let rest = name.strip_prefix(family)?;
        Some((family, rest.to_string()))
    }) else {
        return Ok(None);
    };
    Ok(Some((family, suffix, arguments(&call.args, expr)?)))
}

/// The group window `expr` (an item of `GROUP BY`) names, if it is `TUMBLE`, `HOP` or
/// `SESSION` over `table`'s time attribute.
pub(crate) fn group_window(expr: &Expr, table: &Table) -> Result<Option<GroupWindow>, SqlError> {
    let Some((family, suffix, args)) = family_call(expr)? else {
        return Ok(None);
    };
    if !suffix.is_empty() {
        return Err(SqlError::at(
            expr.span(),
            format!("GROUP BY {family}(…), not {family}{suffix}(…)"),
        ));
    }
    window_of(family, expr, &args, table).map(Some)
}

/// The window bound (`window_start` or `window_end`) a select item `TUMBLE_START(…)` (or
/// `…_END`, of `HOP` and `SESSION` too) stands for; `None` if it is no such call. It must name
/// the window `GROUP BY` names.
pub(crate) fn window_bound(
    expr: &Expr,
    grouped: Option<&GroupWindow>,
    table: &Table,
) -> Result<Option<&'static str>, SqlError> {
    let Some((family, suffix, args)) = family_call(expr)? else {
        return Ok(None);
    };
    let bound = match suffix.as_str() {
        "_START" => "window_start",
        "_END" => "window_end",
        _ => return Ok(None),
    };
    let named = window_of(family, expr, &args, table)?;
    match grouped {
        Some(grouped) if *grouped == named => Ok(Some(bound)),
        Some(grouped) => Err(SqlError::at(
            expr.span(),
            format!(
                "{family}{suffix}(…) names another window than GROUP BY's {}(…)",
                grouped.family
            ),
        )),
        None => Err(SqlError::at(
            expr.span(),
            format!("{family}{suffix}(…) needs GROUP BY …, {family}(…)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::plan;
    use weir_proto::spec::WindowSpec;

    const BIDS: &str = "CREATE TABLE bid (bidder BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('connector' = 'bids', 'rows' = '10');\n";

    fn window(query: &str) -> Option<WindowSpec> {
        let plan = plan(&format!("{BIDS}{query}"), "test").expect("plans");
        plan.spec
            .pipeline
            .iter()
            .find_map(|s| s.aggregate.as_ref().and_then(|a| a.window))
    }

    fn error(query: &str) -> String {
        plan(&format!("{BIDS}{query}"), "test")
            .expect_err("an error")
            .to_string()
    }

    #[test]
    fn each_group_window_compiles_to_its_window() {
        let select = |group: &str, bound: &str| {
            format!(
                "SELECT bidder, COUNT(*) AS n, {bound}_START(ts, {group}) AS s FROM bid GROUP BY bidder, {bound}(ts, {group});"
            )
        };
        assert_eq!(
            window(&select("INTERVAL '10' SECOND", "TUMBLE")),
            Some(WindowSpec::Tumbling { size_ms: 10_000 })
        );
        assert_eq!(
            window(&select("INTERVAL '2' SECOND, INTERVAL '10' SECOND", "HOP")),
            Some(WindowSpec::Sliding {
                size_ms: 10_000,
                slide_ms: 2_000
            })
        );
        assert_eq!(
            window(&select("INTERVAL '5' MINUTE", "SESSION")),
            Some(WindowSpec::Session { gap_ms: 300_000 })
        );
    }

    #[test]
    fn a_session_table_function_partitions_by_its_key() {
        assert_eq!(
            window(
                "SELECT bidder, window_start, COUNT(*) AS n FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY bidder, window_start, window_end;"
            ),
            Some(WindowSpec::Session { gap_ms: 10_000 })
        );
        let other = error(
            "SELECT price, COUNT(*) AS n FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY price, window_start, window_end;",
        );
        assert!(
            other.contains("line 2, column 71") && other.contains("sessions are per `bidder`"),
            "{other}"
        );
    }

    #[test]
    fn a_bound_of_another_window_or_a_column_that_is_no_time_attribute_is_named() {
        let other = error(
            "SELECT bidder, SESSION_END(ts, INTERVAL '5' SECOND) AS e FROM bid GROUP BY bidder, SESSION(ts, INTERVAL '10' SECOND);",
        );
        assert!(
            other.contains("line 2, column 16") && other.contains("another window"),
            "{other}"
        );
        let column = error(
            "SELECT bidder, COUNT(*) AS n FROM bid GROUP BY bidder, TUMBLE(price, INTERVAL '10' SECOND);",
        );
        assert!(
            column.contains("line 2, column 63") && column.contains("the time attribute of `bid`"),
            "{column}"
        );
        let lonely =
            error("SELECT TUMBLE_END(ts, INTERVAL '1' SECOND) AS e FROM bid GROUP BY bidder;");
        assert!(lonely.contains("needs GROUP BY …, TUMBLE(…)"), "{lonely}");
    }
}
