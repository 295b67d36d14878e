//! `weir run` and `weir validate`.

use super::output::{self, Progress};
use super::state_args::{BackendArg, StateDirArgs};
use super::{Outcome, home};
use crate::client::spec::{self, LoadedSpec};
use crate::client::udf::UdfBuilder;
use crate::jobmanager::MiniCluster;
use crate::operators::NativeRegistry;
use crate::wasm::{EngineConfig, WasmEngine};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use weir_proto::graph::{JobGraph, OperatorKind};

/// Arguments of `weir run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// The job spec (YAML).
    job: PathBuf,
    /// Print no progress lines.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    backend: BackendArg,
    #[command(flatten)]
    state: StateDirArgs,
}

/// Arguments of `weir validate`.
#[derive(Args)]
pub(crate) struct ValidateArgs {
    /// The job spec (YAML).
    job: PathBuf,
}

pub(super) fn load(job: &std::path::Path) -> Result<(LoadedSpec, JobGraph), Outcome> {
    let loaded = spec::load(job, &|name| std::env::var(name).ok()).map_err(|e| {
        output::error(&e);
        Outcome::BadInput
    })?;
    let graph = crate::client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| {
        output::error(&e);
        Outcome::BadInput
    })?;
    Ok((loaded, graph))
}

pub(crate) fn run(args: RunArgs) -> Outcome {
    let (_, mut graph) = match load(&args.job) {
        Ok(loaded) => loaded,
        Err(outcome) => return outcome,
    };
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
    let cluster =
        MiniCluster::new(engine, NativeRegistry::default()).with_state(args.state.settings(None));
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
    Outcome::Done
}
