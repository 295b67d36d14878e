use super::*;

#[test]
fn a_peer_is_lost_only_after_a_full_timeout_of_silence() {
    let start = Instant::now();
    let seconds = |s| start + Duration::from_secs(s);
    let mut detector = FailureDetector::new(Duration::from_secs(10));
    detector.on_heartbeat("tm-1", seconds(0));
    detector.on_heartbeat("tm-2", seconds(0));
    detector.on_heartbeat("tm-1", seconds(8));
    assert_eq!(detector.next_deadline(), Some(seconds(10)));
    assert!(
        detector.poll_lost(seconds(10)).is_empty(),
        "exactly the timeout is not yet lost"
    );
    assert_eq!(detector.poll_lost(seconds(11)), vec!["tm-2"]);
    assert!(detector.poll_lost(seconds(12)).is_empty(), "reported once");
    assert_eq!(detector.poll_lost(seconds(19)), vec!["tm-1"]);
    detector.on_heartbeat("tm-3", seconds(20));
    detector.remove(&"tm-3");
    assert_eq!(detector.next_deadline(), None);
}
