//! The Kafka sink.
//!
//! Exactly once (Flink's KafkaSink): the records between two barriers go in one Kafka
//! transaction, flushed at the barrier ("pre-committed") and committed when that checkpoint
//! completes. Each transaction runs on a producer of its own, with a transactional id from a
//! small pool per subtask (`<prefix>-<subtask>-<k>`), initialised afresh for every transaction
//! so its epoch is new. The checkpoint keeps each pre-committed transaction's id, producer id
//! and epoch: librdkafka cannot finish another process's transaction, so a restore commits
//! them with [`weir_kafka_txn::TxnClient`] (`EndTxn`), then fences every id of the pool, which
//! aborts whatever a crashed run left open after the checkpoint. Dropping a producer (a
//! cancelled task) leaves its transaction open for that restore: librdkafka does not end it.
//!
//! At least once: one producer; everything sent is acknowledged before a checkpoint is taken.

use super::{REQUEST_TIMEOUT, broker_error, client_config};
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weir_kafka_txn::TxnClient;
use weir_proto::RecordBatch;
use weir_proto::spec::{Delivery, KafkaSinkSpec, MessageTime};
use weir_runtime::error::TaskError;
use weir_runtime::json::FieldPath;
use weir_runtime::operators::ConnectorSite;
use weir_runtime::operators::{Operator, RejectSink, Rejection};
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};

/// Transactional ids per subtask: more than the checkpoints that can await completion at once.
const POOL: u32 = 8;
/// How long Kafka keeps a transaction open before aborting it itself: long enough for a
/// restore to commit what a crashed run pre-committed (the job's `properties` may change it).
const TRANSACTION_TIMEOUT_MS: &str = "900000";

/// The checkpoint the transaction pre-committed at the end of input waits for: only the final
/// commit (`final_checkpoint_complete`) reaches it.
const FINAL_CHECKPOINT: u64 = u64::MAX;

/// Who holds a pre-committed transaction's id at the coordinator now.
enum Holder {
    /// Its own producer id and epoch, in this state (`Ongoing`, `CompleteCommit`, …).
    Same(String),
    /// Another producer id or epoch: the transaction ended and the id moved on.
    Other(i64, i16),
    /// Nobody: the coordinator does not know the id.
    Unknown,
}

/// The first delivery failure a producer's background thread saw.
#[derive(Default, Clone)]
struct Failures(Arc<Mutex<Option<String>>>);

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result
            && let Ok(mut first) = self.0.lock()
        {
            first.get_or_insert_with(|| error.to_string());
        }
    }
}

impl Failures {
    fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut first| first.take())
    }
}

type KafkaProducer = ThreadedProducer<Failures>;

/// A transaction that was flushed at a barrier and waits for its checkpoint to complete.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Precommitted {
    /// The subtask that wrote it (owners change with parallelism).
    subtask: u32,
    /// Its place in the subtask's pool of transactional ids.
    slot: u32,
    producer_id: i64,
    epoch: i16,
    /// The checkpoint whose completion commits it.
    checkpoint: u64,
}

/// The sink's place in a checkpoint.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SinkState {
    pending: Vec<Precommitted>,
}

/// The transaction records go to now.
struct Open {
    slot: u32,
    producer: KafkaProducer,
}

/// Writes records to a Kafka topic.
pub struct KafkaSink {
    spec: KafkaSinkSpec,
    site: ConnectorSite,
    delivery: Delivery,
    key_field: Option<FieldPath>,
    prefix: String,
    failures: Failures,
    /// At least once and none: the one producer.
    plain: Option<KafkaProducer>,
    /// Exactly once: the open transaction, and the pre-committed ones by slot.
    open: Option<Open>,
    pending: BTreeMap<u32, (Precommitted, KafkaProducer)>,
    /// What the restored checkpoint says, finished at the first call on the task's thread.
    restored: Option<Vec<(u32, SinkState)>>,
    started: bool,
}

impl KafkaSink {
    /// A sink of `spec` for the subtask at `site`; it connects at its first use.
    pub fn new(spec: KafkaSinkSpec, site: ConnectorSite) -> Self {
        let delivery = spec.delivery.unwrap_or(match site.checkpointing {
            true => Delivery::ExactlyOnce,
            false => Delivery::AtLeastOnce,
        });
        let prefix = spec
            .transactional_id_prefix
            .clone()
            .unwrap_or_else(|| format!("weir-{}-{}", site.job, site.operator));
        KafkaSink {
            key_field: spec.key_field.as_deref().map(FieldPath::parse),
            spec,
            site,
            delivery,
            prefix,
            failures: Failures::default(),
            plain: None,
            open: None,
            pending: BTreeMap::new(),
            restored: None,
            started: false,
        }
    }

    fn error(&self, detail: impl std::fmt::Display) -> TaskError {
        broker_error(&self.site.operator, &self.spec.brokers, detail)
    }

    fn transactional(&self) -> bool {
        self.delivery == Delivery::ExactlyOnce && self.site.checkpointing
    }

    fn transactional_id(&self, subtask: u32, slot: u32) -> String {
        format!("{}-{subtask}-{slot}", self.prefix)
    }

    fn producer(&self, transactional_id: Option<&str>) -> Result<KafkaProducer, TaskError> {
        let mut own = vec![("linger.ms", "5")];
        match transactional_id {
            Some(id) => {
                own.push(("transactional.id", id));
                own.push(("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS));
            }
            None if self.delivery == Delivery::None => own.push(("acks", "1")),
            None => own.push(("enable.idempotence", "true")),
        }
        let config = client_config(
            &self.site.operator,
            &self.spec.brokers,
            &own,
            &self.spec.properties,
        )?;
        config
            .create_with_context(self.failures.clone())
            .map_err(|e| self.error(e))
    }

    fn committer(&self) -> TxnClient {
        TxnClient::new(&self.spec.brokers, REQUEST_TIMEOUT)
    }

    /// On the task's thread, before anything is written: finishes the transactions of the
    /// restored checkpoint (commits the pre-committed ones, aborts the rest), or of a crashed
    /// earlier run of this subtask when starting afresh.
    fn start(&mut self) -> Result<(), TaskError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        if !self.transactional() {
            self.plain = Some(self.producer(None)?);
            return Ok(());
        }
        let committer = self.committer();
        let mut owned = vec![self.site.subtask];
        for (old, state) in self.restored.take().unwrap_or_default() {
            if old % self.site.parallelism.max(1) != self.site.subtask {
                continue;
            }
            owned.push(old);
            for txn in state.pending {
                let id = self.transactional_id(txn.subtask, txn.slot);
                self.commit_restored(&committer, &id, &txn)?;
            }
        }
        owned.sort_unstable();
        owned.dedup();
        for subtask in owned {
            for slot in 0..POOL {
                let id = self.transactional_id(subtask, slot);
                committer
                    .fence(&id, 60_000)
                    .map_err(|e| self.error(format!("aborting transaction `{id}`: {e}")))?;
            }
        }
        Ok(())
    }

    /// What the coordinator holds for the transactional id of pre-committed `txn` now.
    fn holder(&self, committer: &TxnClient, txn: &Precommitted) -> Result<Holder, TaskError> {
        let id = self.transactional_id(txn.subtask, txn.slot);
        match committer.describe(&id) {
            Ok(now) if (now.producer_id, now.producer_epoch) == (txn.producer_id, txn.epoch) => {
                Ok(Holder::Same(now.state))
            }
            Ok(now) => Ok(Holder::Other(now.producer_id, now.producer_epoch)),
            Err(error) if error.is_unknown_id() => Ok(Holder::Unknown),
            Err(error) => Err(self.error(format!("describing `{id}`: {error}"))),
        }
    }

    /// Commits a transaction the restored checkpoint pre-committed, unless it ended before: its
    /// id then has another producer or epoch (a slot is reused, and a restore fences, only
    /// after its commit) or the coordinator no longer knows it.
    fn commit_restored(
        &self,
        committer: &TxnClient,
        id: &str,
        txn: &Precommitted,
    ) -> Result<(), TaskError> {
        let step = &self.site.operator;
        if !matches!(self.holder(committer, txn)?, Holder::Same(_)) {
            tracing::info!(step = %step, transaction = %id, "a transaction of the restored checkpoint ended before");
            return Ok(());
        }
        match committer.end(id, txn.producer_id, txn.epoch, true) {
            Ok(()) => {
                tracing::info!(step = %step, transaction = %id, "committed a transaction of the restored checkpoint");
                Ok(())
            }
            // Fenced meanwhile: a newer epoch holds the id, after this one's commit.
            Err(error) if error.is_fenced() => Ok(()),
            Err(error) => Err(self.error(format!("committing transaction `{id}`: {error}"))),
        }
    }

    /// The open transaction, begun on a free slot if there is none.
    fn open(&mut self) -> Result<&KafkaProducer, TaskError> {
        if self.open.is_none() {
            let slot = (0..POOL)
                .find(|slot| !self.pending.contains_key(slot))
                .ok_or_else(|| {
                    self.error(format!(
                        "{POOL} transactions await their checkpoints' completion; checkpoints are not completing"
                    ))
                })?;
            let id = self.transactional_id(self.site.subtask, slot);
            let producer = self.producer(Some(&id))?;
            producer
                .init_transactions(REQUEST_TIMEOUT)
                .and_then(|()| producer.begin_transaction())
                .map_err(|e| self.error(format!("starting transaction `{id}`: {e}")))?;
            self.open = Some(Open { slot, producer });
        }
        match &self.open {
            Some(open) => Ok(&open.producer),
            None => Err(TaskError::Internal("no open Kafka transaction".into())),
        }
    }

    /// Sends one record, waiting while the producer's queue is full.
    fn send(
        producer: &KafkaProducer,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: Option<i64>,
    ) -> Result<(), KafkaError> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic);
        if let Some(value) = value {
            record = record.payload(value);
        }
        if let Some(timestamp) = timestamp {
            record = record.timestamp(timestamp);
        }
        if let Some(key) = key {
            record = record.key(key);
        }
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// Waits until everything sent is acknowledged; a failed delivery fails the step.
    fn flush(&self, producer: &KafkaProducer) -> Result<(), TaskError> {
        producer.flush(REQUEST_TIMEOUT).map_err(|e| self.error(e))?;
        match self.failures.take() {
            Some(failure) => Err(self.error(format!("a record was not delivered: {failure}"))),
            None => Ok(()),
        }
    }

    /// Fails loudly when the coordinator no longer holds pre-committed `txn` open: Kafka keeps
    /// transactions across broker restarts, but a broker that does not (noida-db 0.2.3 in a
    /// restart) would answer the commit with success while the records stay invisible.
    fn check_still_open(&self, txn: &Precommitted) -> Result<(), TaskError> {
        let why = match self.holder(&self.committer(), txn)? {
            // `Empty`: begun without records, nothing to lose.
            Holder::Same(state) if matches!(state.as_str(), "Ongoing" | "Empty") => return Ok(()),
            Holder::Same(state) => format!("it is {state}"),
            Holder::Other(producer, epoch) => {
                format!("the id now has producer {producer} epoch {epoch}")
            }
            Holder::Unknown => "the broker no longer knows the id".into(),
        };
        let id = self.transactional_id(txn.subtask, txn.slot);
        Err(self.error(format!(
            "the broker lost pre-committed transaction `{id}` of checkpoint {} ({why}): its records cannot be committed",
            txn.checkpoint
        )))
    }

    /// Flushes the open transaction, if any, and keeps it pre-committed for checkpoint
    /// `checkpoint`: committed when that checkpoint completes, or by a restore from it.
    fn precommit(&mut self, checkpoint: u64) -> Result<(), TaskError> {
        if let Some(open) = self.open.take() {
            self.flush(&open.producer)?;
            tracing::debug!(step = %self.site.operator, checkpoint, slot = open.slot, "pre-committed a Kafka transaction");
            let transactional_id = self.transactional_id(self.site.subtask, open.slot);
            let described = match self.committer().describe(&transactional_id) {
                Ok(described) => described,
                // The records were acknowledged, yet the coordinator forgot their transaction
                // (a broker that loses transactions in a restart): they will never be visible.
                // Failing here restarts from the last checkpoint, which writes them again.
                Err(e) if e.is_unknown_id() => {
                    return Err(self.error(format!(
                    "the broker lost transaction `{transactional_id}` before checkpoint {checkpoint} (it no longer knows the id): its records go again from the last checkpoint"
                )));
                }
                Err(e) => {
                    return Err(self.error(format!("describing `{transactional_id}`: {e}")));
                }
            };
            let txn = Precommitted {
                subtask: self.site.subtask,
                slot: open.slot,
                producer_id: described.producer_id,
                epoch: described.producer_epoch,
                checkpoint,
            };
            self.pending.insert(open.slot, (txn, open.producer));
        }
        Ok(())
    }

    /// What a checkpoint holds of the sink: the pre-committed transactions a restore commits.
    fn state(&self) -> Option<serde_json::Value> {
        let state = SinkState {
            pending: self.pending.values().map(|(txn, _)| txn.clone()).collect(),
        };
        serde_json::to_value(&state).ok()
    }

    /// Commits the pre-committed transactions of checkpoints up to `checkpoint`.
    fn commit_up_to(&mut self, checkpoint: u64) -> Result<(), TaskError> {
        let due: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, (txn, _))| txn.checkpoint <= checkpoint)
            .map(|(&slot, _)| slot)
            .collect();
        for slot in due {
            if let Some((txn, producer)) = self.pending.remove(&slot) {
                tracing::debug!(step = %self.site.operator, checkpoint = txn.checkpoint, slot, "committing a Kafka transaction");
                self.check_still_open(&txn)?;
                producer
                    .commit_transaction(REQUEST_TIMEOUT)
                    .map_err(|e| self.error(format!("committing a transaction: {e}")))?;
            }
        }
        Ok(())
    }
}

impl Operator for KafkaSink {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        self.start()?;
        // No transaction for nothing: an idle job holds none open.
        if batch.is_empty() {
            return Ok(RecordBatch::default());
        }
        let producer = match self.transactional() {
            true => {
                self.open()?;
                self.open.as_ref().map(|open| &open.producer)
            }
            false => self.plain.as_ref(),
        };
        let Some(producer) = producer else {
            return Err(TaskError::Internal(
                "the Kafka producer is not started".into(),
            ));
        };
        for record in batch.iter() {
            let upsert = match self.spec.upsert_key.is_empty() {
                true => None,
                false => match upsert(record.value, &self.spec.upsert_key) {
                    Ok(Some(upsert)) => Some(upsert),
                    // An update's old row: the new one follows under the same key.
                    Ok(None) => continue,
                    Err(error) => {
                        let error = format!("upsert by {:?}: {error}", self.spec.upsert_key);
                        rejects.reject(Rejection::by_step(&self.site.operator, record, error))?;
                        continue;
                    }
                },
            };
            let key = match (&upsert, &self.key_field) {
                (Some((key, _)), _) => Some(key.clone()),
                (None, None) => record.key.map(<[u8]>::to_vec),
                (None, Some(field)) => match message_key(record.value, field) {
                    Ok(key) => Some(key),
                    Err(error) => {
                        let error = format!("key field `{field}`: {error}");
                        rejects.reject(Rejection::by_step(&self.site.operator, record, error))?;
                        continue;
                    }
                },
            };
            let value = match &upsert {
                Some((_, value)) => value.as_deref(),
                None => Some(record.value),
            };
            Self::send(
                producer,
                &self.spec.topic,
                key.as_deref(),
                value,
                match self.spec.timestamp {
                    // A record without event time (0) goes out with its produce time: a 1970
                    // timestamp would fall to the topic's retention at once.
                    MessageTime::Event => (record.timestamp > 0).then_some(record.timestamp),
                    MessageTime::Now => None,
                },
            )
            .map_err(|e| self.error(format!("sending to topic `{}`: {e}", self.spec.topic)))?;
        }
        if let Some(failure) = self.failures.take() {
            return Err(self.error(format!("a record was not delivered: {failure}")));
        }
        Ok(RecordBatch::default())
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        self.start()?;
        if let Some(producer) = &self.plain {
            if self.delivery == Delivery::AtLeastOnce {
                self.flush(producer)?;
            }
            return Ok(None);
        }
        self.precommit(id)?;
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
                    detail: format!("the checkpoint's Kafka sink state is malformed: {e}"),
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
        // The end of bounded input: the open transaction is pre-committed like at a barrier,
        // and committed once a checkpoint holding this task's final state completes.
        self.start()?;
        if let Some(producer) = &self.plain {
            return self.flush(producer);
        }
        self.precommit(FINAL_CHECKPOINT)
    }

    fn final_state(&mut self) -> Result<Option<serde_json::Value>, TaskError> {
        Ok(self.transactional().then(|| self.state()).flatten())
    }

    fn awaits_commit(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// A message of an upsert sink: its key, and its value (none: a tombstone).
type Upsert = (Vec<u8>, Option<Vec<u8>>);

/// The upsert of a JSON row of an updating result: its key (the JSON object of the `key`
/// fields) and its value (the row without `op`, or none for `-D`: a tombstone); `None` for a
/// `-U`, which the `+U` after it replaces.
fn upsert(value: &[u8], key: &[String]) -> Result<Option<Upsert>, String> {
    let mut row: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(value).map_err(|e| format!("a row is a JSON object: {e}"))?;
    let deleted = match row.remove("op") {
        None => false,
        Some(serde_json::Value::String(op)) if op == "-U" => return Ok(None),
        Some(serde_json::Value::String(op)) => weir_runtime::changelog::retracts(&op)?,
        Some(other) => return Err(format!("row kind `op` is a string, not {other}")),
    };
    let mut fields = serde_json::Map::new();
    for name in key {
        let field = row
            .get(name)
            .ok_or_else(|| format!("the row has no key field `{name}`"))?;
        fields.insert(name.clone(), field.clone());
    }
    let key = serde_json::Value::Object(fields).to_string().into_bytes();
    let value = (!deleted).then(|| serde_json::Value::Object(row).to_string().into_bytes());
    Ok(Some((key, value)))
}

/// The message key from field `field` of a JSON record: a string's text, else the JSON text.
fn message_key(value: &[u8], field: &FieldPath) -> Result<Vec<u8>, weir_runtime::json::FieldError> {
    let raw = weir_runtime::json::field(value, field)?;
    Ok(match serde_json::from_str::<String>(raw) {
        Ok(text) => text.into_bytes(),
        Err(_) => raw.as_bytes().to_vec(),
    })
}
