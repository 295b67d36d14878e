//! Jobs on a real cluster of processes on loopback: a JobManager and TaskManagers talking QUIC,
//! a client talking REST. Outputs equal the embedded run's record for record; failures name
//! their cause; refusals are logged and crash nothing.

use crate::harness::{job_file, repo, udf, weir};
use crate::live_cluster::LiveCluster;
use std::time::Duration;
use weir_proto::failure::FailureClass;

/// Word count at parallelism 2 whose hash exchange crosses TaskManagers, written to `out`.
pub(crate) fn wordcount_job(dir: &std::path::Path, out: &std::path::Path) -> std::path::PathBuf {
    let input = repo().join("examples/data/pride-and-prejudice-ch1.txt");
    job_file(
        dir,
        "wordcount.yaml",
        &format!(
            "name: wordcount\nparallelism: 2\nmodules:\n  words: {{ path: {:?} }}\npipeline:\n  - source: {{ file: {{ path: {:?}, format: lines }} }}\n  - flat_map: {{ module: words }}\n  - key_by: {{ field: word }}\n  - aggregate:\n      functions:\n        - {{ fn: count }}\n  - parallelism: 1\n    sink: {{ file: {{ path: {:?} }} }}\n",
            udf("word_split"),
            input,
            out
        ),
    )
}

pub(crate) fn sorted_lines(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn a_job_across_two_taskmanagers_writes_exactly_the_embedded_output_and_ships_modules_once() {
    let mut cluster = LiveCluster::start(2, &[]);
    cluster.add_taskmanager(None, &[], 1);
    cluster.add_taskmanager(None, &[], 2);
    let work = tempfile::tempdir().expect("temp dir");
    let embedded_out = work.path().join("embedded.jsonl");
    let embedded = wordcount_job(work.path(), &embedded_out);
    weir(&["run", "-q", embedded.to_str().expect("utf-8")], &[], None).expect_code(0);
    let expected = sorted_lines(&embedded_out);
    assert!(expected.len() > 300, "{} distinct words", expected.len());

    for round in 1..=2 {
        let out = work.path().join(format!("cluster-{round}.jsonl"));
        let job = wordcount_job(work.path(), &out);
        let run = cluster.submit(&job, &[], &[]).expect_code(0);
        assert!(run.stderr.contains("job finished"), "{}", run.stderr);
        assert_eq!(
            sorted_lines(&out),
            expected,
            "round {round}: same records as the embedded run"
        );
    }
    let jobs = cluster.client().jobs().expect("jobs");
    assert_eq!(jobs.len(), 2);
    let view = cluster.client().job(&jobs[0].id).expect("job");
    let mut taskmanagers = view.taskmanagers.clone();
    taskmanagers.sort();
    assert_eq!(
        taskmanagers,
        ["taskmanager-1", "taskmanager-2"],
        "both TaskManagers ran subtasks"
    );
    let count = view
        .progress
        .vertices
        .iter()
        .find(|v| v.name.contains("aggregate") || v.name.contains("count"))
        .map(|v| v.parallelism);
    assert_eq!(count, Some(2), "{:?}", view.progress.vertices);
    // Each TaskManager fetched the module once; the second job found it in its cache.
    let log = cluster.jobmanager_log();
    assert_eq!(log.matches("module shipped").count(), 2, "{log}");
    assert_eq!(
        log.matches("module uploaded").count(),
        1,
        "uploaded once: {log}"
    );
    for index in 0..2 {
        let log = cluster.taskmanager_log(index);
        assert_eq!(
            log.matches("module fetched from the JobManager").count(),
            1,
            "{log}"
        );
    }
    let listed = cluster.rest(&["list"]).expect_code(0);
    assert_eq!(
        listed.stdout.matches("finished").count(),
        2,
        "{}",
        listed.stdout
    );
}

#[test]
fn a_job_needing_more_slots_than_the_cluster_has_waits_then_fails_naming_the_shortfall() {
    let mut cluster = LiveCluster::start(1, &["--slot-timeout", "1s"]);
    cluster.add_taskmanager(None, &[], 1);
    let work = tempfile::tempdir().expect("temp dir");
    let job = job_file(
        work.path(),
        "wide.yaml",
        "name: wide\nparallelism: 2\npipeline:\n  - source: { datagen: { count: 10 } }\n  - sink: { blackhole: {} }\n",
    );
    let run = cluster.submit(&job, &[], &[]).expect_code(1);
    assert!(
        run.stderr.contains("needs 2 slots") && run.stderr.contains("offers 1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("failed"), "{}", run.stderr);
}

#[test]
fn killing_a_taskmanager_fails_the_job_naming_it_and_the_jobmanager_runs_the_next_job() {
    let mut cluster = LiveCluster::start(2, &["--heartbeat-timeout", "1s"]);
    cluster.add_taskmanager(None, &[], 1);
    cluster.add_taskmanager(None, &[], 2);
    let work = tempfile::tempdir().expect("temp dir");
    let endless = job_file(
        work.path(),
        "endless.yaml",
        "name: endless\nparallelism: 2\npipeline:\n  - source: { datagen: { rate: 20000 } }\n  - key_by: { field: id }\n  - sink: { blackhole: {} }\n",
    );
    let id = cluster.submit_detached(&endless);
    cluster.wait_for("records to flow", Duration::from_secs(30), |c| {
        c.client().job(&id).is_ok_and(|v| {
            v.progress
                .vertices
                .last()
                .is_some_and(|sink| sink.records_in > 1000)
        })
    });
    let victim = cluster.taskmanagers[1].id();
    let _ = std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status();
    cluster.wait_for("the job to fail", Duration::from_secs(30), |c| {
        c.client()
            .job(&id)
            .is_ok_and(|v| v.summary.status.is_terminal())
    });
    let view = cluster.client().job(&id).expect("job");
    assert_eq!(view.summary.status.to_string(), "failed");
    let error = view.error.expect("the failed job has a root cause");
    assert_eq!(error.class, FailureClass::LostPeer, "{error:?}");
    assert!(!error.secondary, "{error:?}");
    assert!(
        error
            .taskmanager
            .as_deref()
            .is_some_and(|name| name.starts_with("taskmanager-")),
        "the killed TaskManager is named: {error:?}"
    );
    cluster.wait_for(
        "the lost TaskManager to leave",
        Duration::from_secs(10),
        |c| c.registered() == 1,
    );
    // The JobManager is still up and runs the next job on the TaskManager left.
    let out = work.path().join("after.jsonl");
    let next = job_file(
        work.path(),
        "next.yaml",
        &format!(
            "name: next\npipeline:\n  - source: {{ datagen: {{ count: 1000 }} }}\n  - sink: {{ file: {{ path: {out:?} }} }}\n"
        ),
    );
    cluster.submit(&next, &[], &[]).expect_code(0);
    let lines = sorted_lines(&out);
    assert_eq!(lines.len(), 1000);
    let mut ids: Vec<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["id"]
                .as_u64()
                .expect("id")
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..1000).collect::<Vec<u64>>(), "every record once");
}

#[test]
fn a_cancelled_job_stops_and_frees_its_slots() {
    let mut cluster = LiveCluster::start(1, &[]);
    cluster.add_taskmanager(None, &["--slots", "2"], 1);
    let work = tempfile::tempdir().expect("temp dir");
    let endless = job_file(
        work.path(),
        "endless.yaml",
        "name: endless\nparallelism: 2\npipeline:\n  - source: { datagen: { rate: 1000 } }\n  - sink: { blackhole: {} }\n",
    );
    let id = cluster.submit_detached(&endless);
    cluster.wait_for("the job to run", Duration::from_secs(30), |c| {
        c.client()
            .job(&id)
            .is_ok_and(|v| v.summary.status.to_string() == "running")
    });
    let status = cluster.rest(&["status", &id]).expect_code(0);
    assert!(
        status.stdout.contains("running") && status.stdout.contains("source-0 -> sink-1"),
        "{}",
        status.stdout
    );
    cluster.rest(&["cancel", &id]).expect_code(0);
    cluster.wait_for("the job to be cancelled", Duration::from_secs(30), |c| {
        c.client()
            .job(&id)
            .is_ok_and(|v| v.summary.status.to_string() == "cancelled")
    });
    let overview = cluster.client().overview().expect("overview");
    assert_eq!((overview.slots, overview.free_slots), (2, 2), "slots freed");
    let again = cluster.rest(&["cancel", &id]).expect_code(1);
    assert!(
        again.stderr.contains("already cancelled"),
        "{}",
        again.stderr
    );
}

#[test]
fn windows_across_taskmanagers_on_rocksdb_fire_on_watermarks_crossing_quic_and_equal_the_embedded_run()
 {
    let mut cluster = LiveCluster::start(2, &[]);
    cluster.add_taskmanager(None, &[], 1);
    cluster.add_taskmanager(None, &[], 2);
    let work = tempfile::tempdir().expect("temp dir");
    // After 50 s of event time, one record per auction from the first second: late everywhere,
    // so each window subtask rejects its share only if the watermark reached it (over QUIC for
    // the subtask on the other TaskManager).
    let mut bids = crate::windows::bids(5_000, 200);
    bids.extend((1000..1007).map(|auction| (auction, 1, 1_767_225_600_010)));
    let input = crate::windows::write_bids(work.path(), &bids);
    let job = |out: &std::path::Path, late: &std::path::Path| {
        job_file(
            work.path(),
            "windows.yaml",
            &format!(
                "name: windows\nparallelism: 2\ndead_letter:\n  file: {{ path: {late:?} }}\npipeline:\n  - source: {{ file: {{ path: {input:?}, format: lines }} }}\n    parallelism: 1\n  - watermark: {{ out_of_orderness_ms: 500, timestamp_field: ts }}\n    parallelism: 1\n  - key_by: {{ field: auction }}\n    parallelism: 1\n  - aggregate:\n      window: {{ sliding: {{ size_ms: 3000, slide_ms: 1000 }} }}\n      functions:\n        - {{ fn: count }}\n        - {{ fn: max, field: price }}\n  - parallelism: 1\n    sink: {{ file: {{ path: {out:?} }} }}\n"
            ),
        )
    };
    let (embedded_out, embedded_late) = (
        work.path().join("embedded.jsonl"),
        work.path().join("embedded-late.jsonl"),
    );
    weir(
        &[
            "run",
            "-q",
            job(&embedded_out, &embedded_late).to_str().expect("utf-8"),
        ],
        &[],
        None,
    )
    .expect_code(0);
    let (cluster_out, cluster_late) = (
        work.path().join("cluster.jsonl"),
        work.path().join("cluster-late.jsonl"),
    );
    // The cluster keeps the windows in RocksDB, on each TaskManager under its own directory.
    cluster
        .submit(
            &job(&cluster_out, &cluster_late),
            &["--state-backend", "rocksdb"],
            &[],
        )
        .expect_code(0);
    let state_dirs = std::fs::read_dir(cluster.cluster_dir())
        .expect("cluster dir")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("state").is_dir())
        .count();
    assert!(
        state_dirs >= 1,
        "a TaskManager kept window state under its own state/"
    );
    let expected = sorted_lines(&embedded_out);
    assert!(expected.len() > 100, "{} windows", expected.len());
    assert_eq!(sorted_lines(&cluster_out), expected);
    let late = sorted_lines(&cluster_late);
    assert_eq!(late.len(), 7, "every late record rejected: {late:?}");
    assert!(late.iter().all(|l| l.contains("late record")), "{late:?}");
    assert_eq!(late, sorted_lines(&embedded_late));
}
