//! `weir udf new` makes a project that `weir udf build` builds and a job runs; `weir bench`
//! reproduces the checksums Apache Flink produced on the same data.

use crate::harness::{job_file, weir};

#[test]
fn a_scaffolded_udf_builds_and_runs_in_a_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let udf_dir = dir.path().join("shout");
    weir(
        &[
            "udf",
            "new",
            "--lang",
            "rust",
            udf_dir.to_str().expect("utf-8"),
        ],
        &[],
        None,
    )
    .expect_code(0);
    let built = weir(
        &["udf", "build", udf_dir.to_str().expect("utf-8")],
        &[],
        None,
    )
    .expect_code(0);
    assert!(built.stdout.trim().ends_with(".wasm"), "{}", built.stdout);
    let rebuilt = weir(
        &["udf", "build", udf_dir.to_str().expect("utf-8")],
        &[],
        None,
    )
    .expect_code(0);
    assert!(
        rebuilt.stderr.contains("from the build cache"),
        "{}",
        rebuilt.stderr
    );
    let yaml = format!(
        "name: shout\nmodules:\n  shout: {{ path: {:?} }}\npipeline:\n  - source: {{ stdin: {{}} }}\n  - map: {{ module: shout }}\n  - sink: {{ stdout: {{}} }}\n",
        udf_dir.display().to_string()
    );
    let job = job_file(dir.path(), "job.yaml", &yaml);
    let run = weir(
        &["run", "--quiet", job.to_str().expect("utf-8")],
        &[],
        Some("hello\nwörld\n".as_bytes()),
    )
    .expect_code(0);
    assert_eq!(run.stdout, "HELLO\nWÖRLD\n");
    // A changed source is stale: the next run rebuilds it by itself.
    let source = udf_dir.join("src/lib.rs");
    let edited = std::fs::read_to_string(&source)
        .expect("source")
        .replace("to_uppercase()", "to_lowercase()");
    std::fs::write(&source, edited).expect("edit source");
    let run = weir(
        &["run", "--quiet", job.to_str().expect("utf-8")],
        &[("WEIR_LOG", "info")],
        Some("HeLLo\n".as_bytes()),
    )
    .expect_code(0);
    assert_eq!(run.stdout, "hello\n");
    assert!(
        run.stderr.contains("building Rust UDF"),
        "rebuilt: {}",
        run.stderr
    );
}

#[test]
fn building_a_directory_without_a_project_says_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = weir(
        &["udf", "build", dir.path().to_str().expect("utf-8")],
        &[],
        None,
    )
    .expect_code(2);
    assert!(
        run.stderr.contains("not a UDF source directory") && run.stderr.contains("weir udf new"),
        "{}",
        run.stderr
    );
}

#[test]
fn bench_checksums_match_flinks_on_the_same_data() {
    // PROBES.md: for N = 2,000,000, Flink's W2 emits 1,005,721 rows, sum(price_eur) 681,188,309.
    let run = weir(
        &["bench", "--events", "2000000", "--runs", "1", "--check"],
        &[],
        None,
    )
    .expect_code(0);
    for variant in ["(b)", "(c)", "(d)"] {
        let expected = format!("check {variant}: rows 1005721 sum(price_eur) 681188309");
        assert!(
            run.stdout.contains(&expected),
            "missing {expected:?} in:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("checksums agree"), "{}", run.stdout);
}
