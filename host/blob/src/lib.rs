//! The blob store: Wasm modules by sha256, as the JobManager receives them from clients and ships
//! them to TaskManagers (which keep the same store as a cache, so a module crosses the network to
//! a TaskManager at most once).
//!
//! Nothing is accepted on trust: a blob must hash to the sha256 it is announced as, stay under
//! the size limit, and be a WebAssembly component, before it is stored. Writes are atomic
//! (temporary file, then rename), so a crash never leaves a partial blob under a valid name.
//!
//! Must not touch: Wasm engines, state, the network (the client links this crate).
#![deny(missing_docs)]

pub mod paths;

use crate::paths::sha256_hex;
use std::path::{Path, PathBuf};

/// Why a blob was refused or could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The bytes do not hash to the announced sha256.
    #[error("blob announced as sha256 {announced} hashes to {actual}: refused")]
    HashMismatch {
        /// What the sender claimed.
        announced: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// The blob is over the size limit.
    #[error("blob {sha256} is {size} bytes, over the {limit}-byte limit: refused")]
    TooLarge {
        /// Its sha256.
        sha256: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The blob is not a WebAssembly component.
    #[error("blob {sha256} is not a WebAssembly component ({why}): refused")]
    NotComponent {
        /// Its sha256.
        sha256: String,
        /// What it is instead.
        why: &'static str,
    },
    /// The announced name is not a sha256.
    #[error("`{0}` is not a sha256 (64 lowercase hex digits)")]
    BadName(String),
    /// The file system failed.
    #[error("blob store at {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A directory of blobs named by their sha256.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    max_bytes: u64,
}

fn is_sha256(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BlobStore {
    /// A store in `dir` accepting blobs up to `max_bytes`.
    pub fn open(dir: PathBuf, max_bytes: u64) -> Result<Self, BlobError> {
        std::fs::create_dir_all(&dir).map_err(|source| BlobError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(BlobStore { dir, max_bytes })
    }

    /// Where blob `sha256` is (or would be) stored.
    pub fn path(&self, sha256: &str) -> Result<PathBuf, BlobError> {
        if !is_sha256(sha256) {
            return Err(BlobError::BadName(sha256.to_string()));
        }
        Ok(self.dir.join(format!("{sha256}.wasm")))
    }

    /// The largest blob accepted: what a reader may allocate for one.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Whether the store holds `sha256` (so nobody needs to send it again).
    pub fn contains(&self, sha256: &str) -> bool {
        self.path(sha256).is_ok_and(|path| path.exists())
    }

    /// Checks `bytes` against `announced` and stores them; returns the stored path.
    pub fn put(&self, announced: &str, bytes: &[u8]) -> Result<PathBuf, BlobError> {
        let path = self.path(announced)?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(BlobError::TooLarge {
                sha256: announced.to_string(),
                size: bytes.len() as u64,
                limit: self.max_bytes,
            });
        }
        let actual = sha256_hex(bytes);
        if actual != announced {
            return Err(BlobError::HashMismatch {
                announced: announced.to_string(),
                actual,
            });
        }
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err(BlobError::NotComponent {
                sha256: actual,
                why: "no \\0asm preamble",
            });
        }
        if bytes[6..8] == [0, 0] {
            return Err(BlobError::NotComponent {
                sha256: actual,
                why: "a core module",
            });
        }
        if path.exists() {
            return Ok(path);
        }
        let temp = self
            .dir
            .join(format!(".{announced}.{}.tmp", std::process::id()));
        let io = |source| BlobError::Io {
            path: path.clone(),
            source,
        };
        std::fs::write(&temp, bytes).map_err(io)?;
        std::fs::rename(&temp, &path).map_err(io)?;
        Ok(path)
    }

    /// Stores the file at `source` (e.g. a module a client names by path).
    pub fn put_file(&self, source: &Path) -> Result<(String, PathBuf), BlobError> {
        let bytes = std::fs::read(source).map_err(|e| BlobError::Io {
            path: source.to_path_buf(),
            source: e,
        })?;
        let sha256 = sha256_hex(&bytes);
        let path = self.put(&sha256, &bytes)?;
        Ok((sha256, path))
    }
}

#[cfg(test)]
mod tests;
