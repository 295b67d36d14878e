//! Command-line options for state: which backend a job uses, and where a process keeps it.

use clap::Args;
use std::path::{Path, PathBuf};
use weir_proto::graph::JobGraph;
use weir_proto::spec::StateBackend;
use weir_state::{DEFAULT_ROCKSDB_MEMORY_MB, DEFAULT_WRITE_CACHE_ENTRIES, StateSettings};

/// `--state-backend`: overrides the job spec's `state_backend:`.
#[derive(Args)]
pub(crate) struct BackendArg {
    /// Keep keyed state in `memory` or `rocksdb` (default: the job spec's `state_backend`).
    #[arg(long, value_parser = clap::value_parser!(StateBackend))]
    state_backend: Option<StateBackend>,
}

impl BackendArg {
    /// Applies the override to `graph`.
    pub(crate) fn apply(&self, graph: &mut JobGraph) {
        if let Some(backend) = self.state_backend {
            graph.config.state_backend = backend;
        }
    }
}

/// Where a process keeps RocksDB state, and how much memory RocksDB may use.
#[derive(Args)]
pub(crate) struct StateDirArgs {
    /// Directory for RocksDB state (default: a directory of this process under the system's
    /// temporary directory, or `state/NAME` in a TaskManager's cluster directory).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Memory all RocksDB instances of the process share: block cache and write buffers.
    #[arg(long, default_value_t = DEFAULT_ROCKSDB_MEMORY_MB)]
    rocksdb_memory_mb: usize,
    /// Window entries (or session keys) an operator folds in memory before writing them to
    /// RocksDB.
    #[arg(long, default_value_t = DEFAULT_WRITE_CACHE_ENTRIES)]
    state_write_cache: usize,
}

impl StateDirArgs {
    /// The settings, with state under `default_dir` unless `--state-dir` says otherwise.
    pub(crate) fn settings(&self, default_dir: Option<&Path>) -> StateSettings {
        let dir = self
            .state_dir
            .clone()
            .or_else(|| default_dir.map(Path::to_path_buf))
            .unwrap_or_else(weir_state::default_dir);
        let mut settings = StateSettings::new(dir, self.rocksdb_memory_mb);
        settings.write_cache_entries = self.state_write_cache.max(1);
        settings
    }
}
