//! Checkpoints after tasks finish (Flink's FLIP-147): a job whose short branch ends at once
//! keeps checkpointing over the other branch, and a run killed after the branch ended resumes
//! with it still finished — its committed output neither deleted nor rewritten.

use crate::exactly_once::{Running, assert_counts_exactly_once, committed_parts, resume};
use crate::harness::{job_file, udf};
use std::collections::BTreeMap;
use std::path::Path;

/// Two independent branches: `short` (1000 records, ends at once) and the counting one.
pub(crate) fn branches_job(dir: &Path, short: &Path, long: &Path) -> std::path::PathBuf {
    job_file(
        dir,
        "branches.yaml",
        &format!(
            "name: branches\nparallelism: 2\ncheckpointing: {{ interval_ms: 250, retained: 2 }}\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, count: 1000 }} }}\n    name: short\n  - sink: {{ file: {{ path: {:?} }} }}\n    name: short-out\n  - source: {{ datagen: {{ mode: sequence, count: 60000, rate: 15000, keys: 50 }} }}\n    name: long\n  - key_by: {{ field: key }}\n  - map: {{ module: count }}\n    name: counter\n  - sink: {{ file: {{ path: {:?} }} }}\n    name: long-out\n",
            udf("running_count"),
            short.display().to_string(),
            long.display().to_string()
        ),
    )
}

/// Committed part file name → inode (a rewritten part is a new file).
fn part_inodes(dir: &Path) -> BTreeMap<String, u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .expect("sink directory")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("part-"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().expect("metadata").ino(),
            )
        })
        .collect()
}

#[test]
fn a_run_killed_after_one_branch_finished_resumes_with_that_branch_still_finished() {
    for backend in ["memory", "rocksdb"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (short, long) = (dir.path().join("short"), dir.path().join("long"));
        let job = branches_job(dir.path(), &short, &long);
        let job = job.to_str().expect("utf-8");
        let checkpoints = dir.path().join("checkpoints");
        let checkpoint_dir = checkpoints.to_str().expect("utf-8");
        let options = [
            "--state-backend",
            backend,
            "--checkpoint-dir",
            checkpoint_dir,
        ];
        let args = [&["run", "-q"][..], &options, &[job]].concat();
        let mut first = Running::start(&args, &[]);
        // `short` ends within milliseconds; checkpoints must go on over the other branch.
        first.wait_for_checkpoint(3);
        first.child.kill().expect("SIGKILL");
        first.wait();
        let short_before = part_inodes(&short);
        assert!(
            !short_before.is_empty(),
            "{backend}: the finished branch committed its output"
        );
        let long_before = committed_parts(&long);
        let storage = checkpoints.join("branches");
        resume(&options, storage.to_str().expect("utf-8"), job);
        assert_eq!(
            part_inodes(&short),
            short_before,
            "{backend}: the finished branch was restored finished: its parts were neither deleted nor rewritten"
        );
        let mut ids: Vec<u64> = committed_parts(&short)
            .into_values()
            .flatten()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(&l).expect("JSON")["id"]
                    .as_u64()
                    .expect("id")
            })
            .collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            (0..1000).collect::<Vec<u64>>(),
            "{backend}: short branch, each record once"
        );
        let parts = committed_parts(&long);
        for (part, lines) in &long_before {
            assert_eq!(
                parts.get(part),
                Some(lines),
                "{backend}: committed parts stay as they were"
            );
        }
        assert_counts_exactly_once(&parts, 50, 1200);
    }
}
