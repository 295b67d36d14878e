//! A Wasm aggregate function per key: one `add` call per batch for all its keys.

use super::{key_of, per_key};
use crate::error::TaskError;
use crate::operators::isolate::UdfSite;
use crate::operators::{Operator, RejectSink};
use std::collections::HashMap;
use weir_proto::{Blobs, RecordBatch};
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};
use weir_wasm::AggregateUdf;

/// Accumulators per key in a `weir:udf/aggregate` component's own encoding.
pub(crate) struct WasmAggregate {
    site: UdfSite,
    udf: AggregateUdf,
    state: HashMap<Vec<u8>, Vec<u8>>,
    batch_size: usize,
    max_parallelism: u32,
}

impl WasmAggregate {
    /// An aggregate of `udf` for step `operator`, keyed over `max_parallelism` key groups
    /// (its snapshots are by key group, so they restore at another parallelism).
    pub(crate) fn new(
        operator: String,
        udf: AggregateUdf,
        batch_size: usize,
        max_parallelism: u32,
    ) -> Self {
        let site = UdfSite::new(operator, udf.module(), udf.export());
        WasmAggregate {
            site,
            udf,
            state: HashMap::new(),
            batch_size: batch_size.max(1),
            max_parallelism,
        }
    }
}

/// The distinct keys of a batch's keyed records, their accumulators, and each record's group.
struct Grouped {
    keys: Vec<Vec<u8>>,
    accumulators: Blobs,
    groups: Vec<u32>,
    batch: RecordBatch,
}

impl Operator for WasmAggregate {
    /// Each key's accumulator, in the component's own encoding (a new version of the module
    /// must read what the old one wrote, as with any state schema).
    fn snapshot(&mut self, _id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        Ok(Some(per_key::snapshot(
            &self.state,
            self.max_parallelism,
            Clone::clone,
        )))
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let operator = &self.site.operator;
        per_key::restore(restored, operator, &mut self.state, |v| Some(v.to_vec()))
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let initial = self
            .udf
            .create_accumulator()
            .map_err(|error| self.site.failed(error))?;
        let mut grouped = Grouped {
            keys: Vec::new(),
            accumulators: Blobs::default(),
            groups: Vec::new(),
            batch: RecordBatch::default(),
        };
        let mut index: HashMap<&[u8], u32> = HashMap::new();
        for record in batch.iter() {
            let Some(key) = key_of(record, &self.site.operator, rejects)? else {
                continue;
            };
            let next = index.len() as u32;
            let group = *index.entry(key).or_insert_with(|| {
                grouped.keys.push(key.to_vec());
                grouped
                    .accumulators
                    .push(self.state.get(key).map_or(&initial[..], Vec::as_slice));
                next
            });
            grouped.groups.push(group);
            grouped.batch.push_ref(record);
        }
        let Grouped {
            keys,
            mut accumulators,
            groups,
            batch: mut keyed,
        } = grouped;
        match self.udf.add(&mut accumulators, &groups, &mut keyed) {
            Ok(errors) => {
                self.site.reject_errors(errors, &keyed, rejects)?;
                for (key, acc) in keys.into_iter().zip(accumulators.iter()) {
                    self.state.insert(key, acc.to_vec());
                }
            }
            Err(_) => {
                let (udf, state) = (&mut self.udf, &mut self.state);
                self.site.isolate_poison(
                    &keyed,
                    |single| {
                        let key = single.get(0).key.unwrap_or_default().to_vec();
                        let mut accs = Blobs::default();
                        accs.push(state.get(&key).map_or(&initial[..], Vec::as_slice));
                        let errors = udf.add(&mut accs, &[0], single)?;
                        state.insert(key, accs.get(0).to_vec());
                        Ok(errors)
                    },
                    rejects,
                )?;
            }
        }
        Ok(RecordBatch::default())
    }

    fn finish(
        &mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let mut keys: Vec<Vec<u8>> = self.state.keys().cloned().collect();
        keys.sort_unstable();
        for chunk in keys.chunks(self.batch_size) {
            let mut accumulators = Blobs::default();
            for key in chunk {
                accumulators.push(&self.state[key]);
            }
            let results = self
                .udf
                .get_result(accumulators)
                .map_err(|error| self.site.failed(error))?;
            let mut out = RecordBatch::with_capacity(chunk.len(), 32);
            for (key, value) in chunk.iter().zip(results.iter()) {
                out.push(Some(key), value, 0);
            }
            emit(out)?;
        }
        self.state.clear();
        Ok(())
    }
}
