//! What the CLI prints on stderr: logs, progress lines, errors.

use std::io::{IsTerminal, Write};
use std::time::Duration;
use weir_client::human::count;
use weir_proto::progress::JobProgress;

/// Where logs are for: a cluster process, a job run in this process, or a benchmark.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFor {
    /// A JobManager, a TaskManager, a client command: everything at INFO.
    Cluster,
    /// `weir run`: the JobManager's own job and TaskManager bookkeeping only at WARN (a
    /// cluster operator's information, not the user's); checkpoints still at INFO.
    Embedded,
    /// `weir bench`: its figures on stdout; the job's checkpoint lines too only at WARN.
    Bench,
}

/// Logs go to stderr; `WEIR_LOG` (tracing's filter syntax) sets what is shown; by default
/// what `to` wants.
pub(crate) fn init_logging(to: LogFor) {
    let default = match to {
        LogFor::Cluster => "warn,weir=info",
        LogFor::Embedded => "warn,weir=info,weir_jobmanager::bookkeeping=warn",
        LogFor::Bench => "warn,weir=info,weir_jobmanager=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Prints an error, its hint lines included, on stderr.
pub(crate) fn error(message: &dyn std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "error: {message}");
}

/// Prints progress: on a terminal one line redrawn in place, elsewhere a line every few seconds.
pub(crate) struct Progress {
    quiet: bool,
    terminal: bool,
    sources: Vec<usize>,
    sinks: Vec<usize>,
    last_line: Duration,
}

impl Progress {
    pub(crate) fn new(quiet: bool, sources: Vec<usize>, sinks: Vec<usize>) -> Self {
        Progress {
            quiet,
            terminal: std::io::stderr().is_terminal(),
            sources,
            sinks,
            last_line: Duration::ZERO,
        }
    }

    fn line(&self, progress: &JobProgress) -> String {
        let read: u64 = self
            .sources
            .iter()
            .filter_map(|&v| progress.vertices.get(v))
            .map(|v| v.records_in)
            .sum();
        let written: u64 = self
            .sinks
            .iter()
            .filter_map(|&v| progress.vertices.get(v))
            .map(|v| v.records_to_last)
            .sum();
        let rejected: u64 = progress.vertices.iter().map(|v| v.records_rejected).sum();
        let seconds = progress.elapsed.as_secs_f64().max(1e-9);
        let mut line = format!(
            "[{:>6.1}s] read {} · written {} · {}/s",
            seconds,
            count(read),
            count(written),
            count((read as f64 / seconds) as u64)
        );
        if rejected > 0 {
            line.push_str(&format!(" · rejected {}", count(rejected)));
        }
        if let Some(v) = progress.vertices.iter().rfind(|v| v.backpressured_now > 0) {
            line.push_str(&format!(" · backpressure at {}", v.name));
        }
        line
    }

    pub(crate) fn update(&mut self, progress: &JobProgress) {
        if self.quiet {
            return;
        }
        let line = self.line(progress);
        if self.terminal {
            let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
        } else if progress.elapsed >= self.last_line + Duration::from_secs(5) {
            let _ = writeln!(std::io::stderr(), "{line}");
            self.last_line = progress.elapsed;
        }
    }

    pub(crate) fn finish(&self, progress: &JobProgress, ok: bool) {
        if self.quiet {
            return;
        }
        if self.terminal {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
        let status = if ok { "finished" } else { "failed" };
        let _ = writeln!(std::io::stderr(), "{} — job {status}", self.line(progress));
    }
}
