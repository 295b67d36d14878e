//! Reading a checkpoint or savepoint back: which state each operator subtask of the new run
//! gets. State maps to operators by step name (so a new module version, or steps added
//! around it, keep it) and to subtasks by key group (so the parallelism may change).

use super::EachEntry;
use super::{CheckpointMetadata, FORMAT, KeyedHandle, METADATA_FILE, OperatorState, entries};
use crate::{MergeFn, file_name};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use weir_proto::graph::JobGraph;
use weir_proto::keygroup::subtask_for_key_group;

/// Why a checkpoint cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// Its metadata does not parse, or names no checkpoint.
    #[error("{path}: {detail}")]
    Format {
        /// The file or directory.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// It does not fit the job.
    #[error("checkpoint {path} does not fit job `{job}`: {detail}")]
    Mismatch {
        /// The checkpoint.
        path: String,
        /// The job.
        job: String,
        /// Why not.
        detail: String,
    },
}

/// A completed checkpoint or savepoint, opened for a restore.
#[derive(Debug, Clone)]
pub struct Restore {
    /// The storage root its relative paths start from.
    root: PathBuf,
    /// Its directory.
    dir: PathBuf,
    /// What it holds.
    pub metadata: CheckpointMetadata,
}

impl Restore {
    /// Opens `path`: a checkpoint's or savepoint's directory, its `_metadata` file, or a job's
    /// checkpoint storage (then the newest completed checkpoint in it).
    pub fn open(path: &Path) -> Result<Self, RestoreError> {
        let io_error = |path: &Path, source| RestoreError::Io {
            path: path.display().to_string(),
            source,
        };
        let dir = if path.is_file() {
            path.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else if path.join(METADATA_FILE).is_file() {
            path.to_path_buf()
        } else {
            newest_checkpoint(path)
                .map_err(|e| io_error(path, e))?
                .ok_or_else(|| RestoreError::Format {
                    path: path.display().to_string(),
                    detail: "holds no completed checkpoint (no chk-N/_metadata)".into(),
                })?
        };
        let file = dir.join(METADATA_FILE);
        let bytes = std::fs::read(&file).map_err(|e| io_error(&file, e))?;
        let metadata: CheckpointMetadata =
            serde_json::from_slice(&bytes).map_err(|e| RestoreError::Format {
                path: file.display().to_string(),
                detail: format!("not checkpoint metadata: {e}"),
            })?;
        if metadata.format != FORMAT {
            return Err(RestoreError::Format {
                path: file.display().to_string(),
                detail: format!(
                    "layout version {} (this weir reads {FORMAT})",
                    metadata.format
                ),
            });
        }
        let root = dir.parent().unwrap_or(Path::new(".")).to_path_buf();
        Ok(Restore {
            root,
            dir,
            metadata,
        })
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checks that `graph` can take this state: the same number of key groups, and every
    /// operator with state present by step name (state nobody would restore is an error, not
    /// a silent loss).
    pub fn check(&self, graph: &JobGraph) -> Result<(), RestoreError> {
        let (job, max_parallelism) = (&graph.name, graph.config.max_parallelism);
        let operators: Vec<&str> = graph
            .vertices
            .iter()
            .flat_map(|v| v.operators.iter().map(|o| o.name.as_str()))
            .collect();
        let mismatch = |detail: String| RestoreError::Mismatch {
            path: self.dir.display().to_string(),
            job: job.to_string(),
            detail,
        };
        if self.metadata.max_parallelism != max_parallelism {
            return Err(mismatch(format!(
                "it has {} key groups and the job {max_parallelism} (max_parallelism must stay the same)",
                self.metadata.max_parallelism
            )));
        }
        let mut missing: Vec<&str> = self
            .metadata
            .operators
            .iter()
            .map(|o| o.operator.as_str())
            .map(|name| name.strip_suffix(super::IN_FLIGHT_SUFFIX).unwrap_or(name))
            .filter(|name| !operators.contains(name))
            .collect();
        missing.dedup();
        if !missing.is_empty() {
            return Err(mismatch(format!(
                "it holds state of steps the job does not have: {} (name the steps as before)",
                missing.join(", ")
            )));
        }
        Ok(())
    }

    /// What subtask `subtask` of `parallelism` of `operator` restores, if it had state.
    pub fn operator(
        &self,
        operator: &str,
        subtask: u32,
        parallelism: u32,
    ) -> Option<OperatorRestore> {
        let states: Vec<OperatorState> = self
            .metadata
            .operators
            .iter()
            .filter(|o| o.operator == operator)
            .cloned()
            .collect();
        if states.is_empty() {
            return None;
        }
        let max = self.metadata.max_parallelism;
        Some(OperatorRestore {
            root: self.root.clone(),
            operator: operator.to_string(),
            states,
            subtask,
            parallelism,
            key_groups: key_groups(subtask, parallelism, max),
            max_parallelism: max,
        })
    }
}

/// The newest `chk-N` (or `savepoint-N`) under `root` with a metadata file.
fn newest_checkpoint(root: &Path) -> io::Result<Option<PathBuf>> {
    let mut newest: Option<(u64, PathBuf)> = None;
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let id = name
            .strip_prefix("chk-")
            .or_else(|| name.strip_prefix("savepoint-"))
            .and_then(|id| id.parse::<u64>().ok());
        if let Some(id) = id
            && entry.path().join(METADATA_FILE).is_file()
            && newest.as_ref().is_none_or(|(n, _)| id > *n)
        {
            newest = Some((id, entry.path()));
        }
    }
    Ok(newest.map(|(_, path)| path))
}

/// The key groups subtask `subtask` of `parallelism` owns.
fn key_groups(subtask: u32, parallelism: u32, max_parallelism: u32) -> Range<u32> {
    let owned = |g: &u32| subtask_for_key_group(*g, max_parallelism, parallelism) == subtask;
    let start = (0..max_parallelism).find(owned).unwrap_or(max_parallelism);
    let end = (start..max_parallelism)
        .find(|g| !owned(g))
        .unwrap_or(max_parallelism);
    start..end
}

/// One operator subtask's share of a checkpoint.
#[derive(Debug, Clone)]
pub struct OperatorRestore {
    root: PathBuf,
    operator: String,
    /// Every old subtask's state of the operator.
    states: Vec<OperatorState>,
    subtask: u32,
    parallelism: u32,
    key_groups: Range<u32>,
    max_parallelism: u32,
}

impl OperatorRestore {
    /// Whether the parallelism differs from the one the state was taken at.
    pub fn rescaled(&self) -> bool {
        self.states
            .iter()
            .any(|s| s.parallelism != self.parallelism)
    }

    /// The inline state of the old subtask with this index, when the parallelism is unchanged.
    pub fn own_meta(&self) -> Option<&serde_json::Value> {
        if self.rescaled() {
            return None;
        }
        self.states
            .iter()
            .find(|s| s.subtask == self.subtask)
            .and_then(|s| s.meta.as_ref())
    }

    /// Every old subtask's inline state, with its subtask index and parallelism (union state:
    /// a rescaled source or sink divides it up itself).
    pub fn all_meta(&self) -> impl Iterator<Item = (u32, u32, &serde_json::Value)> {
        self.states
            .iter()
            .filter_map(|s| Some((s.subtask, s.parallelism, s.meta.as_ref()?)))
    }

    /// This subtask's index and the parallelism it runs at.
    pub fn subtask(&self) -> (u32, u32) {
        (self.subtask, self.parallelism)
    }

    /// Calls `each` with every keyed state entry (layout key, value) in this subtask's key
    /// groups, from whichever old subtasks held them. RocksDB checkpoints are opened read-only
    /// with `merge`, the merge operator the store was written with.
    pub fn entries(
        &self,
        merge: Option<(&str, MergeFn)>,
        each: &mut EachEntry<'_>,
    ) -> io::Result<()> {
        let range = self.key_groups.clone();
        let in_range = |key: &[u8]| {
            key.first() == Some(&0)
                && key
                    .get(1..5)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes)
                    .is_some_and(|g| range.contains(&g))
        };
        for state in &self.states {
            let theirs = key_groups(state.subtask, state.parallelism, self.max_parallelism);
            if theirs.end <= range.start || range.end <= theirs.start {
                continue;
            }
            match &state.keyed {
                None => {}
                Some(KeyedHandle::Entries { file }) => {
                    entries::read(&self.root.join(file), &|key| !in_range(key), each)?;
                }
                Some(KeyedHandle::Rocks { files }) => {
                    self.rocks_entries(state, files, merge, &in_range, each)?;
                }
            }
        }
        Ok(())
    }

    /// Reads a RocksDB checkpoint: its files gathered into a scratch directory (hard links
    /// where the filesystem allows), opened read-only, the key-group range scanned.
    fn rocks_entries(
        &self,
        state: &OperatorState,
        files: &[(String, String)],
        merge: Option<(&str, MergeFn)>,
        in_range: &dyn Fn(&[u8]) -> bool,
        each: &mut EachEntry<'_>,
    ) -> io::Result<()> {
        let scratch = std::env::temp_dir().join(format!(
            "weir-restore-{}-{}-{}-{}",
            std::process::id(),
            file_name(&self.operator),
            state.subtask,
            self.subtask
        ));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)?;
        let result = (|| {
            for (name, stored) in files {
                let from = self.root.join(stored);
                let to = scratch.join(name);
                if std::fs::hard_link(&from, &to).is_err() {
                    std::fs::copy(&from, &to)?;
                }
            }
            let mut options = rocksdb::Options::default();
            if let Some((name, merge)) = merge {
                options.set_merge_operator_associative(name, merge);
            }
            let db = rocksdb::DB::open_for_read_only(&options, &scratch, false)
                .map_err(|e| io::Error::other(format!("{}: {e}", scratch.display())))?;
            let mut start = vec![0u8];
            start.extend_from_slice(&self.key_groups.start.to_be_bytes());
            let mut end = vec![0u8];
            end.extend_from_slice(&self.key_groups.end.to_be_bytes());
            let mut read = rocksdb::ReadOptions::default();
            read.set_iterate_upper_bound(end);
            let mode = rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward);
            for entry in db.iterator_opt(mode, read) {
                let (key, value) = entry.map_err(io::Error::other)?;
                if in_range(&key) {
                    each(&key, &value)?;
                }
            }
            Ok(())
        })();
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }
}
