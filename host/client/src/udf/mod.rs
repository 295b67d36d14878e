//! Building UDFs from source (`weir udf build`, and `weir run` for modules given as directories)
//! and scaffolding new ones (`weir udf new`).

mod build_cache;
mod c;
mod js;
mod python;
pub(crate) mod rust;

mod scaffold;

pub use scaffold::{Language, scaffold};

use std::path::{Path, PathBuf};
use weir_blob::paths::sha256_hex;

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
    #[error("{dir} is not a UDF source directory (no Cargo.toml, app.py, udf.js or udf.c)")]
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
                Some("create one with `weir udf new --lang rust|python|js|c NAME`".into())
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
        let project =
            Project::detect(&dir).ok_or_else(|| BuildError::UnknownProject { dir: dir.clone() })?;
        let scratch = self
            .home
            .join("build")
            .join(&sha256_hex(dir.as_os_str().as_encoded_bytes())[..16]);
        // Files Weir itself supplies (SDKs, the WIT) are inputs too: a new Weir rebuilds.
        project.prepare(&scratch)?;
        let cache = build_cache::BuildCache::new(&self.home);
        if let Some(built) = cache.lookup(&dir) {
            return Ok(built);
        }
        let building = super::progress::spinner(format!(
            "building the {} UDF in {}",
            project.language(),
            dir.display()
        ));
        let output = match project {
            Project::Rust => {
                let build = rust::build(&dir)?;
                LanguageBuild {
                    wasm: build.wasm,
                    inputs: build.inputs,
                }
            }
            Project::Python => python::build(&dir, &scratch)?,
            Project::JavaScript => js::build(&dir, &scratch)?,
            Project::C => c::build(&dir, &scratch)?,
        };
        building.finish_and_clear();
        cache.store(&dir, &output.wasm, &output.inputs)
    }
}

/// The languages a UDF directory can be written in, told apart by their entry file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Project {
    /// `Cargo.toml`: a crate using weir-sdk.
    Rust,
    /// `app.py`: a module using weir_udf.
    Python,
    /// `udf.js`: a module using weir_udf.js.
    JavaScript,
    /// `udf.c`: a translation unit using weir_udf.h.
    C,
}

impl Project {
    /// The language's name, for messages.
    fn language(self) -> &'static str {
        match self {
            Project::Rust => "Rust",
            Project::Python => "Python",
            Project::JavaScript => "JavaScript",
            Project::C => "C",
        }
    }

    fn detect(dir: &Path) -> Option<Self> {
        if dir.join("Cargo.toml").exists() {
            Some(Project::Rust)
        } else if dir.join("app.py").exists() {
            Some(Project::Python)
        } else if dir.join("udf.js").exists() {
            Some(Project::JavaScript)
        } else if dir.join("udf.c").exists() {
            Some(Project::C)
        } else {
            None
        }
    }

    fn prepare(self, scratch: &Path) -> Result<(), BuildError> {
        match self {
            Project::Rust => Ok(()),
            Project::Python => python::prepare(scratch).map(|_| ()),
            Project::JavaScript => js::prepare(scratch).map(|_| ()),
            Project::C => c::prepare(scratch).map(|_| ()),
        }
    }
}

/// What a language's build produced, and every file it read.
pub(super) struct LanguageBuild {
    pub(super) wasm: PathBuf,
    pub(super) inputs: Vec<PathBuf>,
}

/// The WIT interface, carried inside this binary.
const WIT: &str = include_str!("../../../../proto/wit/udf.wit");

/// Writes the WIT package into `scratch/wit`; returns that directory.
fn wit_dir(scratch: &Path) -> Result<PathBuf, BuildError> {
    let dir = scratch.join("wit");
    write_if_changed(&dir.join("udf.wit"), WIT)?;
    Ok(dir)
}

/// Writes `contents` to `path` unless it holds them already (keeping its timestamp).
fn write_if_changed(path: &Path, contents: &str) -> Result<(), BuildError> {
    if std::fs::read(path).is_ok_and(|old| old == contents.as_bytes()) {
        return Ok(());
    }
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, contents).map_err(io)
}

/// The WIT world a UDF's source exports, from the SDK marker it uses.
fn world_of(source: &str, aggregate_marker: &str, key_marker: &str) -> &'static str {
    if source.contains(aggregate_marker) {
        "aggregate-udf"
    } else if source.contains(key_marker) {
        "key-udf"
    } else {
        "transform-udf"
    }
}

/// The files directly in `dir` whose name ends in `.extension`, sorted.
fn sources_with_extension(dir: &Path, extension: &str) -> Result<Vec<PathBuf>, BuildError> {
    let entries = std::fs::read_dir(dir).map_err(|source| BuildError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    Ok(files)
}

/// Runs a build tool in `dir` (all its messages go to stderr: stdout carries a job's records);
/// fails naming it if it fails.
fn run_tool(mut command: std::process::Command, dir: &Path, tool: &str) -> Result<(), BuildError> {
    let status = command
        .current_dir(dir)
        .stdout(std::io::stderr())
        .stderr(std::process::Stdio::inherit())
        .status()
        .map_err(|source| BuildError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed {
            dir: dir.to_path_buf(),
            detail: format!("{tool} exited with {status}"),
        })
    }
}
