//! Checkpoints under backpressure (`aligned_timeout_ms`): a throttled step far slower than the
//! source keeps every channel full, so barriers wait behind queued records; past the timeout a
//! task takes its checkpoint unaligned, storing the records in flight with it. A run killed
//! after such a checkpoint and resumed from it — its in-flight records replayed first — counts
//! every record exactly once, at the same parallelism and at another.

use crate::exactly_once::{Running, assert_counts_exactly_once, committed_parts, counts_per_key};
use crate::harness::{job_file, newest_checkpoint, udf, weir};
use std::path::Path;

const KEYS: u64 = 20;
const PER_KEY: u64 = 1_000;

/// Running counts per key through a throttle at a fifth of the source's rate, with a 50 ms
/// aligned timeout; `${P:-2}` subtasks.
fn throttled_job(dir: &Path, out: &Path) -> std::path::PathBuf {
    job_file(
        dir,
        "throttled.yaml",
        &format!(
            "name: throttled\nparallelism: ${{P:-2}}\nbatch_size: 256\ncheckpointing: {{ interval_ms: 200, aligned_timeout_ms: 50 }}\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, count: {}, rate: 10000, keys: {KEYS} }} }}\n  - key_by: {{ field: key }}\n  - map: {{ module: count }}\n    name: counter\n  - throttle: {{ records_per_second: 1000 }}\n    name: slow\n  - sink: {{ file: {{ path: {:?} }} }}\n",
            udf("running_count"),
            KEYS * PER_KEY,
            out.display().to_string()
        ),
    )
}

/// Whether checkpoint `id` under `storage` holds records that were in flight.
fn holds_in_flight_records(storage: &Path, id: u64) -> bool {
    let metadata = storage.join(format!("chk-{id}")).join("_metadata");
    std::fs::read_to_string(metadata).is_ok_and(|text| text.contains("counter@in-flight"))
}

/// Starts the job and kills it with SIGKILL once a checkpoint with in-flight records completed.
fn kill_after_an_unaligned_checkpoint(args: &[&str], storage: &Path) {
    let mut run = Running::start(args, &[("P", "2")]);
    for checkpoint in 1.. {
        run.wait_for_checkpoint(checkpoint);
        if holds_in_flight_records(storage, newest_checkpoint(storage)) {
            break;
        }
        assert!(checkpoint < 40, "no checkpoint was taken unaligned");
    }
    run.child.kill().expect("SIGKILL");
    run.wait();
}

#[test]
fn an_unaligned_checkpoint_under_backpressure_resumes_with_every_record_once() {
    for (backend, resume_at) in [("memory", "2"), ("rocksdb", "3")] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (out, checkpoints) = (dir.path().join("out"), dir.path().join("chk"));
        let job = throttled_job(dir.path(), &out);
        let job = job.to_str().expect("utf-8");
        let storage = checkpoints.join("throttled");
        let options = [
            "--state-backend",
            backend,
            "--checkpoint-dir",
            checkpoints.to_str().expect("utf-8"),
        ];
        let args = [&["run", "-q"][..], &options, &[job]].concat();
        kill_after_an_unaligned_checkpoint(&args, &storage);
        let from = storage.to_str().expect("utf-8");
        let resume = [
            &["run", "-q"][..],
            &options,
            &["--from-savepoint", from, job],
        ]
        .concat();
        weir(&resume, &[("P", resume_at)], None).expect_code(0);
        match resume_at {
            // One subtask per key all along: each key's counts in commit order.
            "2" => assert_counts_exactly_once(&committed_parts(&out), KEYS, PER_KEY),
            _ => {
                let expected: Vec<u64> = (1..=PER_KEY).collect();
                let counts = counts_per_key(&out);
                assert_eq!(counts.len() as u64, KEYS, "{backend}");
                for (key, seen) in counts {
                    assert_eq!(
                        seen, expected,
                        "{backend}: key {key} at parallelism {resume_at}"
                    );
                }
            }
        }
    }
}
