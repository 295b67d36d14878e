use super::state::{ClusterState, ClusterTimeouts, JobRequestError, Outgoing, TaskEnd};
use std::time::{Duration, Instant};
use weir_core::fixtures::graph;
use weir_net::rpc::ToTaskManager;
use weir_proto::failure::{Failure, FailureClass};
use weir_proto::progress::TaskCounters;
use weir_proto::status::JobStatus;

fn cluster(now: Instant, taskmanagers: u32) -> ClusterState {
    let mut state = ClusterState::new(ClusterTimeouts {
        heartbeat: Duration::from_secs(2),
        slot_wait: Duration::from_secs(10),
    });
    for i in 1..=taskmanagers {
        let address = format!("127.0.0.1:{}", 7000 + i).parse().expect("addr");
        state.register(&format!("taskmanager-{i}"), 1, address, now);
    }
    state
}

fn deployed_to(out: &[Outgoing]) -> Vec<String> {
    out.iter()
        .filter(|(_, m)| matches!(m, ToTaskManager::Deploy(_)))
        .map(|(tm, _)| tm.clone())
        .collect()
}

fn cancelled(out: &[Outgoing]) -> Vec<String> {
    out.iter()
        .filter(|(_, m)| matches!(m, ToTaskManager::Cancel { .. }))
        .map(|(tm, _)| tm.clone())
        .collect()
}

fn ok(state: &mut ClusterState, tm: &str, task: (usize, u32), now: Instant) -> Vec<Outgoing> {
    let counters = TaskCounters {
        vertex: task.0,
        subtask: task.1,
        ..TaskCounters::default()
    };
    state.task_ended(tm, "job", end(task, Ok(()), counters), now)
}

fn end(task: (usize, u32), result: Result<(), Failure>, counters: TaskCounters) -> TaskEnd {
    TaskEnd {
        task,
        counters,
        result,
        final_state: None,
        awaiting_commit: false,
    }
}

fn status(state: &ClusterState, now: Instant) -> JobStatus {
    state.job("job", now).expect("job").summary.status
}

#[test]
fn a_job_is_deployed_over_slots_and_finishes_when_every_task_has_ended() {
    let now = Instant::now();
    let mut state = cluster(now, 2);
    let out = state.submit("job".into(), graph(&[1, 2]), now);
    assert_eq!(deployed_to(&out), ["taskmanager-1", "taskmanager-2"]);
    let Some((_, ToTaskManager::Deploy(deployment))) = out.first() else {
        panic!("a deployment");
    };
    assert_eq!(
        deployment.placement,
        vec![vec![0], vec![0, 1]],
        "slot k holds subtask k"
    );
    assert_eq!(state.overview().free_slots, 0);
    ok(&mut state, "taskmanager-1", (0, 0), now);
    ok(&mut state, "taskmanager-1", (1, 0), now);
    assert_eq!(status(&state, now), JobStatus::Running);
    // A report from a TaskManager that does not run the task changes nothing.
    ok(&mut state, "taskmanager-1", (1, 1), now);
    assert_eq!(status(&state, now), JobStatus::Running);
    ok(&mut state, "taskmanager-2", (1, 1), now);
    assert_eq!(status(&state, now), JobStatus::Finished);
    assert_eq!(state.overview().free_slots, 2, "slots back");
}

#[test]
fn a_failed_task_cancels_the_rest_and_its_root_cause_wins_over_echoes() {
    let now = Instant::now();
    let mut state = cluster(now, 2);
    state.submit("job".into(), graph(&[2]), now);
    let echo = Failure::new(FailureClass::LostPeer, true, "input lost")
        .echo()
        .in_task("v0[1/2]");
    let out = state.task_ended(
        "taskmanager-1",
        "job",
        end((0, 0), Err(echo), TaskCounters::default()),
        now,
    );
    assert_eq!(cancelled(&out), ["taskmanager-2"]);
    let root = Failure::new(FailureClass::UserCode, true, "trap in module `m`").in_task("v0[2/2]");
    state.task_ended(
        "taskmanager-2",
        "job",
        end((0, 1), Err(root), TaskCounters::default()),
        now,
    );
    let view = state.job("job", now).expect("job");
    assert_eq!(view.summary.status, JobStatus::Failed);
    let error = view.error.expect("error");
    assert_eq!(
        error.class,
        FailureClass::UserCode,
        "the root cause, not the echo"
    );
    assert_eq!(error.task.as_deref(), Some("v0[2/2]"));
    assert_eq!(error.taskmanager.as_deref(), Some("taskmanager-2"));
}

#[test]
fn a_silent_taskmanager_is_lost_and_its_job_fails_naming_it() {
    let start = Instant::now();
    let mut state = cluster(start, 2);
    state.submit("job".into(), graph(&[2]), start);
    let later = start + Duration::from_secs(3);
    state.heartbeat("taskmanager-1", 1, later);
    let out = state.tick(later);
    assert_eq!(
        cancelled(&out),
        ["taskmanager-1"],
        "the survivor stops its share"
    );
    assert_eq!(status(&state, later), JobStatus::Failing);
    ok(&mut state, "taskmanager-1", (0, 0), later);
    let view = state.job("job", later).expect("job");
    assert_eq!(view.summary.status, JobStatus::Failed);
    let error = view.error.expect("error");
    assert_eq!(error.class, FailureClass::LostPeer);
    assert_eq!(error.taskmanager.as_deref(), Some("taskmanager-2"));
    assert_eq!(state.overview().taskmanagers, 1);
}

#[test]
fn a_job_waits_for_slots_and_fails_after_the_slot_timeout() {
    let start = Instant::now();
    let mut state = cluster(start, 1);
    assert!(deployed_to(&state.submit("job".into(), graph(&[2]), start)).is_empty());
    assert_eq!(status(&state, start), JobStatus::Scheduling);
    // A second TaskManager in time lets it run.
    state.register(
        "taskmanager-2",
        1,
        "127.0.0.1:7100".parse().expect("addr"),
        start,
    );
    assert_eq!(deployed_to(&state.tick(start)).len(), 2);
    let mut lonely = cluster(start, 1);
    lonely.submit("job".into(), graph(&[2]), start);
    lonely.tick(start + Duration::from_secs(11));
    let view = lonely.job("job", start).expect("job");
    assert_eq!(view.summary.status, JobStatus::Failed);
    let error = view.error.expect("error");
    assert_eq!(error.class, FailureClass::ResourceLimit, "{error:?}");
    assert!(!error.retryable);
}

#[test]
fn cancelling_stops_every_share_and_a_finished_job_cannot_be_cancelled() {
    let now = Instant::now();
    let mut state = cluster(now, 2);
    state.submit("job".into(), graph(&[2]), now);
    let out = state.cancel("job", now).expect("cancel");
    assert_eq!(cancelled(&out), ["taskmanager-1", "taskmanager-2"]);
    for (tm, subtask) in [("taskmanager-1", 0), ("taskmanager-2", 1)] {
        let error = Failure::new(FailureClass::LostPeer, false, "cancelled")
            .echo()
            .in_task(format!("v0[{}/2]", subtask + 1));
        state.task_ended(
            tm,
            "job",
            end((0, subtask), Err(error), TaskCounters::default()),
            now,
        );
    }
    assert_eq!(status(&state, now), JobStatus::Cancelled);
    let again = state.cancel("job", now).expect_err("already over");
    assert!(matches!(again, JobRequestError::Refused(_)), "{again}");
    assert!(matches!(
        state.cancel("nope", now).expect_err("unknown"),
        JobRequestError::NoSuchJob(id) if id == "nope"
    ));
}
