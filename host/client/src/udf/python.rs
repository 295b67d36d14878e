//! Building a Python UDF: `componentize-py` over the UDF's `app.py`, with Weir's Python SDK
//! (`sdk/python/weir_udf.py`, carried inside this binary) and the WIT interface beside it.

use super::{BuildError, LanguageBuild, run_tool, sources_with_extension, world_of};
use std::path::Path;
use std::process::Command;

/// The componentize-py release Weir is tested with.
pub(super) const INSTALL: &str = "pip install componentize-py==0.25.1";

/// The SDK module every Python UDF imports.
const SDK: &str = include_str!("../../../../sdk/python/weir_udf.py");

/// Writes the SDK into `scratch`; returns the files a build reads from there.
pub(super) fn prepare(scratch: &Path) -> Result<Vec<std::path::PathBuf>, BuildError> {
    let sdk = scratch.join("sdk");
    super::write_if_changed(&sdk.join("weir_udf.py"), SDK)?;
    Ok(vec![sdk.join("weir_udf.py")])
}

/// Builds `dir` (holding `app.py`) in `scratch`.
pub(super) fn build(dir: &Path, scratch: &Path) -> Result<LanguageBuild, BuildError> {
    if Command::new("componentize-py")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err(BuildError::MissingTool {
            what: "componentize-py (it builds Python UDFs)".into(),
            install: INSTALL.into(),
        });
    }
    let app = std::fs::read_to_string(dir.join("app.py")).map_err(|source| BuildError::Io {
        path: dir.join("app.py"),
        source,
    })?;
    let world = world_of(&app, "@weir_udf.aggregate", "@weir_udf.key_selector");
    let wit = super::wit_dir(scratch)?;
    let wasm = scratch.join("udf.wasm");
    tracing::info!(dir = %dir.display(), world, "building Python UDF");
    let mut command = Command::new("componentize-py");
    command
        .arg("-d")
        .arg(&wit)
        .args(["-w", world, "componentize", "-p"])
        .arg(scratch.join("sdk"))
        .arg("-p")
        .arg(dir)
        .arg("app")
        .arg("-o")
        .arg(&wasm);
    run_tool(command, dir, "componentize-py")?;
    let mut inputs = sources_with_extension(dir, "py")?;
    inputs.extend(prepare(scratch)?);
    inputs.push(wit.join("udf.wit"));
    Ok(LanguageBuild { wasm, inputs })
}
