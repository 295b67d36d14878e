//! `weir udf build` and `weir udf new`.

use super::Outcome;
use super::output;
use clap::Subcommand;
use std::path::PathBuf;
use weir_blob::paths::created_weir_home as home;
use weir_client::udf::{BuildError, Language, UdfBuilder, scaffold};

/// UDF commands.
#[derive(Subcommand)]
pub(crate) enum UdfCommand {
    /// Build a UDF source directory into a component (cached by source hash).
    Build {
        /// The UDF's directory.
        dir: PathBuf,
    },
    /// Create a new UDF project that builds as it is.
    New {
        /// Its language.
        #[arg(long, value_enum, default_value = "rust")]
        lang: Language,
        /// Directory to create; its name names the UDF.
        name: PathBuf,
        /// Path to Weir's Rust SDK (default: the one beside this weir build).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

pub(crate) fn udf(command: UdfCommand) -> Outcome {
    match command {
        UdfCommand::Build { dir } => match UdfBuilder::new(home()).build(&dir) {
            Ok(built) => {
                let how = if built.cached {
                    "unchanged, from the build cache"
                } else {
                    "built"
                };
                println!("{}", built.path.display());
                eprintln!("{} {how}: sha256 {}", dir.display(), built.sha256);
                Outcome::Done
            }
            Err(error) => build_failed(&error),
        },
        UdfCommand::New { lang, name, sdk } => match scaffold(&name, lang, sdk.as_deref()) {
            Ok(files) => {
                for file in files {
                    println!("created {}", file.display());
                }
                eprintln!("build it with: weir udf build {}", name.display());
                Outcome::Done
            }
            Err(error) => build_failed(&error),
        },
    }
}

/// Prints a build error with its hint.
fn build_failed(error: &BuildError) -> Outcome {
    let hint = error
        .hint()
        .map(|h| format!("\n  hint: {h}"))
        .unwrap_or_default();
    output::error(&format!("{error}{hint}"));
    Outcome::BadInput
}
