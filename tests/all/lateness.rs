//! Allowed lateness for session windows and Wasm window aggregates, and late records to a named
//! side output (`late_output:`, Flink's `sideOutputLateData`) that later steps read: a late
//! record within the lateness updates its (already emitted) window and emits it again at once;
//! one beyond it goes to the side output, on both state backends.

use crate::harness::{job_file, udf, weir};
use std::path::Path;

/// Records as `(key, event time, price)`, one per batch so the watermark (out-of-orderness 0)
/// follows each: the highest time so far − 1.
const RECORDS: &[(&str, i64, i64)] = &[
    ("a", 0, 1),
    ("a", 50, 2),
    // Watermark 999: a's first window or session fires.
    ("b", 1000, 1),
    // Late, but within the 1 s of allowed lateness: a's window is updated and emitted again.
    ("a", 20, 4),
    // Watermark 1499: a's windows are past their lateness and dropped.
    ("b", 1500, 1),
    // Beyond the lateness: to the late output.
    ("a", 30, 8),
];

fn write_records(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("records.jsonl");
    let lines: Vec<String> = RECORDS
        .iter()
        .map(|(key, ts, price)| format!("{{\"key\":\"{key}\",\"ts\":{ts},\"price\":{price}}}"))
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").expect("write records");
    path
}

/// A job of `aggregate` (with `allowed_lateness_ms: 1000` and `late_output: too-late`) over the
/// records, its results into `out/results` and its late records into `out/late`.
fn late_job(dir: &Path, name: &str, aggregate: &str, out: &Path) -> std::path::PathBuf {
    let input = write_records(dir);
    let results = out.join("results").display().to_string();
    let late = out.join("late").display().to_string();
    job_file(
        dir,
        &format!("{name}.yaml"),
        &format!(
            "name: {name}\nbatch_size: 1\nmodules:\n  totals: {{ path: {:?} }}\npipeline:\n  - source: {{ file: {{ path: {input:?}, format: lines }} }}\n  - watermark: {{ out_of_orderness_ms: 0, timestamp_field: ts }}\n  - key_by: {{ field: key }}\n  - aggregate:\n{aggregate}      allowed_lateness_ms: 1000\n      late_output: too-late\n    name: windows\n  - sink: {{ file: {{ path: {results:?} }} }}\n  - input: too-late\n    sink: {{ file: {{ path: {late:?} }} }}\n",
            udf("sum_count")
        ),
    )
}

/// Runs `job` on each backend (RocksDB with a one-entry write cache, so every entry goes
/// through the store); asserts its results, in order of emission, and its late records.
fn assert_lateness(dir: &Path, aggregate: &str, expected: &[&str]) {
    for backend in ["memory", "rocksdb"] {
        let out = dir.join(backend);
        let job = late_job(dir, backend, aggregate, &out);
        let args = [
            "run",
            "-q",
            "--state-backend",
            backend,
            "--state-write-cache",
            "1",
            job.to_str().expect("utf-8"),
        ];
        let run = weir(&args, &[], None).expect_code(0);
        assert!(
            !run.stderr.contains("late record"),
            "no dead letters: {}",
            run.stderr
        );
        let read = |name: &str| std::fs::read_to_string(out.join(name)).expect(name);
        let results = read("results");
        assert_eq!(results.lines().collect::<Vec<_>>(), expected, "{backend}");
        assert_eq!(
            read("late").lines().collect::<Vec<_>>(),
            ["{\"key\":\"a\",\"ts\":30,\"price\":8}"],
            "{backend}: the record beyond the lateness, as it came"
        );
    }
}

#[test]
fn a_session_within_its_allowed_lateness_is_updated_and_a_record_beyond_it_goes_to_the_late_output()
{
    let dir = tempfile::tempdir().expect("temp dir");
    let aggregate = "      window: { session: { gap_ms: 100 } }\n      functions:\n        - { fn: count }\n        - { fn: sum, field: price }\n";
    let session = |key: &str, (start, end): (i64, i64), count: u64, sum: i64| {
        format!(
            "{{\"key\":\"{key}\",\"window_start\":{start},\"window_end\":{end},\"count\":{count},\"sum_price\":{sum}}}"
        )
    };
    let expected = [
        session("a", (0, 150), 2, 3),
        // The late record joins the emitted session: updated at once.
        session("a", (0, 150), 3, 7),
        session("b", (1000, 1100), 1, 1),
        session("b", (1500, 1600), 1, 1),
    ];
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_lateness(dir.path(), aggregate, &expected);
}

#[test]
fn a_wasm_window_within_its_allowed_lateness_is_updated_and_a_record_beyond_it_goes_to_the_late_output()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let aggregate = "      module: totals\n      window: { tumbling: { size_ms: 100 } }\n";
    let window = |key: &str, start: i64, count: u64, sum: i64| {
        format!(
            "{{\"key\":\"{key}\",\"window_start\":{start},\"window_end\":{},\"result\":{{\"count\":{count},\"sum\":{sum}}}}}",
            start + 100
        )
    };
    let expected = [
        window("a", 0, 2, 3),
        window("a", 0, 3, 7),
        window("b", 1000, 1, 1),
        window("b", 1500, 1, 1),
    ];
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_lateness(dir.path(), aggregate, &expected);
}
