//! `weir sql`: a SQL script in Flink's dialect (`-f FILE.sql` or `-e 'TEXT'`), planned into a
//! job spec by weir-sql and run on the embedded mini-cluster like `weir run`; `EXPLAIN` prints
//! the plan (the job spec's steps) and the JobGraph instead.

use super::Outcome;
use super::output;
use super::run::{RunOptions, print_graph, run_graph};
use clap::Args;
use std::path::PathBuf;
use weir_blob::paths::created_weir_home as home;
use weir_client::spec::{LoadedSpec, Locations};
use weir_client::udf::UdfBuilder;

/// Arguments of `weir sql`.
#[derive(Args)]
pub(crate) struct SqlArgs {
    /// A SQL script: CREATE TABLEs, SETs and one INSERT INTO … SELECT (or SELECT, printed).
    #[arg(long, short = 'f', value_name = "FILE.sql", conflicts_with = "execute")]
    file: Option<PathBuf>,
    /// The SQL script itself.
    #[arg(long, short = 'e', value_name = "SQL")]
    execute: Option<String>,
    #[command(flatten)]
    options: RunOptions,
}

pub(crate) fn sql(args: SqlArgs) -> Outcome {
    let (text, file) = match (&args.file, &args.execute) {
        (Some(path), _) => match std::fs::read_to_string(path) {
            Ok(text) => (text, path.clone()),
            Err(e) => {
                output::error(&format!("{}: {e}", path.display()));
                return Outcome::BadInput;
            }
        },
        (None, Some(text)) => (text.clone(), PathBuf::from("<-e>")),
        (None, None) => {
            output::error(&"weir sql needs a script: -f FILE.sql or -e 'SQL'");
            return Outcome::BadInput;
        }
    };
    let name = match &args.file {
        Some(path) => path
            .file_stem()
            .map_or_else(|| "sql".to_string(), |s| s.to_string_lossy().into_owned()),
        None => "sql".to_string(),
    };
    let plan = match weir_sql::plan(&text, &name) {
        Ok(plan) => plan,
        Err(e) => {
            output::error(&format!("{}: {e}", file.display()));
            return Outcome::BadInput;
        }
    };
    let dir = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let loaded = LoadedSpec {
        spec: plan.spec,
        file: file.clone(),
        dir,
        locations: Locations::default(),
    };
    let graph = match weir_client::job_graph(&loaded, &UdfBuilder::new(home())) {
        Ok(graph) => graph,
        Err(e) => {
            output::error(&format!("{}: {e}", file.display()));
            return Outcome::BadInput;
        }
    };
    if plan.explain {
        println!("== plan: the job's steps ==");
        match serde_json::to_string_pretty(&loaded.spec.pipeline) {
            Ok(steps) => println!("{steps}"),
            Err(e) => output::error(&format!("cannot show the plan: {e}")),
        }
        println!("== JobGraph ==");
        print_graph(&graph);
        return Outcome::Done;
    }
    run_graph(&args.options, graph)
}
