//! A rate limit in the middle of a job (`throttle: { records_per_second: N }`): each batch waits
//! until the records before it have had their share of time. The task is held meanwhile, so
//! backpressure slows everything upstream, as a slow database or service downstream would.

use super::sources::Pacer;
use super::{Operator, RejectSink};
use crate::error::TaskError;
use weir_proto::RecordBatch;

/// One subtask of a throttle.
pub(super) struct Throttle {
    pacer: Pacer,
}

impl Throttle {
    pub(super) fn new(records_per_second: u64) -> Self {
        Throttle {
            pacer: Pacer::new(records_per_second),
        }
    }
}

impl Operator for Throttle {
    fn process(
        &mut self,
        batch: RecordBatch,
        _: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        self.pacer.admit(batch.len() as u64);
        Ok(batch)
    }
}
