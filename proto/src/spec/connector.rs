//! Specs of the connectors to external systems: Kafka topics in and out, PostgreSQL tables out.
//!
//! Client settings (`properties`) pass through to the client library unchanged, as Flink's
//! `properties.*` do; a value may name an environment variable of the TaskManager as `${VAR}`,
//! so secrets stay out of job specs and JobGraphs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Kafka source: records of one or more topics, with their offsets in checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceSpec {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic, or a list of topics.
    pub topic: Topics,
    /// How a message's value becomes records.
    #[serde(default)]
    pub format: KafkaFormat,
    /// Where a partition without a checkpointed offset starts.
    #[serde(default)]
    pub start: KafkaStart,
    /// Read up to these offsets, then finish: the topic processed as bounded input (a batch
    /// job on the same engine). Unset: read forever.
    #[serde(default)]
    pub bounded: Option<KafkaBound>,
    /// Whether records of open or aborted transactions are skipped (`read_committed`).
    #[serde(default)]
    pub isolation: KafkaIsolation,
    /// Consumer group: where `start: group` reads offsets from and, with `commit_offsets`,
    /// where offsets of completed checkpoints go for monitoring (never for recovery).
    #[serde(default)]
    pub group: Option<String>,
    /// Commit the offsets of each completed checkpoint to `group`.
    #[serde(default)]
    pub commit_offsets: bool,
    /// Wrap each record as `{"topic", "partition", "offset", "timestamp", "key", "headers",
    /// "value"}` so a job can read Kafka's metadata; by default the value alone is the record.
    #[serde(default)]
    pub metadata: bool,
    /// Watermarks per partition (Flink's per-split watermarks): the subtask's watermark is the
    /// lowest over its active partitions. Unset: the source generates none (a `watermark:`
    /// step may).
    #[serde(default)]
    pub watermark: Option<PartitionWatermarks>,
    /// How often new partitions are looked for while running, in milliseconds.
    #[serde(default = "default_discovery_ms")]
    pub discovery_interval_ms: u64,
    /// librdkafka consumer settings, passed through (TLS, SASL, timeouts).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_discovery_ms() -> u64 {
    10_000
}

/// One topic or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Topics {
    /// A single topic.
    One(String),
    /// Several topics, read as one stream.
    Many(Vec<String>),
}

impl Topics {
    /// The topic names.
    pub fn names(&self) -> Vec<String> {
        match self {
            Topics::One(topic) => vec![topic.clone()],
            Topics::Many(topics) => topics.clone(),
        }
    }
}

/// How a Kafka message's value becomes records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaFormat {
    /// One JSON value per message, checked as it is read.
    #[default]
    Json,
    /// The value's bytes as they are.
    Raw,
    /// One record per line of the value.
    Lines,
}

/// Where a partition without a checkpointed offset starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaStart {
    /// The oldest offset the broker still has.
    #[default]
    Earliest,
    /// Only messages produced after the job starts.
    Latest,
    /// The consumer group's committed offsets (earliest where it has none).
    Group,
    /// The first message at or after this time.
    #[serde(untagged)]
    Timestamp(AtTimestamp),
}

/// A point in time of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtTimestamp {
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// Where a bounded Kafka source stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaBound {
    /// The offsets the partitions had when the job started.
    Latest,
    /// The first offsets at or after this time.
    #[serde(untagged)]
    Timestamp(AtTimestamp),
}

/// Which records a Kafka consumer sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaIsolation {
    /// Only records of committed transactions (and non-transactional ones).
    #[default]
    ReadCommitted,
    /// Every record, aborted transactions included.
    ReadUncommitted,
}

/// Watermarks a source generates per partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionWatermarks {
    /// How far behind a partition's highest timestamp a record of it may still arrive.
    #[serde(default)]
    pub out_of_orderness_ms: u64,
    /// A partition without records for this long stops holding the watermark back; when all
    /// are, the subtask is idle.
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// Event time from this field of each JSON value (whole milliseconds since the epoch)
    /// instead of the message's timestamp (Flink's `WATERMARK FOR` a column of a Kafka table).
    /// A value without it is a dead letter naming the field, topic, partition and offset.
    #[serde(default)]
    pub timestamp_field: Option<String>,
}

/// A Kafka sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkSpec {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic written.
    pub topic: String,
    /// A JSON field of the record whose value is the message key; unset: the record's key.
    #[serde(default)]
    pub key_field: Option<String>,
    /// The guarantee; unset: exactly once when the job checkpoints, else at least once.
    #[serde(default)]
    pub delivery: Option<Delivery>,
    /// Which time a message carries: the record's event time (`event`, the default; so event
    /// time survives a trip through Kafka) or the time it is produced (`now`). A broker deletes
    /// messages older than its retention by their timestamp, so replayed or generated history
    /// written with `event` may be deleted at once.
    #[serde(default)]
    pub timestamp: MessageTime,
    /// Prefix of the sink's transactional ids (exactly once); unset: `weir-<job>-<step>`. Two
    /// jobs writing at once need different prefixes.
    #[serde(default)]
    pub transactional_id_prefix: Option<String>,
    /// librdkafka producer settings, passed through (TLS, SASL, timeouts).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// An upsert sink (Flink's `upsert-kafka`) keyed by these fields: each message's key is
    /// the JSON object of them, and an updating result is applied by key, as a compacted topic
    /// keeps it: a row of kind `+I` or `+U` is written (without `op`) under its key, `-D`
    /// writes a tombstone (a null value), and `-U` nothing (the `+U` after it replaces it).
    #[serde(default)]
    pub upsert_key: Vec<String>,
}

/// The timestamp a Kafka sink gives a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageTime {
    /// The record's event time (the produce time when it has none).
    #[default]
    Event,
    /// The time the message is produced.
    Now,
}

/// What a sink guarantees about each record reaching it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Each record visible once: written in a transaction per checkpoint, committed when the
    /// checkpoint completes.
    ExactlyOnce,
    /// Each record at least once: everything sent is acknowledged before a checkpoint
    /// completes; a restore may write some again.
    AtLeastOnce,
    /// Sent without waiting for acknowledgements.
    None,
}

/// A PostgreSQL sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSinkSpec {
    /// Connection string (`postgres://user:pass@host:port/db` or `host=... user=...`).
    pub url: String,
    /// The table written; record fields map to its columns by name.
    pub table: String,
    /// How rows are written.
    #[serde(default)]
    pub mode: PostgresMode,
    /// The key columns of `upsert` (a unique index or primary key of the table).
    #[serde(default)]
    pub key: Vec<String>,
    /// Records are an updating result (Flink's changelog, as `GROUP BY` without a window
    /// writes it): each carries its kind in `op`. An upsert applies `+I` and `+U` rows and
    /// skips `-U` rows, which the `+U` after them replaces.
    #[serde(default)]
    pub changelog: bool,
}

/// How a PostgreSQL sink writes rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostgresMode {
    /// Every record a new row, exactly once by PostgreSQL's two-phase commit per checkpoint.
    #[default]
    Append,
    /// `INSERT … ON CONFLICT (key) DO UPDATE`: replays after a restore overwrite the same rows.
    Upsert,
}
