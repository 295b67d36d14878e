//! `weir submit`, `weir list`, `weir status` and `weir cancel`: a cluster's jobs from the client.

use super::Outcome;
use super::output::{self, Progress};
use super::run::{load, vertices_where};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use weir_client::rest::RestClient;
use weir_proto::failure::Failure;
use weir_proto::graph::OperatorKind;
use weir_proto::rest::JobView;
use weir_proto::status::JobStatus;

/// Where the JobManager is and how to prove the right to use it.
#[derive(Args)]
pub(crate) struct Connection {
    /// The JobManager's REST URL.
    #[arg(long, env = "WEIR_JOBMANAGER", default_value = "http://127.0.0.1:8081")]
    jobmanager: String,
    /// The REST API token (default: the `rest-token` file of --dir).
    #[arg(long, env = "WEIR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A cluster directory to read the token from.
    #[arg(long)]
    dir: Option<PathBuf>,
}

impl Connection {
    fn client(&self) -> Result<RestClient, Outcome> {
        let token = match (&self.token, &self.dir) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(dir)) => {
                let path = dir.join("rest-token");
                match std::fs::read_to_string(&path) {
                    Ok(token) => Some(token.trim().to_string()),
                    Err(e) => {
                        output::error(&format!("{}: {e}", path.display()));
                        return Err(Outcome::BadInput);
                    }
                }
            }
            (None, None) => None,
        };
        Ok(RestClient::new(&self.jobmanager, token))
    }
}

/// Arguments of `weir submit`.
#[derive(Args)]
pub(crate) struct SubmitArgs {
    /// The job spec (YAML).
    job: PathBuf,
    #[command(flatten)]
    connection: Connection,
    /// Return once the job is accepted, printing its id, instead of following it.
    #[arg(long)]
    detach: bool,
    /// Print no progress lines.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    backend: super::state_args::BackendArg,
    /// Resume from a savepoint or checkpoint (a path the JobManager and TaskManagers reach):
    /// steps find their state by name; parallelism and module versions may differ.
    #[arg(long, value_name = "PATH")]
    from_savepoint: Option<PathBuf>,
}

/// Arguments of `weir savepoint` and `weir stop`.
#[derive(Args)]
pub(crate) struct SavepointArgs {
    /// The job's id.
    job: String,
    #[command(flatten)]
    connection: Connection,
    /// Where the savepoint goes (default: `savepoints` beside the cluster's checkpoints).
    #[arg(long, value_name = "DIR")]
    savepoint_dir: Option<PathBuf>,
    /// Take a savepoint before stopping (`weir stop` always does; accepted for Flink's habit).
    #[arg(long)]
    savepoint: bool,
}

/// Arguments naming one job.
#[derive(Args)]
pub(crate) struct JobArgs {
    /// The job's id.
    job: String,
    #[command(flatten)]
    connection: Connection,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `weir list`.
#[derive(Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    connection: Connection,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn failed(error: impl std::fmt::Display) -> Outcome {
    output::error(&error);
    Outcome::JobFailed
}

pub(crate) fn submit(args: SubmitArgs) -> Outcome {
    let (_, mut graph) = match load(&args.job) {
        Ok(loaded) => loaded,
        Err(outcome) => return outcome,
    };
    args.backend.apply(&mut graph);
    let client = match args.connection.client() {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    match client.upload_modules(&graph) {
        Ok(0) => {}
        Ok(sent) => tracing::info!(modules = sent, "modules uploaded"),
        Err(e) => return failed(e),
    }
    let from = args
        .from_savepoint
        .as_ref()
        .map(|path| std::path::absolute(path).unwrap_or_else(|_| path.clone()));
    let from = from.as_ref().map(|p| p.display().to_string());
    let id = match client.submit(&graph, from.as_deref()) {
        Ok(id) => id,
        Err(e) => return failed(e),
    };
    if args.detach {
        println!("{id}");
        return Outcome::Done;
    }
    eprintln!("job `{}` submitted as {id}", graph.name);
    let sources = vertices_where(&graph, |k| matches!(k, OperatorKind::Source(_)));
    let sinks = vertices_where(&graph, |k| matches!(k, OperatorKind::Sink(_)));
    let mut progress = Progress::new(args.quiet, sources, sinks);
    loop {
        let view = match client.job(&id) {
            Ok(view) => view,
            Err(e) => return failed(e),
        };
        if view.summary.status.is_terminal() {
            return finish(&view, &progress);
        }
        progress.update(&view.progress);
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn finish(view: &JobView, progress: &Progress) -> Outcome {
    let ok = view.summary.status == JobStatus::Finished;
    progress.finish(&view.progress, ok);
    match view.summary.status {
        JobStatus::Finished => Outcome::Done,
        status => {
            output::error(&format!(
                "job `{}` ({}) {status}: {}",
                view.summary.name,
                view.summary.id,
                view.error
                    .as_ref()
                    .map_or("no reason given".to_string(), ToString::to_string)
            ));
            Outcome::JobFailed
        }
    }
}

pub(crate) fn list(args: ListArgs) -> Outcome {
    let client = match args.connection.client() {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let jobs = match client.jobs() {
        Ok(jobs) => jobs,
        Err(e) => return failed(e),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&jobs).unwrap_or_default()
        );
        return Outcome::Done;
    }
    println!("{:<16}  {:<10}  {:>10}  NAME", "ID", "STATUS", "DURATION");
    for job in jobs {
        println!(
            "{:<16}  {:<10}  {:>9.1}s  {}",
            job.id,
            job.status.to_string(),
            job.duration_ms as f64 / 1000.0,
            job.name
        );
    }
    Outcome::Done
}

/// The view of the job `args` names, or the outcome of failing to get it.
fn job_view(args: &JobArgs) -> Result<JobView, Outcome> {
    let client = args.connection.client()?;
    client.job(&args.job).map_err(failed)
}

pub(crate) fn status(args: JobArgs) -> Outcome {
    let view = match job_view(&args) {
        Ok(view) => view,
        Err(outcome) => return outcome,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&view).unwrap_or_default()
        );
        return Outcome::Done;
    }
    println!(
        "job {} `{}`: {} after {:.1}s on {}",
        view.summary.id,
        view.summary.name,
        view.summary.status,
        view.summary.duration_ms as f64 / 1000.0,
        if view.taskmanagers.is_empty() {
            "no TaskManager".to_string()
        } else {
            view.taskmanagers.join(", ")
        }
    );
    if let Some(error) = &view.error {
        println!("error: {error}");
    }
    if view.restarts > 0 {
        println!(
            "restarts: {} (weir exceptions {} lists why)",
            view.restarts, view.summary.id
        );
    }
    if view.checkpoints > 0 {
        println!(
            "checkpoints: {} completed, the newest {} in {} ms: {}",
            view.checkpoints,
            weir_client::human::bytes(view.last_checkpoint_bytes.unwrap_or(0)),
            view.last_checkpoint_ms.unwrap_or(0),
            view.latest_checkpoint.as_deref().unwrap_or("-")
        );
    }
    println!(
        "{:<40} {:>4} {:>14} {:>10} {:>14} {:>10} {:>6} {:>6}",
        "VERTEX", "PAR", "RECORDS IN", "IN/S", "RECORDS OUT", "OUT/S", "BUSY", "BACKPR"
    );
    for vertex in &view.progress.vertices {
        let name: String = vertex.name.chars().take(40).collect();
        println!(
            "{:<40} {:>4} {:>14} {:>10} {:>14} {:>10} {:>5.0}% {:>5.0}%",
            name,
            vertex.parallelism,
            weir_client::human::count(vertex.records_in),
            weir_client::human::count(vertex.records_in_per_second as u64),
            weir_client::human::count(vertex.records_out),
            weir_client::human::count(vertex.records_out_per_second as u64),
            vertex.busy_ratio * 100.0,
            vertex.backpressured_ratio * 100.0
        );
    }
    let partitions: Vec<_> = view
        .progress
        .vertices
        .iter()
        .flat_map(|vertex| vertex.partitions.iter().map(move |lag| (&vertex.name, lag)))
        .collect();
    if !partitions.is_empty() {
        println!(
            "{:<40} {:<24} {:>9} {:>14} {:>12}",
            "SOURCE", "TOPIC", "PARTITION", "OFFSET", "LAG"
        );
    }
    for (vertex, lag) in partitions {
        let name: String = vertex.chars().take(40).collect();
        println!(
            "{:<40} {:<24} {:>9} {:>14} {:>12}",
            name,
            lag.topic,
            lag.partition,
            lag.offset,
            weir_client::human::count(lag.lag.max(0) as u64)
        );
    }
    Outcome::Done
}

/// `weir exceptions JOB`: the failures the job restarted from, oldest first, and the one that
/// ended it, if any.
pub(crate) fn exceptions(args: JobArgs) -> Outcome {
    let view = match job_view(&args) {
        Ok(view) => view,
        Err(outcome) => return outcome,
    };
    let mut all: Vec<(&str, &Failure)> = view.failures.iter().map(|f| ("restarted", f)).collect();
    if let Some(error) = &view.error {
        all.push(("current", error));
    }
    if args.json {
        let list: Vec<serde_json::Value> = all
            .iter()
            .map(|(kind, failure)| serde_json::json!({ "kind": kind, "failure": failure }))
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Outcome::Done;
    }
    if all.is_empty() {
        println!("job {} has had no failure", view.summary.id);
    }
    for (i, (kind, error)) in all.iter().enumerate() {
        println!("{}. [{kind}, {}] {error}", i + 1, error.class);
    }
    Outcome::Done
}

pub(crate) fn cancel(args: JobArgs) -> Outcome {
    let client = match args.connection.client() {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    match client.cancel(&args.job) {
        Ok(()) => {
            println!("job {} cancelling", args.job);
            Outcome::Done
        }
        Err(e) => failed(e),
    }
}

/// `weir savepoint JOB`: a savepoint of a running job; prints its path once written.
pub(crate) fn savepoint(args: SavepointArgs) -> Outcome {
    take_savepoint(args, false)
}

/// `weir stop JOB`: a savepoint, then the job stops; prints the savepoint's path.
pub(crate) fn stop(args: SavepointArgs) -> Outcome {
    take_savepoint(args, true)
}

fn take_savepoint(args: SavepointArgs, stop: bool) -> Outcome {
    let client = match args.connection.client() {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let dir = args.savepoint_dir.as_ref().map(|d| {
        std::path::absolute(d)
            .unwrap_or_else(|_| d.clone())
            .display()
            .to_string()
    });
    let id = match client.savepoint(&args.job, dir.as_deref(), stop) {
        Ok(id) => id,
        Err(e) => return failed(e),
    };
    eprintln!("savepoint {id} of job {} started", args.job);
    loop {
        let view = match client.job(&args.job) {
            Ok(view) => view,
            Err(e) => return failed(e),
        };
        if let Some(error) = &view.savepoint_error {
            return failed(format!("savepoint of job {}: {error}", args.job));
        }
        match &view.savepoint {
            Some(path) if !stop || view.summary.status.is_terminal() => {
                println!("{path}");
                return Outcome::Done;
            }
            None if view.summary.status.is_terminal() => {
                return failed(format!(
                    "job {} ended ({}) before its savepoint was written",
                    args.job, view.summary.status
                ));
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
