//! Checkpoint barriers through a running job (issue 6, first part): the coordinator triggers
//! checkpoints at the sources, barriers align at tasks with several inputs, every task
//! acknowledges — and the records are exactly those of the same job without checkpoints.

use crate::harness::{job_file, weir};

const JOB: &str = "name: checkpointed
parallelism: 2
pipeline:
  - source: { nexmark: { count: 60000, rate: 40000, seed: 1, only: bid } }
  - watermark: { out_of_orderness_ms: 0 }
  - key_by: { field: auction }
  - aggregate:
      window: { tumbling: { size_ms: 1000 } }
      functions:
        - { fn: count }
        - { fn: max, field: price }
  - sink: { stdout: {} }
    parallelism: 1
";

fn sorted_lines(stdout: &str) -> Vec<String> {
    let mut lines: Vec<String> = stdout.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn barriers_align_and_every_task_acknowledges_without_changing_the_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = job_file(dir.path(), "plain.yaml", JOB);
    let checkpointed = job_file(
        dir.path(),
        "checkpointed.yaml",
        &JOB.replace(
            "parallelism: 2\n",
            "parallelism: 2\ncheckpointing: { interval_ms: 100 }\n",
        ),
    );
    let expected = weir(&["run", "-q", plain.to_str().expect("utf-8")], &[], None).expect_code(0);
    assert!(
        !expected.stderr.contains("checkpoints:"),
        "no checkpoints without `checkpointing`"
    );
    let run = weir(
        &["run", "-q", checkpointed.to_str().expect("utf-8")],
        &[],
        None,
    )
    .expect_code(0);
    assert_eq!(
        sorted_lines(&run.stdout),
        sorted_lines(&expected.stdout),
        "checkpoint barriers change no record"
    );
    let total: u64 = run
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            v["count"].as_u64().expect("count")
        })
        .sum();
    assert_eq!(total, 55_200, "every bid counted once");
    // "checkpoints: N completed, the last (#N) in T ms over 5 tasks": two sources, two window
    // subtasks (each aligning two inputs) and the sink (aligning two) all acknowledged.
    let (summary, completed) = crate::harness::checkpoint_summary(&run.stderr);
    assert!(
        completed >= 3,
        "{summary}: a 1.5 s job checkpointing every 100 ms"
    );
    assert!(summary.ends_with("over 5 tasks"), "{summary}");
}

#[test]
fn checkpoints_go_on_after_a_branch_of_the_job_has_finished() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = crate::finished_tasks::branches_job(
        dir.path(),
        &dir.path().join("short"),
        &dir.path().join("long"),
    );
    let checkpoints = dir.path().join("chk");
    let run = weir(
        &[
            "run",
            "-q",
            "--checkpoint-dir",
            checkpoints.to_str().expect("utf-8"),
            job.to_str().expect("utf-8"),
        ],
        &[],
        None,
    )
    .expect_code(0);
    let (summary, completed) = crate::harness::checkpoint_summary(&run.stderr);
    assert!(
        completed >= 6,
        "{summary}: a 4 s job checkpointing every 250 ms after its short branch ended"
    );
    // long (2 subtasks) and counter -> long-out (2) acknowledge; short -> short-out ended
    // within milliseconds and is carried by its final state: its sources' end positions and
    // its sink's part numbering, in the newest checkpoint's metadata.
    assert!(summary.ends_with("over 4 tasks"), "{summary}");
    let storage = checkpoints.join("branches");
    let newest = crate::harness::newest_checkpoint(&storage);
    let metadata = std::fs::read_to_string(storage.join(format!("chk-{newest}/_metadata")))
        .expect("the newest checkpoint's metadata");
    let metadata: serde_json::Value = serde_json::from_str(&metadata).expect("JSON");
    let finished: Vec<(String, u64)> = metadata["operators"]
        .as_array()
        .expect("operators")
        .iter()
        .filter(|o| {
            o["operator"]
                .as_str()
                .is_some_and(|n| n.starts_with("short"))
        })
        .map(|o| {
            let name = o["operator"].as_str().unwrap_or_default().to_string();
            (name, o["subtask"].as_u64().expect("subtask"))
        })
        .collect();
    assert_eq!(
        finished,
        [
            ("short".to_string(), 0),
            ("short".to_string(), 1),
            ("short-out".to_string(), 0),
            ("short-out".to_string(), 1)
        ],
        "the finished branch's final state is in checkpoint {newest}"
    );
}
