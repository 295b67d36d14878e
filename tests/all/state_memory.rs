//! Memory with many keys: a window over ~1.4 million distinct keys keeps the process within its
//! RocksDB budget on the RocksDB backend, where the memory backend grows with the keys — and
//! both give the same result.

use crate::harness::{job_file, repo, weir_bin, weir_home};
use std::process::{Command, Stdio};

const JOB: &str = "name: many-keys
pipeline:
  - source: { nexmark: { count: ${EVENTS}, seed: 42, only: bid } }
  - watermark: { out_of_orderness_ms: 0 }
  - key_by: { field: url }
  - aggregate:
      window: { tumbling: { size_ms: 3600000 } }
      functions:
        - { fn: count }
  - aggregate:
      window: { tumbling: { size_ms: 3600000 } }
      functions:
        - { fn: count, as: keys }
        - { fn: sum, field: count, as: bids }
  - sink: { stdout: {} }
";

/// The job's output and the process's peak resident memory in KiB, read from /proc while it
/// runs (VmHWM only grows, so the last reading is the peak up to a few milliseconds before the
/// end).
fn run(job: &std::path::Path, events: &str, args: &[&str]) -> (String, u64) {
    let mut child = Command::new(weir_bin())
        .args(["run", "-q"])
        .args(args)
        .arg(job)
        .env("EVENTS", events)
        .env("WEIR_HOME", weir_home())
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn weir");
    let status_file = format!("/proc/{}/status", child.id());
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).expect("stdout"));
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(kib) = status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        {
            peak = peak.max(kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(child.wait().expect("wait").success(), "{args:?} failed");
    (reader.join().expect("reader"), peak)
}

#[test]
fn many_keys_on_rocksdb_stay_within_the_memory_budget() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(dir.path(), "many-keys.yaml", JOB);
    let budget_mib = 32;
    let budget = budget_mib.to_string();
    let rocksdb = [
        "--state-backend",
        "rocksdb",
        "--rocksdb-memory-mb",
        budget.as_str(),
    ];
    // The process with hardly any state: the engine, threads, buffers.
    let (_, baseline) = run(&job, "10000", &rocksdb);
    let (on_rocksdb, rocksdb_peak) = run(&job, "2000000", &rocksdb);
    let (on_heap, heap_peak) = run(&job, "2000000", &["--state-backend", "memory"]);
    assert_eq!(on_rocksdb, on_heap, "both backends give the same result");
    let result: serde_json::Value = serde_json::from_str(on_heap.trim()).expect("one JSON line");
    assert_eq!(result["bids"], 1_840_000, "every bid counted once");
    let keys = result["keys"].as_u64().expect("keys");
    assert!(keys > 1_000_000, "{keys} distinct keys");
    eprintln!(
        "peak RSS: baseline {baseline} KiB, RocksDB {rocksdb_peak} KiB, memory backend {heap_peak} KiB, {keys} keys"
    );
    // RocksDB's budget, plus as much again for what it does not charge to its cache (table
    // readers, iterators, allocator slack) and the operators' bounded write caches.
    let allowed = baseline + 2 * budget_mib * 1024;
    assert!(
        rocksdb_peak <= allowed,
        "RocksDB backend peaked at {rocksdb_peak} KiB, over {allowed} KiB (baseline {baseline} KiB + 2 x {budget_mib} MiB)"
    );
    assert!(
        heap_peak > allowed,
        "the memory backend ({heap_peak} KiB) should need more than RocksDB's bound ({allowed} KiB) for {keys} keys"
    );
}
