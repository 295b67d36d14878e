//! Checkpoint storage: a directory, local or on a filesystem every TaskManager mounts.
//!
//! ```text
//! ROOT/                      one per job: --checkpoint-dir/JOB
//!   chk-7/                   a checkpoint (a savepoint is savepoint-7/, self-contained)
//!     _metadata              written last: a directory without it is an unfinished checkpoint
//!     window-0.kv            keyed state off the heap (the `entries` format)
//!     window-1/MANIFEST-…    a RocksDB checkpoint's own files
//!   shared/                  SST files of incremental RocksDB checkpoints, each uploaded once
//!     <store>-000012.sst     and deleted when no retained checkpoint refers to it any more
//! ```

use super::entries;
use super::{CheckpointMetadata, KeyedHandle, KeyedSnapshot, METADATA_FILE, OperatorSnapshot};
use super::{OperatorState, SubtaskState};
use crate::file_name;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

/// Where incremental checkpoints keep the SST files they share.
pub(super) const SHARED_DIR: &str = "shared/";

/// One job's checkpoint storage.
#[derive(Debug, Clone)]
pub struct CheckpointStorage {
    root: PathBuf,
    incremental: bool,
}

/// What a task uploads for one operator.
pub struct Upload<'a> {
    /// The operator's step name.
    pub operator: &'a str,
    /// The subtask…
    pub subtask: u32,
    /// …of this many.
    pub parallelism: u32,
    /// What it handed over.
    pub snapshot: OperatorSnapshot,
}

impl CheckpointStorage {
    /// Storage under `root`; RocksDB checkpoints share SST files when `incremental`.
    pub fn new(root: PathBuf, incremental: bool) -> Self {
        CheckpointStorage { root, incremental }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of checkpoint `id` (or savepoint), relative to the root.
    fn name(id: u64, savepoint: bool) -> String {
        match savepoint {
            false => format!("chk-{id}"),
            true => format!("savepoint-{id}"),
        }
    }

    /// The directory of checkpoint `id` (or savepoint `id`).
    pub fn checkpoint_dir(&self, id: u64, savepoint: bool) -> PathBuf {
        self.root.join(Self::name(id, savepoint))
    }

    /// The asynchronous phase of one subtask: writes each operator's snapshot under checkpoint
    /// `id` and returns the handles to acknowledge with. A savepoint copies every file.
    pub fn upload(
        &self,
        id: u64,
        savepoint: bool,
        uploads: Vec<Upload<'_>>,
    ) -> io::Result<SubtaskState> {
        let dir_name = Self::name(id, savepoint);
        let dir = self.root.join(&dir_name);
        std::fs::create_dir_all(&dir)?;
        let mut operators = Vec::with_capacity(uploads.len());
        for upload in uploads {
            let base = format!("{}-{}", file_name(upload.operator), upload.subtask);
            let (keyed, bytes) = match upload.snapshot.keyed {
                None => (None, 0),
                Some(KeyedSnapshot::Entries(list)) => {
                    let file = format!("{dir_name}/{base}.kv");
                    let bytes = entries::write(&self.root.join(&file), &list)?;
                    (Some(KeyedHandle::Entries { file }), bytes)
                }
                Some(KeyedSnapshot::Rocks {
                    dir: local,
                    instance,
                }) => {
                    let shared = self.incremental && !savepoint;
                    let stored = self.upload_rocks(
                        &local,
                        &format!("{dir_name}/{base}"),
                        shared.then_some(&instance),
                    );
                    // The local checkpoint only holds hard links: gone either way.
                    let _ = std::fs::remove_dir_all(&local);
                    let (files, bytes) = stored?;
                    (Some(KeyedHandle::Rocks { files }), bytes)
                }
            };
            operators.push(OperatorState {
                operator: upload.operator.to_string(),
                subtask: upload.subtask,
                parallelism: upload.parallelism,
                meta: upload.snapshot.meta,
                keyed,
                bytes,
            });
        }
        Ok(SubtaskState { operators })
    }

    /// Copies a RocksDB checkpoint's files: SST files to `shared/` under the store's `instance`
    /// name (each once: an SST file never changes), the rest under `private`.
    fn upload_rocks(
        &self,
        local: &Path,
        private: &str,
        instance: Option<&String>,
    ) -> io::Result<(Vec<(String, String)>, u64)> {
        let mut files = Vec::new();
        let mut bytes = 0;
        for entry in std::fs::read_dir(local)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let stored = match instance {
                Some(instance) if name.ends_with(".sst") => {
                    format!("{SHARED_DIR}{instance}-{name}")
                }
                _ => format!("{private}/{name}"),
            };
            let target = self.root.join(&stored);
            let size = entry.metadata()?.len();
            bytes += size;
            if !target.exists() {
                copy_atomically(&entry.path(), &target)?;
            }
            files.push((name, stored));
        }
        files.sort();
        Ok((files, bytes))
    }

    /// Completes checkpoint `metadata.id`: writes its metadata file (atomically), after which
    /// it can be restored. Returns its directory.
    pub fn complete(&self, metadata: &CheckpointMetadata) -> io::Result<PathBuf> {
        let dir = self.checkpoint_dir(metadata.id, metadata.savepoint);
        std::fs::create_dir_all(&dir)?;
        let json = serde_json::to_vec_pretty(metadata).map_err(io::Error::other)?;
        let path = dir.join(METADATA_FILE);
        let partial = dir.join(format!("{METADATA_FILE}.partial"));
        std::fs::write(&partial, json)?;
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, &path)?;
        Ok(dir)
    }

    /// Copies completed checkpoint `metadata` into a self-contained savepoint under `target`
    /// (shared files included), which outlives the job's checkpoints. Returns its directory.
    pub fn export(&self, metadata: &CheckpointMetadata, target: &Path) -> io::Result<PathBuf> {
        let name = Self::name(metadata.id, true);
        let dir = target.join(&name);
        let mut exported = metadata.clone();
        exported.savepoint = true;
        for state in &mut exported.operators {
            let stored: Vec<&mut String> = match &mut state.keyed {
                None => Vec::new(),
                Some(KeyedHandle::Entries { file }) => vec![file],
                Some(KeyedHandle::Rocks { files }) => files.iter_mut().map(|(_, s)| s).collect(),
            };
            for path in stored {
                copy_atomically(&self.root.join(&*path), &dir.join(&*path))?;
                *path = format!("{name}/{path}");
            }
        }
        CheckpointStorage::new(target.to_path_buf(), false).complete(&exported)
    }

    /// The completed checkpoints in storage, oldest first (an earlier run's, after a crash),
    /// after deleting the directories of unfinished ones (no metadata: never complete).
    pub fn recover(&self) -> io::Result<Vec<CheckpointMetadata>> {
        let mut completed = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Ok(completed);
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name
                .strip_prefix("chk-")
                .and_then(|id| id.parse::<u64>().ok())
                .is_none()
            {
                continue;
            }
            let metadata = std::fs::read(entry.path().join(METADATA_FILE))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<CheckpointMetadata>(&bytes).ok());
            match metadata {
                Some(metadata) => completed.push(metadata),
                None => std::fs::remove_dir_all(entry.path())?,
            }
        }
        completed.sort_by_key(|m| m.id);
        Ok(completed)
    }

    /// Deletes checkpoint `discarded` — or what an unfinished checkpoint `id` left — and the
    /// shared files no checkpoint in `retained` refers to.
    pub fn discard(
        &self,
        id: u64,
        discarded: Option<&CheckpointMetadata>,
        retained: &[CheckpointMetadata],
    ) -> io::Result<()> {
        let dir = self.checkpoint_dir(id, false);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let Some(discarded) = discarded else {
            return Ok(());
        };
        let in_use: HashSet<&str> = retained
            .iter()
            .flat_map(|m| m.operators.iter())
            .filter_map(|o| o.keyed.as_ref())
            .flat_map(KeyedHandle::shared_files)
            .collect();
        for state in &discarded.operators {
            for shared in state.keyed.iter().flat_map(KeyedHandle::shared_files) {
                if !in_use.contains(shared) {
                    let _ = std::fs::remove_file(self.root.join(shared));
                }
            }
        }
        Ok(())
    }
}

/// Copies `from` to `to` through a temporary name, so a crash never leaves a partial file
/// under the final name (a shared file is trusted by name).
fn copy_atomically(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let partial = to.with_extension("partial");
    std::fs::copy(from, &partial)?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, to)
}
