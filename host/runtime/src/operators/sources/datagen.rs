//! The datagen source: sequences, seeded random numbers, and the benchmark's bid rows.

use super::numbered::Numbered;
use super::{GENERATOR_EPOCH_MS, SeekError, splitmix64};
use crate::error::TaskError;
use crate::operators::{RejectSink, Source};
use std::io::Write as _;
use weir_proto::RecordBatch;
use weir_proto::spec::{DatagenMode, DatagenSpec, PayloadFormat};
use weir_state::checkpoint::OperatorRestore;

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
pub struct Datagen {
    spec: DatagenSpec,
    numbers: Numbered,
}

impl Datagen {
    /// The generator for one subtask's share of what `spec` describes.
    pub fn new(spec: DatagenSpec, subtask: u32, parallelism: u32, batch_size: usize) -> Self {
        let numbers = Numbered::new(spec.count, spec.rate, subtask, parallelism, batch_size);
        Datagen { spec, numbers }
    }
}

impl Source for Datagen {
    fn position(&mut self) -> Result<serde_json::Value, TaskError> {
        Ok(self.numbers.position())
    }

    fn seek(&mut self, state: &OperatorRestore) -> Result<(), SeekError> {
        self.numbers.seek(state)
    }

    fn take_waited(&mut self) -> std::time::Duration {
        self.numbers.take_waited()
    }

    fn next_batch(
        &mut self,
        _rejects: &mut dyn RejectSink,
    ) -> Result<Option<RecordBatch>, TaskError> {
        let spec = &self.spec;
        Ok(self.numbers.next_batch(32, |j, batch| match spec.mode {
            DatagenMode::Sequence => batch.push_with(None, GENERATOR_EPOCH_MS + j as i64, |out| {
                let _ = match spec.keys {
                    Some(keys) => {
                        let keys = keys.max(1);
                        let (key, seq) = (j % keys, j / keys);
                        write!(out, "{{\"id\":{j},\"key\":{key},\"seq\":{seq}}}")
                    }
                    None => write!(out, "{{\"id\":{j}}}"),
                };
            }),
            DatagenMode::Random => {
                let value = splitmix64(spec.seed ^ splitmix64(j));
                batch.push_with(None, GENERATOR_EPOCH_MS + j as i64, |out| {
                    let _ = write!(out, "{{\"id\":{j},\"value\":{value}}}");
                });
            }
            DatagenMode::Bids => {
                let (auction, bidder, price, ts) = bid_row(j);
                batch.push_with(None, ts, |out| match spec.payload {
                    PayloadFormat::Binary => {
                        out.extend_from_slice(&auction.to_le_bytes());
                        out.extend_from_slice(&bidder.to_le_bytes());
                        out.extend_from_slice(&price.to_le_bytes());
                    }
                    // The columns of `BID_ROW_COLUMNS`, in its order.
                    PayloadFormat::Rows => {
                        weir_sql::rows::begin(out);
                        weir_sql::rows::push_int(out, auction as i64);
                        weir_sql::rows::push_int(out, bidder as i64);
                        weir_sql::rows::push_int(out, price as i64);
                    }
                    PayloadFormat::Json => {
                        // Digits by itoa, not `write!`: formatting machinery was a tenth of W2
                        // over JSON.
                        let mut digits = itoa::Buffer::new();
                        out.extend_from_slice(b"{\"auction\":");
                        out.extend_from_slice(digits.format(auction).as_bytes());
                        out.extend_from_slice(b",\"bidder\":");
                        out.extend_from_slice(digits.format(bidder).as_bytes());
                        out.extend_from_slice(b",\"price\":");
                        out.extend_from_slice(digits.format(price).as_bytes());
                        out.push(b'}');
                    }
                });
            }
        }))
    }
}
