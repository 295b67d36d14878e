//! Wasm map, filter and flat_map: one UDF call per batch.

use super::isolate::{isolate_poison, reject_errors};
use super::{Operator, RejectSink};
use crate::error::TaskError;
use crate::wasm::TransformUdf;
use weir_proto::RecordBatch;

/// A map, filter or flat_map step backed by a `weir:udf/transform` component.
pub(crate) struct WasmTransform {
    operator: String,
    udf: TransformUdf,
    export: String,
}

impl WasmTransform {
    pub(crate) fn new(operator: String, udf: TransformUdf) -> Self {
        let export = udf.export();
        WasmTransform {
            operator,
            udf,
            export,
        }
    }
}

impl Operator for WasmTransform {
    fn process(
        &mut self,
        mut batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        match self.udf.process(&mut batch) {
            Ok((output, errors)) => {
                reject_errors(
                    errors,
                    &batch,
                    &self.operator,
                    self.udf.module(),
                    &self.export,
                    rejects,
                )?;
                Ok(output)
            }
            Err(first) => {
                tracing::debug!(operator = %self.operator, error = %first, records = batch.len(), "UDF failed on a batch; isolating the records that cause it");
                let mut output = RecordBatch::default();
                let module = self.udf.module().clone();
                let udf = &mut self.udf;
                isolate_poison(
                    &batch,
                    &self.operator,
                    &module,
                    &self.export,
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
