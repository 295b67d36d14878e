use super::JobStatus::*;
use super::*;

#[test]
fn the_happy_path_and_the_failure_path_are_legal() {
    let path = [Created, Scheduling, Running, Finishing, Finished];
    for pair in path.windows(2) {
        assert!(pair[0].can_become(pair[1]), "{} -> {}", pair[0], pair[1]);
    }
    assert_eq!(
        Running.become_(Failing).and_then(|s| s.become_(Failed)),
        Ok(Failed)
    );
}

#[test]
fn terminal_states_are_final() {
    let all = [
        Created, Scheduling, Running, Finishing, Finished, Failing, Failed, Cancelling, Cancelled,
    ];
    for from in all.iter().filter(|s| s.is_terminal()) {
        for to in all {
            assert_eq!(from.become_(to), Err(IllegalTransition { from: *from, to }));
        }
    }
    assert!(
        Finishing.become_(Running).is_err(),
        "no way back from finishing"
    );
}
