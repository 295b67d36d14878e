//! Where a Wasm operator's failures are attributed, and poison-record isolation: when a UDF fails
//! on a batch, find the records that make it fail.
//!
//! The batch is replayed one record at a time on a fresh instance. Records that fail
//! deterministically (a trap, the memory limit) become rejections; the others produce their
//! output as if nothing happened. A failure that may not be the record's fault (the time limit,
//! an ABI violation) stops the task at the first record that shows it, naming that record.

use super::{OwnedRecord, RejectSink, Rejection};
use crate::error::TaskError;
use weir_proto::RecordBatch;
use weir_wasm::{ModuleIdentity, RecordError, UdfError};

/// A Wasm operator's identity for its rejections and errors: step, module, export.
pub(super) struct UdfSite {
    pub operator: String,
    pub module: ModuleIdentity,
    pub export: String,
}

impl UdfSite {
    /// The site of step `operator` calling `export` of `module`.
    pub(super) fn new(operator: String, module: &ModuleIdentity, export: String) -> Self {
        UdfSite {
            operator,
            module: module.clone(),
            export,
        }
    }

    /// A UDF failure that fails the step (no single record to blame).
    pub(super) fn failed(&self, error: UdfError) -> TaskError {
        TaskError::Udf {
            operator: self.operator.clone(),
            error,
            record: None,
        }
    }

    /// Rejects the records of `batch` that the guest itself reported as bad.
    pub(super) fn reject_errors(
        &self,
        errors: Vec<RecordError>,
        batch: &RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<(), TaskError> {
        for error in errors {
            rejects.reject(Rejection {
                operator: self.operator.clone(),
                module: Some(self.module.clone()),
                export: Some(self.export.clone()),
                error: error.message,
                origin: None,
                record: batch.get(error.index as usize).into(),
            })?;
        }
        Ok(())
    }

    /// Replays `batch` record by record through `call_one`, which returns the guest's record
    /// errors for its one-record batch and keeps whatever output it produced.
    pub(super) fn isolate_poison(
        &self,
        batch: &RecordBatch,
        mut call_one: impl FnMut(&mut RecordBatch) -> Result<Vec<RecordError>, UdfError>,
        rejects: &mut dyn RejectSink,
    ) -> Result<(), TaskError> {
        let mut single = RecordBatch::with_capacity(1, 64);
        for record in batch.iter() {
            single.clear();
            single.push_ref(record);
            match call_one(&mut single) {
                Ok(errors) => self.reject_errors(errors, &single, rejects)?,
                Err(error) if error.failure.is_deterministic() => {
                    rejects.reject(Rejection {
                        operator: self.operator.clone(),
                        module: Some(error.module),
                        export: Some(error.export),
                        error: error.failure.to_string(),
                        origin: None,
                        record: record.into(),
                    })?;
                }
                Err(error) => {
                    return Err(TaskError::Udf {
                        operator: self.operator.clone(),
                        error,
                        record: Some(OwnedRecord::from(record).to_string()),
                    });
                }
            }
        }
        Ok(())
    }
}
