//! The blackhole sink: discards records (benchmarks measure the rest of the job).

use crate::error::TaskError;
use crate::operators::{Operator, RejectSink};
use weir_proto::RecordBatch;

/// Drops every record.
pub struct Blackhole;

impl Operator for Blackhole {
    fn process(
        &mut self,
        _batch: RecordBatch,
        _rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        Ok(RecordBatch::default())
    }
}
