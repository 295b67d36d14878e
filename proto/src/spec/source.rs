//! Specs of sources: where records enter a job.

use serde::{Deserialize, Serialize};

/// A source; exactly one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSpec {
    /// Generated records: a sequence, seeded random numbers, or the benchmark's bid rows.
    Datagen(DatagenSpec),
    /// The Nexmark benchmark's person/auction/bid events as JSON.
    Nexmark(NexmarkSpec),
    /// A file, or every file of a directory.
    File(FileSourceSpec),
    /// Lines from standard input.
    Stdin(StdinSpec),
    /// Kafka topics.
    Kafka(super::KafkaSourceSpec),
}

impl SourceSpec {
    /// The kind's name, as written in job specs.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Datagen(_) => "datagen",
            SourceSpec::Nexmark(_) => "nexmark",
            SourceSpec::File(_) => "file",
            SourceSpec::Stdin(_) => "stdin",
            SourceSpec::Kafka(_) => "kafka",
        }
    }
}

/// Generated records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatagenSpec {
    /// What to generate.
    #[serde(default)]
    pub mode: DatagenMode,
    /// How many records in all (over every subtask); unset means unbounded.
    #[serde(default)]
    pub count: Option<u64>,
    /// At most this many records per second in all; unset means as fast as possible.
    #[serde(default)]
    pub rate: Option<u64>,
    /// Seed of `random` mode.
    #[serde(default)]
    pub seed: u64,
    /// Payload encoding of `bids` mode.
    #[serde(default)]
    pub payload: PayloadFormat,
    /// In `sequence` mode, also `"key": n % keys` and `"seq": n / keys` (each key's own
    /// sequence number): data whose loss, duplication or reordering a test can see.
    #[serde(default)]
    pub keys: Option<u64>,
}

/// What a datagen source generates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatagenMode {
    /// `{"id": n}` for n = 0, 1, 2, ...
    #[default]
    Sequence,
    /// `{"id": n, "value": r}` with r a seeded pseudo-random u64.
    Random,
    /// The bid rows of Weir's and Flink's shared benchmark (`auction`, `bidder`, `price`).
    Bids,
}

/// How generated bid rows are encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// `{"auction":..,"bidder":..,"price":..}`.
    #[default]
    Json,
    /// 24 bytes: auction, bidder, price as little-endian u64.
    Binary,
    /// SQL's binary row of the BIGINT columns [`BID_ROW_COLUMNS`] (what `weir sql` reads from
    /// its `bids` connector into a `select`).
    Rows,
}

/// The columns, in order, of the bid generator's binary rows (`payload: rows`); its time is the
/// record's.
pub const BID_ROW_COLUMNS: [&str; 3] = ["auction", "bidder", "price"];

/// The Nexmark event generator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NexmarkSpec {
    /// How many events in all; unset means unbounded.
    #[serde(default)]
    pub count: Option<u64>,
    /// At most this many events per second of wall-clock time; unset means as fast as possible.
    #[serde(default)]
    pub rate: Option<u64>,
    /// Seed of every random choice; the same seed gives the same events.
    #[serde(default)]
    pub seed: u64,
    /// Events per second of event time (spacing of event timestamps).
    #[serde(default = "default_event_time_rate")]
    pub events_per_second: u64,
    /// Emit only events of this type (numbering, and so content, stay as in the full stream).
    #[serde(default)]
    pub only: Option<NexmarkEvent>,
    /// Each event's time is set back by a pseudo-random 0..=this many ms (fixed by the seed), so
    /// events arrive out of order by up to this much, as in real streams.
    #[serde(default)]
    pub out_of_order_ms: u64,
}

/// The types of Nexmark event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NexmarkEvent {
    /// A new user.
    Person,
    /// A new auction.
    Auction,
    /// A bid on an auction.
    Bid,
}

fn default_event_time_rate() -> u64 {
    10_000
}

/// A file source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceSpec {
    /// A file, or a directory whose files are all read; relative to the job spec's directory.
    pub path: String,
    /// How records are laid out in the file.
    #[serde(default)]
    pub format: FileFormat,
}

/// Layout of records in a file or on stdin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// One record per line, the line's bytes as its value.
    #[default]
    Lines,
    /// One JSON value per line, checked as it is read.
    Json,
    /// CSV with a header line; each row becomes a JSON object of strings.
    Csv,
}

/// Lines from standard input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSpec {
    /// Plain lines or JSON lines.
    #[serde(default)]
    pub format: FileFormat,
}
