//! The watermark assigner: gives records their event time (from a JSON field, the source's own
//! timestamps, or the wall clock for ingestion time) and generates watermarks with bounded out-of-orderness — after each batch,
//! the highest timestamp seen minus the allowed delay minus one, whenever that advances.

use super::{Operator, RejectSink, Rejection};
use crate::error::TaskError;
use crate::json::{self, FieldPath, Number};
use weir_proto::RecordBatch;
use weir_proto::spec::WatermarkSpec;
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};

/// Assigns timestamps and generates watermarks.
pub(super) struct WatermarkAssigner {
    operator: String,
    field: Option<FieldPath>,
    ingestion_time: bool,
    delay: i64,
    max_timestamp: i64,
    emitted: i64,
    idle_timeout: Option<std::time::Duration>,
    /// When the last record came, and whether the subtask has since declared itself idle.
    last_record: std::time::Instant,
    idle: bool,
}

impl WatermarkAssigner {
    pub(super) fn new(operator: String, spec: &WatermarkSpec) -> Self {
        WatermarkAssigner {
            operator,
            field: spec.timestamp_field.as_deref().map(FieldPath::parse),
            ingestion_time: spec.ingestion_time,
            delay: i64::try_from(spec.out_of_orderness_ms).unwrap_or(i64::MAX),
            max_timestamp: i64::MIN,
            emitted: i64::MIN,
            idle_timeout: spec.idle_timeout_ms.map(std::time::Duration::from_millis),
            last_record: std::time::Instant::now(),
            idle: false,
        }
    }
}

impl Operator for WatermarkAssigner {
    fn snapshot(&mut self, _id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        Ok(Some(OperatorSnapshot {
            meta: Some(serde_json::json!({ "max_timestamp": self.max_timestamp })),
            keyed: None,
        }))
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        // At another parallelism, the lowest of the old subtasks': event time never runs ahead.
        let highest = |meta: &serde_json::Value| meta["max_timestamp"].as_i64();
        let max = match restored.own_meta() {
            Some(own) => highest(own),
            None => restored.all_meta().filter_map(|(_, _, m)| highest(m)).min(),
        };
        self.max_timestamp = max.unwrap_or(i64::MIN);
        Ok(())
    }

    fn process(
        &mut self,
        mut batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        if self.idle_timeout.is_some() {
            self.last_record = std::time::Instant::now();
            self.idle = false;
        }
        if self.ingestion_time {
            let now = weir_state::clock::now_ms();
            batch.timestamps.iter_mut().for_each(|t| *t = now);
        }
        if let Some(field) = &self.field {
            let mut keep = Vec::with_capacity(batch.len());
            let mut timestamps = Vec::with_capacity(batch.len());
            for record in batch.iter() {
                let why = match json::number(record.value, field) {
                    Ok(Number::Int(ms)) => {
                        timestamps.push(ms);
                        keep.push(true);
                        continue;
                    }
                    Ok(Number::Float(_)) => "not a whole number of milliseconds".to_string(),
                    Err(error) => error.to_string(),
                };
                rejects.reject(Rejection {
                    operator: self.operator.clone(),
                    module: None,
                    export: None,
                    error: format!("event time from `{field}`: {why}"),
                    origin: None,
                    record: record.into(),
                })?;
                timestamps.push(record.timestamp);
                keep.push(false);
            }
            batch.timestamps = timestamps;
            if keep.contains(&false) {
                batch.retain_mask(&keep);
            }
        }
        if let Some(&max) = batch.timestamps.iter().max() {
            self.max_timestamp = self.max_timestamp.max(max);
        }
        Ok(batch)
    }

    fn processing_deadline(&self) -> Option<std::time::Instant> {
        match (self.idle, self.idle_timeout) {
            (false, Some(timeout)) => Some(self.last_record + timeout),
            _ => None,
        }
    }

    fn on_processing_time(
        &mut self,
        now: std::time::Instant,
        _emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<bool, TaskError> {
        let due = self
            .processing_deadline()
            .is_some_and(|deadline| now >= deadline);
        if due {
            self.idle = true;
        }
        Ok(due)
    }

    fn generated_watermark(&mut self) -> Option<i64> {
        if self.max_timestamp == i64::MIN {
            return None;
        }
        let watermark = self
            .max_timestamp
            .saturating_sub(self.delay)
            .saturating_sub(1);
        (watermark > self.emitted).then(|| {
            self.emitted = watermark;
            watermark
        })
    }
}
