//! `CREATE TABLE … WITH ('connector' = …)`: tables over Weir's sources and sinks, with their
//! columns, options and time attribute.

mod external;

use crate::error::SqlError;
use crate::expr::{interval_ms, sql_type};
use crate::text::WatermarkClause;
use crate::value::SqlType;
use sqlparser::ast::{
    BinaryOperator, ColumnOption, CreateTable, CreateTableOptions, Expr, Spanned, SqlOption,
    TableConstraint, Value as Literal,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Span;
use weir_proto::spec::{
    Blackhole, DatagenMode, DatagenSpec, FileFormat, FileSinkSpec, FileSourceSpec, KafkaSinkSpec,
    NexmarkEvent, NexmarkSpec, PartitionWatermarks, PayloadFormat, SinkFormat, SinkSpec,
    SourceSpec, StdoutSinkSpec, WatermarkSpec,
};

/// The connectors a table may name.
const CONNECTORS: &str = "bids, nexmark, filesystem, print, blackhole, kafka, upsert-kafka, jdbc";

/// A table's columns, in order, with their types.
pub(crate) type Columns = Vec<(String, SqlType)>;

/// A table of the catalog.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) name: String,
    pub(crate) columns: Columns,
    options: Vec<(String, String, Span)>,
    /// The time attribute column and how late records may be (ms), from `WATERMARK FOR`.
    pub(crate) watermark: Option<(String, u64)>,
    /// `PRIMARY KEY (…) NOT ENFORCED`: a sink writes by key (an upsert), so it can take an
    /// updating result.
    primary_key: Vec<String>,
    span: Span,
    /// The rows of a subquery or a join rather than a connector's.
    derived: bool,
}

fn option_text(value: &Expr) -> Option<String> {
    match value {
        Expr::Value(v) => match &v.value {
            Literal::SingleQuotedString(s) | Literal::DoubleQuotedString(s) => Some(s.clone()),
            Literal::Number(n, _) => Some(n.clone()),
            Literal::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        Expr::Identifier(ident) => Some(ident.value.clone()),
        _ => None,
    }
}

impl Table {
    /// The table a `CREATE TABLE` statement defines, with its `WATERMARK` clause if it had one.
    pub(crate) fn create(
        create: &CreateTable,
        watermark: Option<&WatermarkClause>,
    ) -> Result<Table, SqlError> {
        let span = create.name.span();
        let mut columns = Vec::new();
        let mut primary_key = Vec::new();
        for constraint in &create.constraints {
            if let TableConstraint::PrimaryKey(key) = constraint {
                primary_key.extend(key.columns.iter().map(|c| c.column.expr.to_string()));
            }
        }
        for column in &create.columns {
            if column
                .options
                .iter()
                .any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)))
            {
                primary_key.push(column.name.value.clone());
            }
            let sql_type = sql_type(&column.data_type).ok_or_else(|| {
                SqlError::at(
                    column.name.span,
                    format!(
                        "column `{}`: unsupported type {} (BIGINT, INT, DOUBLE, STRING, BOOLEAN, TIMESTAMP(3))",
                        column.name.value, column.data_type
                    ),
                )
            })?;
            columns.push((column.name.value.clone(), sql_type));
        }
        let listed = match &create.table_options {
            CreateTableOptions::With(options) => options.as_slice(),
            CreateTableOptions::None => &[],
            _ => {
                return Err(SqlError::at(
                    span,
                    "table options go in WITH ('key' = 'value', …)",
                ));
            }
        };
        let mut options = Vec::new();
        for option in listed {
            let SqlOption::KeyValue { key, value } = option else {
                return Err(SqlError::at(span, "table options are 'key' = 'value'"));
            };
            let key_text = key
                .0
                .iter()
                .filter_map(|part| part.as_ident().map(|i| i.value.clone()))
                .collect::<Vec<_>>()
                .join(".");
            let value_text = option_text(value).ok_or_else(|| {
                SqlError::at(
                    value.span(),
                    format!("option '{key_text}': a value is a string"),
                )
            })?;
            options.push((key_text, value_text, value.span()));
        }
        let name = create.name.to_string().trim_matches('`').to_string();
        let mut table = Table {
            name,
            columns,
            options,
            watermark: None,
            primary_key,
            span,
            derived: false,
        };
        if let Some(clause) = watermark {
            table.watermark = Some(table.watermark_of(clause)?);
        }
        table.connector()?;
        Ok(table)
    }

    fn watermark_of(&self, clause: &WatermarkClause) -> Result<(String, u64), SqlError> {
        let wrong = |message: String| SqlError::at_place(clause.place, message);
        let column = self
            .columns
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(&clause.column))
            .ok_or_else(|| wrong(format!("WATERMARK FOR `{}`: no such column", clause.column)))?;
        if column.1 != SqlType::Timestamp {
            return Err(wrong(format!(
                "WATERMARK FOR `{}`: the time attribute is a TIMESTAMP(3), not {}",
                column.0, column.1
            )));
        }
        let expression = Parser::new(&GenericDialect {})
            .try_with_sql(&clause.expression)
            .and_then(|mut p| p.parse_expr())
            .map_err(|e| wrong(format!("WATERMARK expression: {e}")))?;
        let delay = match &expression {
            Expr::Identifier(i) if i.value.eq_ignore_ascii_case(&column.0) => 0,
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Minus,
                right,
            } if matches!(left.as_ref(), Expr::Identifier(i) if i.value.eq_ignore_ascii_case(&column.0)) => {
                match right.as_ref() {
                    Expr::Interval(interval) => interval_ms(interval)
                        .and_then(|ms| u64::try_from(ms).ok())
                        .ok_or_else(|| wrong("WATERMARK: INTERVAL 'n' SECOND (or MILLISECOND, MINUTE, HOUR, DAY)".into()))?,
                    _ => return Err(wrong("WATERMARK: `ts - INTERVAL 'n' SECOND`".into())),
                }
            }
            _ => {
                return Err(wrong(format!(
                    "WATERMARK FOR {0} AS {0} - INTERVAL 'n' SECOND is the supported form",
                    column.0
                )));
            }
        };
        Ok((column.0.clone(), delay))
    }

    fn option(&self, key: &str) -> Option<&(String, String, Span)> {
        self.options
            .iter()
            .find(|(k, _, _)| k.eq_ignore_ascii_case(key))
    }

    /// The rows of a subquery or a join, named `name`, as the query around it reads them: each
    /// column a field of the records (no connector, and no time attribute of its own).
    pub(crate) fn derived(name: &str, columns: Columns) -> Table {
        Table {
            name: name.to_string(),
            columns,
            options: Vec::new(),
            watermark: None,
            primary_key: Vec::new(),
            span: Span::empty(),
            derived: true,
        }
    }

    fn connector(&self) -> Result<&str, SqlError> {
        if self.derived {
            return Ok("derived");
        }
        let (_, connector, place) = self.option("connector").ok_or_else(|| {
            SqlError::at(
                self.span,
                format!(
                    "table `{}` has no 'connector' option ({CONNECTORS})",
                    self.name
                ),
            )
        })?;
        match connector.as_str() {
            "bids" | "nexmark" | "filesystem" | "print" | "blackhole" | "kafka"
            | "upsert-kafka" | "jdbc" => Ok(connector),
            other => Err(SqlError::at(
                *place,
                format!("unknown connector '{other}' ({CONNECTORS})"),
            )),
        }
    }

    fn number(&self, key: &str) -> Result<Option<u64>, SqlError> {
        match self.option(key) {
            None => Ok(None),
            Some((_, value, place)) => value.parse().map(Some).map_err(|_| {
                SqlError::at(
                    *place,
                    format!("option '{key}' is a whole number, not '{value}'"),
                )
            }),
        }
    }

    fn required(&self, key: &str) -> Result<&str, SqlError> {
        self.option(key).map(|(_, v, _)| v.as_str()).ok_or_else(|| {
            SqlError::at(
                self.span,
                format!("table `{}` needs option '{key}'", self.name),
            )
        })
    }

    /// Whether `'format'` is csv rather than json (the default).
    fn csv(&self) -> Result<bool, SqlError> {
        match self.option("format") {
            None => Ok(false),
            Some((_, format, place)) => match format.as_str() {
                "json" => Ok(false),
                "csv" => Ok(true),
                other => Err(SqlError::at(
                    *place,
                    format!("format '{other}': json or csv"),
                )),
            },
        }
    }

    /// Whether the time attribute is the records' own event time (generated data) rather than
    /// a field of theirs.
    fn time_is_the_record_time(&self) -> Result<bool, SqlError> {
        Ok(matches!(self.connector()?, "bids" | "nexmark"))
    }

    /// The column that reads a record's event time, if the source keeps it there.
    pub(crate) fn rowtime(&self) -> Result<Option<&str>, SqlError> {
        if !self.time_is_the_record_time()? {
            return Ok(None);
        }
        Ok(self
            .columns
            .iter()
            .find(|(_, t)| *t == SqlType::Timestamp)
            .map(|(c, _)| c.as_str()))
    }

    /// The source reading this table, and its watermark step if it has a time attribute.
    pub(crate) fn source(&self) -> Result<(SourceSpec, Option<WatermarkSpec>), SqlError> {
        let count = self.number("rows")?.or(self.number("number-of-rows")?);
        let rate = self.number("rows-per-second")?;
        let source = match self.connector()? {
            "bids" => SourceSpec::Datagen(DatagenSpec {
                mode: DatagenMode::Bids,
                count,
                rate,
                seed: 0,
                payload: PayloadFormat::Json,
                keys: None,
            }),
            "nexmark" => SourceSpec::Nexmark(NexmarkSpec {
                count: count.or(self.number("events.num")?),
                rate,
                seed: self.number("seed")?.unwrap_or(0),
                events_per_second: self.number("events-per-second")?.unwrap_or(10_000),
                only: match self.option("event") {
                    None => None,
                    Some((_, event, place)) => Some(match event.as_str() {
                        "bid" => NexmarkEvent::Bid,
                        "auction" => NexmarkEvent::Auction,
                        "person" => NexmarkEvent::Person,
                        other => {
                            return Err(SqlError::at(
                                *place,
                                format!("'event' = '{other}': bid, auction or person"),
                            ));
                        }
                    }),
                },
                out_of_order_ms: 0,
            }),
            "filesystem" => SourceSpec::File(FileSourceSpec {
                path: self.required("path")?.to_string(),
                format: match self.csv()? {
                    false => FileFormat::Json,
                    true => FileFormat::Csv,
                },
            }),
            // Watermarks per partition, at the source (as Flink's Kafka tables): one subtask
            // reads several partitions, each in order, but not in order with each other.
            "kafka" => {
                let mut kafka = self.kafka_source()?;
                if let Some((column, delay)) = &self.watermark {
                    kafka.watermark = Some(PartitionWatermarks {
                        out_of_orderness_ms: *delay,
                        idle_timeout_ms: None,
                        timestamp_field: Some(column.clone()),
                    });
                    return Ok((SourceSpec::Kafka(kafka), None));
                }
                SourceSpec::Kafka(kafka)
            }
            other => {
                return Err(SqlError::at(
                    self.span,
                    format!("table `{}` ('{other}') is a sink, not a source", self.name),
                ));
            }
        };
        let watermark = match &self.watermark {
            None => None,
            Some((column, delay)) => Some(WatermarkSpec {
                out_of_orderness_ms: *delay,
                timestamp_field: match self.time_is_the_record_time()? {
                    true => None,
                    false => Some(column.clone()),
                },
                ingestion_time: false,
                idle_timeout_ms: None,
            }),
        };
        Ok((source, watermark))
    }

    /// The sink writing into this table.
    pub(crate) fn sink(&self) -> Result<SinkSpec, SqlError> {
        let format = match self.option("format").map(|(_, v, _)| v.as_str()) {
            None | Some("json") => SinkFormat::Json,
            Some("csv") => SinkFormat::Csv,
            Some(other) => {
                return Err(SqlError::at(
                    self.span,
                    format!("format '{other}': json or csv"),
                ));
            }
        };
        Ok(match self.connector()? {
            "print" => SinkSpec::Stdout(StdoutSinkSpec { format }),
            "blackhole" => SinkSpec::Blackhole(Blackhole {}),
            "filesystem" => SinkSpec::File(FileSinkSpec {
                path: self.required("path")?.to_string(),
                format,
            }),
            "jdbc" => SinkSpec::Postgres(self.postgres()?),
            "kafka" => SinkSpec::Kafka(self.kafka_sink()?),
            "upsert-kafka" => {
                if self.primary_key.is_empty() {
                    return Err(SqlError::at(
                        self.span,
                        format!(
                            "table `{}`: an upsert-kafka table has a PRIMARY KEY (…) NOT ENFORCED, its messages' key",
                            self.name
                        ),
                    ));
                }
                SinkSpec::Kafka(KafkaSinkSpec {
                    upsert_key: self.primary_key.clone(),
                    ..self.kafka_sink()?
                })
            }
            other => {
                return Err(SqlError::at(
                    self.span,
                    format!("table `{}` ('{other}') is a source, not a sink", self.name),
                ));
            }
        })
    }
}
