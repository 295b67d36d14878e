//! Every stateful operator kind through failures, on both state backends: a run killed with
//! SIGKILL mid-stream — after a checkpoint, or paused in a checkpoint's synchronous snapshot,
//! its asynchronous upload, or between its completion and the sinks' commit — and resumed from
//! its newest checkpoint; a run stopped with a savepoint at parallelism 2 and resumed at 3 with
//! new versions of its modules; a cluster losing a TaskManager. Each writes exactly what an
//! uninterrupted run writes — whole-input aggregates (Wasm and built-in), tumbling windows
//! (built-in and Wasm), session windows, count windows, a whole-window function, a process
//! function with event-time timers and a window join, each branch of one job into its own
//! two-phase-commit file sink.

use crate::exactly_once::{Running, committed_parts, resume, sorted, stop};
use crate::harness::{job_file, udf, weir};
use crate::live_cluster::LiveCluster;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The job's branches: each is a step name and the directory its sink writes.
const BRANCHES: &[&str] = &[
    "wasm-totals",
    "builtin-totals",
    "windows",
    "wasm-windows",
    "sessions",
    "count-windows",
    "medians",
    "sessionizer",
    "new-sellers",
];

/// Bids (about 27,600 over 3 s of event time, paced at 10,000 a second) through every kind of
/// stateful step, each into its own sink under `out`; persons (600) and auctions (1,800) into a
/// window join, paced to last as long.
/// The process function gets the persons, one record per key: the event-time timer of a key
/// seen before a checkpoint must come back from the checkpoint, as no later record sets it.
/// Sources, their watermarks and `key_by`s run at parallelism 1 so that each key's records keep
/// one order (count windows depend on it: a rebalance would interleave them); the stateful
/// steps run at `${P:-2}`.
fn operators_job(dir: &Path, name: &str, backend: &str, out: &Path) -> PathBuf {
    let modules = ["sum_count", "window_median", "sessionizer"].map(udf);
    job_with_modules(dir, (name, name), backend, out, &modules)
}

/// [`operators_job`] in file `file`, its Wasm steps running `modules` (totals, median,
/// sessions).
fn job_with_modules(
    dir: &Path,
    (name, file): (&str, &str),
    backend: &str,
    out: &Path,
    modules: &[String; 3],
) -> PathBuf {
    let sink = |branch: &str| {
        format!(
            "  - sink: {{ file: {{ path: {:?} }} }}\n    name: {branch}-out\n",
            out.join(branch).display().to_string()
        )
    };
    let source = |name: &str, only: &str, rate: u32| {
        format!(
            "  - source: {{ nexmark: {{ count: 30000, rate: {rate}, seed: 42, only: {only} }} }}\n    name: {name}\n    parallelism: 1\n  - watermark: {{ out_of_orderness_ms: 0 }}\n    name: {name}-time\n    parallelism: 1\n"
        )
    };
    let functions =
        "      functions:\n        - { fn: count }\n        - { fn: sum, field: price }\n";
    let steps = [
        source("bids", "bid", 10_000),
        "  - key_by: { field: auction }\n    name: by-auction\n    parallelism: 1\n".into(),
        "  - aggregate: { module: totals }\n    name: wasm-totals\n".into(),
        sink("wasm-totals"),
        format!("  - input: by-auction\n    aggregate:\n{functions}    name: builtin-totals\n"),
        sink("builtin-totals"),
        format!(
            "  - input: by-auction\n    aggregate:\n      window: {{ tumbling: {{ size_ms: 100 }} }}\n{functions}    name: windows\n"
        ),
        sink("windows"),
        "  - input: by-auction\n    aggregate: { module: totals, window: { sliding: { size_ms: 200, slide_ms: 100 } } }\n    name: wasm-windows\n".into(),
        sink("wasm-windows"),
        format!(
            "  - input: by-auction\n    aggregate:\n      window: {{ session: {{ gap_ms: 20 }} }}\n{functions}    name: sessions\n"
        ),
        sink("sessions"),
        format!(
            "  - input: by-auction\n    aggregate:\n      window: {{ count: {{ size: 5 }} }}\n{functions}    name: count-windows\n"
        ),
        sink("count-windows"),
        "  - input: by-auction\n    aggregate: { process: median, window: { tumbling: { size_ms: 200 } } }\n    name: medians\n".into(),
        sink("medians"),
        source("persons", "person", 200),
        "  - key_by: { field: id }\n    name: by-id\n    parallelism: 1\n".into(),
        "  - input: by-id\n    process: { module: sessions }\n    name: sessionizer\n".into(),
        sink("sessionizer"),
        source("auctions", "auction", 600),
        "  - key_by: { field: seller }\n    name: by-seller\n    parallelism: 1\n".into(),
        "  - input: by-id\n    join: { with: by-seller, window: { tumbling: { size_ms: 500 } }, left_as: person, right_as: auction }\n    name: new-sellers\n".into(),
        sink("new-sellers"),
    ];
    job_file(
        dir,
        &format!("{file}.yaml"),
        &format!(
            "name: {name}\nparallelism: ${{P:-2}}\nstate_backend: {backend}\ncheckpointing: {{ interval_ms: 250 }}\nmodules:\n  totals: {{ path: {:?} }}\n  median: {{ path: {:?} }}\n  sessions: {{ path: {:?} }}\npipeline:\n{}",
            modules[0],
            modules[1],
            modules[2],
            steps.concat()
        ),
    )
}

/// Each branch's committed lines, sorted.
fn outputs(out: &Path) -> Vec<(&'static str, Vec<String>)> {
    BRANCHES
        .iter()
        .map(|&branch| {
            let lines = committed_parts(&out.join(branch)).into_values().flatten();
            (branch, sorted(lines))
        })
        .collect()
}

/// Asserts that every branch under `out` wrote what the uninterrupted run wrote.
fn assert_same_outputs(out: &Path, reference: &[(&str, Vec<String>)], what: &str) {
    for ((branch, lines), (_, expected)) in outputs(out).iter().zip(reference) {
        assert!(
            lines == expected,
            "{what}, {branch}: {} lines, uninterrupted {} (first differing: {:?})",
            lines.len(),
            expected.len(),
            lines.iter().zip(expected).find(|(a, b)| a != b)
        );
    }
}

/// The uninterrupted run's output (on the heap; every other run, on either backend, must
/// write the same), in `dir`.
fn reference(dir: &Path) -> Vec<(&'static str, Vec<String>)> {
    let expected = dir.join("expected");
    let job = operators_job(dir, "uninterrupted", "memory", &expected);
    weir(&["run", "-q", job.to_str().expect("utf-8")], &[], None).expect_code(0);
    let reference = outputs(&expected);
    for (branch, lines) in &reference {
        assert!(lines.len() >= 10, "{branch}: {} lines", lines.len());
    }
    reference
}

/// Where a run is killed: after a checkpoint completed, or paused by `WEIR_FAULT` in one of
/// checkpoint 3's phases.
const KILLS: &[(&str, Option<&str>)] = &[
    ("after-checkpoint", None),
    ("in-snapshot", Some("pause@snapshot:3")),
    ("in-upload", Some("pause@upload:3")),
    ("before-commit", Some("pause@commit:3")),
];

#[test]
fn every_stateful_operator_killed_in_any_checkpoint_phase_resumes_to_the_uninterrupted_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let reference = reference(dir.path());
    let checkpoints = dir.path().join("chk");
    let options = ["--checkpoint-dir", checkpoints.to_str().expect("utf-8")];
    for backend in ["memory", "rocksdb"] {
        for (point, fault) in KILLS {
            let name = format!("{backend}-{point}");
            let out = dir.path().join(&name);
            let job = operators_job(dir.path(), &name, backend, &out);
            let job = job.to_str().expect("utf-8");
            let env: Vec<(&str, &str)> = fault.iter().map(|f| ("WEIR_FAULT", *f)).collect();
            let mut first = Running::start(&[&["run", "-q"][..], &options, &[job]].concat(), &env);
            match fault {
                None => first.wait_for_checkpoint(3),
                Some(_) => {
                    first.wait_for("the pause", |line| line.contains("weir fault: paused"));
                }
            }
            first.child.kill().expect("SIGKILL");
            first.wait();
            let from = checkpoints.join(&name);
            resume(&options, from.to_str().expect("utf-8"), job);
            assert_same_outputs(&out, &reference, &format!("{backend}, killed {point}"));
        }
    }
}

/// A new version of UDF `name`: its component with a custom section appended — other bytes, so
/// to Weir another module (another sha256), with the same code and state encoding.
fn new_version(dir: &Path, name: &str) -> String {
    let built = weir(&["udf", "build", &udf(name)], &[], None).expect_code(0);
    let component = built
        .stdout
        .lines()
        .find(|line| line.ends_with(".wasm"))
        .unwrap_or_else(|| panic!("no component path in {:?}", built.stdout));
    let mut bytes = std::fs::read(component.trim()).expect("component");
    let (section, payload) = ("weir-test-version", b"2");
    let mut content = vec![section.len() as u8];
    content.extend_from_slice(section.as_bytes());
    content.extend_from_slice(payload);
    // A custom section: id 0, its size (one LEB128 byte: under 128), its name and payload.
    bytes.push(0);
    bytes.push(content.len() as u8);
    bytes.extend_from_slice(&content);
    let path = dir.join(format!("{name}-v2.wasm"));
    std::fs::write(&path, bytes).expect("new version");
    path.display().to_string()
}

#[test]
fn every_stateful_operator_stopped_with_a_savepoint_resumes_at_another_parallelism_and_module_version()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let reference = reference(dir.path());
    let (checkpoints, savepoints) = (dir.path().join("chk"), dir.path().join("sp"));
    let options = [
        "--checkpoint-dir",
        checkpoints.to_str().expect("utf-8"),
        "--savepoint-dir",
        savepoints.to_str().expect("utf-8"),
    ];
    let modules_v2 =
        ["sum_count", "window_median", "sessionizer"].map(|m| new_version(dir.path(), m));
    for backend in ["memory", "rocksdb"] {
        let out = dir.path().join(backend);
        let job = operators_job(dir.path(), backend, backend, &out);
        let job = job.to_str().expect("utf-8");
        let args = [&["run", "-q"][..], &options, &[job]].concat();
        let mut first = Running::start(&args, &[("P", "2")]);
        first.wait_for_checkpoint(2);
        let savepoint = stop(first);
        let upgraded = job_with_modules(
            dir.path(),
            (backend, &format!("{backend}-v2")),
            backend,
            &out,
            &modules_v2,
        );
        let upgraded = upgraded.to_str().expect("utf-8");
        let args = [
            &["run", "-q"][..],
            &options,
            &["--from-savepoint", &savepoint, upgraded],
        ]
        .concat();
        weir(&args, &[("P", "3")], None).expect_code(0);
        assert_same_outputs(
            &out,
            &reference,
            &format!("{backend}, savepoint at p=2, resumed at p=3 with new module versions"),
        );
    }
}

#[test]
fn every_stateful_operator_on_a_cluster_that_loses_a_taskmanager_writes_the_uninterrupted_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let reference = reference(dir.path());
    for backend in ["memory", "rocksdb"] {
        let mut cluster = LiveCluster::start(2, &[]);
        cluster.add_taskmanager(None, &["--slots", "2"], 1);
        cluster.add_taskmanager(None, &["--slots", "2"], 2);
        let out = dir.path().join(format!("cluster-{backend}"));
        let job = operators_job(dir.path(), &format!("cluster-{backend}"), backend, &out);
        let id = &cluster.submit_detached(&job);
        cluster.wait_for("two checkpoints", Duration::from_secs(60), |c| {
            c.client().job(id).is_ok_and(|v| v.checkpoints >= 2)
        });
        let view = cluster.client().job(id).expect("job");
        let victim: usize = view.taskmanagers[0]
            .trim_start_matches("taskmanager-")
            .parse()
            .expect("taskmanager-N");
        let pid = cluster.taskmanagers[victim - 1].id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status();
        assert!(killed.expect("kill").success());
        cluster.wait_for("the job to end", Duration::from_secs(120), |c| {
            c.client()
                .job(id)
                .is_ok_and(|v| v.summary.status.is_terminal())
        });
        let view = cluster.client().job(id).expect("job");
        assert_eq!(
            view.summary.status.to_string(),
            "finished",
            "{:?}",
            view.error
        );
        assert_eq!(
            view.restarts, 1,
            "{backend}: one restart, after the lost TaskManager"
        );
        assert_same_outputs(
            &out,
            &reference,
            &format!("{backend}, a cluster losing a TaskManager"),
        );
    }
}
