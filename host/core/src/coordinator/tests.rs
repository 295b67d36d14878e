use super::*;

const TASKS: [TaskId; 3] = [(0, 0), (0, 1), (1, 0)];

fn config() -> CheckpointConfig {
    CheckpointConfig {
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(30),
        max_concurrent: 1,
        retained: 2,
        min_pause: Duration::ZERO,
        periodic: true,
    }
}

fn handle(bytes: u64) -> StateHandle {
    StateHandle {
        location: format!("chk/{bytes}"),
        bytes,
    }
}

fn triggered(actions: &[CheckpointAction]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        CheckpointAction::Trigger { id, .. } => Some(*id),
        _ => None,
    })
}

/// Acknowledges `id` from every task at `now`; returns the last acknowledgement's actions.
fn ack_all(c: &mut CheckpointCoordinator, id: u64, now: Instant) -> Vec<CheckpointAction> {
    let mut last = Vec::new();
    for (i, task) in TASKS.into_iter().enumerate() {
        last = c.on_ack(id, task, handle(i as u64 + 1), now);
    }
    last
}

#[test]
fn a_checkpoint_starts_every_interval_and_completes_when_every_task_acknowledges() {
    let t0 = Instant::now();
    let mut c = CheckpointCoordinator::new(config(), TASKS, 1);
    assert_eq!(
        triggered(&c.on_tick(t0, 1_000)),
        Some(1),
        "the first starts at once"
    );
    assert_eq!(
        c.on_tick(t0 + Duration::from_secs(5), 6_000),
        [],
        "not before the interval"
    );
    assert!(
        c.on_ack(1, TASKS[0], handle(10), t0 + Duration::from_secs(1))
            .is_empty()
    );
    assert!(
        c.on_ack(1, TASKS[1], handle(20), t0 + Duration::from_secs(1))
            .is_empty()
    );
    assert!(
        c.on_ack(1, TASKS[1], handle(99), t0 + Duration::from_secs(1))
            .is_empty(),
        "a second acknowledgement from a task changes nothing"
    );
    assert!(
        c.on_ack(7, TASKS[2], handle(5), t0).is_empty(),
        "unknown checkpoint"
    );
    assert_eq!(
        c.on_ack(1, TASKS[2], handle(30), t0 + Duration::from_secs(2)),
        [CheckpointAction::NotifyComplete { id: 1 }]
    );
    let latest = c.latest().expect("completed");
    assert_eq!((latest.id, latest.bytes()), (1, 60));
    assert_eq!(latest.duration, Duration::from_secs(2));
    assert_eq!(
        latest.handles[&TASKS[1]],
        handle(20),
        "the first acknowledgement counts"
    );
    assert_eq!(
        triggered(&c.on_tick(t0 + Duration::from_secs(10), 11_000)),
        Some(2)
    );
}

#[test]
fn at_most_max_concurrent_run_and_a_timeout_aborts() {
    let t0 = Instant::now();
    let mut c = CheckpointCoordinator::new(config(), TASKS, 1);
    assert_eq!(triggered(&c.on_tick(t0, 0)), Some(1));
    let later = t0 + Duration::from_secs(20);
    assert_eq!(c.on_tick(later, 0), [], "one is already running");
    assert_eq!(c.in_progress(), 1);
    let expired = t0 + Duration::from_secs(30);
    let actions = c.on_tick(expired, 0);
    assert!(
        matches!(&actions[0], CheckpointAction::Abort { id: 1, reason } if reason.contains("not complete")),
        "{actions:?}"
    );
    assert_eq!(triggered(&actions), Some(2), "and the next one may start");
    assert!(
        ack_all(&mut c, 1, expired).is_empty(),
        "acks of an aborted one are ignored"
    );
    assert!(c.latest().is_none());
}

#[test]
fn a_completed_checkpoint_subsumes_older_ones_and_only_the_last_k_are_kept() {
    let t0 = Instant::now();
    let mut config = config();
    config.max_concurrent = 2;
    let mut c = CheckpointCoordinator::new(config, TASKS, 5);
    assert_eq!(triggered(&c.on_tick(t0, 0)), Some(5));
    assert_eq!(
        triggered(&c.on_tick(t0 + Duration::from_secs(10), 0)),
        Some(6)
    );
    let actions = ack_all(&mut c, 6, t0 + Duration::from_secs(11));
    assert_eq!(
        actions,
        [
            CheckpointAction::Abort {
                id: 5,
                reason: "subsumed by checkpoint 6".into()
            },
            CheckpointAction::NotifyComplete { id: 6 },
        ]
    );
    let mut now = t0 + Duration::from_secs(20);
    for id in [7, 8] {
        assert_eq!(triggered(&c.on_tick(now, 0)), Some(id));
        let actions = ack_all(&mut c, id, now);
        if id == 8 {
            assert_eq!(
                actions,
                [
                    CheckpointAction::NotifyComplete { id: 8 },
                    CheckpointAction::Discard { id: 6 },
                ],
                "two retained: the oldest goes"
            );
        }
        now += Duration::from_secs(10);
    }
    let kept: Vec<u64> = c.completed().map(|c| c.id).collect();
    assert_eq!(kept, [7, 8]);
}

#[test]
fn a_decline_or_a_failed_job_aborts_what_is_in_progress() {
    let t0 = Instant::now();
    let mut config = config();
    config.max_concurrent = 2;
    config.min_pause = Duration::from_secs(15);
    let mut c = CheckpointCoordinator::new(config, TASKS, 1);
    c.on_tick(t0, 0);
    c.on_tick(t0 + Duration::from_secs(10), 0);
    let declined = c.on_decline(1, TASKS[0], "sink not ready");
    assert!(
        matches!(&declined[..], [CheckpointAction::Abort { id: 1, reason }] if reason.contains("sink not ready")),
        "{declined:?}"
    );
    assert_eq!(
        c.on_job_failed(),
        [CheckpointAction::Abort {
            id: 2,
            reason: "the job failed".into()
        }]
    );
    assert_eq!(c.in_progress(), 0);
    // After a completion, the pause holds the next trigger back even past the interval.
    let start = t0 + Duration::from_secs(20);
    let id = triggered(&c.on_tick(start, 0)).expect("a checkpoint starts");
    ack_all(&mut c, id, start);
    assert_eq!(c.on_tick(start + Duration::from_secs(10), 0), []);
    assert!(triggered(&c.on_tick(start + Duration::from_secs(15), 0)).is_some());
}

#[test]
fn a_savepoint_starts_on_request_even_without_periodic_checkpoints() {
    let start = Instant::now();
    let mut coordinator = CheckpointCoordinator::new(
        CheckpointConfig {
            periodic: false,
            ..config()
        },
        TASKS,
        7,
    );
    assert!(
        coordinator
            .on_tick(start + Duration::from_secs(60), 0)
            .is_empty(),
        "nothing starts by itself"
    );
    let (id, trigger) = coordinator.trigger_now(start, 42);
    assert_eq!(
        (id, trigger),
        (
            7,
            CheckpointAction::Trigger {
                id: 7,
                timestamp: 42
            }
        )
    );
    let mut actions = Vec::new();
    for task in TASKS {
        actions = coordinator.on_ack(7, task, handle(1), start);
    }
    assert_eq!(actions, vec![CheckpointAction::NotifyComplete { id: 7 }]);
}

#[test]
fn a_finished_task_counts_in_checkpoints_it_never_saw_and_is_left_out_of_later_ones() {
    let t0 = Instant::now();
    let mut c = CheckpointCoordinator::new(config(), TASKS, 1).with_sources([(0, 0), (0, 1)]);
    assert_eq!(triggered(&c.on_tick(t0, 0)), Some(1));
    assert_eq!(
        c.on_task_finished((0, 1), 0, handle(0), t0),
        (vec![1], vec![])
    );
    assert!(c.on_ack(1, (0, 0), handle(1), t0).is_empty());
    assert_eq!(
        c.on_ack(1, (1, 0), handle(2), t0),
        [CheckpointAction::NotifyComplete { id: 1 }]
    );
    let t1 = t0 + Duration::from_secs(10);
    assert_eq!(triggered(&c.on_tick(t1, 0)), Some(2), "checkpoints go on");
    assert!(c.on_ack(2, (0, 0), handle(1), t1).is_empty());
    assert_eq!(
        c.on_ack(2, (1, 0), handle(2), t1),
        [CheckpointAction::NotifyComplete { id: 2 }],
        "the finished task is not waited for"
    );
    c.on_task_finished((0, 0), 2, handle(0), t1);
    assert_eq!(
        c.on_tick(t1 + Duration::from_secs(20), 0),
        [],
        "no source left to start a barrier"
    );
}

#[test]
fn a_task_that_ended_after_abandoning_a_checkpoint_aborts_it() {
    let t0 = Instant::now();
    let mut c = CheckpointCoordinator::new(config(), TASKS, 1);
    assert_eq!(triggered(&c.on_tick(t0, 0)), Some(1));
    let (counted, actions) = c.on_task_finished((1, 0), 1, handle(0), t0);
    assert!(counted.is_empty());
    assert!(
        matches!(actions[..], [CheckpointAction::Abort { id: 1, .. }]),
        "{actions:?}"
    );
}

#[test]
fn when_every_task_has_finished_checkpoints_in_progress_are_aborted() {
    let t0 = Instant::now();
    let mut c = CheckpointCoordinator::new(config(), TASKS, 1);
    assert_eq!(triggered(&c.on_tick(t0, 0)), Some(1));
    c.on_task_finished((0, 0), 0, handle(0), t0);
    c.on_task_finished((0, 1), 0, handle(0), t0);
    let (counted, actions) = c.on_task_finished((1, 0), 0, handle(0), t0);
    assert!(counted.is_empty());
    assert!(
        matches!(actions[..], [CheckpointAction::Abort { id: 1, .. }]),
        "{actions:?}"
    );
}

#[test]
fn a_final_checkpoint_after_every_task_finished_completes_at_once_and_is_retained() {
    let t0 = Instant::now();
    let mut c = CheckpointCoordinator::new(config(), TASKS, 1);
    assert_eq!(triggered(&c.on_tick(t0, 0)), Some(1));
    ack_all(&mut c, 1, t0);
    for task in TASKS {
        assert!(!c.all_finished());
        c.on_task_finished(task, 1, handle(0), t0);
    }
    assert!(c.all_finished());
    assert!(
        c.on_tick(t0 + Duration::from_secs(60), 0).is_empty(),
        "no source runs"
    );
    let actions = c.final_checkpoint(t0, 7);
    assert_eq!(
        actions,
        [
            CheckpointAction::Trigger {
                id: 2,
                timestamp: 7
            },
            CheckpointAction::NotifyComplete { id: 2 }
        ]
    );
    assert_eq!(c.latest().map(|l| l.id), Some(2));
}

#[test]
fn checkpoints_of_earlier_runs_are_discarded_in_turn_as_new_ones_complete() {
    let t0 = Instant::now();
    // Two retained, and an earlier run left 4 and 5.
    let mut c = CheckpointCoordinator::new(config(), TASKS, 6).with_retained([4, 5]);
    assert_eq!(triggered(&c.on_tick(t0, 0)), Some(6));
    assert_eq!(
        ack_all(&mut c, 6, t0),
        [
            CheckpointAction::NotifyComplete { id: 6 },
            CheckpointAction::Discard { id: 4 }
        ]
    );
}
