//! UDFs in Python, JavaScript and C beside Rust: the same map gives the same output in every
//! language, aggregates equal a reference, a guest's own failure surfaces like a Rust trap, and
//! the polyglot example's output is exact.

use crate::harness::{job_file, repo, weir};
use std::collections::BTreeMap;

/// An example UDF directory of `language`.
fn example(language: &str, name: &str) -> String {
    repo()
        .join("udfs")
        .join(language)
        .join(name)
        .display()
        .to_string()
}

fn nexmark_job(dir: &std::path::Path, name: &str, module: &str, steps: &str) -> std::path::PathBuf {
    job_file(
        dir,
        &format!("{name}.yaml"),
        &format!(
            "name: {name}\nparallelism: ${{P:-1}}\nmodules:\n  m: {{ path: {module:?} }}\npipeline:\n  - source: {{ nexmark: {{ count: 5000, seed: 42, only: bid }} }}\n{steps}  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n"
        ),
    )
}

fn sorted_stdout(job: &std::path::Path, env: &[(&str, &str)]) -> Vec<String> {
    let run = weir(&["run", "-q", job.to_str().expect("utf-8")], env, None).expect_code(0);
    let mut lines: Vec<String> = run.stdout.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn the_q1_map_gives_identical_output_in_rust_python_javascript_and_c() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |language: &str| {
        let job = nexmark_job(
            dir.path(),
            language,
            &example(language, "currency_convert"),
            "  - map: { module: m }\n",
        );
        let run = weir(&["run", "-q", job.to_str().expect("utf-8")], &[], None).expect_code(0);
        run.stdout
    };
    let rust = run("rust");
    assert_eq!(rust.lines().count(), 5000 / 50 * 46);
    for language in ["python", "js", "c"] {
        assert!(run(language) == rust, "{language}'s q1 differs from Rust's");
    }
}

#[test]
fn aggregates_in_python_javascript_and_c_equal_a_reference() {
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = nexmark_job(dir.path(), "raw", &example("rust", "auction_key"), "");
    let mut per_auction: BTreeMap<i64, (u64, i64, i64)> = BTreeMap::new();
    for line in sorted_stdout(&raw, &[]) {
        let bid: serde_json::Value = serde_json::from_str(&line).expect("bid");
        let entry = per_auction
            .entry(bid["auction"].as_i64().expect("auction"))
            .or_default();
        let price = bid["price"].as_i64().expect("price");
        entry.0 += 1;
        entry.1 += price;
        entry.2 = entry.2.max(price);
    }
    let mut sum_count: Vec<String> = per_auction
        .values()
        .map(|(n, s, _)| format!("{{\"count\":{n},\"sum\":{s}}}"))
        .collect();
    sum_count.sort();
    let mut max_price: Vec<String> = per_auction
        .values()
        .map(|(_, _, m)| format!("{{\"max_price\":{m}}}"))
        .collect();
    max_price.sort();
    let key = example("rust", "auction_key");
    for (language, name, expected) in [
        ("python", "sum_count", &sum_count),
        ("js", "sum_count", &sum_count),
        ("c", "max_price", &max_price),
    ] {
        let job = job_file(
            dir.path(),
            &format!("{language}-{name}.yaml"),
            &format!(
                "name: agg\nparallelism: ${{P:-1}}\nmodules:\n  key: {{ path: {key:?} }}\n  agg: {{ path: {:?} }}\npipeline:\n  - source: {{ nexmark: {{ count: 5000, seed: 42, only: bid }} }}\n  - key_by: {{ module: key }}\n  - aggregate: {{ module: agg }}\n  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n",
                example(language, name)
            ),
        );
        for parallelism in ["1", "3"] {
            assert_eq!(
                &sorted_stdout(&job, &[("P", parallelism)]),
                expected,
                "{language} {name} at parallelism {parallelism}"
            );
        }
    }
}

#[test]
fn a_python_exception_a_js_exception_and_a_c_abort_fail_like_a_rust_trap() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (language, name, guest_says) in [
        ("python", "trap_on_poison", "ValueError: poison record"),
        ("js", "trap_on_poison", "TypeError: poison record"),
        ("c", "abort_on_poison", "poison record: this is poison"),
    ] {
        let module = repo().join("tests/udfs").join(language).join(name);
        let job = job_file(
            dir.path(),
            &format!("{language}.yaml"),
            &format!(
                "name: trap\nmodules:\n  m: {{ path: {:?} }}\npipeline:\n  - source: {{ stdin: {{}} }}\n  - map: {{ module: m }}\n  - sink: {{ stdout: {{}} }}\n",
                module.display().to_string()
            ),
        );
        let run = weir(
            &["run", job.to_str().expect("utf-8")],
            &[],
            Some(b"fine\nthis is poison\nfine too\n"),
        )
        .expect_code(1);
        for expected in [
            "module `m`",
            "weir:udf/transform@0.1.0#process",
            "this is poison",
            guest_says,
        ] {
            assert!(
                run.stderr.contains(expected),
                "{language}: stderr lacks {expected:?}:\n{}",
                run.stderr
            );
        }
    }
}

#[test]
fn the_polyglot_example_writes_exactly_the_reference_totals() {
    let text = std::fs::read_to_string(repo().join("examples/data/bid-log.txt")).expect("data");
    let mut totals: BTreeMap<i64, (u64, i64)> = BTreeMap::new();
    let mut rejected = 0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let number = |i: usize, name: &str| {
            fields
                .get(i)
                .and_then(|f| f.strip_prefix(name))
                .and_then(|v| v.parse::<i64>().ok())
        };
        let (Some(auction), Some(_), Some(price)) = (
            number(2, "auction="),
            number(3, "bidder="),
            number(4, "price="),
        ) else {
            rejected += 1;
            continue;
        };
        if auction % 123 == 0 || price > 500 {
            let entry = totals.entry(auction).or_default();
            entry.0 += 1;
            entry.1 += price;
        }
    }
    assert_eq!(rejected, 2, "the log holds two lines that are not bids");
    let mut expected: Vec<String> = totals
        .iter()
        .map(|(auction, (count, sum))| {
            format!(
                "auction {auction}: {count} bids, {sum} in all, {} on average",
                sum / *count as i64
            )
        })
        .collect();
    expected.sort();
    let example = repo().join("examples/polyglot.yaml");
    for parallelism in ["1", "3"] {
        let run = weir(
            &["run", "-q", example.to_str().expect("utf-8")],
            &[("PARALLELISM", parallelism)],
            None,
        )
        .expect_code(0);
        let mut lines: Vec<String> = run.stdout.lines().map(str::to_string).collect();
        lines.sort();
        assert_eq!(lines, expected, "parallelism {parallelism}");
        assert_eq!(
            run.stderr.matches("not a bid log line").count(),
            2,
            "both bad lines reach the dead-letter sink: {}",
            run.stderr
        );
    }
}

#[test]
fn scaffolded_python_javascript_and_c_udfs_build_and_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (language, step, input, expected) in [
        (
            "python",
            "map",
            "{\"a\":1}\n",
            "{\"python_udf\":{\"a\":1}}\n",
        ),
        ("js", "map", "{\"a\":1}\n", "{\"js_udf\":{\"a\":1}}\n"),
        (
            "c",
            "filter",
            "{\"price\":50}\n{\"price\":150}\n",
            "{\"price\":150}\n",
        ),
    ] {
        let udf_dir = dir.path().join(format!("{language}_udf"));
        let path = udf_dir.to_str().expect("utf-8");
        weir(&["udf", "new", "--lang", language, path], &[], None).expect_code(0);
        let job = job_file(
            dir.path(),
            &format!("{language}.yaml"),
            &format!(
                "name: new\nmodules:\n  m: {{ path: {path:?} }}\npipeline:\n  - source: {{ stdin: {{}} }}\n  - {step}: {{ module: m }}\n  - sink: {{ stdout: {{}} }}\n"
            ),
        );
        let run = weir(
            &["run", "--quiet", job.to_str().expect("utf-8")],
            &[],
            Some(input.as_bytes()),
        )
        .expect_code(0);
        assert_eq!(run.stdout, expected, "{language}");
        let again = weir(&["udf", "build", path], &[], None).expect_code(0);
        assert!(
            again.stderr.contains("from the build cache"),
            "{}",
            again.stderr
        );
    }
}

#[test]
fn a_missing_toolchain_names_the_install_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty_path = dir.path().join("bin");
    std::fs::create_dir_all(&empty_path).expect("dir");
    for (language, install) in [
        ("python", "pip install componentize-py==0.25.1"),
        (
            "js",
            "npm install -g @bytecodealliance/componentize-js@0.23.0",
        ),
        (
            "c",
            "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32",
        ),
    ] {
        let path = example(language, "currency_convert");
        // A fresh Weir home: nothing cached, so the build must run and look for its tools.
        let home = dir.path().join(format!("home-{language}"));
        let run = weir(
            &["udf", "build", &path],
            &[
                ("PATH", empty_path.to_str().expect("utf-8")),
                ("WEIR_HOME", home.to_str().expect("utf-8")),
            ],
            None,
        )
        .expect_code(2);
        assert!(
            run.stderr.contains("is not installed") && run.stderr.contains(install),
            "{language}: {}",
            run.stderr
        );
    }
}
