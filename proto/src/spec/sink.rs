//! Specs of sinks: where records leave a job.

use serde::{Deserialize, Serialize};

/// A sink; exactly one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkSpec {
    /// Standard output, one record per line.
    Stdout(StdoutSinkSpec),
    /// Standard error, one record per line (handy for dead letters beside data on stdout).
    Stderr(StdoutSinkSpec),
    /// A file.
    File(FileSinkSpec),
    /// Discards records, counting them (benchmarks).
    Blackhole(Blackhole),
    /// A Kafka topic.
    Kafka(super::KafkaSinkSpec),
    /// A PostgreSQL table.
    Postgres(super::PostgresSinkSpec),
}

/// Nothing to configure; written `blackhole: {}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blackhole {}

impl SinkSpec {
    /// The kind's name, as written in job specs.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkSpec::Stdout(_) => "stdout",
            SinkSpec::Stderr(_) => "stderr",
            SinkSpec::File(_) => "file",
            SinkSpec::Blackhole(_) => "blackhole",
            SinkSpec::Kafka(_) => "kafka",
            SinkSpec::Postgres(_) => "postgres",
        }
    }
}

/// A console sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkSpec {
    /// Line format.
    #[serde(default)]
    pub format: SinkFormat,
}

/// A file sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkSpec {
    /// The file to write; relative to the job spec's directory. With parallelism above 1 this is a
    /// directory holding one `part-N` file per subtask.
    pub path: String,
    /// Line format.
    #[serde(default)]
    pub format: SinkFormat,
}

/// How a sink writes records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkFormat {
    /// Each value as it is (JSON values make JSON lines), then a newline.
    #[default]
    Json,
    /// JSON object values as CSV rows under a header taken from the first record's fields.
    Csv,
}
