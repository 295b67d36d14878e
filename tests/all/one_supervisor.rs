//! One job supervisor (issue 13): `weir run` drives the JobManager's own `ClusterState` with an
//! in-process TaskManager, so the same job with the same injected failure restarts the same way
//! embedded and on a cluster of processes, and a savepoint taken after the restart resumes at
//! another parallelism with every record once — on both, with the same output.

use crate::exactly_once::{Running, counting_job, counts_per_key, stop};
use crate::harness::weir;
use crate::live_cluster::LiveCluster;
use std::collections::BTreeMap;
use std::time::Duration;
use weir_proto::failure::FailureClass;

/// Checkpoint 3's synchronous phase fails in every subtask that takes it: one restart, from
/// checkpoint 2. Later checkpoints are numbered on from 4, so it fails once.
const FAULT: (&str, &str) = ("WEIR_FAULT", "fail@snapshot:3");

#[test]
fn a_restart_a_savepoint_and_a_rescaled_restore_behave_the_same_embedded_and_on_a_cluster() {
    let embedded = embedded_run();
    let clustered = cluster_run();
    assert_eq!(embedded.len(), 50, "every key, embedded");
    for (key, seen) in &embedded {
        assert_eq!(
            seen,
            &(1..=1200).collect::<Vec<u64>>(),
            "key {key}, embedded"
        );
    }
    assert_eq!(
        embedded, clustered,
        "the same counts, embedded and on a cluster"
    );
}

/// `weir run` at parallelism 2 with the fault, stopped with a savepoint after its restart's
/// first checkpoint, resumed at parallelism 3.
fn embedded_run() -> BTreeMap<String, Vec<u64>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let job = counting_job(dir.path(), &out);
    let (checkpoints, savepoints) = (dir.path().join("chk"), dir.path().join("sp"));
    let common = [
        "--checkpoint-dir",
        checkpoints.to_str().expect("utf-8"),
        "--savepoint-dir",
        savepoints.to_str().expect("utf-8"),
    ];
    let args = [&["run", "-q"][..], &common, &[job.to_str().expect("utf-8")]].concat();
    let mut run = Running::start(&args, &[FAULT, ("P", "2")]);
    let restart = run.wait_for("the restart", |line| line.contains("restarting from"));
    assert!(
        restart.contains("injected fault") && restart.contains("chk-2"),
        "restarts from checkpoint 2 after the injected fault: {restart}"
    );
    run.wait_for_checkpoint(4);
    let savepoint = stop(run);
    let resume = [
        &["run", "-q"][..],
        &common,
        &["--from-savepoint", &savepoint, job.to_str().expect("utf-8")],
    ]
    .concat();
    weir(&resume, &[("P", "3")], None).expect_code(0);
    counts_per_key(&out)
}

/// The same on a cluster of TaskManagers with one slot each (the fault injected in one of
/// them, as `weir run`'s one process has it once): the failure and the restart as the
/// JobManager reports them, `weir stop --savepoint`, `weir submit --from-savepoint` at
/// parallelism 3 once a third TaskManager has joined.
fn cluster_run() -> BTreeMap<String, Vec<u64>> {
    let mut cluster = LiveCluster::start(3, &[]);
    cluster.add_taskmanager_with_env(None, &["--slots", "1"], &[FAULT], 1);
    cluster.add_taskmanager(None, &["--slots", "1"], 2);
    let work = tempfile::tempdir().expect("temp dir");
    let out = work.path().join("out");
    let job = counting_job(work.path(), &out);
    let id = &cluster.submit_detached(&job);
    cluster.wait_for(
        "the restarted job's first checkpoint",
        Duration::from_secs(60),
        |c| {
            c.client()
                .job(id)
                .is_ok_and(|v| v.restarts == 1 && v.checkpoints >= 1)
        },
    );
    let view = cluster.client().job(id).expect("job");
    let failure = &view.failures[0];
    assert_eq!(failure.class, FailureClass::Internal, "{failure:?}");
    assert!(failure.retryable && !failure.secondary, "{failure:?}");
    assert!(
        failure.task.is_some() && failure.taskmanager.is_some(),
        "{failure:?}"
    );
    let savepoints = work.path().join("savepoints");
    let stopped = cluster
        .rest(&[
            "stop",
            "--savepoint",
            id,
            "--savepoint-dir",
            savepoints.to_str().expect("utf-8"),
        ])
        .expect_code(0);
    let savepoint = stopped.stdout.trim().to_string();
    cluster.add_taskmanager(None, &["--slots", "1"], 3);
    cluster
        .submit(&job, &["--from-savepoint", &savepoint], &[("P", "3")])
        .expect_code(0);
    counts_per_key(&out)
}
