//! The stdout and stderr sinks. Each batch is written with one locked write, so lines of
//! parallel subtasks never interleave mid-line.

use super::LineFormatter;
use crate::error::TaskError;
use crate::operators::{Operator, RejectSink};
use std::io::Write;
use weir_proto::RecordBatch;

/// Which console stream.
#[derive(Debug, Clone, Copy)]
pub enum ConsoleStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Writes records to stdout or stderr.
pub struct Console {
    operator: String,
    stream: ConsoleStream,
    formatter: LineFormatter,
    buffer: Vec<u8>,
}

impl Console {
    /// A sink for step `operator` writing to `stream`, each record as `formatter` says.
    pub fn new(operator: String, stream: ConsoleStream, formatter: LineFormatter) -> Self {
        Console {
            operator,
            stream,
            formatter,
            buffer: Vec::new(),
        }
    }

    fn write_buffer(&mut self) -> Result<(), TaskError> {
        let result = match self.stream {
            ConsoleStream::Stdout => std::io::stdout()
                .lock()
                .write_all(&self.buffer)
                .and_then(|()| std::io::stdout().flush()),
            ConsoleStream::Stderr => std::io::stderr().lock().write_all(&self.buffer),
        };
        self.buffer.clear();
        result.map_err(|source| TaskError::Io {
            operator: self.operator.clone(),
            path: match self.stream {
                ConsoleStream::Stdout => "<stdout>".into(),
                ConsoleStream::Stderr => "<stderr>".into(),
            },
            source,
        })
    }
}

impl Operator for Console {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        for record in batch.iter() {
            self.formatter.write(record, &mut self.buffer, rejects)?;
        }
        self.write_buffer()?;
        Ok(RecordBatch::default())
    }
}
