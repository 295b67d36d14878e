//! `weir cluster init`: the files a cluster needs to trust itself, written once.
//!
//! Layout of a cluster directory (all PEM; keys and the token are readable by the owner only):
//! `ca.pem` (trusted by every node), `ca-key.pem` (issues certificates; keep it off the nodes if
//! you can), `jobmanager.pem` / `jobmanager-key.pem`, `taskmanager-N.pem` /
//! `taskmanager-N-key.pem`, `rest-token` (the REST API's bearer token) and `cluster.json`.

use super::Outcome;
use super::output;
use clap::Args;
use std::path::{Path, PathBuf};
use weir_net::{ClusterCa, identity_paths};

/// Arguments of `weir cluster init`.
#[derive(Args)]
pub(crate) struct InitArgs {
    /// The directory to create (it must not hold a cluster already).
    dir: PathBuf,
    /// How many TaskManager certificates to issue.
    #[arg(long, default_value_t = 2)]
    taskmanagers: u32,
    /// The cluster's name.
    #[arg(long, default_value = "weir")]
    name: String,
}

/// Cluster commands.
#[derive(clap::Subcommand)]
pub(crate) enum ClusterCommand {
    /// Create a cluster CA, JobManager and TaskManager certificates, and a REST API token.
    Init(InitArgs),
}

pub(crate) fn cluster(command: ClusterCommand) -> Outcome {
    match command {
        ClusterCommand::Init(args) => match init(&args) {
            Ok(written) => {
                println!(
                    "cluster `{}` initialised in {}:",
                    args.name,
                    args.dir.display()
                );
                for (path, what) in written {
                    println!(
                        "  {:<28} {what}",
                        path.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    );
                }
                Outcome::Done
            }
            Err(message) => {
                output::error(&message);
                Outcome::BadInput
            }
        },
    }
}

fn write(path: &Path, contents: &str, secret: bool) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mode = if secret { 0o600 } else { 0o644 };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes the cluster files; returns each path with what it holds.
fn init(args: &InitArgs) -> Result<Vec<(PathBuf, String)>, String> {
    let dir = &args.dir;
    if dir.join("ca.pem").exists() || dir.join("cluster.json").exists() {
        return Err(format!(
            "{} already holds a cluster (ca.pem exists)\n  hint: choose a new directory; re-initialising would invalidate every node's certificate",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let ca = ClusterCa::generate(&args.name).map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    write(&dir.join("ca.pem"), &ca.certificate_pem(), false)?;
    written.push((
        dir.join("ca.pem"),
        "cluster CA certificate (trusted by every node)".to_string(),
    ));
    write(&dir.join("ca-key.pem"), &ca.key_pem(), true)?;
    written.push((
        dir.join("ca-key.pem"),
        "cluster CA private key (mode 600; keep it off the nodes)".to_string(),
    ));
    let mut names = vec!["jobmanager".to_string()];
    names.extend((1..=args.taskmanagers).map(|i| format!("taskmanager-{i}")));
    for name in &names {
        let identity = ca.issue(name).map_err(|e| e.to_string())?;
        let (cert, key) = identity_paths(dir, name);
        write(&cert, &identity.chain_pem(), false)?;
        write(&key, &identity.key_pem(), true)?;
        written.push((cert, format!("certificate of `{name}`")));
        written.push((key, format!("private key of `{name}` (mode 600)")));
    }
    let mut token = [0u8; 32];
    getrandom::fill(&mut token).map_err(|e| format!("no system randomness: {e}"))?;
    write(
        &dir.join("rest-token"),
        &format!("{}\n", hex::encode(token)),
        true,
    )?;
    written.push((
        dir.join("rest-token"),
        "REST API bearer token (mode 600)".to_string(),
    ));
    let summary = serde_json::json!({ "name": args.name, "jobmanager": "jobmanager", "taskmanagers": &names[1..] });
    write(&dir.join("cluster.json"), &format!("{summary:#}\n"), false)?;
    written.push((
        dir.join("cluster.json"),
        "cluster name and node identities".to_string(),
    ));
    Ok(written)
}
