//! Reading a job spec file: `${VAR}` interpolation, YAML parsing with unknown fields refused,
//! and a map from every field to its line, so any later error can name file, line and field.

mod embedded_sql;
mod env;
mod error;
mod locate;

#[cfg(test)]
mod tests;

pub use error::SpecError;
pub use locate::Locations;

use std::path::{Path, PathBuf};
use weir_proto::spec::JobSpec;

/// A parsed job spec with what is needed to explain errors about it.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// The spec.
    pub spec: JobSpec,
    /// The file it came from.
    pub file: PathBuf,
    /// Relative paths in the spec are relative to this directory.
    pub dir: PathBuf,
    /// Where each field is in the file.
    pub locations: Locations,
}

impl LoadedSpec {
    /// An error about `field` (a path like `pipeline[2].map.module`), located in the file.
    pub fn error(
        &self,
        field: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> SpecError {
        let (line, column) = self
            .locations
            .find(field)
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        SpecError {
            file: self.file.clone(),
            line,
            column,
            field: Some(field.to_string()),
            message: message.into(),
            hint,
        }
    }
}

/// Reads and parses the job spec at `path`, with environment variables from `env`.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<LoadedSpec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        file: path.to_path_buf(),
        line: None,
        column: None,
        field: None,
        message: format!("cannot read the job spec: {e}"),
        hint: None,
    })?;
    parse(&text, path, env)
}

/// Parses job spec `text` as if read from `file`.
pub fn parse(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedSpec, SpecError> {
    let text = env::interpolate(text, env).map_err(|e| SpecError {
        file: file.to_path_buf(),
        line: Some(e.line),
        column: Some(e.column),
        field: None,
        message: e.message,
        hint: e.hint,
    })?;
    let locations = Locations::index(&text);
    let spec = from_yaml(&text).map_err(|e| SpecError::from_yaml(file, &e))?;
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    embedded_sql::expand(LoadedSpec {
        spec,
        file: file.to_path_buf(),
        dir,
        locations,
    })
}

/// Parses a job spec, writing enums the way people write YAML: `source: { file: {...} }`.
pub fn from_yaml(text: &str) -> Result<JobSpec, serde_norway::Error> {
    serde_norway::with::singleton_map_recursive::deserialize(serde_norway::Deserializer::from_str(
        text,
    ))
}
