//! The share of numbered events a generator subtask emits, paced and batched: what every
//! generated source has in common.

use super::Share;
use super::pacer::Pacer;
use weir_proto::RecordBatch;

/// This subtask's numbers `subtask, subtask + parallelism, ...` below `count`.
pub(crate) struct Numbered {
    share: Share,
    next: u64,
    count: Option<u64>,
    batch_size: usize,
    pacer: Option<Pacer>,
}

impl Numbered {
    /// `count` and `rate` are for the whole source; each subtask takes its part of both.
    pub(crate) fn new(
        count: Option<u64>,
        rate: Option<u64>,
        subtask: u32,
        parallelism: u32,
        batch_size: usize,
    ) -> Self {
        Numbered {
            share: Share {
                subtask: subtask as u64,
                parallelism: parallelism as u64,
            },
            next: 0,
            count,
            batch_size: batch_size.max(1),
            pacer: rate.map(|rate| Pacer::new(rate / parallelism.max(1) as u64)),
        }
    }

    /// The next batch, calling `emit(j, batch)` for each next number `j` (it may push nothing
    /// for a number); `None` once every number is done.
    pub(crate) fn next_batch(
        &mut self,
        bytes_per_record: usize,
        mut emit: impl FnMut(u64, &mut RecordBatch),
    ) -> Option<RecordBatch> {
        let limit = self
            .pacer
            .as_ref()
            .map_or(self.batch_size, |p| p.batch_size(self.batch_size));
        let mut batch = RecordBatch::with_capacity(limit, bytes_per_record);
        while batch.len() < limit {
            let j = self.share.index(self.next);
            if self.count.is_some_and(|count| j >= count) {
                break;
            }
            self.next += 1;
            emit(j, &mut batch);
        }
        if batch.is_empty() {
            return None;
        }
        if let Some(pacer) = &mut self.pacer {
            pacer.admit(batch.len() as u64);
        }
        Some(batch)
    }
}
