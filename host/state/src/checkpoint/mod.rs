//! Snapshots of a running job's state, and where they are kept: what a task hands over at a
//! checkpoint barrier, how it reaches checkpoint storage, and how a restarted (or rescaled, or
//! upgraded) job reads it back.
//!
//! A checkpoint has two phases at each task. The synchronous one runs on the task's thread as
//! its barrier aligns: each operator hands over an [`OperatorSnapshot`] — small state inline
//! (source positions, watermarks, a sink's pending files), keyed state as the entries copied
//! off the heap or as a RocksDB native checkpoint (hard links, no copy). The asynchronous one
//! runs on another thread while the task goes on: [`CheckpointStorage::upload`] writes those to
//! storage and the task acknowledges with the [`OperatorState`] handles. When every task has,
//! the JobManager writes the checkpoint's metadata file: only then does the checkpoint exist.
//!
//! Keyed state is stored in one layout whatever the backend ([`crate::layout`]): entries
//! sorted by key group, so a restore at another parallelism reads each subtask's key-group
//! range from every old subtask's file, and a heap snapshot restores into RocksDB and back.

mod entries;
mod restore;
pub mod storage;

pub use restore::{OperatorRestore, Restore, RestoreError};
pub use storage::CheckpointStorage;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use weir_proto::spec::StateBackend;

/// Called with each keyed state entry read back (layout key, value); an error stops the read.
pub type EachEntry<'a> = dyn FnMut(&[u8], &[u8]) -> std::io::Result<()> + 'a;

/// The file every completed checkpoint (or savepoint) directory holds: its [`CheckpointMetadata`].
pub const METADATA_FILE: &str = "_metadata";

/// What an operator hands over at a barrier, before anything is written.
#[derive(Debug, Default)]
pub struct OperatorSnapshot {
    /// Small state kept in the metadata file itself.
    pub meta: Option<serde_json::Value>,
    /// Keyed state.
    pub keyed: Option<KeyedSnapshot>,
}

/// Appended to a vertex's head step name to file the records an unaligned checkpoint held in
/// flight to that vertex.
pub const IN_FLIGHT_SUFFIX: &str = "@in-flight";

/// An operator's keyed state at a barrier.
#[derive(Debug)]
pub enum KeyedSnapshot {
    /// (layout key, value) entries in key order, copied off the heap.
    Entries(Vec<(Vec<u8>, Vec<u8>)>),
    /// A RocksDB native checkpoint: a directory of hard links to the store's immutable files.
    Rocks {
        /// The local checkpoint directory (removed once uploaded).
        dir: PathBuf,
        /// Names this store's files uniquely among every store that ever wrote to the storage,
        /// so an SST file uploaded once is shared by later checkpoints.
        instance: String,
    },
}

/// Where one operator subtask's part of a checkpoint is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorState {
    /// The operator's step name: state maps to operators by it across job versions.
    pub operator: String,
    /// The subtask that wrote it…
    pub subtask: u32,
    /// …of this many.
    pub parallelism: u32,
    /// Small state inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
    /// Keyed state files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyed: Option<KeyedHandle>,
    /// Bytes written for it (shared files counted in every checkpoint that uses them).
    pub bytes: u64,
}

/// Keyed state files, relative to the storage root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyedHandle {
    /// One file of sorted (key, value) entries.
    Entries {
        /// The file.
        file: String,
    },
    /// A RocksDB checkpoint: each file's name in the database and where it is stored (SST files
    /// under `shared/` when the checkpoint is incremental).
    Rocks {
        /// (name in the database directory, stored path).
        files: Vec<(String, String)>,
    },
}

impl KeyedHandle {
    /// Stored paths under `shared/` (referenced by several checkpoints).
    pub fn shared_files(&self) -> impl Iterator<Item = &str> {
        let files: &[(String, String)] = match self {
            KeyedHandle::Rocks { files } => files,
            KeyedHandle::Entries { .. } => &[],
        };
        files
            .iter()
            .map(|(_, stored)| stored.as_str())
            .filter(|stored| stored.starts_with(storage::SHARED_DIR))
    }
}

/// One subtask's part of checkpoint `id`: what the task acknowledges with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubtaskState {
    /// Each stateful operator of its chain (the source included).
    pub operators: Vec<OperatorState>,
}

impl SubtaskState {
    /// Bytes written for it.
    pub fn bytes(&self) -> u64 {
        self.operators.iter().map(|o| o.bytes).sum()
    }
}

/// A completed checkpoint or savepoint: the `_metadata` file of its directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// Version of this layout.
    pub format: u32,
    /// The job's name.
    pub job: String,
    /// The checkpoint's id (a restored job numbers on from it).
    pub id: u64,
    /// When it was triggered, ms since the epoch.
    pub timestamp: i64,
    /// A savepoint (self-contained, taken on request) rather than a periodic checkpoint.
    pub savepoint: bool,
    /// Key groups of the job: a restore must keep the number.
    pub max_parallelism: u32,
    /// The backend that wrote it (any backend restores it).
    pub backend: StateBackend,
    /// The sha256 of each module by name, for the record (a restore may bring new versions).
    pub modules: std::collections::BTreeMap<String, String>,
    /// Every operator subtask's state.
    pub operators: Vec<OperatorState>,
}

/// The layout version [`CheckpointMetadata::format`] this build writes and reads.
pub const FORMAT: u32 = 1;

/// Collects heap state as layout entries for a [`KeyedSnapshot::Entries`].
pub struct HeapEntries {
    max_parallelism: u32,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl HeapEntries {
    /// Entries of a job with `max_parallelism` key groups.
    pub fn new(max_parallelism: u32) -> Self {
        HeapEntries {
            max_parallelism,
            entries: Vec::new(),
        }
    }

    /// Adds state `namespace` of `key`.
    pub fn push(&mut self, key: &[u8], namespace: &[u8], value: Vec<u8>) {
        let mut stored = Vec::with_capacity(9 + key.len() + namespace.len());
        let group = weir_proto::keygroup::key_group(key, self.max_parallelism);
        crate::layout::state_key(&mut stored, group, key, namespace);
        self.entries.push((stored, value));
    }

    /// The entries in key order.
    pub fn finish(mut self) -> KeyedSnapshot {
        self.entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        KeyedSnapshot::Entries(self.entries)
    }
}
