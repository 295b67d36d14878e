//! The Kafka source: this subtask's partitions of the topics, read from offsets that are part of
//! its checkpoints (a restore resumes exactly after the last checkpoint's barrier). The
//! consumer group is not used for recovery; offsets go to it only for monitoring.
//!
//! Every network call happens on the task's thread, at the first batch: building the source
//! (which may happen on an async thread) only records what to do.

use super::partitions::{Partition, PartitionClocks, owner};
use super::{REQUEST_TIMEOUT, broker_error, client_config};
use base64::Engine as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_proto::RecordBatch;
use weir_proto::progress::PartitionLag;
use weir_proto::spec::{KafkaBound, KafkaFormat, KafkaIsolation, KafkaSourceSpec, KafkaStart};
use weir_runtime::error::TaskError;
use weir_runtime::json::{FieldPath, Number};
use weir_runtime::operators::ConnectorSite;
use weir_runtime::operators::sources::SeekError;
use weir_runtime::operators::{OwnedRecord, RejectSink, Rejection, Source, SourceProgress};
use weir_state::checkpoint::OperatorRestore;

/// How long one poll waits for a message when none is buffered.
const POLL: Duration = Duration::from_millis(50);

/// How often librdkafka reports its statistics, where the partitions' ends come from.
const STATISTICS_INTERVAL_MS: &str = "1000";

/// The consumer's callbacks: the end of a partition is news for [`KafkaSource::next_batch`],
/// not an error to log; the statistics tell where each partition ends, for its lag.
struct Callbacks {
    /// Each partition's end as the broker last reported it: the last stable offset under
    /// `read_committed` (what this consumer can read), else the high watermark.
    ends: Arc<Mutex<BTreeMap<Partition, i64>>>,
    read_committed: bool,
}

impl rdkafka::ClientContext for Callbacks {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(rdkafka::error::RDKafkaErrorCode::PartitionEOF) {
            tracing::warn!(%error, reason, "Kafka consumer");
        }
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        for (topic, stats) in statistics.topics {
            for (partition, stats) in stats.partitions {
                let end = match self.read_committed {
                    true => stats.ls_offset,
                    false => stats.hi_offset,
                };
                // Partition -1 is librdkafka's own; a negative end is not known yet.
                if partition >= 0 && end >= 0 {
                    ends.insert((topic.clone(), partition), end);
                }
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for Callbacks {}

type KafkaConsumer = BaseConsumer<Callbacks>;

/// This subtask's share of a Kafka source.
pub struct KafkaSource {
    spec: KafkaSourceSpec,
    site: ConnectorSite,
    consumer: Option<KafkaConsumer>,
    /// The next offset to read of each partition this subtask reads.
    next: BTreeMap<Partition, i64>,
    /// Offsets from the restored checkpoint, taken up at the first batch.
    restored: Option<BTreeMap<Partition, i64>>,
    /// Where each partition ends, for a bounded source.
    ends: BTreeMap<Partition, i64>,
    /// Partitions that reached their bounded end.
    done: BTreeSet<Partition>,
    clocks: Option<PartitionClocks>,
    /// Where event time is in each JSON value, when not the message's timestamp.
    time_field: Option<FieldPath>,
    next_discovery: Instant,
    waited: Duration,
    /// Where each partition ends, from the consumer's statistics.
    ends_seen: Arc<Mutex<BTreeMap<Partition, i64>>>,
}

impl KafkaSource {
    /// A source of `spec` for the subtask at `site`; it connects at its first batch.
    pub fn new(spec: KafkaSourceSpec, site: ConnectorSite) -> Self {
        let clocks = spec.watermark.as_ref().map(PartitionClocks::new);
        let time_field = spec
            .watermark
            .as_ref()
            .and_then(|w| w.timestamp_field.as_deref())
            .map(FieldPath::parse);
        KafkaSource {
            time_field,
            spec,
            site,
            consumer: None,
            next: BTreeMap::new(),
            restored: None,
            ends: BTreeMap::new(),
            done: BTreeSet::new(),
            clocks,
            next_discovery: Instant::now(),
            waited: Duration::ZERO,
            ends_seen: Arc::default(),
        }
    }

    fn error(&self, detail: impl std::fmt::Display) -> TaskError {
        broker_error(&self.site.operator, &self.spec.brokers, detail)
    }

    fn consumer(&self) -> Result<&KafkaConsumer, TaskError> {
        self.consumer
            .as_ref()
            .ok_or_else(|| TaskError::Internal("the Kafka consumer is not started".into()))
    }

    /// Connects, finds this subtask's partitions and assigns them at their offsets.
    fn start(&mut self) -> Result<(), TaskError> {
        let group = self
            .spec
            .group
            .clone()
            .unwrap_or_else(|| format!("weir-{}-{}", self.site.job, self.site.operator));
        let isolation = match self.spec.isolation {
            KafkaIsolation::ReadCommitted => "read_committed",
            KafkaIsolation::ReadUncommitted => "read_uncommitted",
        };
        let config = client_config(
            &self.site.operator,
            &self.spec.brokers,
            &[
                ("group.id", &group),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "true"),
                ("isolation.level", isolation),
                ("allow.auto.create.topics", "false"),
                ("statistics.interval.ms", STATISTICS_INTERVAL_MS),
            ],
            &self.spec.properties,
        )?;
        let consumer: KafkaConsumer = config
            .create_with_context(Callbacks {
                ends: self.ends_seen.clone(),
                read_committed: self.spec.isolation == KafkaIsolation::ReadCommitted,
            })
            .map_err(|e| self.error(e))?;
        self.consumer = Some(consumer);
        let partitions = self.discover()?;
        let restored = self.restored.take();
        let mut assigned = TopicPartitionList::new();
        for partition in partitions {
            let offset = match restored.as_ref() {
                // Not in the checkpoint: created since, so read from its start.
                Some(offsets) => match offsets.get(&partition) {
                    Some(&offset) => offset,
                    None => self.watermarks(&partition)?.0,
                },
                None => self.start_offset(&partition)?,
            };
            self.add(&mut assigned, partition, offset)?;
        }
        if let Some(bound) = self.spec.bounded {
            for partition in self.next.keys().cloned().collect::<Vec<_>>() {
                let end = match bound {
                    KafkaBound::Latest => self.watermarks(&partition)?.1,
                    KafkaBound::Timestamp(at) => {
                        self.offset_for_time(&partition, at.timestamp_ms)?
                    }
                };
                self.ends.insert(partition, end);
            }
            self.finish_reached();
        }
        self.consumer()?
            .assign(&assigned)
            .map_err(|e| self.error(e))?;
        self.next_discovery = Instant::now() + self.discovery_interval();
        Ok(())
    }

    fn discovery_interval(&self) -> Duration {
        Duration::from_millis(self.spec.discovery_interval_ms.max(100))
    }

    /// Adds `partition` at `offset` to `list` and to what this subtask reads.
    fn add(
        &mut self,
        list: &mut TopicPartitionList,
        partition: Partition,
        offset: i64,
    ) -> Result<(), TaskError> {
        list.add_partition_offset(&partition.0, partition.1, Offset::Offset(offset))
            .map_err(|e| self.error(e))?;
        if let Some(clocks) = &mut self.clocks {
            clocks.track(partition.clone(), Instant::now());
        }
        self.next.insert(partition, offset);
        Ok(())
    }

    /// This subtask's partitions of every topic, as the brokers have them now.
    fn discover(&self) -> Result<Vec<Partition>, TaskError> {
        let consumer = self.consumer()?;
        let mut mine = Vec::new();
        for topic in self.spec.topic.names() {
            let metadata = consumer
                .fetch_metadata(Some(&topic), REQUEST_TIMEOUT)
                .map_err(|e| self.error(format!("metadata of topic `{topic}`: {e}")))?;
            let found = metadata.topics().iter().find(|t| t.name() == topic);
            let partitions = match found {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => t.partitions(),
                _ => {
                    return Err(TaskError::Config {
                        operator: self.site.operator.clone(),
                        message: format!(
                            "topic `{topic}` does not exist on the brokers at {}",
                            self.spec.brokers
                        ),
                    });
                }
            };
            mine.extend(
                partitions
                    .iter()
                    .map(|p| p.id())
                    .filter(|&p| owner(&topic, p, self.site.parallelism) == self.site.subtask)
                    .map(|p| (topic.clone(), p)),
            );
        }
        Ok(mine)
    }

    /// The (low, high) offsets of `partition`.
    fn watermarks(&self, partition: &Partition) -> Result<(i64, i64), TaskError> {
        self.consumer()?
            .fetch_watermarks(&partition.0, partition.1, REQUEST_TIMEOUT)
            .map_err(|e| self.error(format!("offsets of {}/{}: {e}", partition.0, partition.1)))
    }

    /// The first offset of `partition` at or after `timestamp_ms` (its end if none).
    fn offset_for_time(&self, partition: &Partition, timestamp_ms: i64) -> Result<i64, TaskError> {
        let mut query = TopicPartitionList::new();
        query
            .add_partition_offset(&partition.0, partition.1, Offset::Offset(timestamp_ms))
            .map_err(|e| self.error(e))?;
        let found = self
            .consumer()?
            .offsets_for_times(query, REQUEST_TIMEOUT)
            .map_err(|e| self.error(e))?;
        match found
            .find_partition(&partition.0, partition.1)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(offset)) => Ok(offset),
            _ => Ok(self.watermarks(partition)?.1),
        }
    }

    /// Where `partition` starts without a checkpoint, as a concrete offset (so a checkpoint
    /// taken before its first record still says exactly where to resume).
    fn start_offset(&self, partition: &Partition) -> Result<i64, TaskError> {
        match self.spec.start {
            KafkaStart::Earliest => Ok(self.watermarks(partition)?.0),
            KafkaStart::Latest => Ok(self.watermarks(partition)?.1),
            KafkaStart::Timestamp(at) => self.offset_for_time(partition, at.timestamp_ms),
            KafkaStart::Group => {
                let mut query = TopicPartitionList::new();
                query
                    .add_partition(&partition.0, partition.1)
                    .set_offset(Offset::Invalid)
                    .map_err(|e| self.error(e))?;
                let committed = self
                    .consumer()?
                    .committed_offsets(query, REQUEST_TIMEOUT)
                    .map_err(|e| self.error(e))?;
                match committed
                    .find_partition(&partition.0, partition.1)
                    .map(|e| e.offset())
                {
                    Some(Offset::Offset(offset)) => Ok(offset),
                    _ => Ok(self.watermarks(partition)?.0),
                }
            }
        }
    }

    /// Picks up partitions created since the last look (read from their start).
    fn rediscover(&mut self) -> Result<(), TaskError> {
        self.next_discovery = Instant::now() + self.discovery_interval();
        let fresh: Vec<Partition> = self
            .discover()?
            .into_iter()
            .filter(|p| !self.next.contains_key(p))
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for partition in fresh {
            let offset = self.watermarks(&partition)?.0;
            tracing::info!(step = %self.site.operator, topic = %partition.0, partition = partition.1, "new Kafka partition");
            self.add(&mut list, partition, offset)?;
        }
        self.consumer()?
            .incremental_assign(&list)
            .map_err(|e| self.error(e))
    }

    /// Marks partitions whose next offset is at their end as done; `true` when all are.
    fn finish_reached(&mut self) -> bool {
        for (partition, &end) in &self.ends {
            if self.next.get(partition).is_some_and(|&next| next >= end) {
                self.done.insert(partition.clone());
                if let Some(clocks) = &mut self.clocks {
                    clocks.forget(partition);
                }
            }
        }
        self.done.len() == self.ends.len()
    }

    /// Turns one message into records of `batch`.
    fn take(
        &mut self,
        message: &BorrowedMessage<'_>,
        batch: &mut RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<(), TaskError> {
        let partition = (message.topic().to_string(), message.partition());
        let offset = message.offset();
        if self.done.contains(&partition)
            || self.ends.get(&partition).is_some_and(|&end| offset >= end)
        {
            return Ok(());
        }
        self.next.insert(partition.clone(), offset + 1);
        let key = message.key();
        let value = message.payload().unwrap_or_default();
        let stamped = message
            .timestamp()
            .to_millis()
            .unwrap_or_else(weir_state::clock::now_ms);
        let timestamp = match &self.time_field {
            Some(field) => match weir_runtime::json::number(value, field) {
                Ok(Number::Int(ms)) => Ok(ms),
                Ok(_) => Err(format!(
                    "event time from `{field}`: not a whole number of milliseconds"
                )),
                Err(error) => Err(format!("event time from `{field}`: {error}")),
            },
            None => Ok(stamped),
        };
        let reject = |error: String, timestamp: i64| Rejection {
            operator: self.site.operator.clone(),
            module: None,
            export: None,
            error,
            origin: Some(format!(
                "topic `{}` partition {} offset {offset}",
                partition.0, partition.1
            )),
            record: OwnedRecord {
                key: key.map(<[u8]>::to_vec),
                value: value.to_vec(),
                timestamp,
            },
        };
        let timestamp = match timestamp {
            Ok(timestamp) => timestamp,
            Err(error) => return rejects.reject(reject(error, stamped)),
        };
        if let Some(clocks) = &mut self.clocks {
            clocks.observe(&partition, timestamp, Instant::now());
        }
        let values: Vec<&[u8]> = match self.spec.format {
            KafkaFormat::Json => {
                if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(value) {
                    return rejects.reject(reject(
                        format!("the message is not JSON: {error}"),
                        timestamp,
                    ));
                }
                vec![value]
            }
            KafkaFormat::Raw => vec![value],
            KafkaFormat::Lines => value
                .split(|&b| b == b'\n')
                .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
                .filter(|line| !line.is_empty())
                .collect(),
        };
        for value in values {
            if !self.spec.metadata {
                batch.push(key, value, timestamp);
                continue;
            }
            let envelope = envelope(message, value, self.spec.format, timestamp);
            batch.push(key, envelope.to_string().as_bytes(), timestamp);
        }
        Ok(())
    }
}

/// The record of a message with its metadata (`metadata: true`).
fn envelope(
    message: &BorrowedMessage<'_>,
    value: &[u8],
    format: KafkaFormat,
    timestamp: i64,
) -> serde_json::Value {
    let text = |bytes: &[u8]| match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::Value::from(text),
        Err(_) => base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into(),
    };
    let value = match format {
        KafkaFormat::Json => serde_json::from_slice(value).unwrap_or(serde_json::Value::Null),
        KafkaFormat::Lines => text(value),
        KafkaFormat::Raw => base64::engine::general_purpose::STANDARD
            .encode(value)
            .into(),
    };
    let headers: serde_json::Map<String, serde_json::Value> = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| {
                    (
                        h.key.to_string(),
                        h.value.map_or(serde_json::Value::Null, text),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": timestamp,
        "key": message.key().map(text),
        "headers": headers,
        "value": value,
    })
}

impl Source for KafkaSource {
    fn next_batch(
        &mut self,
        rejects: &mut dyn RejectSink,
    ) -> Result<Option<RecordBatch>, TaskError> {
        if self.consumer.is_none() {
            self.start()?;
        }
        if self.spec.bounded.is_some() && self.finish_reached() {
            return Ok(None);
        }
        if self.spec.bounded.is_none() && Instant::now() >= self.next_discovery {
            self.rediscover()?;
        }
        let mut batch = RecordBatch::with_capacity(self.site.batch_size, 64);
        let started = Instant::now();
        // Out of `self` while its messages are borrowed from it.
        let consumer = self
            .consumer
            .take()
            .ok_or_else(|| TaskError::Internal("the Kafka consumer is not started".into()))?;
        let polled = self.poll_into(&consumer, &mut batch, rejects);
        self.consumer = Some(consumer);
        polled?;
        if batch.is_empty() {
            self.waited += started.elapsed();
        }
        if batch.is_empty() && self.spec.bounded.is_some() && self.finish_reached() {
            return Ok(None);
        }
        Ok(Some(batch))
    }

    fn position(&mut self) -> Result<serde_json::Value, TaskError> {
        if self.spec.commit_offsets && self.consumer.is_some() {
            self.commit_offsets()?;
        }
        let offsets: Vec<(&str, i32, i64)> = self
            .next
            .iter()
            .map(|((topic, partition), &offset)| (topic.as_str(), *partition, offset))
            .collect();
        Ok(serde_json::json!({ "offsets": offsets }))
    }

    fn take_waited(&mut self) -> Duration {
        std::mem::take(&mut self.waited)
    }

    fn progress(&mut self) -> Option<SourceProgress> {
        self.clocks.as_mut()?.progress(Instant::now())
    }

    fn partitions(&self) -> Vec<PartitionLag> {
        let ends = self.ends_seen.lock().unwrap_or_else(|p| p.into_inner());
        self.next
            .iter()
            .map(|(partition, &offset)| PartitionLag {
                topic: partition.0.clone(),
                partition: partition.1,
                offset,
                lag: ends.get(partition).map_or(0, |end| (end - offset).max(0)),
            })
            .collect()
    }

    fn seek(&mut self, state: &OperatorRestore) -> Result<(), SeekError> {
        let mut offsets = BTreeMap::new();
        for (_, _, meta) in state.all_meta() {
            let entries: Vec<(String, i32, i64)> = serde_json::from_value(meta["offsets"].clone())
                .map_err(|e| SeekError::Malformed {
                    what: "Kafka",
                    detail: e.to_string(),
                })?;
            for (topic, partition, offset) in entries {
                offsets.insert((topic, partition), offset);
            }
        }
        // Each subtask takes the partitions it owns at this parallelism: `discover` filters.
        self.restored = Some(offsets);
        Ok(())
    }
}

impl KafkaSource {
    /// Fills `batch` from `consumer`: waits a moment for the first message, then takes only
    /// what is already buffered.
    fn poll_into(
        &mut self,
        consumer: &KafkaConsumer,
        batch: &mut RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<(), TaskError> {
        let mut wait = POLL;
        while batch.len() < self.site.batch_size {
            let polled = consumer.poll(wait);
            wait = Duration::ZERO;
            match polled {
                None => break,
                Some(Ok(message)) => self.take(&message, batch, rejects)?,
                Some(Err(KafkaError::PartitionEOF(_))) if self.spec.bounded.is_some() => {
                    // Past the last message may be transaction markers no poll returns: the
                    // consumer's position counts them.
                    self.catch_up(consumer)?;
                    if self.finish_reached() {
                        break;
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(error)) => return Err(self.error(error)),
            }
        }
        Ok(())
    }

    /// Moves each partition's next offset to the consumer's position where that is further on
    /// (at the end of a partition, past transaction markers).
    fn catch_up(&mut self, consumer: &KafkaConsumer) -> Result<(), TaskError> {
        let positions = consumer.position().map_err(|e| self.error(e))?;
        for element in positions.elements() {
            let partition = (element.topic().to_string(), element.partition());
            if let (Offset::Offset(position), Some(next)) =
                (element.offset(), self.next.get_mut(&partition))
            {
                *next = (*next).max(position);
            }
        }
        Ok(())
    }

    /// Commits the offsets of the checkpoint being taken to the consumer group, for monitoring
    /// (a restore never reads them: the checkpoint holds its own).
    fn commit_offsets(&self) -> Result<(), TaskError> {
        let mut list = TopicPartitionList::new();
        for ((topic, partition), &offset) in &self.next {
            list.add_partition_offset(topic, *partition, Offset::Offset(offset))
                .map_err(|e| self.error(e))?;
        }
        self.consumer()?
            .commit(&list, CommitMode::Async)
            .map_err(|e| self.error(e))
    }
}
