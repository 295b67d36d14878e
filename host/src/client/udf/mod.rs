//! Building UDFs from source (`weir udf build`, and `weir run` for modules given as directories)
//! and scaffolding new ones (`weir udf new`).

mod build_cache;
pub(crate) mod rust;

mod scaffold;

pub use scaffold::{Language, scaffold};

use std::path::{Path, PathBuf};

/// A built UDF component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltModule {
    /// Where the component is (content-addressed under Weir's home).
    pub path: PathBuf,
    /// Its sha256.
    pub sha256: String,
    /// Whether it came from the build cache.
    pub cached: bool,
}

/// Why a UDF could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The directory holds no UDF project Weir knows how to build.
    #[error("{dir} is not a UDF source directory (no Cargo.toml)")]
    UnknownProject {
        /// The directory.
        dir: PathBuf,
    },
    /// A toolchain piece is missing.
    #[error("{what} is not installed")]
    MissingTool {
        /// What is missing.
        what: String,
        /// The command that installs it.
        install: String,
    },
    /// The build ran and failed.
    #[error("building {dir} failed: {detail}")]
    Failed {
        /// The directory.
        dir: PathBuf,
        /// What the build tool said.
        detail: String,
    },
    /// Reading or writing files failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl BuildError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            BuildError::MissingTool { install, .. } => Some(format!("install it with: {install}")),
            BuildError::UnknownProject { .. } => {
                Some("create one with `weir udf new --lang rust NAME`".into())
            }
            BuildError::Failed { .. } => Some(
                "the compiler's messages are above; `weir udf build DIR` rebuilds alone".into(),
            ),
            BuildError::Io { .. } => None,
        }
    }
}

/// Builds UDF source directories into components, reusing a build while its sources are unchanged.
#[derive(Debug, Clone)]
pub struct UdfBuilder {
    home: PathBuf,
}

impl UdfBuilder {
    /// A builder keeping its cache under `home` (Weir's home directory).
    pub fn new(home: PathBuf) -> Self {
        UdfBuilder { home }
    }

    /// The component built from `dir`, building it if it is missing or its sources changed.
    pub fn build(&self, dir: &Path) -> Result<BuiltModule, BuildError> {
        let dir = dir.canonicalize().map_err(|source| BuildError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if !dir.join("Cargo.toml").exists() {
            return Err(BuildError::UnknownProject { dir });
        }
        let cache = build_cache::BuildCache::new(&self.home);
        if let Some(built) = cache.lookup(&dir) {
            return Ok(built);
        }
        let output = rust::build(&dir)?;
        cache.store(&dir, &output.wasm, &output.inputs)
    }
}
