//! Bad input of every kind: a clear error naming the culprit, a non-zero exit, no panic.

use crate::harness::{job_file, udf, weir};

/// A job mapping lines from stdin through `module` (a path) to stdout.
fn map_job(module: &str, extra: &str) -> String {
    format!(
        "name: errors\n{extra}\nmodules:\n  m: {{ path: {module:?} }}\npipeline:\n  - source: {{ stdin: {{}} }}\n  - map: {{ module: m }}\n  - sink: {{ stdout: {{}} }}\n"
    )
}

#[test]
fn a_file_that_is_not_wasm_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, "this is not wasm").expect("write");
    let job = job_file(
        dir.path(),
        "job.yaml",
        &map_job(&bogus.display().to_string(), ""),
    );
    let run = weir(&["run", job.to_str().expect("utf-8")], &[], Some(b"x\n")).expect_code(1);
    assert!(
        run.stderr.contains("module `m`") && run.stderr.contains("not a WebAssembly file"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_component_with_the_wrong_interface_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(dir.path(), "job.yaml", &map_job(&udf("auction_key"), ""));
    let run = weir(&["run", job.to_str().expect("utf-8")], &[], Some(b"{}\n")).expect_code(1);
    assert!(run.stderr.contains("module `m`"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("does not export `weir:udf/transform@0.1.0`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("weir:udf/key-selector@0.1.0"),
        "names what it does export: {}",
        run.stderr
    );
}

#[test]
fn a_trapping_udf_fails_the_job_naming_module_export_and_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(dir.path(), "job.yaml", &map_job(&udf("trap_on_poison"), ""));
    let run = weir(
        &["run", job.to_str().expect("utf-8")],
        &[],
        Some(b"fine\nthis is poison\nfine too\n"),
    )
    .expect_code(1);
    for expected in [
        "module `m`",
        "weir:udf/transform@0.1.0#process",
        "poison record",
        "this is poison",
    ] {
        assert!(
            run.stderr.contains(expected),
            "stderr lacks {expected:?}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn a_udf_looping_forever_is_stopped_by_the_time_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(
        dir.path(),
        "job.yaml",
        &map_job(&udf("spin_forever"), "limits: { call_timeout_ms: 300 }"),
    );
    let run = weir(&["run", job.to_str().expect("utf-8")], &[], Some(b"spin\n")).expect_code(1);
    assert!(
        run.stderr.contains("time limit of 300 ms"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("module `m`") && run.stderr.contains("record: value \"spin\""),
        "{}",
        run.stderr
    );
}

#[test]
fn a_udf_allocating_without_bound_is_stopped_by_the_memory_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(
        dir.path(),
        "job.yaml",
        &map_job(&udf("allocate_forever"), "limits: { memory_mb: 32 }"),
    );
    let run = weir(&["run", job.to_str().expect("utf-8")], &[], Some(b"grow\n")).expect_code(1);
    assert!(
        run.stderr.contains("memory limit of 32 MiB"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("module `m`"), "{}", run.stderr);
}

#[test]
fn a_typo_in_a_field_name_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml =
        map_job(&udf("word_split"), "").replace("- map: { module: m }", "- map: { modul: m }");
    let job = job_file(dir.path(), "job.yaml", &yaml);
    let run = weir(&["validate", job.to_str().expect("utf-8")], &[], None).expect_code(2);
    let line = yaml
        .lines()
        .position(|l| l.contains("modul:"))
        .expect("typo line")
        + 1;
    assert!(
        run.stderr.contains(&format!("job.yaml:{line}:")),
        "names line {line}: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("unknown field `modul`") && run.stderr.contains("expected `module`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_reference_to_a_missing_module_names_it_and_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml =
        map_job(&udf("word_split"), "").replace("- map: { module: m }", "- map: { module: nope }");
    let job = job_file(dir.path(), "job.yaml", &yaml);
    let run = weir(&["run", job.to_str().expect("utf-8")], &[], None).expect_code(2);
    let line = yaml.lines().position(|l| l.contains("nope")).expect("line") + 1;
    assert!(
        run.stderr.contains(&format!("job.yaml:{line}:")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("no module named `nope`") && run.stderr.contains("[\"m\"]"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_module_path_that_does_not_exist_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(dir.path(), "job.yaml", &map_job("./no/such/udf", ""));
    let run = weir(&["validate", job.to_str().expect("utf-8")], &[], None).expect_code(2);
    assert!(
        run.stderr.contains("modules.m.path") && run.stderr.contains("does not exist"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_module_over_the_size_limit_is_refused_before_compiling() {
    let dir = tempfile::tempdir().expect("temp dir");
    let huge = dir.path().join("huge.wasm");
    let file = std::fs::File::create(&huge).expect("create");
    file.set_len(65 << 20).expect("grow past 64 MiB");
    let job = job_file(
        dir.path(),
        "job.yaml",
        &map_job(&huge.display().to_string(), ""),
    );
    let run = weir(&["run", job.to_str().expect("utf-8")], &[], Some(b"x\n")).expect_code(1);
    assert!(
        run.stderr.contains("module `m`") && run.stderr.contains("module size limit"),
        "{}",
        run.stderr
    );
}
