//! Every figure `weir bench` measures, one JSON line per run, appended to a file
//! (`--results`, by default `$WEIR_HOME/bench/results.jsonl`): Weir's runs and the peer's from
//! the same session side by side, for `weir bench --plot` and for anyone checking a claim.

use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// One run of one engine on one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    /// The `weir bench` process the run belongs to (its start, ms since the epoch): runs of
    /// one session are compared with each other only.
    pub(crate) session: u64,
    /// `weir` or the peer (`flink`).
    pub(crate) engine: String,
    /// What ran: `W2 (b)`, `W3 memory`, …
    pub(crate) workload: String,
    /// Subtasks per step.
    pub(crate) parallelism: u32,
    /// Input events of the run.
    pub(crate) events: u64,
    /// Events per second of the run.
    pub(crate) records_per_second: f64,
}

/// Where this process's runs go.
struct Sink {
    path: PathBuf,
    session: u64,
    failed: Mutex<bool>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Sends this process's runs to `path`.
pub(crate) fn open(path: PathBuf) {
    let session = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let _ = SINK.set(Sink {
        path,
        session,
        failed: Mutex::new(false),
    });
}

/// The file runs go to, if [`open`] was called.
pub(crate) fn path() -> Option<PathBuf> {
    SINK.get().map(|sink| sink.path.clone())
}

/// Appends one run; a file that cannot be written is said once, and the figures still print.
pub(crate) fn record(
    engine: &str,
    workload: &str,
    parallelism: u32,
    events: u64,
    records_per_second: f64,
) {
    let Some(sink) = SINK.get() else { return };
    let line = RunRecord {
        session: sink.session,
        engine: engine.to_string(),
        workload: workload.to_string(),
        parallelism,
        events,
        records_per_second,
    };
    let written = sink
        .path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&sink.path)
        })
        .and_then(|mut file| {
            let text = serde_json::to_string(&line).unwrap_or_default();
            writeln!(file, "{text}")
        });
    if let Err(error) = written {
        let mut failed = sink.failed.lock().unwrap_or_else(|p| p.into_inner());
        if !*failed {
            eprintln!("weir bench: cannot write {}: {error}", sink.path.display());
            *failed = true;
        }
    }
}

/// The runs in the file at `path`, and the lines that are not runs (by line number).
pub(crate) fn read(path: &std::path::Path) -> Result<Vec<RunRecord>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| format!("{}:{}: not a benchmark run: {e}", path.display(), i + 1))
        })
        .collect()
}
