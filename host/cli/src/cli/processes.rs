//! `weir jobmanager` and `weir taskmanager`: the long-running processes of a cluster.

use super::Outcome;
use super::output;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use weir_jobmanager::{ClusterTimeouts, JobManagerConfig, run_jobmanager};
use weir_taskmanager::{
    NetworkBuffers, TaskManagerConfig, TaskManagerError, claim_identity, run_taskmanager,
};

/// The largest module a cluster accepts by default.
const MAX_MODULE_BYTES: u64 = 64 << 20;

/// Arguments of `weir jobmanager`.
#[derive(Args)]
pub(crate) struct JobManagerArgs {
    /// The cluster directory (`weir cluster init DIR`).
    #[arg(long)]
    dir: PathBuf,
    /// Where TaskManagers reach the control endpoint (QUIC).
    #[arg(long, default_value = "0.0.0.0:6123")]
    rpc: SocketAddr,
    /// Where clients reach the REST API (HTTP).
    #[arg(long, default_value = "127.0.0.1:8081")]
    rest: SocketAddr,
    /// How often the JobManager and TaskManagers tell each other they are alive.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    heartbeat_interval: Duration,
    /// Silence after which a TaskManager is declared lost and its jobs fail (or restart).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    heartbeat_timeout: Duration,
    /// How long a job waits for enough free slots before it fails.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    slot_timeout: Duration,
    /// Where jobs' checkpoints go; every TaskManager must reach it (default: `checkpoints`
    /// in the cluster directory; savepoints default to `savepoints` beside it).
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
}

/// Arguments of `weir taskmanager`.
#[derive(Args)]
pub(crate) struct TaskManagerArgs {
    /// The cluster directory (`weir cluster init DIR`).
    #[arg(long)]
    dir: PathBuf,
    /// The JobManager's control endpoint.
    #[arg(long, default_value = "127.0.0.1:6123")]
    jobmanager: SocketAddr,
    /// Task slots to offer.
    #[arg(long, default_value_t = 1)]
    slots: u32,
    /// Where to bind the data endpoint (default: the address that routes to the JobManager,
    /// any port).
    #[arg(long)]
    data: Option<SocketAddr>,
    /// Which identity of the cluster directory to use (default: the first one free here).
    #[arg(long)]
    name: Option<String>,
    /// How often it tells the JobManager it is alive.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    heartbeat_interval: Duration,
    /// Silence after which the JobManager is declared lost (its tasks are cancelled).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    heartbeat_timeout: Duration,
    /// Network buffers (one record batch each) every remote input channel owns.
    #[arg(long, default_value_t = NetworkBuffers::default().exclusive)]
    exclusive_buffers: u32,
    /// Network buffers every input gate lends to its channels with a backlog.
    #[arg(long, default_value_t = NetworkBuffers::default().floating)]
    floating_buffers: u32,
    #[command(flatten)]
    state: super::state_args::StateDirArgs,
    /// Serve Prometheus metrics (`/metrics`: tasks' records, busy and backpressured time,
    /// state size, Wasm calls and traps per module) on this address.
    #[arg(long)]
    metrics: Option<SocketAddr>,
}

/// Parses `250ms`, `5s`, `2m` or a plain number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| text.split_at(i))
        .unwrap_or((text, "s"));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (like 500ms, 5s, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

pub(crate) fn jobmanager(args: JobManagerArgs) -> Outcome {
    let checkpoint_dir = args
        .checkpoint_dir
        .clone()
        .unwrap_or_else(|| args.dir.join("checkpoints"));
    let config = JobManagerConfig {
        dir: args.dir,
        rpc: args.rpc,
        rest: args.rest,
        heartbeat_interval: args.heartbeat_interval,
        timeouts: ClusterTimeouts {
            heartbeat: args.heartbeat_timeout,
            slot_wait: args.slot_timeout,
        },
        max_module_bytes: MAX_MODULE_BYTES,
        checkpoint_dir,
    };
    let ready = |rpc: SocketAddr, rest: SocketAddr| {
        // Scripts and tests read these two lines to find the endpoints.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "rpc {rpc}");
        let _ = writeln!(out, "rest http://{rest}");
        let _ = out.flush();
    };
    match run_jobmanager(config, ready) {
        Ok(()) => Outcome::Done,
        Err(error) => {
            output::error(&error.to_string());
            Outcome::BadInput
        }
    }
}

pub(crate) fn taskmanager(args: TaskManagerArgs) -> Outcome {
    let (name, _claim) = match claim_identity(&args.dir, args.name.as_deref()) {
        Ok(claimed) => claimed,
        Err(error) => {
            output::error(&error.to_string());
            return Outcome::BadInput;
        }
    };
    let state = args
        .state
        .settings(Some(&args.dir.join(&name).join("state")));
    let config = TaskManagerConfig {
        state,
        dir: args.dir,
        jobmanager: args.jobmanager,
        name,
        slots: args.slots,
        data: args.data,
        heartbeat_interval: args.heartbeat_interval,
        heartbeat_timeout: args.heartbeat_timeout,
        max_module_bytes: MAX_MODULE_BYTES,
        network: NetworkBuffers {
            exclusive: args.exclusive_buffers.max(1),
            floating: args.floating_buffers,
        },
        metrics: args.metrics,
    };
    match run_taskmanager(config) {
        Ok(()) => Outcome::Done,
        Err(error @ TaskManagerError::Refused(_)) => {
            output::error(&error);
            Outcome::JobFailed
        }
        Err(error) => {
            output::error(&error);
            Outcome::BadInput
        }
    }
}
