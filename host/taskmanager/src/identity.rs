//! Which identity a TaskManager takes: the one named on the command line, or else the first
//! TaskManager certificate of the cluster directory that no other TaskManager on this host holds
//! (a lock file per identity), so a one-host cluster needs no flags beyond `--dir`.

use std::fs::File;
use std::path::Path;

/// Claims identity `name` (or the first free one) in `dir`; the returned file holds the claim
/// for as long as it stays open.
pub fn claim_identity(dir: &Path, name: Option<&str>) -> Result<(String, File), String> {
    let names: Vec<String> = match name {
        Some(name) => vec![name.to_string()],
        None => {
            let path = dir.join("cluster.json");
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "{}: {e}\n  hint: create the cluster directory with `weir cluster init {}`",
                    path.display(),
                    dir.display()
                )
            })?;
            let cluster: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not valid JSON: {e}", path.display()))?;
            cluster["taskmanagers"]
                .as_array()
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        }
    };
    for name in &names {
        let work = dir.join(name);
        std::fs::create_dir_all(&work)
            .map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        let lock_path = work.join("lock");
        let lock = File::create(&lock_path)
            .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => return Ok((name.clone(), lock)),
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", lock_path.display()));
            }
        }
    }
    Err(match name {
        Some(name) => {
            format!("identity `{name}` is already in use by another TaskManager on this host")
        }
        None => format!(
            "every TaskManager identity in {} is in use ({})\n  hint: issue more with `weir cluster init --taskmanagers N` in a new directory",
            dir.display(),
            names.join(", ")
        ),
    })
}
