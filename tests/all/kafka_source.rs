//! What a Kafka source reads and when event time moves: a time range of a topic with Kafka's
//! metadata on each record, and per-partition watermarks — an idle partition stops holding
//! them back, and partitions added while the job runs are found and read.

use crate::exactly_once::Running;
use crate::harness::{job_file, wait_until, weir};
use crate::servers::{Kafka, Produced};
use std::collections::BTreeSet;
use std::time::Duration;

#[test]
fn a_kafka_source_reads_from_one_time_to_another_with_each_messages_metadata() {
    let kafka = Kafka::start();
    let base = hour_ago();
    kafka.create_topic("timed", 2);
    let messages: Vec<Produced> = (0..20)
        .map(|i| Produced {
            partition: Some(i % 2),
            key: Some(format!("k{i}")),
            value: format!("{{\"i\":{i}}}"),
            timestamp: Some(base + i64::from(i) * 1000),
            headers: vec![("trace".into(), format!("t{i}"))],
        })
        .collect();
    kafka.produce_messages("timed", &messages);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.jsonl");
    let job = job_file(
        dir.path(),
        "timed.yaml",
        &format!(
            "name: timed\npipeline:\n  - source: {{ kafka: {{ brokers: \"{}\", topic: timed, start: {{ timestamp_ms: {} }}, bounded: {{ timestamp_ms: {} }}, metadata: true }} }}\n  - sink: {{ file: {{ path: {:?} }} }}\n",
            kafka.brokers(),
            base + 5000,
            base + 15_000,
            out.display().to_string()
        ),
    );
    weir(&["run", "-q", job.to_str().expect("utf-8")], &[], None).expect_code(0);
    let text = std::fs::read_to_string(&out).expect("output");
    let mut records: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    records.sort_by_key(|r| r["value"]["i"].as_i64());
    let expected: Vec<serde_json::Value> = (5..15)
        .map(|i: i64| {
            serde_json::json!({
                "topic": "timed",
                "partition": i % 2,
                "offset": i / 2,
                "timestamp": base + i * 1000,
                "key": format!("k{i}"),
                "headers": { "trace": format!("t{i}") },
                "value": { "i": i },
            })
        })
        .collect();
    assert_eq!(records, expected);
}

/// The (key, window start in s after `t0`, count) windows in `topic` now.
fn windows(kafka: &Kafka, topic: &str, t0: i64) -> BTreeSet<(String, i64, u64)> {
    kafka
        .read_committed(topic)
        .into_iter()
        .map(|(_, _, value)| {
            let window: serde_json::Value = serde_json::from_str(&value).expect("JSON");
            (
                window["key"].as_str().expect("key").to_string(),
                (window["window_start"].as_i64().expect("start") - t0) / 1000,
                window["count"].as_u64().expect("count"),
            )
        })
        .collect()
}

/// An hour ago on a 10 s boundary: recent, as a broker deletes messages older than its
/// retention (7 days) whatever their offsets.
fn hour_ago() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    now - now % 10_000 - 3_600_000
}

/// A message of `key` on `partition` at `second` s after `t0`.
fn at(t0: i64, partition: i32, key: &str, second: i64) -> Produced {
    Produced {
        partition: Some(partition),
        key: Some(key.into()),
        value: format!("{{\"key\":\"{key}\"}}"),
        timestamp: Some(t0 + second * 1000),
        headers: Vec::new(),
    }
}

/// Waits until the windows in `topic` are `expected`, failing after a minute.
fn wait_for_windows(kafka: &Kafka, (topic, t0): (&str, i64), expected: &[(&str, i64, u64)]) {
    let expected: BTreeSet<(String, i64, u64)> = expected
        .iter()
        .map(|(k, s, c)| (k.to_string(), *s, *c))
        .collect();
    wait_until("the windows", Duration::from_secs(60), || {
        let seen = windows(kafka, topic, t0);
        assert!(
            seen.is_subset(&expected),
            "windows {seen:?}, expected {expected:?}"
        );
        match seen == expected {
            true => Ok(()),
            false => Err(seen),
        }
    });
}

#[test]
fn per_partition_watermarks_skip_an_idle_partition_and_follow_partitions_added_while_running() {
    let kafka = Kafka::start();
    let t0 = hour_ago();
    let out = ("clock-out", t0);
    kafka.create_topic("clock", 2);
    // Partition 0 runs to 29 s; partition 1 stops at 2 s.
    let mut messages: Vec<Produced> = (0..30).map(|s| at(t0, 0, "a", s)).collect();
    messages.extend((0..3).map(|s| at(t0, 1, "b", s)));
    kafka.produce_messages("clock", &messages);
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(
        dir.path(),
        "clock.yaml",
        &format!(
            "name: clock\npipeline:\n  - source: {{ kafka: {{ brokers: \"{b}\", topic: clock, watermark: {{ out_of_orderness_ms: 0, idle_timeout_ms: 1000 }}, discovery_interval_ms: 500 }} }}\n  - key_by: {{ field: key }}\n  - aggregate: {{ window: {{ tumbling: {{ size_ms: 10000 }} }}, functions: [ {{ fn: count }} ] }}\n  - sink: {{ kafka: {{ brokers: \"{b}\", topic: clock-out }} }}\n",
            b = kafka.brokers()
        ),
    );
    let mut run = Running::start(&["run", "-q", job.to_str().expect("utf-8")], &[]);
    // Once both partitions have been quiet past the idle timeout, a record on partition 0 alone
    // moves event time to it (29 s): windows up to 20 s fire while the job runs, and
    // [20 s, 30 s) waits for a record past it. (With every partition idle, event time stays,
    // as in Flink.)
    std::thread::sleep(Duration::from_millis(2500));
    kafka.produce_messages("clock", &[at(t0, 0, "a", 29)]);
    wait_for_windows(&kafka, out, &[("a", 0, 10), ("b", 0, 3), ("a", 10, 10)]);

    // A third partition appears, and only its record (35 s) can move event time on.
    kafka.add_partitions("clock", 3);
    std::thread::sleep(Duration::from_millis(1500));
    kafka.produce_messages("clock", &[at(t0, 2, "c", 35)]);
    wait_for_windows(
        &kafka,
        out,
        &[("a", 0, 10), ("b", 0, 3), ("a", 10, 10), ("a", 20, 11)],
    );
    kafka.produce_messages("clock", &[at(t0, 2, "c", 52)]);
    wait_for_windows(
        &kafka,
        out,
        &[
            ("a", 0, 10),
            ("b", 0, 3),
            ("a", 10, 10),
            ("a", 20, 11),
            ("c", 30, 1),
        ],
    );
    run.child.kill().expect("kill");
    run.wait();
}
