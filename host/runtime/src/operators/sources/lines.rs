//! Turning lines of text into records: plain lines, or JSON checked as it is read.

use crate::error::TaskError;
use crate::operators::{OwnedRecord, RejectSink, Rejection};
use weir_proto::RecordBatch;
use weir_proto::spec::FileFormat;

/// Decodes lines of one input (a file or stdin) in a line-based format.
pub struct LineDecoder {
    /// The step, named in errors.
    pub operator: String,
    /// How each line becomes a record.
    pub format: FileFormat,
}

impl LineDecoder {
    /// Adds `line` (without its newline) to `batch`, or rejects it naming `origin()`.
    pub fn decode(
        &self,
        line: &[u8],
        origin: impl FnOnce() -> String,
        batch: &mut RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<(), TaskError> {
        match self.format {
            FileFormat::Json => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    return Ok(());
                }
                match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
                    Ok(_) => batch.push(None, line, 0),
                    Err(error) => rejects.reject(Rejection {
                        operator: self.operator.clone(),
                        module: None,
                        export: None,
                        error: format!("not valid JSON: {error}"),
                        origin: Some(origin()),
                        record: OwnedRecord {
                            key: None,
                            value: line.to_vec(),
                            timestamp: 0,
                        },
                    })?,
                }
            }
            FileFormat::Lines | FileFormat::Csv => batch.push(None, line, 0),
        }
        Ok(())
    }
}

/// `line` without its trailing `\n` or `\r\n`.
pub(super) fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
