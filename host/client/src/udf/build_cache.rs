//! The UDF build cache: for each source directory, the hash of every input of its last build and
//! the component it produced. Unchanged inputs mean no build at all (not even `cargo`'s check).

use super::{BuildError, BuiltModule};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use weir_blob::BlobStore;
use weir_blob::paths::sha256_hex;

#[derive(Serialize, Deserialize)]
struct Manifest {
    /// Every file the build read, with its sha256.
    inputs: Vec<(PathBuf, String)>,
    /// The component's sha256.
    output: String,
}

pub(super) struct BuildCache {
    builds: PathBuf,
    blobs: PathBuf,
}

impl BuildCache {
    pub(super) fn new(home: &Path) -> Self {
        BuildCache {
            builds: home.join("builds"),
            blobs: home.join("blobs"),
        }
    }

    fn manifest_path(&self, dir: &Path) -> PathBuf {
        self.builds.join(format!(
            "{}.json",
            &sha256_hex(dir.as_os_str().as_encoded_bytes())[..32]
        ))
    }

    /// The cached component of `dir`, if every recorded input still has its recorded hash.
    pub(super) fn lookup(&self, dir: &Path) -> Option<BuiltModule> {
        let manifest: Manifest =
            serde_json::from_slice(&std::fs::read(self.manifest_path(dir)).ok()?).ok()?;
        let unchanged = manifest
            .inputs
            .iter()
            .all(|(path, hash)| std::fs::read(path).is_ok_and(|bytes| sha256_hex(&bytes) == *hash));
        let path = self.blobs.join(format!("{}.wasm", manifest.output));
        (unchanged && path.exists()).then_some(BuiltModule {
            path,
            sha256: manifest.output,
            cached: true,
        })
    }

    /// Stores the component at `wasm`, built from `inputs`, as the build of `dir`.
    pub(super) fn store(
        &self,
        dir: &Path,
        wasm: &Path,
        inputs: &[PathBuf],
    ) -> Result<BuiltModule, BuildError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Io { path, source }
        };
        let blob_error = |e: weir_blob::BlobError| BuildError::Failed {
            dir: dir.to_path_buf(),
            detail: e.to_string(),
        };
        let blobs = BlobStore::open(self.blobs.clone(), u64::MAX).map_err(blob_error)?;
        let (sha256, path) = blobs.put_file(wasm).map_err(blob_error)?;
        std::fs::create_dir_all(&self.builds).map_err(io(&self.builds))?;
        let mut hashed = Vec::new();
        for input in inputs {
            if let Ok(bytes) = std::fs::read(input) {
                hashed.push((input.clone(), sha256_hex(&bytes)));
            }
        }
        let manifest = serde_json::to_vec(&Manifest {
            inputs: hashed,
            output: sha256.clone(),
        })
        .map_err(|e| BuildError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        write_atomically(&self.manifest_path(dir), &manifest)?;
        Ok(BuiltModule {
            path,
            sha256,
            cached: false,
        })
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temp, bytes).map_err(|source| BuildError::Io {
        path: temp.clone(),
        source,
    })?;
    std::fs::rename(&temp, path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })
}
