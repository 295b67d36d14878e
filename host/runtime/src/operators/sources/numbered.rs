//! The share of numbered events a generator subtask emits, paced and batched: what every
//! generated source has in common.

use super::pacer::Pacer;
use super::{SeekError, Share};
use weir_proto::RecordBatch;
use weir_state::checkpoint::OperatorRestore;

/// This subtask's numbers `subtask, subtask + parallelism, ...` below `count`.
pub(super) struct Numbered {
    share: Share,
    next: u64,
    count: Option<u64>,
    batch_size: usize,
    pacer: Option<Pacer>,
    /// Numbers emitted by earlier runs at other parallelisms, skipped here.
    done: Vec<Generation>,
}

/// What the subtasks of one earlier run at `parallelism` had emitted: subtask `i` the first
/// `next[i]` numbers of its share.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Generation {
    parallelism: u64,
    next: Vec<u64>,
}

impl Generation {
    fn emitted(&self, j: u64) -> bool {
        let p = self.parallelism.max(1);
        self.next
            .get((j % p) as usize)
            .is_some_and(|&next| j / p < next)
    }
}

/// A generator subtask's place in a checkpoint.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Position {
    /// Numbers of its share emitted.
    next: u64,
    /// Earlier runs at other parallelisms (the same in every subtask).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    done: Vec<Generation>,
}

impl Numbered {
    /// `count` and `rate` are for the whole source; each subtask takes its part of both.
    pub(super) fn new(
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
            done: Vec::new(),
        }
    }

    /// Time spent waiting for the rate since the last call.
    pub(super) fn take_waited(&mut self) -> std::time::Duration {
        self.pacer
            .as_mut()
            .map_or(std::time::Duration::ZERO, Pacer::take_waited)
    }

    /// Its position for a checkpoint.
    pub(super) fn position(&self) -> serde_json::Value {
        let position = Position {
            next: self.next,
            done: self.done.clone(),
        };
        serde_json::to_value(position).unwrap_or_default()
    }

    /// Resumes where a checkpoint says: at the same parallelism, after its own numbers; at
    /// another, skipping every number any old subtask had emitted.
    pub(super) fn seek(&mut self, state: &OperatorRestore) -> Result<(), SeekError> {
        let parse = |value: &serde_json::Value| {
            serde_json::from_value::<Position>(value.clone()).map_err(|e| SeekError::Malformed {
                what: "generator",
                detail: e.to_string(),
            })
        };
        if let Some(own) = state.own_meta() {
            let own = parse(own)?;
            self.next = own.next;
            self.done = own.done;
            return Ok(());
        }
        let mut last = Generation {
            parallelism: 0,
            next: Vec::new(),
        };
        for (subtask, parallelism, value) in state.all_meta() {
            let position = parse(value)?;
            self.done = position.done;
            last.parallelism = parallelism as u64;
            last.next.resize(parallelism as usize, 0);
            if let Some(next) = last.next.get_mut(subtask as usize) {
                *next = position.next;
            }
        }
        self.done.push(last);
        self.next = 0;
        Ok(())
    }

    /// The next batch, calling `emit(j, batch)` for each next number `j` (it may push nothing
    /// for a number); `None` once every number is done.
    pub(super) fn next_batch(
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
            if self.done.iter().any(|g| g.emitted(j)) {
                continue;
            }
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
