//! The PostgreSQL sink.
//!
//! `append` is exactly once by PostgreSQL's own two-phase commit: the rows between two barriers
//! go in one transaction, `PREPARE TRANSACTION '<prefix>-<subtask>-<checkpoint>'` at the barrier
//! and `COMMIT PREPARED` when the checkpoint completes. A restore commits the prepared
//! transactions its checkpoint lists and rolls back every other one of the sink's prefix that
//! this subtask owns: those were written after the checkpoint, and the replay writes them again.
//! `upsert` writes each batch at once with `INSERT … ON CONFLICT (key) DO UPDATE`: a replay
//! overwrites the same rows, so the table ends as an uninterrupted run leaves it.
//!
//! The client is tokio-postgres on a runtime of the sink's own, driven from the task's thread;
//! nothing connects before the first call there.

mod columns;

use columns::{Column, insert_sql};
use std::collections::{BTreeMap, HashMap};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};
use weir_proto::RecordBatch;
use weir_proto::spec::{PostgresMode, PostgresSinkSpec};
use weir_runtime::error::TaskError;
use weir_runtime::operators::{ConnectorSite, Operator, RejectSink, Rejection};
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};

/// The label of the transaction prepared at the end of input, in place of a checkpoint id.
const FINAL_LABEL: &str = "final";

/// The checkpoint the end-of-input transaction waits for: only a final commit reaches it.
const FINAL_CHECKPOINT: u64 = u64::MAX;

/// Rows per INSERT statement (PostgreSQL takes at most 65,535 parameters in one).
const ROWS_PER_STATEMENT: usize = 500;

/// A transaction prepared at a barrier, waiting for its checkpoint to complete.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Prepared {
    gid: String,
    checkpoint: u64,
}

/// The sink's place in a checkpoint.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SinkState {
    pending: Vec<Prepared>,
}

struct Connection {
    runtime: tokio::runtime::Runtime,
    client: Client,
    columns: Vec<Column>,
    /// INSERT statements by number of rows.
    statements: HashMap<usize, Statement>,
    /// Whether a transaction is open (append with checkpoints).
    in_transaction: bool,
}

/// Writes records to a PostgreSQL table.
pub struct PostgresSink {
    spec: PostgresSinkSpec,
    site: ConnectorSite,
    /// Host and port, for messages (the URL may hold a password).
    address: String,
    prefix: String,
    connection: Option<Connection>,
    pending: Vec<Prepared>,
    restored: Option<Vec<(u32, SinkState)>>,
}

impl PostgresSink {
    /// A sink of `spec` for the subtask at `site`; it connects at its first use.
    pub fn new(spec: PostgresSinkSpec, site: ConnectorSite) -> Self {
        let address = match spec.url.parse::<tokio_postgres::Config>() {
            Ok(config) => {
                let hosts: Vec<String> = config
                    .get_hosts()
                    .iter()
                    .map(|host| match host {
                        tokio_postgres::config::Host::Tcp(name) => name.clone(),
                        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                    })
                    .collect();
                let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
                format!("{} port {}", hosts.join(","), ports.join(","))
            }
            Err(_) => "an unparsable URL".to_string(),
        };
        let prefix = format!("weir-{}-{}", site.job, site.operator);
        PostgresSink {
            spec,
            site,
            address,
            prefix,
            connection: None,
            pending: Vec::new(),
            restored: None,
        }
    }

    fn error(&self, detail: impl std::fmt::Display) -> TaskError {
        TaskError::External {
            operator: self.site.operator.clone(),
            system: "PostgreSQL",
            address: self.address.clone(),
            detail: detail.to_string(),
        }
    }

    fn two_phase(&self) -> bool {
        self.spec.mode == PostgresMode::Append && self.site.checkpointing
    }

    fn connection(&mut self) -> Result<&mut Connection, TaskError> {
        if self.connection.is_none() {
            let connection = self.connect()?;
            self.connection = Some(connection);
            self.finish_earlier_transactions()?;
        }
        self.connection
            .as_mut()
            .ok_or_else(|| TaskError::Internal("no PostgreSQL connection".into()))
    }

    fn connect(&self) -> Result<Connection, TaskError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TaskError::Internal(format!("a runtime for PostgreSQL: {e}")))?;
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&self.spec.url, NoTls)
                .await
                .map_err(|e| self.error(format!("cannot connect: {}", explain(&e))))?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::warn!(%error, "PostgreSQL connection ended");
                }
            });
            Ok::<_, TaskError>(client)
        })?;
        let columns = runtime.block_on(describe(&client, &self.spec.table));
        let columns = columns.map_err(|e| self.error(e))?;
        if columns.is_empty() {
            return Err(TaskError::Config {
                operator: self.site.operator.clone(),
                message: format!(
                    "table `{}` does not exist at {}",
                    self.spec.table, self.address
                ),
            });
        }
        if let Some(missing) = self
            .spec
            .key
            .iter()
            .find(|k| !columns.iter().any(|c| &c.name == *k))
        {
            return Err(TaskError::Config {
                operator: self.site.operator.clone(),
                message: format!(
                    "key column `{missing}` is not a column of `{}`",
                    self.spec.table
                ),
            });
        }
        Ok(Connection {
            runtime,
            client,
            columns,
            statements: HashMap::new(),
            in_transaction: false,
        })
    }

    /// Commits the prepared transactions of the restored checkpoint and rolls back every
    /// other prepared transaction of this sink that this subtask owns.
    fn finish_earlier_transactions(&mut self) -> Result<(), TaskError> {
        if !self.two_phase() {
            return Ok(());
        }
        let parallelism = self.site.parallelism.max(1);
        let mut to_commit = Vec::new();
        for (old, state) in self.restored.take().unwrap_or_default() {
            if old % parallelism == self.site.subtask {
                to_commit.extend(state.pending.into_iter().map(|p| p.gid));
            }
        }
        let prefix = self.prefix.clone();
        let subtask = self.site.subtask;
        let Some(connection) = &self.connection else {
            return Ok(());
        };
        let result = connection.runtime.block_on(async {
            for gid in &to_commit {
                match connection
                    .client
                    .batch_execute(&format!("COMMIT PREPARED {}", literal(gid)))
                    .await
                {
                    Ok(()) => {
                        tracing::info!(%gid, "committed a transaction of the restored checkpoint")
                    }
                    // Committed before the crash.
                    Err(e) if e.code() == Some(&SqlState::UNDEFINED_OBJECT) => {}
                    Err(e) => return Err(format!("COMMIT PREPARED {gid}: {}", explain(&e))),
                }
            }
            let rows = connection
                .client
                .query(
                    "SELECT gid FROM pg_prepared_xacts WHERE starts_with(gid, $1)",
                    &[&format!("{prefix}-")],
                )
                .await
                .map_err(|e| format!("listing prepared transactions: {}", explain(&e)))?;
            for row in rows {
                let gid: String = row
                    .try_get(0)
                    .map_err(|e| format!("listing prepared transactions: {}", explain(&e)))?;
                let owner = gid
                    .rsplit('-')
                    .nth(1)
                    .and_then(|s| s.parse::<u32>().ok())
                    .map(|old| old % parallelism);
                if owner == Some(subtask) && !to_commit.contains(&gid) {
                    connection
                        .client
                        .batch_execute(&format!("ROLLBACK PREPARED {}", literal(&gid)))
                        .await
                        .map_err(|e| format!("ROLLBACK PREPARED {gid}: {}", explain(&e)))?;
                    tracing::info!(%gid, "rolled back a transaction written after the checkpoint");
                }
            }
            Ok(())
        });
        result.map_err(|e| self.error(e))
    }

    /// Writes `rows` (text values, in column order) in statements of at most
    /// [`ROWS_PER_STATEMENT`] rows.
    fn write(&mut self, rows: Vec<Vec<Option<String>>>) -> Result<(), TaskError> {
        let two_phase = self.two_phase();
        let upsert = (self.spec.mode == PostgresMode::Upsert).then(|| self.spec.key.clone());
        let table = self.spec.table.clone();
        let connection = self.connection()?;
        let result = connection.runtime.block_on(async {
            if two_phase && !connection.in_transaction {
                connection.client.batch_execute("BEGIN").await?;
                connection.in_transaction = true;
            }
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let statement = match connection.statements.get(&chunk.len()) {
                    Some(statement) => statement.clone(),
                    None => {
                        let sql =
                            insert_sql(&table, &connection.columns, chunk.len(), upsert.as_deref());
                        let types = vec![Type::TEXT; chunk.len() * connection.columns.len()];
                        let statement = connection.client.prepare_typed(&sql, &types).await?;
                        connection.statements.insert(chunk.len(), statement.clone());
                        statement
                    }
                };
                let params: Vec<&(dyn ToSql + Sync)> = chunk
                    .iter()
                    .flatten()
                    .map(|value| value as &(dyn ToSql + Sync))
                    .collect();
                connection.client.execute(&statement, &params).await?;
            }
            Ok::<_, tokio_postgres::Error>(())
        });
        result.map_err(|e| self.error(format!("writing to `{table}`: {}", explain(&e))))
    }

    /// Runs `sql` on the connection.
    fn execute(&mut self, sql: &str) -> Result<(), TaskError> {
        let connection = self.connection()?;
        let result = connection
            .runtime
            .block_on(connection.client.batch_execute(sql));
        result.map_err(|e| self.error(format!("{sql}: {}", explain(&e))))
    }

    /// Prepares the open transaction, if any, as `<prefix>-<subtask>-<label>`, to be committed
    /// when checkpoint `checkpoint` completes.
    fn prepare(&mut self, label: &str, checkpoint: u64) -> Result<(), TaskError> {
        if !self.connection()?.in_transaction {
            return Ok(());
        }
        let gid = format!("{}-{}-{label}", self.prefix, self.site.subtask);
        self.execute(&format!("PREPARE TRANSACTION {}", literal(&gid)))?;
        if let Some(connection) = &mut self.connection {
            connection.in_transaction = false;
        }
        self.pending.push(Prepared { gid, checkpoint });
        Ok(())
    }

    /// What a checkpoint holds of the sink: the prepared transactions a restore commits.
    fn state(&self) -> Option<serde_json::Value> {
        let state = SinkState {
            pending: self.pending.clone(),
        };
        serde_json::to_value(&state).ok()
    }

    /// Commits the prepared transactions of checkpoints up to `checkpoint`.
    fn commit_up_to(&mut self, checkpoint: u64) -> Result<(), TaskError> {
        let (due, rest): (Vec<Prepared>, Vec<Prepared>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.checkpoint <= checkpoint);
        self.pending = rest;
        for prepared in due {
            self.execute(&format!("COMMIT PREPARED {}", literal(&prepared.gid)))?;
        }
        Ok(())
    }
}

/// Why `error` happened, whole: tokio-postgres shows a server's error as "db error" and keeps
/// the server's message (severity, text, detail, hint) and an I/O error's cause as its source.
fn explain(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    if let Some(code) = error.code() {
        text = format!("{text} (SQLSTATE {})", code.code());
    }
    text
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The columns of `table`, in order; none if it does not exist.
async fn describe(client: &Client, table: &str) -> Result<Vec<Column>, String> {
    let rows = client
        .query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), format_type(a.atttypid, NULL), \
             NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&table],
        )
        .await
        .map_err(|e| format!("reading the columns of `{table}`: {}", explain(&e)))?;
    let column = |row: &tokio_postgres::Row| {
        Ok::<_, tokio_postgres::Error>(Column {
            name: row.try_get(0)?,
            sql_type: row.try_get(1)?,
            base_type: row.try_get(2)?,
            nullable: row.try_get(3)?,
            default: row.try_get(4)?,
        })
    };
    rows.iter()
        .map(column)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("reading the columns of `{table}`: {}", explain(&e)))
}

impl Operator for PostgresSink {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let columns = self.connection()?.columns.clone();
        let mut rows = Vec::with_capacity(batch.len());
        // An upsert keeps the last row of each key: one statement may not update a row twice.
        let mut by_key: BTreeMap<Vec<Option<String>>, usize> = BTreeMap::new();
        for record in batch.iter() {
            let fields = match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(
                record.value,
            ) {
                Ok(fields) => fields,
                Err(error) => {
                    rejects.reject(
                        self.rejection(record, format!("the record is not a JSON object: {error}")),
                    )?;
                    continue;
                }
            };
            if self.spec.changelog {
                match fields.get("op").and_then(|op| op.as_str()) {
                    Some("+I" | "+U") => {}
                    // Replaced by the `+U` that follows it.
                    Some("-U") => continue,
                    other => {
                        let error = format!(
                            "a changelog row's `op` is +I, -U or +U, not {}",
                            other.map_or("missing".to_string(), |op| format!("`{op}`"))
                        );
                        rejects.reject(self.rejection(record, error))?;
                        continue;
                    }
                }
            }
            let row: Result<Vec<Option<String>>, String> =
                columns.iter().map(|c| c.text(&fields)).collect();
            let row = match row {
                Ok(row) => row,
                Err(error) => {
                    rejects.reject(self.rejection(record, error))?;
                    continue;
                }
            };
            if self.spec.mode == PostgresMode::Upsert {
                let key: Vec<Option<String>> = columns
                    .iter()
                    .zip(&row)
                    .filter(|(c, _)| self.spec.key.contains(&c.name))
                    .map(|(_, v)| v.clone())
                    .collect();
                if let Some(&at) = by_key.get(&key) {
                    rows[at] = row;
                    continue;
                }
                by_key.insert(key, rows.len());
            }
            rows.push(row);
        }
        if !rows.is_empty() {
            self.write(rows)?;
        }
        Ok(RecordBatch::default())
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        if !self.two_phase() {
            return Ok(None);
        }
        self.prepare(&id.to_string(), id)?;
        Ok(Some(OperatorSnapshot {
            meta: self.state(),
            keyed: None,
        }))
    }

    fn checkpoint_complete(&mut self, id: u64) -> Result<(), TaskError> {
        weir_runtime::fault::at("commit", id, self.site.subtask)?;
        self.commit_up_to(id)
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let mut states = Vec::new();
        for (old, _, meta) in restored.all_meta() {
            let state: SinkState =
                serde_json::from_value(meta.clone()).map_err(|e| TaskError::State {
                    operator: self.site.operator.clone(),
                    detail: format!("the checkpoint's PostgreSQL sink state is malformed: {e}"),
                })?;
            states.push((old, state));
        }
        self.restored = Some(states);
        Ok(())
    }

    fn finish(
        &mut self,
        _emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        // The end of bounded input: what is open is prepared like at a barrier, and committed
        // once a checkpoint holding this task's final state completes (`awaits_commit`).
        if self.two_phase() {
            self.prepare(FINAL_LABEL, FINAL_CHECKPOINT)?;
        }
        Ok(())
    }

    fn final_state(&mut self) -> Result<Option<serde_json::Value>, TaskError> {
        Ok(self.two_phase().then(|| self.state()).flatten())
    }

    fn awaits_commit(&self) -> bool {
        !self.pending.is_empty()
    }
}

impl PostgresSink {
    fn rejection(&self, record: weir_proto::RecordRef<'_>, error: String) -> Rejection {
        Rejection {
            operator: self.site.operator.clone(),
            module: None,
            export: None,
            error: format!("table `{}`: {error}", self.spec.table),
            origin: None,
            record: record.into(),
        }
    }
}
