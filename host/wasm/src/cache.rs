//! The precompiled-module cache: compile a component once per sha256, load it by mmap after.
//!
//! Compiling a Rust component takes ~43 ms and a Python one 6–7 s; loading the precompiled form
//! takes 0.2–3 ms (PROBES.md). Precompiled bytes are native code that wasmtime trusts, so they
//! are loaded from this cache and from nowhere else (clippy's `disallowed-methods` enforces it):
//! the cache writes them itself, from bytes whose sha256 it checked, under a name that also
//! carries the engine's compatibility hash, so a new wasmtime or other settings never load stale
//! code.

use super::error::{ModuleError, ModuleIdentity};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of precompiled components.
pub(crate) struct ModuleCache {
    dir: PathBuf,
    engine_tag: String,
}

impl ModuleCache {
    /// A cache in `dir` for components compiled by `engine`.
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Result<Self, ModuleError> {
        std::fs::create_dir_all(&dir).map_err(|source| ModuleError::Cache {
            path: dir.display().to_string(),
            source,
        })?;
        // DefaultHasher::new() uses fixed keys: the tag is stable across runs of one build.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ModuleCache {
            dir,
            engine_tag: format!("{:016x}", hasher.finish()),
        })
    }

    fn path_for(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_tag))
    }

    /// The component for `bytes` (whose sha256 is `module.sha256`), compiled at most once.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        module: &ModuleIdentity,
        bytes: &[u8],
    ) -> Result<Component, ModuleError> {
        let path = self.path_for(&module.sha256);
        if path.exists() {
            match load_precompiled(engine, &path) {
                Ok(component) => return Ok(component),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "discarding unusable precompiled module");
                }
            }
        }
        let started = std::time::Instant::now();
        let precompiled = engine
            .precompile_component(bytes)
            .map_err(|e| ModuleError::Compile {
                module: module.clone(),
                detail: format!("{e:#}"),
            })?;
        write_atomically(&path, &precompiled)?;
        tracing::info!(%module, ms = started.elapsed().as_millis() as u64, "compiled module");
        load_precompiled(engine, &path).map_err(|e| ModuleError::Compile {
            module: module.clone(),
            detail: format!("{e:#}"),
        })
    }
}

#[allow(clippy::disallowed_methods)] // The one place precompiled code is loaded: see the module docs.
fn load_precompiled(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `write_atomically` from `Engine::precompile_component`
    // output for bytes whose hash names the file, in a cache directory owned by this user; its
    // name carries this engine's compatibility hash, and wasmtime re-checks the header.
    unsafe { Component::deserialize_file(engine, path) }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ModuleError> {
    let cache_error = |source| ModuleError::Cache {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&temp, bytes).map_err(cache_error)?;
    std::fs::rename(&temp, path).map_err(cache_error)
}
