//! The datagen source: sequences, seeded random numbers, and the benchmark's bid rows.

use super::pacer::Pacer;
use super::{GENERATOR_EPOCH_MS, Share, splitmix64};
use crate::error::TaskError;
use crate::operators::{RejectSink, Source};
use std::io::Write as _;
use weir_proto::RecordBatch;
use weir_proto::spec::{DatagenMode, DatagenSpec, PayloadFormat};

/// Row `j` of the shared benchmark data (PROBES.md): `(auction, bidder, price, timestamp)`.
pub fn bid_row(j: u64) -> (u64, u64, u64, i64) {
    let h1 = splitmix64(j.wrapping_mul(2));
    let h2 = splitmix64(j.wrapping_mul(2).wrapping_add(1));
    let auction = 1 + h1 % 10_000;
    let bidder = 1 + h2 % 1_000_000;
    let price = 1 + (h2 >> 32) % 1000;
    (
        auction,
        bidder,
        price,
        GENERATOR_EPOCH_MS + (j / 100) as i64,
    )
}

/// Generates this subtask's share of a datagen source.
pub(crate) struct Datagen {
    spec: DatagenSpec,
    share: Share,
    next: u64,
    batch_size: usize,
    pacer: Option<Pacer>,
}

impl Datagen {
    pub(crate) fn new(
        spec: DatagenSpec,
        subtask: u32,
        parallelism: u32,
        batch_size: usize,
    ) -> Self {
        let share = Share {
            subtask: subtask as u64,
            parallelism: parallelism as u64,
        };
        let pacer = spec.rate.map(|rate| Pacer::new(rate / parallelism as u64));
        Datagen {
            spec,
            share,
            next: 0,
            batch_size: batch_size.max(1),
            pacer,
        }
    }
}

impl Source for Datagen {
    fn next_batch(
        &mut self,
        _rejects: &mut dyn RejectSink,
    ) -> Result<Option<RecordBatch>, TaskError> {
        let limit = self
            .pacer
            .as_ref()
            .map_or(self.batch_size, |p| p.batch_size(self.batch_size));
        let mut batch = RecordBatch::with_capacity(limit, 32);
        while batch.len() < limit {
            let j = self.share.index(self.next);
            if self.spec.count.is_some_and(|count| j >= count) {
                break;
            }
            self.next += 1;
            match self.spec.mode {
                DatagenMode::Sequence => {
                    batch.push_with(None, GENERATOR_EPOCH_MS + j as i64, |out| {
                        let _ = write!(out, "{{\"id\":{j}}}");
                    });
                }
                DatagenMode::Random => {
                    let value = splitmix64(self.spec.seed ^ splitmix64(j));
                    batch.push_with(None, GENERATOR_EPOCH_MS + j as i64, |out| {
                        let _ = write!(out, "{{\"id\":{j},\"value\":{value}}}");
                    });
                }
                DatagenMode::Bids => {
                    let (auction, bidder, price, ts) = bid_row(j);
                    batch.push_with(None, ts, |out| match self.spec.payload {
                        PayloadFormat::Binary => {
                            out.extend_from_slice(&auction.to_le_bytes());
                            out.extend_from_slice(&bidder.to_le_bytes());
                            out.extend_from_slice(&price.to_le_bytes());
                        }
                        PayloadFormat::Json => {
                            let _ = write!(
                                out,
                                "{{\"auction\":{auction},\"bidder\":{bidder},\"price\":{price}}}"
                            );
                        }
                    });
                }
            }
        }
        if batch.is_empty() {
            return Ok(None);
        }
        if let Some(pacer) = &mut self.pacer {
            pacer.admit(batch.len() as u64);
        }
        Ok(Some(batch))
    }
}
