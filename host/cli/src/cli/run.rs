//! `weir run` and `weir validate`.

use super::Outcome;
use super::output::{self, Progress};
use super::state_args::{BackendArg, StateDirArgs};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use weir_blob::paths::created_weir_home as home;
use weir_client::spec::{self, LoadedSpec};
use weir_client::udf::UdfBuilder;
use weir_minicluster::MiniCluster;
use weir_minicluster::StopRequest;
use weir_proto::graph::{JobGraph, OperatorKind};
use weir_runtime::operators::NativeRegistry;
use weir_state::checkpoint::Restore;
use weir_wasm::{EngineConfig, WasmEngine};

/// Arguments of `weir run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// The job spec (YAML), or a SQL script (`.sql`).
    job: PathBuf,
    #[command(flatten)]
    options: RunOptions,
}

/// How a job runs on the embedded mini-cluster (`weir run`, `weir sql`).
#[derive(Args)]
pub(crate) struct RunOptions {
    /// Print no progress lines.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    backend: BackendArg,
    #[command(flatten)]
    state: StateDirArgs,
    /// Where checkpoints go: a directory per job beneath it (default: `checkpoints` in
    /// weir's home directory).
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Resume from a savepoint or checkpoint: its directory, or a job's checkpoint directory
    /// (then its newest completed checkpoint). Steps find their state by name; the
    /// parallelism and module versions may differ.
    #[arg(long, value_name = "PATH")]
    from_savepoint: Option<PathBuf>,
    /// On SIGTERM or Ctrl-C, stop the job with a savepoint under DIR (Flink's
    /// `stop --savepoint`); resume it later with `--from-savepoint`.
    #[arg(long, value_name = "DIR")]
    savepoint_dir: Option<PathBuf>,
}

/// Arguments of `weir validate`.
#[derive(Args)]
pub(crate) struct ValidateArgs {
    /// The job spec (YAML).
    job: PathBuf,
}

pub(super) fn load(job: &std::path::Path) -> Result<(LoadedSpec, JobGraph), Outcome> {
    if job.extension().is_some_and(|e| e == "sql") {
        let text = std::fs::read_to_string(job).map_err(|e| {
            output::error(&format!("{}: {e}", job.display()));
            Outcome::BadInput
        })?;
        let name = super::sql::job_name(Some(job), &text);
        let (loaded, graph, explain) = super::sql::load_sql(&text, job, &name)?;
        if explain {
            output::error(&format!("{}: EXPLAIN: use `weir sql -f`", job.display()));
            return Err(Outcome::BadInput);
        }
        return Ok((loaded, graph));
    }
    let loaded = spec::load(job, &|name| std::env::var(name).ok()).map_err(|e| {
        output::error(&e);
        Outcome::BadInput
    })?;
    let graph = weir_client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| {
        output::error(&e);
        Outcome::BadInput
    })?;
    Ok((loaded, graph))
}

pub(crate) fn run(args: RunArgs) -> Outcome {
    match load(&args.job) {
        Ok((_, graph)) => run_graph(&args.options, graph),
        Err(outcome) => outcome,
    }
}

/// Runs `graph` on the embedded mini-cluster until it ends.
pub(super) fn run_graph(args: &RunOptions, mut graph: JobGraph) -> Outcome {
    args.backend.apply(&mut graph);
    let engine = match WasmEngine::new(EngineConfig::new(home().join("modules"))) {
        Ok(engine) => engine,
        Err(e) => {
            output::error(&e);
            return Outcome::JobFailed;
        }
    };
    let sources = vertices_where(&graph, |k| matches!(k, OperatorKind::Source(_)));
    let sinks = vertices_where(&graph, |k| matches!(k, OperatorKind::Sink(_)));
    let mut progress = Progress::new(args.quiet, sources, sinks);
    let checkpoint_dir = args
        .checkpoint_dir
        .clone()
        .unwrap_or_else(|| home().join("checkpoints"));
    let mut cluster = MiniCluster::new(engine, NativeRegistry::default())
        .with_state(args.state.settings(None))
        .with_checkpoint_dir(checkpoint_dir);
    if let Some(path) = &args.from_savepoint {
        match Restore::open(path) {
            Ok(restore) => {
                eprintln!(
                    "resuming from checkpoint {} ({})",
                    restore.metadata.id,
                    restore.dir().display()
                );
                cluster = cluster.resuming_from(restore);
            }
            Err(error) => {
                output::error(&format!("cannot resume job `{}`: {error}", graph.name));
                return Outcome::BadInput;
            }
        }
    }
    if let Some(dir) = &args.savepoint_dir {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            if let Err(error) = signal_hook::flag::register(signal, flag.clone()) {
                output::error(&format!("cannot listen for signal {signal}: {error}"));
                return Outcome::JobFailed;
            }
        }
        cluster = cluster.stopping_on(StopRequest {
            flag,
            savepoint_dir: Some(dir.clone()),
        });
    }
    if let Some(storage) = cluster.checkpoint_storage(&graph) {
        eprintln!("checkpoints go to {}", storage.root().display());
    }
    match cluster.run(&graph, Duration::from_millis(500), &mut |p| {
        progress.update(p)
    }) {
        Ok(outcome) => {
            progress.finish(&outcome.progress, true);
            if let Some(last) = outcome.checkpoints.last() {
                eprintln!(
                    "checkpoints: {} completed, the last (#{}) in {} ms over {} tasks",
                    outcome.checkpoints.len(),
                    last.id,
                    last.duration.as_millis(),
                    last.handles.len()
                );
            }
            if outcome.restarts > 0 {
                eprintln!("restarts: {}", outcome.restarts);
            }
            if let Some(savepoint) = &outcome.savepoint {
                eprintln!("savepoint: {}", savepoint.display());
            }
            Outcome::Done
        }
        Err(error) => {
            output::error(&format!("job `{}` failed: {error}", graph.name));
            Outcome::JobFailed
        }
    }
}

/// Vertices containing an operator that matches.
pub(super) fn vertices_where(
    graph: &JobGraph,
    matches: impl Fn(&OperatorKind) -> bool,
) -> Vec<usize> {
    graph
        .vertices
        .iter()
        .filter(|v| v.operators.iter().any(|o| matches(&o.kind)))
        .map(|v| v.id)
        .collect()
}

pub(crate) fn validate(args: ValidateArgs) -> Outcome {
    let (loaded, graph) = match load(&args.job) {
        Ok(loaded) => loaded,
        Err(outcome) => return outcome,
    };
    println!(
        "job `{}` ({}) is valid: {} tasks in {} vertices",
        graph.name,
        loaded.file.display(),
        graph.vertices.iter().map(|v| v.parallelism).sum::<u32>(),
        graph.vertices.len()
    );
    print_graph(&graph);
    Outcome::Done
}

/// The JobGraph's vertices, edges and modules, a line each.
pub(super) fn print_graph(graph: &JobGraph) {
    for vertex in &graph.vertices {
        println!(
            "  [{}] {} (parallelism {})",
            vertex.id, vertex.name, vertex.parallelism
        );
    }
    for edge in &graph.edges {
        let kind = if edge.dead_letter {
            " (dead letters)"
        } else {
            ""
        };
        println!(
            "  [{}] -> [{}] {:?}{kind}",
            edge.source, edge.target, edge.partitioning
        );
    }
    for module in graph.modules.values() {
        println!(
            "  module `{}`: sha256 {} ({})",
            module.name, module.sha256, module.path
        );
    }
}
