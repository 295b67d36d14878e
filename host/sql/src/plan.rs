//! SQL statements to a job spec: `CREATE TABLE`s make the catalog, `SET` the job's
//! configuration, and the one `INSERT INTO … SELECT …` (or bare `SELECT`, printed) becomes the
//! pipeline — a source, its watermark, `select` steps for projections and filters, `key_by` and
//! a windowed `aggregate` for `GROUP BY` over a windowing table-valued function, and a sink.
//! Everything downstream (chaining, key groups, checkpoints, the cluster) is the job spec's.

use crate::catalog::Table;
use crate::error::SqlError;
use crate::expr::{Signatures, Udfs};
use crate::query::query_steps;
use crate::text::prepare;
use sqlparser::ast::{Expr, Set, Spanned, Statement, TableObject};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Span;
use std::collections::BTreeMap;
use weir_proto::spec::{
    CheckpointSpec, JobSpec, ModuleSpec, SinkSpec, StateBackend, StdoutSinkSpec, StepSpec,
    UdfLimits,
};

/// A planned SQL script.
#[derive(Debug, Clone)]
pub struct SqlPlan {
    /// The job it runs.
    pub spec: JobSpec,
    /// Whether the script asked to `EXPLAIN` its query rather than run it.
    pub explain: bool,
    /// The settings its `SET` statements changed (`parallelism.default`, …).
    pub settings: Vec<String>,
}

/// The job's settings a script may `SET`.
#[derive(Debug, Default)]
struct Settings {
    parallelism: Option<u32>,
    checkpoint_ms: Option<u64>,
    backend: Option<StateBackend>,
    /// The keys set, in order.
    keys: Vec<String>,
    name: Option<String>,
}

/// Plans `script` (SQL text in Flink's dialect) as a job named `name` unless it sets one.
pub fn plan(script: &str, name: &str) -> Result<SqlPlan, SqlError> {
    plan_with(script, name, &Signatures::new())
}

/// The same, checking each call of a function created from a module against the argument
/// types in `signatures` (by function name; what the modules declare), so a wrong type is an
/// error at its place in the script rather than each row's when the job runs.
pub fn plan_with(script: &str, name: &str, signatures: &Signatures) -> Result<SqlPlan, SqlError> {
    let prepared = prepare(script);
    let mut modules = BTreeMap::new();
    for function in &prepared.functions {
        if function.language.as_deref().is_some_and(|l| l != "WASM") {
            return Err(SqlError::at_place(
                function.place,
                format!(
                    "CREATE FUNCTION {}: LANGUAGE WASM (a module written in any language), not {}",
                    function.name,
                    function.language.as_deref().unwrap_or_default()
                ),
            ));
        }
        let clash = crate::expr::builtin(&function.name) || modules.contains_key(&function.name);
        if clash {
            return Err(SqlError::at_place(
                function.place,
                format!("CREATE FUNCTION {}: the name is taken", function.name),
            ));
        }
        modules.insert(
            function.name.clone(),
            ModuleSpec {
                path: function.module.clone(),
            },
        );
    }
    let functions = Udfs::named(modules.keys().cloned().collect()).with_signatures(signatures);
    let statements =
        Parser::parse_sql(&GenericDialect {}, &prepared.text).map_err(SqlError::parse)?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut settings = Settings::default();
    let mut created = 0;
    let mut job: Option<(Vec<StepSpec>, bool)> = None;
    for statement in &statements {
        let (statement, explain) = match statement {
            Statement::Explain { statement, .. } => (statement.as_ref(), true),
            other => (other, false),
        };
        match statement {
            Statement::CreateTable(create) => {
                let watermark = prepared.watermarks.iter().find(|w| w.table == created);
                created += 1;
                let table = Table::create(create, watermark)?;
                tables.insert(table.name.to_ascii_lowercase(), table);
            }
            Statement::Set(set) => settings.set(set, statement)?,
            Statement::Insert(insert) => {
                let TableObject::TableName(target) = &insert.table else {
                    return Err(SqlError::at(insert.table.span(), "INSERT INTO a table"));
                };
                let sink = lookup(&tables, &target.to_string(), target.span())?.sink()?;
                let query = insert.source.as_ref().ok_or_else(|| {
                    SqlError::at(
                        target.span(),
                        "INSERT INTO … SELECT …: the query is missing",
                    )
                })?;
                let steps = query_steps(query, &tables, &functions, sink)?;
                once(&mut job, steps, explain, statement)?;
            }
            Statement::Query(query) => {
                let print = SinkSpec::Stdout(StdoutSinkSpec::default());
                let steps = query_steps(query, &tables, &functions, print)?;
                once(&mut job, steps, explain, statement)?;
            }
            other => {
                return Err(SqlError::at(
                    other.span(),
                    "unsupported statement (CREATE TABLE, SET, INSERT INTO … SELECT, SELECT, EXPLAIN)",
                ));
            }
        }
    }
    let Some((pipeline, explain)) = job else {
        return Err(SqlError::at_place(
            (0, 0),
            "no query: INSERT INTO … SELECT … or SELECT …",
        ));
    };
    let keys = settings.keys.clone();
    Ok(SqlPlan {
        spec: settings.job(name, pipeline, modules),
        explain,
        settings: keys,
    })
}

fn once(
    job: &mut Option<(Vec<StepSpec>, bool)>,
    steps: Vec<StepSpec>,
    explain: bool,
    statement: &Statement,
) -> Result<(), SqlError> {
    if job.is_some() {
        return Err(SqlError::at(
            statement.span(),
            "one query per script (a second one here)",
        ));
    }
    *job = Some((steps, explain));
    Ok(())
}

pub(crate) fn lookup<'t>(
    tables: &'t BTreeMap<String, Table>,
    name: &str,
    span: Span,
) -> Result<&'t Table, SqlError> {
    let key = name.trim_matches('`').to_ascii_lowercase();
    tables.get(&key).ok_or_else(|| {
        SqlError::at(
            span,
            format!(
                "unknown table `{name}` (tables: {})",
                tables
                    .values()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

impl Settings {
    fn set(&mut self, set: &Set, statement: &Statement) -> Result<(), SqlError> {
        let Set::SingleAssignment {
            variable, values, ..
        } = set
        else {
            return Err(SqlError::at(statement.span(), "SET 'key' = 'value'"));
        };
        let key = variable.to_string().trim_matches('\'').to_string();
        self.keys.push(key.clone());
        let value = match values.as_slice() {
            [Expr::Value(v)] => v.value.to_string().trim_matches('\'').to_string(),
            [other] => other.to_string(),
            _ => return Err(SqlError::at(variable.span(), "SET 'key' = 'value'")),
        };
        let bad = |what: &str| {
            SqlError::at(
                variable.span(),
                format!("SET '{key}': {what}, not '{value}'"),
            )
        };
        match key.as_str() {
            "parallelism.default" => {
                self.parallelism = Some(value.parse().map_err(|_| bad("a whole number"))?);
            }
            "execution.checkpointing.interval" => {
                self.checkpoint_ms = Some(
                    duration_ms(&value).ok_or_else(|| bad("a duration such as 10s or 500ms"))?,
                );
            }
            "state.backend.type" => {
                self.backend = Some(match value.as_str() {
                    "rocksdb" => StateBackend::Rocksdb,
                    "hashmap" | "memory" => StateBackend::Memory,
                    _ => return Err(bad("rocksdb or hashmap")),
                });
            }
            "pipeline.name" => self.name = Some(value),
            _ => {
                return Err(SqlError::at(
                    variable.span(),
                    format!(
                        "unknown setting '{key}' (parallelism.default, execution.checkpointing.interval, state.backend.type, pipeline.name)"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn job(
        self,
        name: &str,
        pipeline: Vec<StepSpec>,
        modules: BTreeMap<String, ModuleSpec>,
    ) -> JobSpec {
        JobSpec {
            name: self.name.unwrap_or_else(|| name.to_string()),
            parallelism: self.parallelism.unwrap_or(1),
            max_parallelism: 128,
            batch_size: 1024,
            buffer_timeout_ms: 100,
            chaining: true,
            limits: UdfLimits::default(),
            state_backend: self.backend.unwrap_or_default(),
            checkpointing: self.checkpoint_ms.map(CheckpointSpec::every),
            restart_strategy: None,
            modules,
            dead_letter: None,
            pipeline,
            sql: None,
        }
    }
}

/// `10s`, `500ms`, `1min`, `2 h`, or plain milliseconds.
fn duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let amount: u64 = text[..split].parse().ok()?;
    let unit = match text[split..].trim() {
        "" | "ms" => 1,
        "s" | "sec" | "second" | "seconds" => 1000,
        "min" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        _ => return None,
    };
    amount.checked_mul(unit)
}
