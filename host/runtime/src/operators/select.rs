//! The `select` step: SQL projections and filters over records' JSON fields, evaluated natively
//! a batch at a time by weir-sql, calling Wasm scalar functions once per batch. A record it
//! cannot evaluate (not a JSON object, a division by zero, a function's rejection) is rejected
//! with the reason, never dropped.

use super::{Operator, RejectSink, Rejection};
use crate::error::TaskError;
use weir_proto::RecordBatch;
use weir_proto::spec::SelectSpec;
use weir_sql::{CallResults, Projection, ScalarCalls};
use weir_wasm::TransformUdf;

/// One subtask of a `select` step.
pub(super) struct Select {
    operator: String,
    projection: Projection,
    functions: Functions,
}

/// The Wasm scalar functions of a `select` step, one instance each, in the projection's order.
pub(super) struct Functions(pub(super) Vec<TransformUdf>);

impl Select {
    /// The step `operator` with the expressions of `spec`, calling `functions` (instances of
    /// `spec.functions`, in order).
    pub(super) fn new(
        operator: String,
        spec: &SelectSpec,
        functions: Vec<TransformUdf>,
    ) -> Result<Self, TaskError> {
        let projection = Projection::parse(spec).map_err(|error| TaskError::Config {
            operator: operator.clone(),
            message: format!("select: {error}"),
        })?;
        Ok(Select {
            operator,
            projection,
            functions: Functions(functions),
        })
    }
}

impl ScalarCalls for Functions {
    fn call(&mut self, index: usize, args: &[Option<Vec<u8>>]) -> Result<CallResults, String> {
        let udf = self
            .0
            .get_mut(index)
            .ok_or_else(|| format!("no scalar function {index} is loaded"))?;
        // Each row asked for is a record keyed by its place in `asked`: a map keeps the key.
        let mut batch = RecordBatch::default();
        let mut asked = Vec::new();
        for (row, arg) in args.iter().enumerate() {
            if let Some(arg) = arg {
                batch.push(Some(&(asked.len() as u32).to_le_bytes()), arg, 0);
                asked.push(row);
            }
        }
        let mut results: CallResults = vec![Err(String::new()); args.len()];
        if asked.is_empty() {
            return Ok(results);
        }
        let module = udf.module().to_string();
        let (output, errors) = udf
            .process(&mut batch)
            .map_err(|e| format!("scalar function {module}: {e}"))?;
        for error in errors {
            if let Some(&row) = asked.get(error.index as usize) {
                results[row] = Err(error.message);
            }
        }
        for record in output.iter() {
            let place = record
                .key
                .and_then(|key| key.try_into().ok())
                .map(u32::from_le_bytes);
            if let Some(&row) = place.and_then(|i| asked.get(i as usize)) {
                results[row] = Ok(record.value.to_vec());
            }
        }
        for &row in &asked {
            if matches!(&results[row], Err(e) if e.is_empty()) {
                results[row] = Err(format!("scalar function {module} returned no result"));
            }
        }
        Ok(results)
    }
}

impl Operator for Select {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let (out, refused) =
            self.projection
                .apply(&batch, &mut self.functions)
                .map_err(|message| TaskError::Config {
                    operator: self.operator.clone(),
                    message,
                })?;
        for (index, error) in refused {
            rejects.reject(Rejection {
                operator: self.operator.clone(),
                module: None,
                export: None,
                error,
                origin: None,
                record: batch.get(index).into(),
            })?;
        }
        Ok(out)
    }
}
