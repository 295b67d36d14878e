//! Per-task counters, written by the task thread and read by whoever reports progress.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use weir_proto::progress::{PartitionLag, TaskCounters};

/// What a task is doing right now, so a stuck job can say why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TaskActivity {
    /// Not started yet.
    Starting = 0,
    /// Waiting for input.
    WaitingForInput = 1,
    /// Processing records (including UDF calls).
    Busy = 2,
    /// Waiting for room in a downstream channel.
    Backpressured = 3,
    /// Done.
    Finished = 4,
}

/// Counters of one subtask.
#[derive(Debug, Default)]
pub struct TaskMetrics {
    /// Records received (or read, for a source).
    pub records_in: AtomicU64,
    /// Records emitted downstream.
    pub records_out: AtomicU64,
    /// Records that reached the last operator of the chain (for a chain ending in a sink: the
    /// records written out).
    pub records_to_last: AtomicU64,
    /// Records rejected (to the dead-letter sink).
    pub records_rejected: AtomicU64,
    /// Nanoseconds spent processing.
    pub busy_ns: AtomicU64,
    /// Nanoseconds spent waiting for downstream room.
    pub backpressured_ns: AtomicU64,
    /// Bytes of keyed state its operators hold now (on disk and in memtables for RocksDB,
    /// estimated for the heap)…
    pub state_bytes: AtomicU64,
    /// …and the most they held so far.
    pub state_bytes_peak: AtomicU64,
    /// Bytes of records emitted downstream (keys and values).
    pub bytes_out: AtomicU64,
    /// Its event time (the watermark it last passed on), order-preserving: 0 is none yet.
    watermark: AtomicU64,
    activity: AtomicU8,
    /// A partitioned source's place and lag in each of its partitions.
    partitions: Mutex<Vec<PartitionLag>>,
}

impl TaskMetrics {
    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Records the size of the task's state now.
    pub fn set_state_bytes(&self, bytes: u64) {
        self.state_bytes.store(bytes, Ordering::Relaxed);
        self.state_bytes_peak.fetch_max(bytes, Ordering::Relaxed);
    }

    /// Records the watermark the task passed on.
    pub fn set_watermark(&self, watermark: i64) {
        self.watermark
            .store((watermark as u64) ^ (1 << 63), Ordering::Relaxed);
    }

    /// The watermark the task last passed on, if any.
    pub fn watermark(&self) -> Option<i64> {
        match self.watermark.load(Ordering::Relaxed) {
            0 => None,
            stored => Some((stored ^ (1 << 63)) as i64),
        }
    }

    /// Records a partitioned source's place and lag in its partitions.
    pub fn set_partitions(&self, partitions: Vec<PartitionLag>) {
        *self.partitions.lock().unwrap_or_else(|p| p.into_inner()) = partitions;
    }

    /// A partitioned source's place and lag in its partitions, as last recorded.
    pub fn partitions(&self) -> Vec<PartitionLag> {
        self.partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records what the task is doing.
    pub fn set_activity(&self, activity: TaskActivity) {
        self.activity.store(activity as u8, Ordering::Relaxed);
    }

    /// What the task is doing.
    pub fn activity(&self) -> TaskActivity {
        match self.activity.load(Ordering::Relaxed) {
            1 => TaskActivity::WaitingForInput,
            2 => TaskActivity::Busy,
            3 => TaskActivity::Backpressured,
            4 => TaskActivity::Finished,
            _ => TaskActivity::Starting,
        }
    }
}

impl TaskMetrics {
    /// Reads the live counters of subtask `subtask` of `vertex`.
    pub fn counters(&self, vertex: usize, subtask: u32) -> TaskCounters {
        TaskCounters {
            vertex,
            subtask,
            records_in: TaskMetrics::get(&self.records_in),
            records_out: TaskMetrics::get(&self.records_out),
            records_to_last: TaskMetrics::get(&self.records_to_last),
            records_rejected: TaskMetrics::get(&self.records_rejected),
            busy_ns: TaskMetrics::get(&self.busy_ns),
            backpressured_ns: TaskMetrics::get(&self.backpressured_ns),
            backpressured_now: self.activity() == TaskActivity::Backpressured,
            state_bytes: TaskMetrics::get(&self.state_bytes),
            state_bytes_peak: TaskMetrics::get(&self.state_bytes_peak),
            bytes_out: TaskMetrics::get(&self.bytes_out),
            watermark: self.watermark(),
            partitions: self.partitions(),
        }
    }
}
