//! The file sink: one file, or one `part-N` file per subtask in a directory.

use super::LineFormatter;
use crate::error::TaskError;
use crate::operators::{Operator, RejectSink};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use weir_proto::RecordBatch;

/// Writes records to a file.
pub struct FileSink {
    operator: String,
    path: PathBuf,
    writer: BufWriter<File>,
    formatter: LineFormatter,
    buffer: Vec<u8>,
}

impl FileSink {
    /// Opens the file for `subtask` of `parallelism`: `path` itself at parallelism 1, else
    /// `path/part-<subtask>`.
    pub fn open(
        operator: String,
        path: &Path,
        subtask: u32,
        parallelism: u32,
        formatter: LineFormatter,
    ) -> Result<Self, TaskError> {
        let io_error = |path: &Path, source| TaskError::Io {
            operator: operator.clone(),
            path: path.display().to_string(),
            source,
        };
        let path = if parallelism > 1 {
            std::fs::create_dir_all(path).map_err(|e| io_error(path, e))?;
            path.join(format!("part-{subtask}"))
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
            }
            path.to_path_buf()
        };
        let file = File::create(&path).map_err(|e| io_error(&path, e))?;
        Ok(FileSink {
            operator,
            path,
            writer: BufWriter::with_capacity(256 << 10, file),
            formatter,
            buffer: Vec::new(),
        })
    }

    fn io_error(&self, source: std::io::Error) -> TaskError {
        TaskError::Io {
            operator: self.operator.clone(),
            path: self.path.display().to_string(),
            source,
        }
    }
}

impl Operator for FileSink {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        self.buffer.clear();
        for record in batch.iter() {
            self.formatter.write(record, &mut self.buffer, rejects)?;
        }
        self.writer
            .write_all(&self.buffer)
            .map_err(|e| self.io_error(e))?;
        Ok(RecordBatch::default())
    }

    fn finish(
        &mut self,
        _emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        self.writer.flush().map_err(|e| self.io_error(e))
    }
}
