//! A Wasm aggregate function per key: one `add` call per batch for all its keys.

use super::key_cache::{KeyCache, PerKey, Plain};
use super::key_of;
use crate::error::TaskError;
use crate::operators::isolate::UdfSite;
use crate::operators::{Operator, RejectSink};
use std::collections::HashMap;
use weir_proto::{Blobs, RecordBatch};
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};
use weir_wasm::AggregateUdf;

/// A key's accumulator, in the component's own encoding (a new version of the module must
/// read what the old one wrote, as with any state schema).
#[derive(Default, Clone)]
pub(crate) struct Accumulator(Vec<u8>);

impl PerKey for Accumulator {
    const NAMESPACE: &'static [u8] = b"";
    const WHAT: &'static str = "key's accumulator";

    fn encode(&self) -> Vec<u8> {
        self.0.clone()
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Accumulator(bytes.to_vec()))
    }

    /// Any bytes, none included, are an accumulator.
    fn is_empty(&self) -> bool {
        false
    }
}

/// Accumulators per key of a `weir:udf/aggregate` component: on the heap, or in RocksDB
/// behind a write cache.
pub(crate) struct WasmAggregate {
    site: UdfSite,
    udf: AggregateUdf,
    state: KeyCache<Accumulator, Plain>,
    batch_size: usize,
}

impl WasmAggregate {
    /// An aggregate of `udf` for step `operator`, its accumulators in `state`.
    pub(crate) fn new(
        operator: String,
        udf: AggregateUdf,
        batch_size: usize,
        state: KeyCache<Accumulator, Plain>,
    ) -> Self {
        let site = UdfSite::new(operator, udf.module(), udf.export());
        WasmAggregate {
            site,
            udf,
            state,
            batch_size: batch_size.max(1),
        }
    }

    /// Replays `keyed` record by record, the accumulators read from the state first and written
    /// back after: a record that traps is a dead letter and changes nothing.
    fn isolate(
        &mut self,
        keyed: &RecordBatch,
        initial: &[u8],
        rejects: &mut dyn RejectSink,
    ) -> Result<(), TaskError> {
        let mut held: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        for record in keyed.iter() {
            let key = record.key.unwrap_or_default();
            if !held.contains_key(key) {
                let fresh = || Accumulator(initial.to_vec());
                let acc = self.state.get_mut(key, fresh)?.0.clone();
                held.insert(key.to_vec(), acc);
            }
        }
        let udf = &mut self.udf;
        self.site.isolate_poison(
            keyed,
            |single| {
                let key = single.get(0).key.unwrap_or_default().to_vec();
                let mut accs = Blobs::default();
                accs.push(held.get(&key).map_or(initial, Vec::as_slice));
                let errors = udf.add(&mut accs, &[0], single)?;
                held.insert(key, accs.get(0).to_vec());
                Ok(errors)
            },
            rejects,
        )?;
        for (key, acc) in held {
            *self.state.get_mut(&key, Accumulator::default)? = Accumulator(acc);
        }
        Ok(())
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
    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        self.state.snapshot(id, ()).map(Some)
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        self.state.restore(restored)
    }

    fn state_bytes(&self) -> u64 {
        self.state
            .state_bytes(|key, acc| (key.len() + acc.0.len() + 64) as u64)
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
            let group = match index.get(key) {
                Some(&group) => group,
                None => {
                    let group = grouped.keys.len() as u32;
                    let fresh = || Accumulator(initial.clone());
                    grouped
                        .accumulators
                        .push(&self.state.get_mut(key, fresh)?.0);
                    grouped.keys.push(key.to_vec());
                    index.insert(key, group);
                    group
                }
            };
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
                for (key, acc) in keys.iter().zip(accumulators.iter()) {
                    *self.state.get_mut(key, Accumulator::default)? = Accumulator(acc.to_vec());
                }
            }
            Err(_) => self.isolate(&keyed, &initial, rejects)?,
        }
        Ok(RecordBatch::default())
    }

    fn finish(
        &mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let mut all = self.state.take_all()?;
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for chunk in all.chunks(self.batch_size) {
            let mut accumulators = Blobs::default();
            for (_, acc) in chunk {
                accumulators.push(&acc.0);
            }
            let results = self
                .udf
                .get_result(accumulators)
                .map_err(|error| self.site.failed(error))?;
            let mut out = RecordBatch::with_capacity(chunk.len(), 32);
            for ((key, _), value) in chunk.iter().zip(results.iter()) {
                out.push(Some(key), value, 0);
            }
            emit(out)?;
        }
        Ok(())
    }
}
