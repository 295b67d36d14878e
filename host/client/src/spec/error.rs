//! A job spec error: file, line, column, field, what is wrong, and what would have been valid.

use std::fmt;
use std::path::{Path, PathBuf};

/// An error in a job spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The job spec file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The field, as a path like `pipeline[2].map.module`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What would have been valid.
    pub hint: Option<String>,
}

impl std::error::Error for SpecError {}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl SpecError {
    /// Converts a YAML/serde error, keeping its location and splitting off the field path that
    /// serde puts in front of the message (`pipeline[2].map: unknown field ...`).
    pub(crate) fn from_yaml(file: &Path, error: &serde_norway::Error) -> Self {
        let text = error.to_string();
        let text = match text.rfind(" at line ") {
            Some(at) if error.location().is_some() => text[..at].to_string(),
            _ => text,
        };
        let (field, message) = match text.split_once(": ") {
            Some((path, rest)) if !path.contains(' ') && !path.is_empty() => {
                (Some(path.to_string()), rest.to_string())
            }
            _ => (None, text),
        };
        let hint = message
            .contains("unknown field")
            .then(|| "field names are case-sensitive; see docs/job-spec.md".to_string());
        SpecError {
            file: file.to_path_buf(),
            line: error.location().map(|l| l.line()),
            column: error.location().map(|l| l.column()),
            field,
            message,
            hint,
        }
    }
}
