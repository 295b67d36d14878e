//! `weir udf new`: a new UDF project that builds as it is.

use super::BuildError;
use std::path::{Path, PathBuf};

/// Languages `weir udf new` can scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust, with weir-sdk.
    Rust,
    /// Python (componentize-py), with weir_udf.
    Python,
    /// JavaScript (componentize-js), with weir_udf.js.
    Js,
    /// C (clang, wasi-libc), with weir_udf.h.
    C,
}

/// The SDK shipped beside this weir build, when it runs from a checkout.
fn default_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/rust");
    sdk.canonicalize().ok()
}

/// Creates the project `dir` (whose last component names the UDF) in `language`.
pub fn scaffold(
    dir: &Path,
    language: Language,
    sdk: Option<&Path>,
) -> Result<Vec<PathBuf>, BuildError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    if dir.exists() {
        return Err(BuildError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already exists; choose a new name",
            ),
        });
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().replace('-', "_"))
        .unwrap_or_else(|| "udf".into());
    let files: Vec<(PathBuf, String)> = match language {
        Language::Rust => rust_files(dir, &name, sdk)?,
        Language::Python => vec![(
            dir.join("app.py"),
            format!(
                "\"\"\"`{name}`: a Weir map UDF in Python. Build it with `weir udf build .`; use it from a job spec:\n\n    modules:\n      {name}: {{ path: ./{name} }}\n    pipeline:\n      - map: {{ module: {name} }}\n\"\"\"\n\nimport weir_udf\n\n\n@weir_udf.map\ndef {name}(value):\n    \"\"\"Wraps each JSON value; raise weir_udf.RecordError to send one record to the dead-letter sink.\"\"\"\n    return {{\"{name}\": value}}\n"
            ),
        )],
        Language::Js => vec![(
            dir.join("udf.js"),
            format!(
                "// `{name}`: a Weir map UDF in JavaScript. Build it with `weir udf build .`; use it from a job spec:\n//\n//   modules:\n//     {name}: {{ path: ./{name} }}\n//   pipeline:\n//     - map: {{ module: {name} }}\nimport {{ map }} from \"./weir_udf.js\";\n\n// Wraps each JSON value; throw new RecordError(...) to send one record to the dead-letter sink.\nexport const transform = map(function {name}(value) {{\n  return {{ {name}: value }};\n}});\n"
            ),
        )],
        Language::C => vec![(
            dir.join("udf.c"),
            format!(
                "// `{name}`: a Weir filter UDF in C. Build it with `weir udf build .`; use it from a job spec:\n//\n//   modules:\n//     {name}: {{ path: ./{name} }}\n//   pipeline:\n//     - filter: {{ module: {name} }}\n#include \"weir_udf.h\"\n\n// Keeps JSON records whose `price` is over 100; weir_reject() sends one to the dead-letter sink.\nstatic bool {name}(const weir_record *record, weir_error *error) {{\n    int64_t price;\n    if (!weir_json_int(record->value, record->value_len, \"price\", &price)) {{\n        return weir_reject(error, \"no integer `price`\");\n    }}\n    return price > 100;\n}}\n\nWEIR_FILTER({name})\n"
            ),
        )],
    };
    let mut written = Vec::new();
    for (path, content) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, content).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// The files of a new Rust UDF crate depending on the SDK at `sdk` (or the one beside this build).
fn rust_files(
    dir: &Path,
    name: &str,
    sdk: Option<&Path>,
) -> Result<Vec<(PathBuf, String)>, BuildError> {
    let sdk = match sdk.map(Path::to_path_buf).or_else(default_sdk) {
        Some(sdk) => sdk,
        None => {
            return Err(BuildError::MissingTool {
                what: "the Weir Rust SDK (weir-sdk)".into(),
                install: "pass --sdk PATH/TO/weir/sdk/rust".into(),
            });
        }
    };
    Ok(vec![
            (
                dir.join("Cargo.toml"),
                format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nweir-sdk = {{ path = {:?} }}\n\n[profile.release]\nopt-level = 3\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = true\n\n# A standalone project, not part of any enclosing workspace.\n[workspace]\n",
                    sdk.display().to_string()
                ),
            ),
            (
                dir.join(".cargo/config.toml"),
                "[build]\ntarget = \"wasm32-wasip2\"\n\n[target.wasm32-wasip2]\nrustflags = [\"-C\", \"target-feature=+simd128\"]\n".into(),
            ),
            (dir.join(".gitignore"), "target/\n".into()),
            (
                dir.join("src/lib.rs"),
                format!(
                    "//! `{name}`: a Weir map UDF. Build it with `weir udf build .`; use it from a job spec:\n//!\n//! ```yaml\n//! modules:\n//!   {name}: {{ path: ./{name} }}\n//! pipeline:\n//!   - map: {{ module: {name} }}\n//! ```\n\nuse weir_sdk::Record;\n\n/// Upper-cases each record's value. Return `Err` to send one record to the dead-letter sink.\n#[weir_sdk::map]\nfn {name}(record: Record) -> Result<String, String> {{\n    let text = record.value_str().map_err(|e| format!(\"value is not UTF-8: {{e}}\"))?;\n    Ok(text.to_uppercase())\n}}\n"
                ),
            ),
    ])
}
