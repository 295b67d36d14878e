//! The precompiled-module cache: compile a component once per sha256, load it after.
//!
//! Compiling a Rust component takes ~43 ms and a Python one 6–7 s; loading the precompiled form
//! takes 0.2–3 ms (PROBES.md). Precompiled bytes are native code that wasmtime trusts, so they
//! are loaded from this cache and from nowhere else (clippy's `disallowed-methods` enforces it):
//! the cache writes them itself, from bytes whose sha256 it checked, under a name that also
//! carries the engine's compatibility hash, so a new wasmtime or other settings never load stale
//! code. Beside each `<name>.cwasm` is `<name>.cwasm.sha256`, the hex sha256 of its bytes: a
//! cached file is read once into memory, checked against it and deserialized from those same
//! bytes, so a file corrupted on disk (or changed after the check) is never run as native code;
//! it is recompiled, with a warning naming it. Both files are written atomically (a synced
//! temporary file renamed over the name), the module before its digest.
//!
//! A digest catches corruption, not tampering: whoever can write this directory can rewrite the
//! digest too (and could read a MAC key kept beside it), so `WEIR_HOME` must stay private to
//! the user running Weir.

use super::error::{ModuleError, ModuleIdentity};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
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
    /// Cached code is used only if it still hashes to the digest written with it; otherwise it
    /// is recompiled and rewritten (a corrupt file must never become native code that runs).
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        module: &ModuleIdentity,
        bytes: &[u8],
    ) -> Result<Component, ModuleError> {
        let path = self.path_for(&module.sha256);
        match read_verified(&path) {
            Ok(None) => {}
            Ok(Some(precompiled)) => match deserialize(engine, &precompiled) {
                Ok(component) => return Ok(component),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "discarding unusable precompiled module; recompiling");
                }
            },
            Err(problem) => {
                tracing::warn!(path = %path.display(), %problem, "precompiled module failed its integrity check; recompiling");
            }
        }
        let started = std::time::Instant::now();
        let compile_error = |e: wasmtime::Error| ModuleError::Compile {
            module: module.clone(),
            detail: format!("{e:#}"),
        };
        let precompiled = engine.precompile_component(bytes).map_err(compile_error)?;
        write_atomically(&path, &precompiled)?;
        let digest = hex::encode(Sha256::digest(&precompiled));
        write_atomically(&digest_path(&path), digest.as_bytes())?;
        tracing::info!(%module, ms = started.elapsed().as_millis() as u64, "compiled module");
        // The bytes just compiled, not the file: nothing can have changed them.
        deserialize(engine, &precompiled).map_err(compile_error)
    }
}

/// Where the hex sha256 of the precompiled bytes at `cwasm` is kept: beside them.
fn digest_path(cwasm: &Path) -> PathBuf {
    let mut name = cwasm.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// The precompiled bytes at `path`, if it is cached (`None`), once they hash to the digest
/// beside them; else why they cannot be trusted.
fn read_verified(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let digest = digest_path(path);
    let expected = std::fs::read_to_string(&digest)
        .map_err(|e| format!("no digest at {}: {e}", digest.display()))?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if expected.trim() != actual {
        return Err(format!(
            "its sha256 is {actual}, but {} says {}",
            digest.display(),
            expected.trim()
        ));
    }
    Ok(Some(bytes))
}

#[allow(clippy::disallowed_methods)] // The one place precompiled code is loaded: see the module docs.
fn deserialize(engine: &Engine, precompiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `precompiled` is what `Engine::precompile_component` just returned, or bytes read
    // once from this cache that hash to the digest written with them (so exactly what this
    // cache wrote, from a component whose sha256 names the file); the file name carries this
    // engine's compatibility hash and wasmtime re-checks the header. Loading from memory leaves
    // no window between the check and the load.
    unsafe { Component::deserialize(engine, precompiled) }
}

/// Writes `bytes` to `path` all or nothing: a synced temporary file renamed over it, so a crash
/// or a concurrent reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ModuleError> {
    let cache_error = |source| ModuleError::Cache {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".tmp-{}-{:?}-{name}",
        std::process::id(),
        std::thread::current().id()
    ));
    let written = std::fs::File::create(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&temp, path));
    if renamed.is_err() {
        // Best effort: the error that matters is the write's.
        let _ = std::fs::remove_file(&temp);
    }
    renamed.map_err(cache_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EngineConfig, WasmEngine};

    /// The smallest component: its preamble, no sections.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    #[test]
    fn a_cached_module_that_no_longer_matches_its_digest_is_recompiled_and_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wasm = WasmEngine::new(EngineConfig::new(dir.path().join("unused"))).expect("engine");
        let engine = wasm.engine();
        let modules = dir.path().join("modules");
        let cache = ModuleCache::new(modules.clone(), engine).expect("cache");
        let module = ModuleIdentity {
            name: "empty".into(),
            sha256: hex::encode(Sha256::digest(EMPTY_COMPONENT)),
        };
        cache
            .load_or_compile(engine, &module, EMPTY_COMPONENT)
            .expect("compiles");
        let path = cache.path_for(&module.sha256);
        let digest = digest_path(&path);
        let good = std::fs::read(&path).expect("cached module");
        assert_eq!(
            std::fs::read_to_string(&digest).expect("digest beside it"),
            hex::encode(Sha256::digest(&good))
        );
        assert_eq!(read_verified(&path), Ok(Some(good.clone())));

        // Flipped bytes in its middle: caught before anything is loaded, then recompiled.
        let mut bad = good.clone();
        let middle = bad.len() / 2;
        for byte in &mut bad[middle - 16..middle + 16] {
            *byte ^= 0xff;
        }
        std::fs::write(&path, &bad).expect("corrupt it");
        let problem = read_verified(&path).expect_err("a corrupt module is refused");
        assert!(problem.contains("its sha256 is"), "{problem}");
        cache
            .load_or_compile(engine, &module, EMPTY_COMPONENT)
            .expect("recompiles");
        let rewritten = std::fs::read(&path).expect("rewritten module");
        assert_ne!(rewritten, bad, "the corrupt file is replaced");
        assert_eq!(read_verified(&path), Ok(Some(rewritten)), "and verifies");

        // No digest (a cache from before digests, or a crash between the two renames).
        std::fs::remove_file(&digest).expect("remove the digest");
        let problem = read_verified(&path).expect_err("an unverifiable module is refused");
        assert!(problem.contains("no digest"), "{problem}");
        cache
            .load_or_compile(engine, &module, EMPTY_COMPONENT)
            .expect("recompiles");
        assert!(read_verified(&path).is_ok_and(|b| b.is_some()));

        let mut names: Vec<String> = std::fs::read_dir(&modules)
            .expect("cache dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let cwasm = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            names,
            [cwasm.clone(), format!("{cwasm}.sha256")],
            "no temporary files left"
        );
    }
}
