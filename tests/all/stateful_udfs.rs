//! Wasm key selectors and Wasm aggregates, and the precompiled-module cache.

use crate::harness::{Interactive, job_file, udf, weir};
use std::collections::BTreeMap;

fn bids_job(dir: &std::path::Path, steps: &str) -> std::path::PathBuf {
    let yaml = format!(
        "name: bids\nparallelism: ${{P:-1}}\nmodules:\n  key: {{ path: {:?} }}\n  agg: {{ path: {:?} }}\npipeline:\n  - source: {{ nexmark: {{ count: 30000, seed: 7, only: bid }} }}\n{steps}  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n",
        udf("auction_key"),
        udf("sum_count")
    );
    job_file(dir, &format!("job-{}.yaml", steps.len()), &yaml)
}

#[test]
fn wasm_key_selector_and_wasm_aggregate_equal_a_reference() {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = bids_job(dir.path(), "");
    let bids = weir(&["run", "--quiet", raw.to_str().expect("utf-8")], &[], None).expect_code(0);
    let mut per_auction: BTreeMap<i64, (u64, i64)> = BTreeMap::new();
    for line in bids.stdout.lines() {
        let bid: serde_json::Value = serde_json::from_str(line).expect("JSON bid");
        let entry = per_auction
            .entry(bid["auction"].as_i64().expect("auction"))
            .or_default();
        entry.0 += 1;
        entry.1 += bid["price"].as_i64().expect("price");
    }
    let mut expected: Vec<String> = per_auction
        .values()
        .map(|(n, s)| format!("{{\"count\":{n},\"sum\":{s}}}"))
        .collect();
    expected.sort();
    let job = bids_job(
        dir.path(),
        "  - key_by: { module: key }\n  - aggregate: { module: agg }\n",
    );
    for parallelism in ["1", "3"] {
        let run = weir(
            &["run", "--quiet", job.to_str().expect("utf-8")],
            &[("P", parallelism)],
            None,
        )
        .expect_code(0);
        let mut results: Vec<String> = run.stdout.lines().map(str::to_string).collect();
        results.sort();
        assert_eq!(results, expected, "parallelism {parallelism}");
    }
}

#[test]
fn a_module_compiles_once_then_loads_precompiled() {
    let home = tempfile::tempdir().expect("temp WEIR_HOME");
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml = format!(
        "name: once\nmodules:\n  m: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ count: 10 }} }}\n  - map: {{ module: m }}\n  - sink: {{ blackhole: {{}} }}\n",
        udf("trap_on_poison")
    );
    let job = job_file(dir.path(), "job.yaml", &yaml);
    let env = [
        ("WEIR_HOME", home.path().to_str().expect("utf-8")),
        ("WEIR_LOG", "info"),
    ];
    let first = weir(
        &["run", "--quiet", job.to_str().expect("utf-8")],
        &env,
        None,
    )
    .expect_code(0);
    assert!(first.stderr.contains("compiled module"), "{}", first.stderr);
    let cached = precompiled_modules(home.path());
    assert_eq!(cached.len(), 1, "one precompiled module on disk");
    assert!(
        digest_of(&cached[0]).is_file(),
        "its digest beside it: {}",
        cached[0].display()
    );
    let second = weir(
        &["run", "--quiet", job.to_str().expect("utf-8")],
        &env,
        None,
    )
    .expect_code(0);
    assert!(
        !second.stderr.contains("compiled module"),
        "loaded from the cache: {}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("building Rust UDF"),
        "build cache hit: {}",
        second.stderr
    );
}

/// The precompiled modules (`.cwasm` files) in `home`'s module cache.
fn precompiled_modules(home: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(home.join("modules"))
        .expect("module cache")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect()
}

/// Where the cache keeps the sha256 of the precompiled module at `cwasm`.
fn digest_of(cwasm: &std::path::Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.sha256", cwasm.display()))
}

#[test]
fn a_corrupted_precompiled_module_is_recompiled_with_a_warning_never_run() {
    let home = tempfile::tempdir().expect("temp WEIR_HOME");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut input = String::new();
    for i in 0..200 {
        input.push_str(&format!("line {i}\n"));
    }
    let input_path = dir.path().join("in.txt");
    std::fs::write(&input_path, &input).expect("write input");
    let yaml = format!(
        "name: corrupt\nmodules:\n  m: {{ path: {:?} }}\npipeline:\n  - source: {{ file: {{ path: {:?}, format: lines }} }}\n  - map: {{ module: m }}\n  - sink: {{ stdout: {{}} }}\n",
        udf("trap_on_poison"),
        input_path.display().to_string()
    );
    let job = job_file(dir.path(), "job.yaml", &yaml);
    let env = [
        ("WEIR_HOME", home.path().to_str().expect("utf-8")),
        ("WEIR_LOG", "info"),
    ];
    let run = || {
        weir(
            &["run", "--quiet", job.to_str().expect("utf-8")],
            &env,
            None,
        )
    };
    let first = run().expect_code(0);
    assert_eq!(first.stdout, input, "every line, in order");
    assert!(first.stderr.contains("compiled module"), "{}", first.stderr);
    let cached = precompiled_modules(home.path());
    assert_eq!(cached.len(), 1, "one precompiled module");
    let cwasm = &cached[0];
    assert!(
        digest_of(cwasm).is_file(),
        "a digest beside {}",
        cwasm.display()
    );
    // 4 KiB of flipped bytes in the middle of the file: the compiled code.
    let mut bytes = std::fs::read(cwasm).expect("read the module");
    let middle = bytes.len() / 2;
    assert!(bytes.len() > 16 << 10, "{} bytes", bytes.len());
    for byte in &mut bytes[middle - 2048..middle + 2048] {
        *byte = !*byte;
    }
    std::fs::write(cwasm, &bytes).expect("corrupt the module");
    let second = run().expect_code(0);
    assert_eq!(second.stdout, input, "the recompiled module ran every line");
    let file = cwasm
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        second
            .stderr
            .lines()
            .any(|l| l.contains("WARN") && l.contains("integrity check") && l.contains(&file)),
        "a warning naming the file:\n{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("compiled module"),
        "recompiled:\n{}",
        second.stderr
    );
    let third = run().expect_code(0);
    assert_eq!(third.stdout, input);
    assert!(
        !third.stderr.contains("compiled module") && !third.stderr.contains("WARN"),
        "the rewritten module and digest verify:\n{}",
        third.stderr
    );
}

#[test]
fn keyed_state_counts_each_keys_records_across_batches_at_any_parallelism() {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = bids_job(dir.path(), "");
    let mut per_auction: BTreeMap<String, u64> = BTreeMap::new();
    for line in weir(&["run", "--quiet", raw.to_str().expect("utf-8")], &[], None)
        .expect_code(0)
        .stdout
        .lines()
    {
        let bid: serde_json::Value = serde_json::from_str(line).expect("JSON bid");
        *per_auction.entry(bid["auction"].to_string()).or_default() += 1;
    }
    let job = job_file(
        dir.path(),
        "running.yaml",
        &format!(
            "name: running\nparallelism: ${{P:-1}}\nbatch_size: 100\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ nexmark: {{ count: 30000, seed: 7, only: bid }} }}\n  - key_by: {{ field: auction }}\n  - map: {{ module: count }}\n  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n",
            udf("running_count")
        ),
    );
    let python = crate::harness::repo().join("udfs/python/running_count");
    let python_job = job_file(
        dir.path(),
        "running-python.yaml",
        &std::fs::read_to_string(&job)
            .expect("job")
            .replace(&udf("running_count"), &python.display().to_string()),
    );
    for (job, parallelism, backend) in [
        (&job, "1", "memory"),
        (&job, "3", "memory"),
        (&job, "1", "rocksdb"),
        (&job, "3", "rocksdb"),
        (&python_job, "1", "memory"),
        (&python_job, "3", "rocksdb"),
    ] {
        let args = [
            "run",
            "-q",
            "--state-backend",
            backend,
            job.to_str().expect("utf-8"),
        ];
        let run = weir(&args, &[("P", parallelism)], None).expect_code(0);
        let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for line in run.stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON count");
            counts
                .entry(v["key"].as_str().expect("key").to_string())
                .or_default()
                .push(v["count"].as_u64().expect("count"));
        }
        assert_eq!(
            counts.len(),
            per_auction.len(),
            "{backend} at parallelism {parallelism}"
        );
        for (key, mut seen) in counts {
            seen.sort_unstable();
            let n = per_auction[&key];
            assert_eq!(
                seen,
                (1..=n).collect::<Vec<u64>>(),
                "key {key} on {backend} at parallelism {parallelism}: 1..=n, each once"
            );
        }
    }
}

#[test]
fn keyed_state_without_a_key_by_fails_naming_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(
        dir.path(),
        "unkeyed.yaml",
        &format!(
            "name: unkeyed\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ count: 10 }} }}\n  - map: {{ module: count }}\n  - sink: {{ stdout: {{}} }}\n",
            udf("running_count")
        ),
    );
    let run = weir(&["run", job.to_str().expect("utf-8")], &[], None).expect_code(1);
    assert!(
        run.stderr.contains("module `count`") && run.stderr.contains("has no key"),
        "{}",
        run.stderr
    );
}

#[test]
fn map_and_list_state_count_each_auctions_distinct_bidders_on_both_backends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = bids_job(dir.path(), "");
    // auction → (bidders, bids, highest price, total price), from the raw bids.
    type Expected = (std::collections::BTreeSet<i64>, u64, i64, i64);
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    for line in weir(&["run", "--quiet", raw.to_str().expect("utf-8")], &[], None)
        .expect_code(0)
        .stdout
        .lines()
    {
        let bid: serde_json::Value = serde_json::from_str(line).expect("JSON bid");
        let entry = expected.entry(bid["auction"].to_string()).or_default();
        entry.0.insert(bid["bidder"].as_i64().expect("bidder"));
        entry.1 += 1;
        let price = bid["price"].as_i64().expect("price");
        entry.2 = if entry.1 == 1 {
            price
        } else {
            entry.2.max(price)
        };
        entry.3 += price;
    }
    let job = job_file(
        dir.path(),
        "distinct.yaml",
        &format!(
            "name: distinct\nparallelism: ${{P:-1}}\nbatch_size: 100\nmodules:\n  distinct: {{ path: {:?} }}\npipeline:\n  - source: {{ nexmark: {{ count: 30000, seed: 7, only: bid }} }}\n  - key_by: {{ field: auction }}\n  - map: {{ module: distinct }}\n  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n",
            udf("distinct_bidders")
        ),
    );
    for (backend, parallelism) in [("memory", "1"), ("rocksdb", "3")] {
        let args = [
            "run",
            "-q",
            "--state-backend",
            backend,
            job.to_str().expect("utf-8"),
        ];
        let run = weir(&args, &[("P", parallelism)], None).expect_code(0);
        // auction → (bids seen in each output, the most distinct bidders reported, and the
        // highest and total prices reported with the last bid)
        let mut seen: BTreeMap<String, (Vec<u64>, u64, i64, i64)> = BTreeMap::new();
        for line in run.stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON output");
            let entry = seen
                .entry(v["key"].as_str().expect("key").to_string())
                .or_default();
            let bids = v["bids"].as_u64().expect("bids");
            if entry.0.iter().all(|&b| b < bids) {
                entry.2 = v["highest"].as_i64().expect("highest");
                entry.3 = v["total"].as_i64().expect("total");
            }
            entry.0.push(bids);
            entry.1 = entry.1.max(v["distinct"].as_u64().expect("distinct"));
        }
        assert_eq!(seen.len(), expected.len(), "{backend}: every auction");
        for (auction, (mut bids, distinct, highest, total)) in seen {
            let (bidders, n, max_price, price_sum) = &expected[&auction];
            assert_eq!(
                (highest, total),
                (*max_price, *price_sum),
                "{backend}: auction {auction}: reducing state"
            );
            bids.sort_unstable();
            assert_eq!(
                bids,
                (1..=*n).collect::<Vec<u64>>(),
                "{backend}: auction {auction}"
            );
            assert_eq!(
                distinct,
                bidders.len() as u64,
                "{backend}: auction {auction}"
            );
        }
    }
}

#[test]
fn state_expires_after_the_steps_ttl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(
        dir.path(),
        "ttl.yaml",
        &format!(
            "name: ttl\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ stdin: {{ format: lines }} }}\n  - key_by: {{ field: user }}\n  - map: {{ module: count, state_ttl_ms: 2000 }}\n  - sink: {{ stdout: {{}} }}\n",
            udf("running_count")
        ),
    );
    for backend in ["memory", "rocksdb"] {
        let job = job.to_str().expect("utf-8");
        let mut weir = Interactive::start(&["run", "-q", "--state-backend", backend, job]);
        let mut send = |user: u32| {
            weir.send(&format!(r#"{{"user":{user}}}"#));
            let line = weir.next_line("a count");
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
            v["count"].as_u64().expect("count")
        };
        // Each output arrives before the next input: the counts are exact.
        assert_eq!(send(1), 1, "{backend}");
        assert_eq!(send(1), 2, "{backend}");
        assert_eq!(send(2), 1, "{backend}");
        // Well past the TTL, which is long enough that a slow machine still counts 1, 2 first.
        std::thread::sleep(std::time::Duration::from_millis(3000));
        assert_eq!(send(1), 1, "{backend}: user 1's count expired");
        assert_eq!(send(1), 2, "{backend}: and counts again");
        assert!(weir.finish().is_empty(), "{backend}");
    }
}

#[test]
fn a_process_function_with_event_time_timers_sessionizes_like_a_session_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = 30_000;
    let raw = job_file(
        dir.path(),
        "bids.yaml",
        &format!(
            "name: bids\npipeline:\n  - source: {{ nexmark: {{ count: {events}, seed: 42, only: bid, out_of_order_ms: 1000 }} }}\n  - sink: {{ stdout: {{}} }}\n"
        ),
    );
    let bids: Vec<(i64, i64, i64)> = weir(&["run", "-q", raw.to_str().expect("utf-8")], &[], None)
        .expect_code(0)
        .stdout
        .lines()
        .map(|line| {
            let bid: serde_json::Value = serde_json::from_str(line).expect("bid");
            let field = |name: &str| bid[name].as_i64().expect(name);
            (field("bidder"), field("price"), field("dateTime"))
        })
        .collect();
    let expected: BTreeMap<(i64, i64, i64), u64> = crate::windows::sessions(&bids, 10_000)
        .into_iter()
        .map(|(session, (count, _))| (session, count))
        .collect();
    assert!(expected.len() > 100, "{} sessions", expected.len());
    let job = job_file(
        dir.path(),
        "sessionizer.yaml",
        &format!(
            "name: sessionizer\nparallelism: ${{PARALLELISM:-1}}\nbatch_size: ${{BATCH_SIZE:-1024}}\nchaining: ${{CHAINING:-true}}\nmodules:\n  sessions: {{ path: {:?} }}\npipeline:\n  - source: {{ nexmark: {{ count: {events}, seed: 42, only: bid, out_of_order_ms: 1000 }} }}\n  - watermark: {{ out_of_orderness_ms: 1000 }}\n  - key_by: {{ field: bidder }}\n  - process: {{ module: sessions }}\n  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n",
            udf("sessionizer")
        ),
    );
    for shape in &crate::shapes::MATRIX {
        let run = shape.run(&job, &[], &[]);
        let actual: BTreeMap<(i64, i64, i64), u64> = run
            .stdout
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("JSON session");
                let field = |name: &str| v[name].as_i64().expect(name);
                let session = (field("bidder"), field("window_start"), field("window_end"));
                (session, v["bids"].as_u64().expect("bids"))
            })
            .collect();
        assert_eq!(run.stdout.lines().count(), expected.len(), "{shape}");
        assert!(
            actual == expected,
            "sessions from timers in {shape} differ from the reference"
        );
    }
}

#[test]
fn processing_time_timers_fire_by_the_clock_and_a_deleted_one_never_fires() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(
        dir.path(),
        "debounce.yaml",
        &format!(
            "name: debounce\nmodules:\n  debounce: {{ path: {:?} }}\npipeline:\n  - source: {{ stdin: {{ format: lines }} }}\n  - watermark: {{ ingestion_time: true }}\n  - key_by: {{ field: user }}\n  - process: {{ module: debounce }}\n  - sink: {{ stdout: {{}} }}\n",
            udf("debounce")
        ),
    );
    for backend in ["memory", "rocksdb"] {
        let job = job.to_str().expect("utf-8");
        let mut weir = Interactive::start(&["run", "-q", "--state-backend", backend, job]);
        // User 1 three times in a burst (each record moves its timer: two are deleted), user 2
        // once.
        for user in [1, 1, 2, 1] {
            weir.send(&format!(r#"{{"user":{user}}}"#));
        }
        // With input still open, only the clock can fire them: one line per user.
        let mut reminders = vec![
            weir.next_line("a processing-time timer"),
            weir.next_line("a processing-time timer"),
        ];
        reminders.sort();
        assert_eq!(
            reminders,
            [r#"{"key":1,"records":3}"#, r#"{"key":2,"records":1}"#],
            "{backend}"
        );
        assert!(
            weir.finish().is_empty(),
            "{backend}: no deleted timer fired"
        );
    }
}
