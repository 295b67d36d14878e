//! The command line. Data goes to stdout; progress and logs to stderr; the exit code says how
//! it went (0 done, 1 the job failed, 2 the job spec or the command is wrong).

mod cluster;
mod output;
mod processes;
mod remote;
mod run;
mod sql;
mod sql_shell;
mod sql_signatures;
mod state_args;
mod udf;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Weir: a stream processor whose operators are WebAssembly components.
#[derive(Parser)]
#[command(name = "weir", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job on the embedded mini-cluster (a JobManager and a TaskManager in this process).
    Run(run::RunArgs),
    /// Check a job spec and show the JobGraph it makes, without running it.
    Validate(run::ValidateArgs),
    /// Run a SQL script (Flink's dialect) on the embedded mini-cluster; EXPLAIN shows its plan.
    Sql(sql::SqlArgs),
    /// Build, scaffold and inspect UDFs.
    #[command(subcommand)]
    Udf(udf::UdfCommand),
    /// Measure throughput on the shared benchmark data (PROBES.md), Wasm against native.
    Bench(weir_bench::BenchArgs),
    /// Set up a cluster: certificates and tokens.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Run a JobManager: TaskManagers register with it, clients submit jobs to it.
    Jobmanager(processes::JobManagerArgs),
    /// Run a TaskManager: it registers with the JobManager and runs the tasks deployed to it.
    Taskmanager(processes::TaskManagerArgs),
    /// Submit a job to a cluster and follow it to its end.
    Submit(remote::SubmitArgs),
    /// List a cluster's jobs.
    List(remote::ListArgs),
    /// Show a job's status and per-vertex counters.
    Status(remote::JobArgs),
    /// Cancel a job.
    Cancel(remote::JobArgs),
    /// The failures of a job: those it restarted from, and the one that ended it.
    Exceptions(remote::JobArgs),
    /// Take a savepoint of a running job (it keeps running); prints its path.
    Savepoint(remote::SavepointArgs),
    /// Stop a job with a savepoint; prints its path (resume with `--from-savepoint`).
    Stop(remote::SavepointArgs),
}

/// How a command ended.
pub(crate) enum Outcome {
    Done,
    JobFailed,
    BadInput,
}

/// Runs the command line.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    output::init_logging(match cli.command {
        Command::Run(_) | Command::Sql(_) => output::LogFor::Embedded,
        Command::Bench(_) => output::LogFor::Bench,
        _ => output::LogFor::Cluster,
    });
    let outcome = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate(args) => run::validate(args),
        Command::Sql(args) => sql::sql(args),
        Command::Udf(command) => udf::udf(command),
        Command::Bench(args) => match weir_bench::bench(&args) {
            Ok(true) => Outcome::Done,
            Ok(false) => Outcome::JobFailed,
            Err(message) => {
                output::error(&message);
                Outcome::JobFailed
            }
        },
        Command::Cluster(command) => cluster::cluster(command),
        Command::Jobmanager(args) => processes::jobmanager(args),
        Command::Taskmanager(args) => processes::taskmanager(args),
        Command::Submit(args) => remote::submit(args),
        Command::List(args) => remote::list(args),
        Command::Status(args) => remote::status(args),
        Command::Cancel(args) => remote::cancel(args),
        Command::Exceptions(args) => remote::exceptions(args),
        Command::Savepoint(args) => remote::savepoint(args),
        Command::Stop(args) => remote::stop(args),
    };
    match outcome {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::JobFailed => ExitCode::from(1),
        Outcome::BadInput => ExitCode::from(2),
    }
}
