//! State backends: where operators keep keyed state (window contents, UDF values) and timers.
//!
//! The `memory` backend keeps state as objects in the operators themselves. The `rocksdb`
//! backend gives each stateful operator subtask a RocksDB instance under the process's state
//! directory ([`rocks`]), with keys laid out by key group ([`layout`]) and memory bounded for
//! the whole process. A job picks its backend in its spec (`state_backend:`); both must give the
//! same results.
//!
//! Checkpoint storage ([`checkpoint`]) lives here too: a backend owns its snapshot format, so
//! the code that writes keyed state to a checkpoint and reads it back at another parallelism
//! sits beside the stores it reads.
//!
//! Must not touch: Wasm, tasks, the network.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod clock;

pub mod layout;
pub mod lists;
mod rocks;
mod values;

pub use rocks::{EachStateEntry, MergeFn, NamespaceScan, RocksStore};
pub use rocks::{RocksMemory, StateError};
pub use rocksdb::MergeOperands;
pub use values::KeyedValues;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use weir_proto::spec::StateBackend;

/// Entries read back in order: (namespace or map key, bytes).
pub type OrderedEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// A process's state settings (a TaskManager's, or the embedded mini-cluster's).
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// Where RocksDB instances live: a directory per job run beneath it, removed as it ends.
    pub dir: PathBuf,
    /// Memory shared by every RocksDB instance of the process.
    pub rocksdb_memory: RocksMemory,
    /// (key, window) entries an operator folds in memory before merging them into RocksDB: a
    /// bounded write cache that saves a RocksDB write per record on hot keys.
    pub write_cache_entries: usize,
}

/// Default RocksDB memory budget of a process: 256 MiB.
pub const DEFAULT_ROCKSDB_MEMORY_MB: usize = 256;
/// Default write-cache entries per operator subtask.
pub const DEFAULT_WRITE_CACHE_ENTRIES: usize = 16 * 1024;

impl StateSettings {
    /// Settings with state under `dir`, a RocksDB budget of `memory_mb` MiB, and the default
    /// write cache.
    pub fn new(dir: PathBuf, memory_mb: usize) -> Self {
        StateSettings {
            dir,
            rocksdb_memory: RocksMemory::new(memory_mb.max(8) << 20),
            write_cache_entries: DEFAULT_WRITE_CACHE_ENTRIES,
        }
    }
}

impl Default for StateSettings {
    /// State in [`default_dir`], with the default budget.
    fn default() -> Self {
        StateSettings::new(default_dir(), DEFAULT_ROCKSDB_MEMORY_MB)
    }
}

/// A directory of this process under the system's temporary directory.
pub fn default_dir() -> PathBuf {
    std::env::temp_dir().join(format!("weir-state-{}", std::process::id()))
}

/// The state of one run of one job in this process: which backend, and where.
#[derive(Debug, Clone)]
pub struct JobState {
    /// The job's backend.
    pub backend: StateBackend,
    dir: PathBuf,
    settings: StateSettings,
    max_parallelism: u32,
}

impl JobState {
    /// The state of a new run of `job` (its own directory, so two runs never share files).
    pub fn new(
        settings: &StateSettings,
        job: &str,
        backend: StateBackend,
        max_parallelism: u32,
    ) -> Self {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        JobState {
            backend,
            dir: settings.dir.join(format!("{}-{run}", file_name(job))),
            settings: settings.clone(),
            max_parallelism,
        }
    }

    /// Key groups of the job.
    pub fn max_parallelism(&self) -> u32 {
        self.max_parallelism
    }

    /// Entries an operator may fold in memory before writing them to its store.
    pub fn write_cache_entries(&self) -> usize {
        self.settings.write_cache_entries.max(1)
    }

    /// Opens the RocksDB store of `operator`'s `subtask`, or `None` on the memory backend.
    pub fn store(
        &self,
        operator: &str,
        subtask: u32,
        merge: Option<(&str, MergeFn)>,
    ) -> Result<Option<RocksStore>, OperatorStateError> {
        if self.backend == StateBackend::Memory {
            return Ok(None);
        }
        RocksStore::open(
            &self.settings.rocksdb_memory,
            self.dir.join(format!("{}-{subtask}", file_name(operator))),
            self.max_parallelism,
            merge,
        )
        .map(Some)
        .map_err(|error| OperatorStateError {
            operator: operator.to_string(),
            error,
        })
    }

    /// Keyed state for a UDF of `operator`'s `subtask`, in the job's backend, expiring after
    /// `ttl_ms` if given.
    pub fn keyed_values(
        &self,
        operator: &str,
        subtask: u32,
        ttl_ms: Option<u64>,
    ) -> Result<KeyedValues, OperatorStateError> {
        let merge = Some(("weir-udf-state-v1", values::merge as MergeFn));
        let values = match self.store(operator, subtask, merge)? {
            Some(store) => KeyedValues::rocks(store, ttl_ms),
            None => KeyedValues::memory(ttl_ms),
        };
        Ok(values.with_key_groups(self.max_parallelism))
    }
}

/// `text` as a file name: anything but ASCII letters, digits and `-` becomes `_`.
pub fn file_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A state failure of one step's store, naming the step: what [`JobState`] returns.
#[derive(Debug, thiserror::Error)]
#[error("step `{operator}`: state backend: {error}")]
pub struct OperatorStateError {
    /// The step whose state it is.
    pub operator: String,
    /// What failed, naming the store's directory.
    pub error: StateError,
}

#[cfg(test)]
mod tests;
