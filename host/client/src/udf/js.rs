//! Building a JavaScript UDF: componentize-js (from npm) over the UDF's `udf.js`, with Weir's JS
//! SDK (`sdk/js/weir_udf.js`, carried inside this binary) copied beside it.

use super::{BuildError, LanguageBuild, run_tool, sources_with_extension, world_of};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-js release Weir is tested with.
pub(super) const INSTALL: &str = "npm install -g @bytecodealliance/componentize-js@0.23.0";

const SDK: &str = include_str!("../../../../sdk/js/weir_udf.js");
/// Keyed-state helpers: they import `weir:udf/keyed-state`, which only the transform world has.
const STATE: &str = include_str!("../../../../sdk/js/weir_state.js");
const DRIVER: &str = include_str!("../../../../sdk/js/componentize.mjs");

/// Writes the SDK and the build driver into `scratch`; returns the files a build reads there.
pub(super) fn prepare(scratch: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let sdk = scratch.join("sdk");
    super::write_if_changed(&sdk.join("weir_udf.js"), SDK)?;
    super::write_if_changed(&sdk.join("componentize.mjs"), DRIVER)?;
    super::write_if_changed(&sdk.join("weir_state.js"), STATE)?;
    Ok(vec![
        sdk.join("weir_udf.js"),
        sdk.join("componentize.mjs"),
        sdk.join("weir_state.js"),
    ])
}

/// The installed componentize-js entry module.
fn componentize_js() -> Result<PathBuf, BuildError> {
    let missing = || BuildError::MissingTool {
        what: "componentize-js (it builds JavaScript UDFs; needs Node.js)".into(),
        install: INSTALL.into(),
    };
    let root = Command::new("npm")
        .args(["root", "-g"])
        .output()
        .map_err(|_| missing())?;
    let entry = PathBuf::from(String::from_utf8_lossy(&root.stdout).trim())
        .join("@bytecodealliance/componentize-js/src/componentize.js");
    if root.status.success() && entry.exists() {
        Ok(entry)
    } else {
        Err(missing())
    }
}

/// Builds `dir` (holding `udf.js`) in `scratch`.
pub(super) fn build(dir: &Path, scratch: &Path) -> Result<LanguageBuild, BuildError> {
    let entry = componentize_js()?;
    let source = std::fs::read_to_string(dir.join("udf.js")).map_err(|source| BuildError::Io {
        path: dir.join("udf.js"),
        source,
    })?;
    let world = world_of(
        &source,
        "export const aggregate",
        "export const keySelector",
    );
    // The UDF's modules and the SDK side by side, so `import ... from "./weir_udf.js"` resolves.
    let src = scratch.join("src");
    let _ = std::fs::remove_dir_all(&src);
    let inputs = sources_with_extension(dir, "js")?;
    for file in &inputs {
        let name = file.file_name().unwrap_or_default();
        let contents = std::fs::read_to_string(file).map_err(|source| BuildError::Io {
            path: file.clone(),
            source,
        })?;
        super::write_if_changed(&src.join(name), &contents)?;
    }
    super::write_if_changed(&src.join("weir_udf.js"), SDK)?;
    if world == "transform-udf" {
        super::write_if_changed(&src.join("weir_state.js"), STATE)?;
    }
    let wit = super::wit_dir(scratch)?;
    let wasm = scratch.join("udf.wasm");
    tracing::info!(dir = %dir.display(), world, "building JavaScript UDF");
    let mut command = Command::new("node");
    command
        .arg(scratch.join("sdk/componentize.mjs"))
        .arg(&entry)
        .arg(src.join("udf.js"))
        .arg(&wit)
        .arg(world)
        .arg(&wasm);
    run_tool(command, dir, "componentize-js")?;
    let mut inputs = inputs;
    inputs.extend(prepare(scratch)?);
    inputs.push(wit.join("udf.wit"));
    Ok(LanguageBuild { wasm, inputs })
}
