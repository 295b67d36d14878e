//! Event time and windows: out-of-order records, watermarks with bounded out-of-orderness,
//! tumbling and sliding windows with built-in functions, equal to a reference computed here, at
//! parallelism 1 and 3; records later than the watermark allows go to the dead-letter sink.

use crate::harness::{Interactive, job_file, weir};
use crate::shapes::MATRIX;
use std::collections::BTreeMap;

/// `n` JSON bids whose `ts` jitters up to `jitter` ms around a steady clock (10 ms apart).
pub(crate) fn bids(n: u64, jitter: i64) -> Vec<(i64, i64, i64)> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let auction = 1000 + (next() % 7) as i64;
            let price = 1 + (next() % 1000) as i64;
            let ts = 1_767_225_600_000 + i as i64 * 10 + (next() % (2 * jitter as u64 + 1)) as i64
                - jitter;
            (auction, price, ts)
        })
        .collect()
}

pub(crate) fn write_bids(dir: &std::path::Path, bids: &[(i64, i64, i64)]) -> std::path::PathBuf {
    let path = dir.join("bids.jsonl");
    let text: String = bids
        .iter()
        .map(|(a, p, t)| format!("{{\"auction\":{a},\"price\":{p},\"ts\":{t}}}\n"))
        .collect();
    std::fs::write(&path, text).expect("write bids");
    path
}

fn job(dir: &std::path::Path, input: &std::path::Path, window: &str) -> std::path::PathBuf {
    job_file(
        dir,
        "windows.yaml",
        &format!(
            "name: windows\nparallelism: ${{PARALLELISM:-1}}\nbatch_size: ${{BATCH_SIZE:-1024}}\nchaining: ${{CHAINING:-true}}\ndead_letter:\n  stderr: {{}}\npipeline:\n  - source: {{ file: {{ path: {input:?}, format: lines }} }}\n  - watermark: {{ out_of_orderness_ms: 500, timestamp_field: ts }}\n  - key_by: {{ field: auction }}\n  - aggregate:\n      window: {window}\n      functions:\n        - {{ fn: count }}\n        - {{ fn: max, field: price }}\n  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n"
        ),
    )
}

/// (auction, window start) → (count, max price) over `bids`, windows of `size` every `slide`.
fn reference(bids: &[(i64, i64, i64)], size: i64, slide: i64) -> BTreeMap<(i64, i64), (u64, i64)> {
    let mut windows = BTreeMap::new();
    for &(auction, price, ts) in bids {
        let mut start = ts - ts.rem_euclid(slide);
        while start + size > ts {
            let entry = windows.entry((auction, start)).or_insert((0u64, i64::MIN));
            entry.0 += 1;
            entry.1 = entry.1.max(price);
            start -= slide;
        }
    }
    windows
}

/// Panics naming the first few windows where `actual` and `expected` differ.
fn assert_same(
    actual: &BTreeMap<(i64, i64), (u64, i64)>,
    expected: &BTreeMap<(i64, i64), (u64, i64)>,
    what: &str,
) {
    let differences: Vec<String> = expected
        .keys()
        .chain(actual.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| actual.get(k) != expected.get(k))
        .take(5)
        .map(|k| {
            format!(
                "{k:?}: got {:?}, expected {:?}",
                actual.get(k),
                expected.get(k)
            )
        })
        .collect();
    assert!(
        differences.is_empty(),
        "{what}: {} windows, {} expected; first differences:\n{}",
        actual.len(),
        expected.len(),
        differences.join("\n")
    );
}

fn results(stdout: &str, size: i64) -> BTreeMap<(i64, i64), (u64, i64)> {
    stdout
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON result");
            let start = v["window_start"].as_i64().expect("window_start");
            assert_eq!(v["window_end"].as_i64(), Some(start + size), "{line}");
            let key = (v["auction"].as_i64().expect("auction"), start);
            let value = (
                v["count"].as_u64().expect("count"),
                v["max_price"].as_i64().expect("max"),
            );
            (key, value)
        })
        .collect()
}

#[test]
fn tumbling_and_sliding_windows_over_out_of_order_records_equal_a_reference() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Two records disagree by at most 2 × 200 ms: within the 500 ms the watermark allows.
    let bids = bids(20_000, 200);
    let input = write_bids(dir.path(), &bids);
    for (window, size, slide) in [
        ("{ tumbling: { size_ms: 1000 } }", 1000, 1000),
        ("{ sliding: { size_ms: 3000, slide_ms: 1000 } }", 3000, 1000),
    ] {
        let expected = reference(&bids, size, slide);
        let job = job(dir.path(), &input, window);
        for shape in &MATRIX {
            // A tiny write cache: RocksDB sees entries mid-window, merged without a read.
            let run = shape.run(&job, &[], &["--state-write-cache", "5"]);
            assert_eq!(
                run.stdout.lines().count(),
                expected.len(),
                "{window} in {shape}: one line per window and key"
            );
            assert_same(
                &results(&run.stdout, size),
                &expected,
                &format!("{window} in {shape}"),
            );
            assert!(
                !run.stderr.contains("late record"),
                "no record is late: {}",
                run.stderr
            );
        }
    }
}

#[test]
fn records_later_than_the_watermark_allows_go_to_the_dead_letter_sink() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bids = bids(5_000, 0);
    // 50 s after the start, a record from the first second arrives: its window fired long ago.
    bids.push((1000, 999, 1_767_225_600_000 + 10));
    bids.extend((0..10).map(|i| (1001, 1, 1_767_225_600_000 + 50_000 + i)));
    let input = write_bids(dir.path(), &bids);
    let job = job(dir.path(), &input, "{ tumbling: { size_ms: 1000 } }");
    for backend in ["memory", "rocksdb"] {
        let args = [
            "run",
            "-q",
            "--state-backend",
            backend,
            // A tiny write cache: RocksDB sees entries mid-window, merged without a read.
            "--state-write-cache",
            "5",
            job.to_str().expect("utf-8"),
        ];
        let run = weir(&args, &[], None).expect_code(0);
        assert_eq!(
            run.stderr.matches("late record").count(),
            1,
            "{}",
            run.stderr
        );
        let on_time: Vec<_> = bids[..5_000]
            .iter()
            .chain(&bids[5_001..])
            .copied()
            .collect();
        assert_same(
            &results(&run.stdout, 1000),
            &reference(&on_time, 1000, 1000),
            "late",
        );
    }
}

#[test]
fn w3_gives_flinks_checksums_on_the_same_data() {
    // PROBES.md: for N = 2,000,000, Flink's W3 emits 20,000 rows over 2 windows,
    // sum(count) = 2,000,000, sum(max price) = 19,809,267.
    let run = weir(
        &[
            "bench", "--w3", "--events", "2000000", "--runs", "1", "--check",
        ],
        &[],
        None,
    )
    .expect_code(0);
    assert!(
        run.stdout.contains(
            "20,000 rows over 2 windows, sum(count) = 2,000,000, sum(max price) = 19,809,267"
        ),
        "{}",
        run.stdout
    );
}

/// (auction, session start, session end) → (count, max price): per key, records closer than
/// `gap` to the next form one session ending `gap` after its last record.
pub(crate) fn sessions(
    bids: &[(i64, i64, i64)],
    gap: i64,
) -> BTreeMap<(i64, i64, i64), (u64, i64)> {
    let mut per_key: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for &(auction, price, ts) in bids {
        per_key.entry(auction).or_default().push((ts, price));
    }
    let mut out = BTreeMap::new();
    for (auction, mut records) in per_key {
        records.sort_unstable();
        let mut current: Option<(i64, i64, u64, i64)> = None;
        for (ts, price) in records {
            current = match current {
                Some((start, last, count, max)) if ts < last + gap => {
                    Some((start, ts, count + 1, max.max(price)))
                }
                previous => {
                    if let Some((start, last, count, max)) = previous {
                        out.insert((auction, start, last + gap), (count, max));
                    }
                    Some((ts, ts, 1, price))
                }
            };
        }
        if let Some((start, last, count, max)) = current {
            out.insert((auction, start, last + gap), (count, max));
        }
    }
    out
}

#[test]
fn session_windows_over_out_of_order_records_equal_a_reference() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Bursts of 3 s with 3 s of silence between them: sessions with a 1 s gap break there.
    let bids: Vec<_> = bids(20_000, 200)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| (i / 300) % 2 == 0)
        .map(|(_, bid)| bid)
        .collect();
    let input = write_bids(dir.path(), &bids);
    let expected = sessions(&bids, 1000);
    let job = job(dir.path(), &input, "{ session: { gap_ms: 1000 } }");
    for shape in &MATRIX {
        // A tiny write cache: RocksDB sees entries mid-window, merged without a read.
        let run = shape.run(&job, &[], &["--state-write-cache", "5"]);
        let actual: BTreeMap<(i64, i64, i64), (u64, i64)> = run
            .stdout
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("JSON result");
                let field = |name: &str| v[name].as_i64().expect(name);
                (
                    (field("auction"), field("window_start"), field("window_end")),
                    (v["count"].as_u64().expect("count"), field("max_price")),
                )
            })
            .collect();
        assert_eq!(run.stdout.lines().count(), expected.len());
        assert!(
            actual == expected,
            "sessions in {shape} differ from the reference ({} vs {})",
            actual.len(),
            expected.len()
        );
    }
}

#[test]
fn a_record_within_the_allowed_lateness_updates_its_window_and_one_beyond_it_is_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = 1_767_225_600_000;
    let mut bids = bids(5_000, 0);
    // One record per batch, so the watermark follows every record (the highest timestamp − 1).
    // At ~1.5 s of event time, a record for the first second: within 1 s of allowed lateness.
    bids.insert(150, (1000, 999, start + 10));
    // At ~6 s, one for the first second again: beyond it.
    bids.insert(600, (1001, 1, start + 20));
    let input = write_bids(dir.path(), &bids);
    let job = job_file(
        dir.path(),
        "lateness.yaml",
        &format!(
            "name: lateness\nbatch_size: 1\ndead_letter:\n  stderr: {{}}\npipeline:\n  - source: {{ file: {{ path: {input:?}, format: lines }} }}\n  - watermark: {{ out_of_orderness_ms: 0, timestamp_field: ts }}\n  - key_by: {{ field: auction }}\n  - aggregate:\n      window: {{ tumbling: {{ size_ms: 1000 }} }}\n      allowed_lateness_ms: 1000\n      functions:\n        - {{ fn: count }}\n        - {{ fn: max, field: price }}\n  - sink: {{ stdout: {{}} }}\n"
        ),
    );
    for backend in ["memory", "rocksdb"] {
        let args = [
            "run",
            "-q",
            "--state-backend",
            backend,
            // A tiny write cache: RocksDB sees entries mid-window, merged without a read.
            "--state-write-cache",
            "5",
            job.to_str().expect("utf-8"),
        ];
        let run = weir(&args, &[], None).expect_code(0);
        assert_eq!(
            run.stderr.matches("late record").count(),
            1,
            "{}",
            run.stderr
        );
        let lines: Vec<&str> = run.stdout.lines().collect();
        let last_wins = results(&run.stdout, 1000);
        assert_eq!(
            lines.len(),
            last_wins.len() + 1,
            "one window was emitted twice"
        );
        let on_time: Vec<_> = bids
            .iter()
            .copied()
            .filter(|b| *b != (1001, 1, start + 20))
            .collect();
        assert_same(
            &last_wins,
            &reference(&on_time, 1000, 1000),
            "with the late update",
        );
        let first_window: Vec<&&str> = lines
            .iter()
            .filter(|l| {
                l.contains("\"auction\":1000,") && l.contains(&format!("\"window_start\":{start},"))
            })
            .collect();
        assert_eq!(first_window.len(), 2, "{first_window:?}");
        assert!(
            first_window[1].contains("\"max_price\":999"),
            "the update includes the late record: {first_window:?}"
        );
    }
}

#[test]
fn ingestion_time_windows_count_every_record_once_in_windows_around_now() {
    let dir = tempfile::tempdir().expect("temp dir");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let job = job_file(
        dir.path(),
        "ingestion.yaml",
        "name: ingestion\npipeline:\n  - source: { datagen: { mode: bids, count: 50000 } }\n  - watermark: { ingestion_time: true }\n  - key_by: { field: auction }\n  - aggregate:\n      window: { tumbling: { size_ms: 100 } }\n      functions:\n        - { fn: count }\n  - sink: { stdout: {} }\n",
    );
    let run = weir(&["run", "-q", job.to_str().expect("utf-8")], &[], None).expect_code(0);
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let mut total = 0;
    for line in run.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON result");
        let start = v["window_start"].as_i64().expect("window_start");
        assert!(
            start >= before - 100 && start <= after,
            "window {start} not within the run [{before}, {after}]"
        );
        total += v["count"].as_u64().expect("count");
    }
    assert_eq!(total, 50_000, "every record counted once");
}

#[test]
fn an_idle_input_does_not_stall_windows() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Every record has the same `part`, so one of the two watermark subtasks gets them all and
    // the other none: without its idle timeout, the window would wait for it until the end of
    // input.
    let job = job_file(
        dir.path(),
        "idle.yaml",
        "name: idle\npipeline:\n  - source: { stdin: { format: lines } }\n  - key_by: { field: part }\n  - watermark: { out_of_orderness_ms: 0, timestamp_field: ts, idle_timeout_ms: 300 }\n    parallelism: 2\n  - key_by: { field: auction }\n  - aggregate:\n      window: { tumbling: { size_ms: 1000 } }\n      functions:\n        - { fn: count }\n  - sink: { stdout: {} }\n",
    );
    let mut weir = Interactive::start(&["run", "-q", job.to_str().expect("utf-8")]);
    // Records in [0, 1 s) and one at 1.5 s, whose watermark closes the first window.
    for (i, ts) in [100, 200, 300, 900, 1500].into_iter().enumerate() {
        weir.send(&format!(r#"{{"part":"x","auction":{},"ts":{ts}}}"#, i % 2));
    }
    // The first window's results arrive while input is still open.
    let mut first = vec![
        weir.next_line("the first window"),
        weir.next_line("the first window"),
    ];
    first.sort();
    assert_eq!(
        first,
        [
            r#"{"auction":0,"window_start":0,"window_end":1000,"count":2}"#,
            r#"{"auction":1,"window_start":0,"window_end":1000,"count":2}"#,
        ]
    );
    assert_eq!(
        weir.finish(),
        [r#"{"auction":0,"window_start":1000,"window_end":2000,"count":1}"#],
        "the last window fires at the end of input"
    );
}

#[test]
fn processing_time_windows_fire_by_the_clock_while_input_stays_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(
        dir.path(),
        "processing.yaml",
        "name: processing\npipeline:\n  - source: { stdin: { format: lines } }\n  - key_by: { field: user }\n  - aggregate:\n      window: { tumbling: { size_ms: 300 } }\n      processing_time: true\n      functions:\n        - { fn: count }\n  - sink: { stdout: {} }\n",
    );
    for backend in ["memory", "rocksdb"] {
        let mut weir = Interactive::start(&[
            "run",
            "-q",
            "--state-backend",
            backend,
            job.to_str().expect("utf-8"),
        ]);
        for user in [1, 1, 2] {
            weir.send(&format!(r#"{{"user":{user}}}"#));
        }
        // No watermark, no end of input: only the clock can fire these windows.
        let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
        while counts.values().sum::<u64>() < 3 {
            let line = weir.next_line("a processing-time window");
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON result");
            assert_eq!(
                v["window_end"].as_i64().expect("end") - v["window_start"].as_i64().expect("start"),
                300,
                "{backend}: {line}"
            );
            *counts.entry(v["user"].as_i64().expect("user")).or_default() +=
                v["count"].as_u64().expect("count");
        }
        assert_eq!(counts, BTreeMap::from([(1, 2), (2, 1)]), "{backend}");
        weir.send(r#"{"user":3}"#);
        let rest = weir.finish();
        assert_eq!(
            rest.len(),
            1,
            "{backend}: the last window fires at the end of input: {rest:?}"
        );
        assert!(
            rest[0].contains(r#""user":3"#) && rest[0].contains(r#""count":1"#),
            "{rest:?}"
        );
    }
}

#[test]
fn a_wasm_aggregate_over_windows_equals_a_reference_on_both_backends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = bids(20_000, 200);
    let input = write_bids(dir.path(), &bids);
    for (window, size, slide) in [
        ("{ tumbling: { size_ms: 1000 } }", 1000, 1000),
        ("{ sliding: { size_ms: 3000, slide_ms: 1000 } }", 3000, 1000),
    ] {
        // (auction, window start) → (count, sum of prices)
        let mut expected: BTreeMap<(i64, i64), (u64, i64)> = BTreeMap::new();
        for &(auction, price, ts) in &bids {
            let mut start = ts - ts.rem_euclid(slide);
            while start + size > ts {
                let entry = expected.entry((auction, start)).or_default();
                entry.0 += 1;
                entry.1 += price;
                start -= slide;
            }
        }
        let job = job_file(
            dir.path(),
            "wasm-windows.yaml",
            &format!(
                "name: wasm-windows\nparallelism: ${{PARALLELISM:-1}}\nbatch_size: ${{BATCH_SIZE:-1024}}\nchaining: ${{CHAINING:-true}}\nmodules:\n  agg: {{ path: {:?} }}\npipeline:\n  - source: {{ file: {{ path: {input:?}, format: lines }} }}\n  - watermark: {{ out_of_orderness_ms: 500, timestamp_field: ts }}\n  - key_by: {{ field: auction }}\n  - aggregate: {{ module: agg, window: {window} }}\n  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n",
                crate::harness::udf("sum_count")
            ),
        );
        for shape in &MATRIX {
            // A tiny write cache: accumulators reach RocksDB mid-window and are merged there
            // by the guest's merge.
            let run = shape.run(&job, &[], &["--state-write-cache", "5"]);
            let actual: BTreeMap<(i64, i64), (u64, i64)> = run
                .stdout
                .lines()
                .map(|line| {
                    let v: serde_json::Value = serde_json::from_str(line).expect("JSON result");
                    let start = v["window_start"].as_i64().expect("window_start");
                    assert_eq!(v["window_end"].as_i64(), Some(start + size), "{line}");
                    let result = &v["result"];
                    (
                        (v["auction"].as_i64().expect("auction"), start),
                        (
                            result["count"].as_u64().expect("count"),
                            result["sum"].as_i64().expect("sum"),
                        ),
                    )
                })
                .collect();
            assert_eq!(
                run.stdout.lines().count(),
                expected.len(),
                "{window} in {shape}"
            );
            assert!(
                actual == expected,
                "{window} in {shape} differs from the reference"
            );
        }
    }
}

#[test]
fn count_windows_fire_every_n_records_of_a_key_and_the_rest_at_the_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = bids(10_000, 200);
    let input = write_bids(dir.path(), &bids);
    // auction → (records, sum of prices)
    let mut expected: BTreeMap<i64, (u64, i64)> = BTreeMap::new();
    for &(auction, price, _) in &bids {
        let entry = expected.entry(auction).or_default();
        entry.0 += 1;
        entry.1 += price;
    }
    let job = job_file(
        dir.path(),
        "count.yaml",
        &format!(
            "name: count\nparallelism: ${{PARALLELISM:-1}}\nbatch_size: ${{BATCH_SIZE:-1024}}\nchaining: ${{CHAINING:-true}}\npipeline:\n  - source: {{ file: {{ path: {input:?}, format: lines }} }}\n  - key_by: {{ field: auction }}\n  - aggregate:\n      window: {{ count: {{ size: 3 }} }}\n      functions:\n        - {{ fn: count }}\n        - {{ fn: sum, field: price }}\n  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n"
        ),
    );
    for shape in &MATRIX {
        let run = shape.run(&job, &[], &["--state-write-cache", "5"]);
        // auction → the windows' counts, and the sum of their price sums
        let mut seen: BTreeMap<i64, (Vec<u64>, i64)> = BTreeMap::new();
        for line in run.stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON result");
            let entry = seen
                .entry(v["auction"].as_i64().expect("auction"))
                .or_default();
            entry.0.push(v["count"].as_u64().expect("count"));
            entry.1 += v["sum_price"].as_i64().expect("sum_price");
        }
        let label = shape.to_string();
        assert_eq!(seen.len(), expected.len(), "{label}");
        for (auction, (mut counts, sum)) in seen {
            let (n, price_sum) = expected[&auction];
            counts.sort_unstable_by(|a, b| b.cmp(a));
            let mut windows = vec![3; (n / 3) as usize];
            if n % 3 > 0 {
                windows.push(n % 3);
            }
            assert_eq!(
                counts, windows,
                "{label}: auction {auction} with {n} records"
            );
            assert_eq!(
                sum, price_sum,
                "{label}: auction {auction}: every price counted once"
            );
        }
    }
}

#[test]
fn event_time_from_a_wasm_function_drives_the_windows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = bids(20_000, 200);
    let input = write_bids(dir.path(), &bids);
    let expected = reference(&bids, 1000, 1000);
    // No timestamp_field: the watermark step takes the timestamps the Wasm map gave.
    let job = job_file(
        dir.path(),
        "wasm-time.yaml",
        &format!(
            "name: wasm-time\nparallelism: ${{PARALLELISM:-1}}\nbatch_size: ${{BATCH_SIZE:-1024}}\nchaining: ${{CHAINING:-true}}\nmodules:\n  time: {{ path: {:?} }}\npipeline:\n  - source: {{ file: {{ path: {input:?}, format: lines }} }}\n  - map: {{ module: time }}\n  - watermark: {{ out_of_orderness_ms: 500 }}\n  - key_by: {{ field: auction }}\n  - aggregate:\n      window: {{ tumbling: {{ size_ms: 1000 }} }}\n      functions:\n        - {{ fn: count }}\n        - {{ fn: max, field: price }}\n  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n",
            crate::harness::udf("event_time")
        ),
    );
    for parallelism in ["1", "3"] {
        let args = ["run", "-q", job.to_str().expect("utf-8")];
        let run = weir(&args, &[("P", parallelism)], None).expect_code(0);
        assert_same(
            &results(&run.stdout, 1000),
            &expected,
            &format!("event time from Wasm at parallelism {parallelism}"),
        );
    }
}

#[test]
fn a_whole_window_function_sees_every_record_of_its_window_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = bids(20_000, 200);
    let input = write_bids(dir.path(), &bids);
    for (window, size, slide) in [
        ("{ tumbling: { size_ms: 1000 } }", 1000, 1000),
        ("{ sliding: { size_ms: 3000, slide_ms: 1000 } }", 3000, 1000),
    ] {
        // (auction, window end) → (bids, lower median price)
        let mut prices: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
        for &(auction, price, ts) in &bids {
            let mut start = ts - ts.rem_euclid(slide);
            while start + size > ts {
                prices
                    .entry((auction, start + size))
                    .or_default()
                    .push(price);
                start -= slide;
            }
        }
        let expected: BTreeMap<(i64, i64), (u64, i64)> = prices
            .into_iter()
            .map(|(window, mut p)| {
                p.sort_unstable();
                (window, (p.len() as u64, p[(p.len() - 1) / 2]))
            })
            .collect();
        let job = job_file(
            dir.path(),
            "median.yaml",
            &format!(
                "name: median\nparallelism: ${{PARALLELISM:-1}}\nbatch_size: ${{BATCH_SIZE:-1024}}\nchaining: ${{CHAINING:-true}}\nmodules:\n  median: {{ path: {:?} }}\npipeline:\n  - source: {{ file: {{ path: {input:?}, format: lines }} }}\n  - watermark: {{ out_of_orderness_ms: 500, timestamp_field: ts }}\n  - key_by: {{ field: auction }}\n  - aggregate: {{ process: median, window: {window} }}\n  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n",
                crate::harness::udf("window_median")
            ),
        );
        for shape in &MATRIX {
            let run = shape.run(&job, &[], &[]);
            let actual: BTreeMap<(i64, i64), (u64, i64)> = run
                .stdout
                .lines()
                .map(|line| {
                    let v: serde_json::Value = serde_json::from_str(line).expect("JSON result");
                    let field = |name: &str| v[name].as_i64().expect(name);
                    (
                        (field("key"), field("window_end")),
                        (field("bids") as u64, field("median_price")),
                    )
                })
                .collect();
            assert_eq!(
                run.stdout.lines().count(),
                expected.len(),
                "{window} in {shape}"
            );
            assert!(
                actual == expected,
                "{window} in {shape} differs from the reference"
            );
        }
    }
}
