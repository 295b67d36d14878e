//! Wasm map, filter and flat_map: one UDF call per batch.

use super::isolate::UdfSite;
use super::{Operator, RejectSink};
use crate::error::TaskError;
use crate::error::task_error;
use weir_proto::RecordBatch;
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};
use weir_wasm::TransformUdf;

/// A map, filter or flat_map step backed by a `weir:udf/transform` component.
pub(super) struct WasmTransform {
    site: UdfSite,
    udf: TransformUdf,
}

impl WasmTransform {
    pub(super) fn new(operator: String, udf: TransformUdf) -> Self {
        let site = UdfSite::new(operator, udf.module(), udf.export());
        WasmTransform { site, udf }
    }
}

impl Operator for WasmTransform {
    fn state_bytes(&self) -> u64 {
        self.udf.state_bytes()
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        let keyed = self.udf.with_state(|state| state.snapshot(id)).transpose();
        let keyed = keyed.map_err(|e| task_error(&self.site.operator, e))?;
        Ok(keyed.map(|keyed| OperatorSnapshot {
            meta: None,
            keyed: Some(keyed),
        }))
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let done = self.udf.with_state(|state| state.restore(restored));
        match done {
            Some(result) => result.map_err(|e| task_error(&self.site.operator, e)),
            None => Err(TaskError::Config {
                operator: self.site.operator.clone(),
                message: format!(
                    "the checkpoint holds keyed state for this step, but module `{}` uses none",
                    self.udf.module().name
                ),
            }),
        }
    }

    fn process(
        &mut self,
        mut batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        match self.udf.process(&mut batch) {
            Ok((output, errors)) => {
                self.site.reject_errors(errors, &batch, rejects)?;
                Ok(output)
            }
            Err(first) => {
                tracing::debug!(operator = %self.site.operator, error = %first, records = batch.len(), "UDF failed on a batch; isolating the records that cause it");
                let mut output = RecordBatch::default();
                let udf = &mut self.udf;
                self.site.isolate_poison(
                    &batch,
                    |single| {
                        let (out, errors) = udf.process(single)?;
                        output.append(&out);
                        Ok(errors)
                    },
                    rejects,
                )?;
                Ok(output)
            }
        }
    }
}
