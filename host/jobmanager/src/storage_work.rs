//! Checkpoint storage work, as data: what the JobManager's state asks to be written, copied or
//! deleted. [`crate::ClusterState`] only records it; whoever drives the state carries it out
//! outside the state's lock (the cluster on a storage thread, the mini-cluster in its loop) and
//! hands back what came of it, so no file is touched while the JobManager's mutex is held.

use std::path::PathBuf;
use weir_state::checkpoint::{CheckpointMetadata, CheckpointStorage};

/// One piece of storage work for a job's checkpoints.
#[derive(Debug)]
pub enum StorageWork {
    /// Every task acknowledged checkpoint `metadata.id`: write its metadata (from then on the
    /// checkpoint exists), and copy it whole under `export` when it is a savepoint.
    Complete {
        /// The run of the job that took it: a result for an older run is an orphan.
        run: u32,
        /// Where the job's checkpoints go.
        storage: CheckpointStorage,
        /// The checkpoint's metadata.
        metadata: CheckpointMetadata,
        /// Where its savepoint copy goes, if it is one.
        export: Option<PathBuf>,
    },
    /// Delete checkpoint `id`'s files: an aborted checkpoint (no metadata), or one no longer
    /// retained (its metadata, and what stays retained, tell which shared files go with it).
    Discard {
        /// Where the job's checkpoints go.
        storage: CheckpointStorage,
        /// The checkpoint.
        id: u64,
        /// Its metadata, when it completed.
        metadata: Option<CheckpointMetadata>,
        /// The checkpoints still retained, whose shared files stay.
        retained: Vec<CheckpointMetadata>,
    },
}

/// What came of a [`StorageWork::Complete`].
#[derive(Debug)]
pub struct StorageDone {
    /// The run that took the checkpoint.
    pub run: u32,
    /// The checkpoint.
    pub id: u64,
    /// Where the job's checkpoints go.
    pub storage: CheckpointStorage,
    /// Its directory, once its metadata is written; why not, else.
    pub written: Result<PathBuf, String>,
    /// Where its savepoint copy went (or why it did not), when one was asked for.
    pub exported: Option<Result<PathBuf, String>>,
}

impl StorageWork {
    /// Carries the work out (file I/O: call it outside any lock); a completion's result goes
    /// back to the state, a deletion's failure only to the log.
    pub fn run(self, job: &str) -> Option<StorageDone> {
        match self {
            StorageWork::Complete {
                run,
                storage,
                metadata,
                export,
            } => {
                let id = metadata.id;
                let written = storage.complete(&metadata).map_err(|e| e.to_string());
                let exported = match (&written, export) {
                    (Ok(_), Some(target)) => Some(
                        storage
                            .export(&metadata, &target)
                            .map_err(|e| e.to_string()),
                    ),
                    (Err(error), Some(_)) => Some(Err(error.clone())),
                    (_, None) => None,
                };
                Some(StorageDone {
                    run,
                    id,
                    storage,
                    written,
                    exported,
                })
            }
            StorageWork::Discard {
                storage,
                id,
                metadata,
                retained,
            } => {
                if let Err(error) = storage.discard(id, metadata.as_ref(), &retained) {
                    tracing::warn!(job, checkpoint = id, %error, "cannot delete a checkpoint");
                }
                None
            }
        }
    }
}
