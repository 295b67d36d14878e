//! The `select` step: SQL projections and filters over records' JSON fields, evaluated natively
//! a batch at a time by weir-sql. A record it cannot evaluate (not a JSON object, a division by
//! zero) is rejected with the reason, never dropped.

use super::{Operator, RejectSink, Rejection};
use crate::error::TaskError;
use weir_proto::RecordBatch;
use weir_proto::spec::SelectSpec;
use weir_sql::Projection;

/// One subtask of a `select` step.
pub(super) struct Select {
    operator: String,
    projection: Projection,
}

impl Select {
    /// The step `operator` with the expressions of `spec`.
    pub(super) fn new(operator: String, spec: &SelectSpec) -> Result<Self, TaskError> {
        let projection = Projection::parse(spec).map_err(|error| TaskError::Config {
            operator: operator.clone(),
            message: format!("select: {error}"),
        })?;
        Ok(Select {
            operator,
            projection,
        })
    }
}

impl Operator for Select {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let (out, refused) = self.projection.apply(&batch);
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
