//! Exactly-once on a cluster of processes (issue 6): a TaskManager killed with SIGKILL while
//! the job runs is detected by its missing heartbeats, the job restarts on the slots left from
//! its newest checkpoint, and the output counts every record once; a savepoint taken with
//! `weir stop` resumes with `weir submit --from-savepoint` at another parallelism.

use crate::exactly_once::{
    assert_counts_exactly_once, committed_parts, counting_job, counts_per_key,
};
use crate::live_cluster::LiveCluster;
use std::time::{Duration, Instant};
use weir_proto::failure::FailureClass;

/// The counting job (`exactly_once::counting_job`) submitted to a cluster of two TaskManagers
/// with two slots each, started with `env`.
struct Counting {
    cluster: LiveCluster,
    work: tempfile::TempDir,
    out: std::path::PathBuf,
    job: std::path::PathBuf,
    id: String,
}

impl Counting {
    fn start(env: &[(&str, &str)]) -> Self {
        let mut cluster = LiveCluster::start(2, &[]);
        cluster.add_taskmanager_with_env(None, &["--slots", "2"], env, 1);
        cluster.add_taskmanager_with_env(None, &["--slots", "2"], env, 2);
        let work = tempfile::tempdir().expect("temp dir");
        let out = work.path().join("out");
        let job = counting_job(work.path(), &out);
        let id = cluster.submit_detached(&job);
        Counting {
            cluster,
            work,
            out,
            job,
            id,
        }
    }

    /// Waits for the job's end; its view, which must say it finished.
    fn finished(&self) -> weir_proto::rest::JobView {
        let id = &self.id;
        self.cluster
            .wait_for("the job to end", Duration::from_secs(120), |c| {
                c.client()
                    .job(id)
                    .is_ok_and(|v| v.summary.status.is_terminal())
            });
        let view = self.cluster.client().job(id).expect("job");
        assert_eq!(
            view.summary.status.to_string(),
            "finished",
            "{:?}\n{}",
            view.error,
            self.cluster.jobmanager_log()
        );
        view
    }
}

#[test]
fn killing_a_taskmanager_restarts_the_job_from_its_checkpoint_with_every_record_once() {
    // Default detection (2 s of missing heartbeats) and restart strategy (fixed delay, 1 s).
    let counting = Counting::start(&[]);
    let (cluster, id) = (&counting.cluster, &counting.id);
    cluster.wait_for("two checkpoints", Duration::from_secs(60), |c| {
        c.client().job(id).is_ok_and(|v| v.checkpoints >= 2)
    });
    let view = cluster.client().job(id).expect("job");
    let victim_name = view.taskmanagers[0].clone();
    let index: usize = victim_name
        .trim_start_matches("taskmanager-")
        .parse()
        .expect("taskmanager-N");
    let killed_at = Instant::now();
    let victim = cluster.taskmanagers[index - 1].id();
    let killed = std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    cluster.wait_for(
        "the restarted job's first checkpoint",
        Duration::from_secs(60),
        |c| {
            c.client()
                .job(id)
                .is_ok_and(|v| v.restarts >= 1 && v.checkpoints >= 1)
        },
    );
    eprintln!(
        "kill -9 of {victim_name} to a checkpoint of the restarted job: {:.2} s",
        killed_at.elapsed().as_secs_f64()
    );
    let view = counting.finished();
    assert_eq!(view.restarts, 1);
    let failure = &view.failures[0];
    assert_eq!(failure.class, FailureClass::LostPeer, "{failure:?}");
    assert!(
        !failure.secondary,
        "the lost TaskManager is the root cause: {failure:?}"
    );
    assert_eq!(
        failure.taskmanager.as_deref(),
        Some(victim_name.as_str()),
        "{failure:?}"
    );
    assert_eq!(
        view.taskmanagers.len(),
        1,
        "rescheduled on the TaskManager left"
    );
    assert!(!view.taskmanagers.contains(&victim_name));
    let exceptions = cluster.rest(&["exceptions", id]).expect_code(0).stdout;
    assert!(
        exceptions.starts_with("1. [restarted, lost peer] TaskManager `"),
        "{exceptions}"
    );
    let parts = committed_parts(&counting.out);
    assert_counts_exactly_once(&parts, 50, 1200);
}

#[test]
fn a_cluster_savepoint_resumes_on_the_cluster_at_another_parallelism() {
    let counting = Counting::start(&[]);
    let (cluster, id) = (&counting.cluster, &counting.id);
    cluster.wait_for("two checkpoints", Duration::from_secs(60), |c| {
        c.client().job(id).is_ok_and(|v| v.checkpoints >= 2)
    });
    let savepoints = counting.work.path().join("savepoints");
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
    assert!(
        savepoint.starts_with(savepoints.to_str().expect("utf-8")),
        "{savepoint}\n{}",
        stopped.stderr
    );
    let view = cluster.client().job(id).expect("job");
    assert_eq!(view.summary.status.to_string(), "cancelled");
    let resumed = cluster
        .submit(
            &counting.job,
            &["--from-savepoint", &savepoint],
            &[("P", "3")],
        )
        .expect_code(0);
    let counts = counts_per_key(&counting.out);
    assert_eq!(counts.len(), 50, "{}", resumed.stderr);
    for (key, seen) in counts {
        assert_eq!(seen, (1..=1200).collect::<Vec<u64>>(), "key {key}");
    }
}

#[test]
fn killing_a_taskmanager_in_the_asynchronous_phase_or_mid_commit_loses_and_duplicates_nothing() {
    // Paused while checkpoint 3 is written to storage; or, once it completed, in sink subtask
    // 2 of 2 before it commits (subtask 1 commits). The TaskManager that paused is killed
    // there; the restart restores the newest completed checkpoint (2, or 3 whose pending part
    // is committed then, once) and numbers its checkpoints on from 4.
    for fault in ["pause@upload:3", "pause@commit:3:1"] {
        let fault_env = [("WEIR_FAULT", fault)];
        let counting = Counting::start(&fault_env);
        let cluster = &counting.cluster;
        let paused = |c: &LiveCluster| {
            (0..2).find(|&i| c.taskmanager_log(i).contains("weir fault: paused at"))
        };
        cluster.wait_for(
            &format!("the pause of {fault}"),
            Duration::from_secs(60),
            |c| paused(c).is_some(),
        );
        let victim = cluster.taskmanagers[paused(cluster).expect("paused")].id();
        let killed = std::process::Command::new("kill")
            .args(["-9", &victim.to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let view = counting.finished();
        assert_eq!(view.restarts, 1, "{fault}");
        let parts = committed_parts(&counting.out);
        assert_counts_exactly_once(&parts, 50, 1200);
    }
}
