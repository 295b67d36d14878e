//! `weir sql`: a SQL script in Flink's dialect (`-f FILE.sql` or `-e 'TEXT'`), planned into a
//! job spec by weir-sql and run on the embedded mini-cluster like `weir run`; `EXPLAIN` prints
//! the plan (the job spec's steps) and the JobGraph instead. `weir run`, `validate` and `submit`
//! take a `.sql` file in place of a job spec too. Without a script, `weir sql` is an
//! interactive shell (`sql_shell`).

use super::Outcome;
use super::output;
use super::run::{RunOptions, print_graph, run_graph};
use clap::Args;
use std::path::{Path, PathBuf};
use weir_blob::paths::created_weir_home as home;
use weir_client::spec::{LoadedSpec, Locations};
use weir_client::udf::UdfBuilder;
use weir_proto::graph::JobGraph;

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
        (None, None) => return super::sql_shell::shell(),
    };
    let name = job_name(args.file.as_deref(), &text);
    let (loaded, graph, explain) = match load_sql(&text, &file, &name) {
        Ok(planned) => planned,
        Err(outcome) => return outcome,
    };
    if explain {
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

/// Plans SQL `text` (from `file`) as job `name`: its spec, its JobGraph, and whether it asked to
/// be explained rather than run.
pub(super) fn load_sql(
    text: &str,
    file: &Path,
    name: &str,
) -> Result<(LoadedSpec, JobGraph, bool), Outcome> {
    let plan = weir_sql::plan(text, name).map_err(|e| {
        output::error(&format!("{}: {e}", file.display()));
        Outcome::BadInput
    })?;
    let dir = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let loaded = LoadedSpec {
        spec: plan.spec,
        file: file.to_path_buf(),
        dir,
        locations: Locations::default(),
    };
    let graph = weir_client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| {
        output::error(&format!("{}: {e}", file.display()));
        Outcome::BadInput
    })?;
    // The functions' argument types, now that their modules are built: every call checked.
    let functions: Vec<String> = loaded.spec.modules.keys().cloned().collect();
    let signatures = super::sql_signatures::signatures(&graph, &functions, home().join("modules"));
    if !signatures.is_empty() {
        weir_sql::plan_with(text, name, &signatures).map_err(|e| {
            output::error(&format!("{}: {e}", file.display()));
            Outcome::BadInput
        })?;
    }
    Ok((loaded, graph, plan.explain))
}

/// A SQL job's name unless it sets `pipeline.name`: its file's stem, or for `-e` text
/// `sql-<8 hex digits of its sha256>`. Two different scripts never share a name, so never a
/// checkpoint directory nor a Kafka sink's transactional ids (which would fence each other).
pub(super) fn job_name(file: Option<&Path>, text: &str) -> String {
    match file.and_then(Path::file_stem) {
        Some(stem) => stem.to_string_lossy().into_owned(),
        None => format!(
            "sql-{}",
            &weir_blob::paths::sha256_hex(text.as_bytes())[..8]
        ),
    }
}
