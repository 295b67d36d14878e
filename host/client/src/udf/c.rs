//! Building a C UDF: clang (`--target=wasm32-wasi`, wasi-libc) compiles `udf.c` with Weir's C SDK
//! (`sdk/c/weir_udf.h`) and wit-bindgen's C bindings for the world (`sdk/c/bindings/`, both
//! carried inside this binary); then the world's component type is embedded and the core module
//! becomes a component with the WASI preview1 adapter (what `wasm-tools component new` does).

use super::{BuildError, LanguageBuild, run_tool, sources_with_extension, world_of};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian packages a C UDF build needs.
pub(super) const INSTALL: &str = "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32";

const SDK: &[(&str, &str)] = &[
    ("weir_udf.h", include_str!("../../../../sdk/c/weir_udf.h")),
    (
        "transform_udf.h",
        include_str!("../../../../sdk/c/bindings/transform_udf.h"),
    ),
    (
        "transform_udf.c",
        include_str!("../../../../sdk/c/bindings/transform_udf.c"),
    ),
    (
        "key_udf.h",
        include_str!("../../../../sdk/c/bindings/key_udf.h"),
    ),
    (
        "key_udf.c",
        include_str!("../../../../sdk/c/bindings/key_udf.c"),
    ),
    (
        "aggregate_udf.h",
        include_str!("../../../../sdk/c/bindings/aggregate_udf.h"),
    ),
    (
        "aggregate_udf.c",
        include_str!("../../../../sdk/c/bindings/aggregate_udf.c"),
    ),
];

/// Writes the SDK and bindings into `scratch/sdk`; returns the files a build reads there.
pub(super) fn prepare(scratch: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let sdk = scratch.join("sdk");
    let mut written = Vec::new();
    for (name, contents) in SDK {
        super::write_if_changed(&sdk.join(name), contents)?;
        written.push(sdk.join(name));
    }
    Ok(written)
}

fn missing(what: &str) -> BuildError {
    BuildError::MissingTool {
        what: format!("{what} (it builds C UDFs)"),
        install: INSTALL.into(),
    }
}

/// Builds `dir` (holding `udf.c`) in `scratch`.
pub(super) fn build(dir: &Path, scratch: &Path) -> Result<LanguageBuild, BuildError> {
    if Command::new("clang").arg("--version").output().is_err() {
        return Err(missing("clang"));
    }
    let source = std::fs::read_to_string(dir.join("udf.c")).map_err(|source| BuildError::Io {
        path: dir.join("udf.c"),
        source,
    })?;
    let world = world_of(&source, "WEIR_AGGREGATE(", "WEIR_KEY_SELECTOR(");
    let (define, bindings) = match world {
        "aggregate-udf" => ("-DWEIR_WORLD_AGGREGATE", "aggregate_udf.c"),
        "key-udf" => ("-DWEIR_WORLD_KEY", "key_udf.c"),
        _ => ("-DWEIR_WORLD_TRANSFORM", "transform_udf.c"),
    };
    let sdk = scratch.join("sdk");
    let core = scratch.join("udf.core.wasm");
    tracing::info!(dir = %dir.display(), world, "building C UDF");
    let sources = sources_with_extension(dir, "c")?;
    let mut command = Command::new("clang");
    command
        .args([
            "--target=wasm32-wasi",
            "-O2",
            "-msimd128",
            "-mexec-model=reactor",
            "-Wall",
            "-Wno-unused-function",
            "-Wl,--strip-debug",
            define,
        ])
        .arg("-I")
        .arg(&sdk)
        .args(&sources)
        .arg(sdk.join(bindings))
        .arg("-o")
        .arg(&core);
    run_tool(command, dir, "clang").map_err(|e| match e {
        BuildError::Failed { dir, detail } => BuildError::Failed {
            dir,
            detail: format!(
                "{detail} (if clang cannot find wasm32-wasi's headers or libclang_rt, install: {INSTALL})"
            ),
        },
        other => other,
    })?;
    let wasm = scratch.join("udf.wasm");
    let component = componentize(&core, world).map_err(|detail| BuildError::Failed {
        dir: dir.to_path_buf(),
        detail: format!("cannot make a component of the C module: {detail}"),
    })?;
    std::fs::write(&wasm, component).map_err(|source| BuildError::Io {
        path: wasm.clone(),
        source,
    })?;
    let mut inputs = sources;
    inputs.extend(sources_with_extension(dir, "h")?);
    inputs.extend(prepare(scratch)?);
    Ok(LanguageBuild { wasm, inputs })
}

/// Embeds `world`'s component type into the core module at `core` and wraps it, with the WASI
/// preview1 reactor adapter, into a component.
fn componentize(core: &Path, world: &str) -> Result<Vec<u8>, String> {
    use wasi_preview1_component_adapter_provider::{
        WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    };
    let mut module = std::fs::read(core).map_err(|e| format!("{}: {e}", core.display()))?;
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve
        .push_str("udf.wit", super::WIT)
        .map_err(|e| e.to_string())?;
    let world = resolve
        .select_world(&[package], Some(world))
        .map_err(|e| e.to_string())?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .map_err(|e| e.to_string())?;
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|encoder| {
            encoder.adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|encoder| encoder.encode())
        .map_err(|e| format!("{e:#}"))
}
