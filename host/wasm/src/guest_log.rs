//! A guest's stdout and stderr, routed to the host's log.
//!
//! Guests have no terminal: every complete line they write becomes a `tracing` event naming the
//! module, and the tail of what they wrote during the current call is kept so that a trap can
//! quote the guest's own last words (a Rust panic message, a Python traceback).

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest line logged as one event; longer lines are split.
const MAX_LINE: usize = 4096;
/// How much of a call's output is kept for error messages.
const TAIL_BYTES: usize = 2048;

/// One output stream of one guest instance.
#[derive(Clone)]
pub(crate) struct GuestLog {
    inner: Arc<Mutex<LogState>>,
}

struct LogState {
    module: String,
    stream: &'static str,
    line: Vec<u8>,
    tail: Vec<u8>,
}

impl GuestLog {
    /// A stream for `module`'s `stream` ("stdout" or "stderr").
    pub(crate) fn new(module: &str, stream: &'static str) -> Self {
        GuestLog {
            inner: Arc::new(Mutex::new(LogState {
                module: module.to_string(),
                stream,
                line: Vec::new(),
                tail: Vec::new(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, LogState> {
        // A poisoned lock only means another thread panicked mid-write; the text is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets the previous call's output tail; called before each UDF call.
    pub(crate) fn begin_call(&self) {
        self.state().tail.clear();
    }

    /// What the guest wrote during the current call (up to the last 2 KiB), flushing any
    /// unfinished line to the log.
    pub(crate) fn call_output(&self) -> String {
        let mut state = self.state();
        state.flush_line();
        String::from_utf8_lossy(&state.tail).into_owned()
    }

    fn append(&self, bytes: &[u8]) {
        let mut state = self.state();
        state.tail.extend_from_slice(bytes);
        if state.tail.len() > TAIL_BYTES {
            let excess = state.tail.len() - TAIL_BYTES;
            state.tail.drain(..excess);
        }
        for &byte in bytes {
            if byte == b'\n' || state.line.len() >= MAX_LINE {
                state.flush_line();
            }
            if byte != b'\n' {
                state.line.push(byte);
            }
        }
    }
}

impl LogState {
    fn flush_line(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        match self.stream {
            "stderr" => {
                tracing::warn!(target: "weir::udf", module = %self.module, stream = self.stream, "{text}")
            }
            _ => {
                tracing::info!(target: "weir::udf", module = %self.module, stream = self.stream, "{text}")
            }
        }
        self.line.clear();
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestLog {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
