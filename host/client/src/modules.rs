//! Resolving a job's modules: a `.wasm` file is hashed; a UDF source directory is built (or taken
//! from the build cache) first. The result pins every module by sha256.

use super::spec::{LoadedSpec, SpecError};
use super::udf::UdfBuilder;
use std::collections::BTreeMap;
use weir_blob::paths::sha256_hex;
use weir_proto::graph::ModuleRef;

/// The job's modules, pinned by content.
pub fn resolve(
    loaded: &LoadedSpec,
    builder: &UdfBuilder,
) -> Result<BTreeMap<String, ModuleRef>, SpecError> {
    let mut modules = BTreeMap::new();
    for (name, module) in &loaded.spec.modules {
        let field = format!("modules.{name}.path");
        let path = loaded.dir.join(&module.path);
        if !path.exists() {
            return Err(loaded.error(
                &field,
                format!("module `{name}`: {} does not exist", path.display()),
                Some("give a .wasm component file or a UDF source directory (relative to the job spec)".into()),
            ));
        }
        let (path, sha256) = if path.is_dir() {
            let built = builder
                .build(&path)
                .map_err(|e| loaded.error(&field, format!("module `{name}`: {e}"), e.hint()))?;
            (built.path, built.sha256)
        } else {
            let bytes = std::fs::read(&path).map_err(|e| {
                loaded.error(
                    &field,
                    format!("module `{name}`: cannot read {}: {e}", path.display()),
                    None,
                )
            })?;
            (path, sha256_hex(&bytes))
        };
        let path = path.canonicalize().unwrap_or(path);
        modules.insert(
            name.clone(),
            ModuleRef {
                name: name.clone(),
                sha256,
                path: path.display().to_string(),
            },
        );
    }
    Ok(modules)
}
