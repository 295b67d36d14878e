//! Building a Rust UDF: `cargo build --release --target wasm32-wasip2` with SIMD enabled, after
//! checking the toolchain, reading the artifact path and the input files from cargo itself.

use super::BuildError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target Rust UDFs build for.
pub(super) const TARGET: &str = "wasm32-wasip2";

/// What a build produced and read.
pub(super) struct RustBuild {
    pub(super) wasm: PathBuf,
    pub(super) inputs: Vec<PathBuf>,
}

/// Checks that cargo and the wasm32-wasip2 target are installed.
pub(super) fn check_toolchain() -> Result<(), BuildError> {
    let missing_rust = || {
        BuildError::MissingTool {
        what: "Rust (cargo)".into(),
        install: "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh && rustup target add wasm32-wasip2".into(),
    }
    };
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|_| missing_rust())?;
    if !sysroot.status.success() {
        return Err(missing_rust());
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if !sysroot.join("lib/rustlib").join(TARGET).exists() {
        return Err(BuildError::MissingTool {
            what: format!("the Rust target {TARGET}"),
            install: format!("rustup target add {TARGET}"),
        });
    }
    Ok(())
}

/// Builds the crate in `dir`.
pub(super) fn build(dir: &Path) -> Result<RustBuild, BuildError> {
    check_toolchain()?;
    tracing::info!(dir = %dir.display(), "building Rust UDF");
    let mut command = Command::new("cargo");
    command
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // Guests need SIMD (14x slower loops without it). A project's own .cargo/config.toml may set
    // it already; setting it again by environment would make cargo rebuild every other time.
    let configured = dir
        .ancestors()
        .any(|d| d.join(".cargo/config.toml").exists());
    if !configured && std::env::var_os("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS").is_none() {
        command.env(
            "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
            "-C target-feature=+simd128",
        );
    }
    let output = command.output().map_err(|source| BuildError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !output.status.success() {
        return Err(BuildError::Failed {
            dir: dir.to_path_buf(),
            detail: format!("cargo exited with {}", output.status),
        });
    }
    let manifest = dir.join("Cargo.toml");
    let wasm = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| {
            message["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path())
        })
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|name| name.as_str().map(PathBuf::from))
        .find(|name| name.extension().is_some_and(|e| e == "wasm"))
        .ok_or_else(|| BuildError::Failed {
            dir: dir.to_path_buf(),
            detail: "cargo produced no .wasm file; is the crate a `cdylib`?".into(),
        })?;
    let mut inputs = dep_info(&wasm.with_extension("d"));
    inputs.push(manifest);
    if let Some(lock) = dir
        .ancestors()
        .map(|d| d.join("Cargo.lock"))
        .find(|p| p.exists())
    {
        inputs.push(lock);
    }
    Ok(RustBuild { wasm, inputs })
}

/// The source files listed in cargo's dep-info file (`out: in1 in2 ...`, spaces escaped).
fn dep_info(path: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Some((_, deps)) = text.lines().next().and_then(|line| line.split_once(": ")) else {
        return Vec::new();
    };
    let mut inputs = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in deps.chars() {
        match (c, escaped) {
            ('\\', false) => escaped = true,
            (' ', false) => {
                if !current.is_empty() {
                    inputs.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            (c, _) => {
                current.push(c);
                escaped = false;
            }
        }
    }
    if !current.is_empty() {
        inputs.push(PathBuf::from(current));
    }
    inputs
}
