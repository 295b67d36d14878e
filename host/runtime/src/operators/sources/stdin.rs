//! Lines (or JSON lines) from standard input; a single subtask reads them.
//!
//! A reader thread blocks on stdin and hands lines over a bounded channel, so an interactive
//! user sees each line processed when typed, while piped input still moves in full batches.

use super::SeekError;
use super::lines::{LineDecoder, trim_newline};
use crate::error::TaskError;
use crate::operators::{RejectSink, Source};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::io::BufRead;
use weir_proto::RecordBatch;
use weir_state::checkpoint::OperatorRestore;

/// How long a read waits for a line before handing back an empty batch.
const QUIET_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Reads standard input to its end.
pub struct StdinSource {
    decoder: LineDecoder,
    batch_size: usize,
    lines: Receiver<std::io::Result<Vec<u8>>>,
    line_number: u64,
}

impl StdinSource {
    /// A source of standard input's lines, decoded by `decoder`, in batches of `batch_size`.
    pub fn new(decoder: LineDecoder, batch_size: usize) -> Self {
        let (sender, lines) = crossbeam_channel::bounded(batch_size.max(1) * 4);
        let spawned = std::thread::Builder::new()
            .name("weir-stdin".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                let mut input = stdin.lock();
                loop {
                    let mut line = Vec::new();
                    match input.read_until(b'\n', &mut line) {
                        Ok(0) => return,
                        Ok(_) => {
                            if sender.send(Ok(line)).is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            let _ = sender.send(Err(error));
                            return;
                        }
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the stdin reader thread; stdin will read as empty");
        }
        StdinSource {
            decoder,
            batch_size: batch_size.max(1),
            lines,
            line_number: 0,
        }
    }
}

impl Source for StdinSource {
    fn position(&mut self) -> Result<serde_json::Value, TaskError> {
        Ok(serde_json::json!({ "stdin_lines": self.line_number }))
    }

    fn seek(&mut self, _state: &OperatorRestore) -> Result<(), SeekError> {
        Err(SeekError::NotReplayable("standard input"))
    }

    fn next_batch(
        &mut self,
        rejects: &mut dyn RejectSink,
    ) -> Result<Option<RecordBatch>, TaskError> {
        // Wait a little for the first line, then take what is already there. A quiet input
        // gives an empty batch now and then, so the task still flushes its output on time,
        // runs its timers and hears a cancel.
        let first = match self.lines.recv_timeout(QUIET_POLL) {
            Ok(first) => first,
            Err(RecvTimeoutError::Timeout) => return Ok(Some(RecordBatch::default())),
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        };
        let mut batch = RecordBatch::with_capacity(self.batch_size, 64);
        let mut next = Some(first);
        while let Some(line) = next.take() {
            let line = line.map_err(|source| TaskError::Io {
                operator: self.decoder.operator.clone(),
                path: "<stdin>".into(),
                source,
            })?;
            self.line_number += 1;
            let number = self.line_number;
            self.decoder.decode(
                trim_newline(&line),
                || format!("<stdin>:{number}"),
                &mut batch,
                rejects,
            )?;
            if batch.len() < self.batch_size {
                next = self.lines.try_recv().ok();
            }
        }
        Ok(Some(batch))
    }
}
