//! Which identity a TaskManager takes: the one named on the command line, or else the first
//! TaskManager certificate of the cluster directory that no other TaskManager on this host holds
//! (a lock file per identity), so a one-host cluster needs no flags beyond `--dir`.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Why no identity could be claimed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The cluster directory's `cluster.json` cannot be read or parsed.
    #[error("{}: {detail}\n  hint: create the cluster directory with `weir cluster init {}`", path.display(), dir.display())]
    ClusterFile {
        /// The file.
        path: PathBuf,
        /// The cluster directory.
        dir: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// An identity's work directory or lock file cannot be made or locked.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done: `create`, `lock`.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The identity asked for is held by another TaskManager on this host.
    #[error("identity `{0}` is already in use by another TaskManager on this host")]
    InUse(String),
    /// Every identity of the cluster directory is held.
    #[error("every TaskManager identity in {} is in use ({})\n  hint: issue more with `weir cluster init --taskmanagers N` in a new directory", dir.display(), names.join(", "))]
    AllInUse {
        /// The cluster directory.
        dir: PathBuf,
        /// Its identities.
        names: Vec<String>,
    },
}

/// Claims identity `name` (or the first free one) in `dir`; the returned file holds the claim
/// for as long as it stays open.
pub fn claim_identity(dir: &Path, name: Option<&str>) -> Result<(String, File), IdentityError> {
    let names: Vec<String> = match name {
        Some(name) => vec![name.to_string()],
        None => {
            let path = dir.join("cluster.json");
            let unreadable = |detail: String| IdentityError::ClusterFile {
                path: path.clone(),
                dir: dir.to_path_buf(),
                detail,
            };
            let text = std::fs::read_to_string(&path).map_err(|e| unreadable(e.to_string()))?;
            let cluster: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| unreadable(format!("not valid JSON: {e}")))?;
            cluster["taskmanagers"]
                .as_array()
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        }
    };
    for name in &names {
        let work = dir.join(name);
        std::fs::create_dir_all(&work).map_err(|source| IdentityError::Io {
            action: "create",
            path: work.clone(),
            source,
        })?;
        let lock_path = work.join("lock");
        let lock = File::create(&lock_path).map_err(|source| IdentityError::Io {
            action: "create",
            path: lock_path.clone(),
            source,
        })?;
        match lock.try_lock() {
            Ok(()) => return Ok((name.clone(), lock)),
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(IdentityError::Io {
                    action: "lock",
                    path: lock_path,
                    source,
                });
            }
        }
    }
    Err(match name {
        Some(name) => IdentityError::InUse(name.to_string()),
        None => IdentityError::AllInUse {
            dir: dir.to_path_buf(),
            names,
        },
    })
}
