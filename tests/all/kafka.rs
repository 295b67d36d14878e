//! Kafka in and out, exactly once, against a real broker the test starts (`noida-db`).
//!
//! The job reads a 4-partition topic at parallelism 2, counts records per key in a stateful
//! Wasm UDF and writes the counts to another topic in a transaction per checkpoint. A
//! `read_committed` reader must then see, for every key, the counts 1, 2, … N once each and in
//! order — whatever interrupted the first run: SIGKILL mid-stream, SIGKILL between a
//! checkpoint's completion and the commit of its transactions (which the restored job then
//! commits), a broker that stops answering for 3 s, a broker restart, or a savepoint resumed at
//! parallelism 3.

use crate::exactly_once::{Running, stop};
use crate::harness::{fails_naming, job_file, newest_checkpoint, udf, wait_until, weir};
use crate::servers::Kafka;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const KEYS: u64 = 16;
const PER_KEY: u64 = 500;

/// `KEYS * PER_KEY` records `{"key": k, "seq": n}` keyed by `k`, into a new 4-partition topic.
fn fill_input(kafka: &Kafka, topic: &str) {
    kafka.create_topic(topic, 4);
    add_input(kafka, topic, 0..KEYS * PER_KEY);
}

/// Records `numbers` of the input (`n` is the `n / KEYS`th record of key `n % KEYS`).
fn add_input(kafka: &Kafka, topic: &str, numbers: std::ops::Range<u64>) {
    let records: Vec<(String, String)> = numbers
        .map(|n| {
            let key = n % KEYS;
            (
                key.to_string(),
                format!("{{\"key\":{key},\"seq\":{}}}", n / KEYS),
            )
        })
        .collect();
    kafka.produce(topic, &records);
}

/// Kafka `input` (read to its end when the job starts) → throttle (a slow source) → running
/// count per key (Wasm, keyed state) → Kafka `output`, at `${P:-2}`, checkpoints every 300 ms.
fn counting_job(dir: &Path, kafka: &Kafka, topics: (&str, &str)) -> String {
    counting_job_reading(dir, kafka, topics, ", bounded: latest")
}

/// The same with `bound` after the source's topic (`", bounded: …"`; empty: read forever).
fn counting_job_reading(
    dir: &Path,
    kafka: &Kafka,
    (input, output): (&str, &str),
    bound: &str,
) -> String {
    let brokers = kafka.brokers();
    let job = job_file(
        dir,
        &format!("{output}.yaml"),
        &format!(
            "name: {output}\nparallelism: ${{P:-2}}\nbatch_size: 100\ncheckpointing: {{ interval_ms: 300 }}\nrestart_strategy: {{ fixed_delay: {{ attempts: 20, delay_ms: 500 }} }}\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ kafka: {{ brokers: \"{brokers}\", topic: {input}{bound} }} }}\n  - throttle: {{ records_per_second: 1000 }}\n  - key_by: {{ field: key }}\n  - map: {{ module: count }}\n    name: counter\n  - sink: {{ kafka: {{ brokers: \"{brokers}\", topic: {output} }} }}\n",
            udf("running_count"),
        ),
    );
    job.to_str().expect("utf-8").to_string()
}

/// Each key's counts as a `read_committed` reader sees them, in offset order.
fn committed_counts(kafka: &Kafka, topic: &str) -> BTreeMap<String, Vec<u64>> {
    let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (_, key, value) in kafka.read_committed(topic) {
        let record: serde_json::Value = serde_json::from_str(&value).expect("JSON");
        assert_eq!(key.as_deref(), record["key"].as_str(), "message key");
        counts
            .entry(record["key"].as_str().expect("key").to_string())
            .or_default()
            .push(record["count"].as_u64().expect("count"));
    }
    counts
}

/// Every key counted 1..=PER_KEY, each once, in order.
fn assert_exactly_once(counts: &BTreeMap<String, Vec<u64>>, case: &str) {
    let expected: Vec<u64> = (1..=PER_KEY).collect();
    assert_eq!(counts.len() as u64, KEYS, "{case}: every key arrived");
    for (key, seen) in counts {
        assert_eq!(seen, &expected, "{case}: key {key}");
    }
}

fn run_args<'a>(checkpoints: &'a str, job: &'a str) -> Vec<&'a str> {
    vec!["run", "-q", "--checkpoint-dir", checkpoints, job]
}

#[test]
fn a_kafka_job_killed_mid_stream_or_before_its_commit_resumes_exactly_once() {
    let kafka = Kafka::start();
    // SIGKILL after checkpoint 3; SIGKILL while the sinks are about to commit checkpoint 3's
    // transactions (completed, so the restored job must commit them from their producer ids
    // and epochs).
    for (case, fault) in [("kill", None), ("commit", Some("pause@commit:3"))] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (input, output) = (format!("in-{case}"), format!("out-{case}"));
        fill_input(&kafka, &input);
        let job = counting_job(dir.path(), &kafka, (&input, &output));
        let checkpoints = dir.path().join("chk");
        let checkpoints = checkpoints.to_str().expect("utf-8");
        let env: Vec<(&str, &str)> = fault.iter().map(|f| ("WEIR_FAULT", *f)).collect();
        let mut first = Running::start(&run_args(checkpoints, &job), &env);
        match fault {
            None => first.wait_for_checkpoint(3),
            Some(_) => {
                first.wait_for("the pause", |line| {
                    line.starts_with("weir fault: paused at")
                });
            }
        }
        first.child.kill().expect("SIGKILL");
        first.wait();
        let storage = Path::new(checkpoints).join(&output);
        assert!(
            newest_checkpoint(&storage) >= 3,
            "{case}: checkpoint 3 completed"
        );
        let from = storage.to_str().expect("utf-8");
        let resume = [
            &["run", "-q", "--checkpoint-dir", checkpoints][..],
            &["--from-savepoint", from, &job],
        ]
        .concat();
        weir(&resume, &[], None).expect_code(0);
        assert_exactly_once(&committed_counts(&kafka, &output), case);
    }
}

#[test]
fn a_kafka_job_survives_a_broker_outage_a_restart_and_a_savepoint_resumed_at_another_parallelism() {
    let mut kafka = Kafka::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let checkpoints = dir.path().join("chk");
    let checkpoints = checkpoints.to_str().expect("utf-8");
    let savepoints = dir.path().join("sp");
    let savepoints = savepoints.to_str().expect("utf-8");

    // The broker stops answering for 3 s mid-stream, transactions open: the job waits or
    // fails over, and still delivers every count once.
    fill_input(&kafka, "in-outage");
    let job = counting_job(dir.path(), &kafka, ("in-outage", "out-outage"));
    let mut run = Running::start(&run_args(checkpoints, &job), &[]);
    run.wait_for_checkpoint(3);
    kafka.freeze_for(Duration::from_secs(3));
    let (code, stderr) = run.wait();
    assert_eq!(code, 0, "{stderr}");
    assert_exactly_once(
        &committed_counts(&kafka, "out-outage"),
        &format!("broker outage (the job's log:\n{stderr}\n)"),
    );

    // The broker restarts while the job, reading forever, waits for input: the job's clients
    // reconnect and the rest of the input is counted on from where it was.
    kafka.create_topic("in-restart", 4);
    let half = KEYS * PER_KEY / 2;
    add_input(&kafka, "in-restart", 0..half);
    let job = counting_job_reading(dir.path(), &kafka, ("in-restart", "out-restart"), "");
    let args = [
        &run_args(checkpoints, &job)[..],
        &["--savepoint-dir", savepoints],
    ]
    .concat();
    let run = Running::start(&args, &[]);
    let counted = |kafka: &Kafka, per_key: usize| {
        wait_until("every key counted", Duration::from_secs(120), || {
            let counts = committed_counts(kafka, "out-restart");
            match counts.len() as u64 == KEYS && counts.values().all(|c| c.len() >= per_key) {
                true => Ok(()),
                false => Err(counts),
            }
        });
    };
    counted(&kafka, (PER_KEY / 2) as usize);
    kafka.restart();
    add_input(&kafka, "in-restart", half..KEYS * PER_KEY);
    counted(&kafka, PER_KEY as usize);
    stop(run);
    assert_exactly_once(&committed_counts(&kafka, "out-restart"), "broker restart");

    // Stopped with a savepoint at parallelism 2, resumed at 3.
    fill_input(&kafka, "in-rescale");
    let job = counting_job(dir.path(), &kafka, ("in-rescale", "out-rescale"));
    let args = [
        &run_args(checkpoints, &job)[..],
        &["--savepoint-dir", savepoints],
    ]
    .concat();
    let mut run = Running::start(&args, &[("P", "2")]);
    run.wait_for_checkpoint(3);
    let savepoint = stop(run);
    let resume = [
        "run",
        "-q",
        "--checkpoint-dir",
        checkpoints,
        "--from-savepoint",
        &savepoint,
        &job,
    ];
    weir(&resume, &[("P", "3")], None).expect_code(0);
    assert_exactly_once(
        &committed_counts(&kafka, "out-rescale"),
        "savepoint p=2 → p=3",
    );
}

#[test]
fn bad_kafka_input_is_named_a_record_that_is_not_json_becomes_a_dead_letter() {
    let kafka = Kafka::start();
    let dir = tempfile::tempdir().expect("temp dir");
    kafka.create_topic("mixed", 2);
    kafka.produce(
        "mixed",
        &[
            ("a".into(), "{\"n\":1}".into()),
            ("a".into(), "not json".into()),
            ("a".into(), "{\"n\":2}".into()),
        ],
    );
    // Dead letters go to a Kafka topic of their own.
    let out = dir.path().join("out.jsonl");
    let job = job_file(
        dir.path(),
        "mixed.yaml",
        &format!(
            "name: mixed\ndead_letter: {{ kafka: {{ brokers: \"{brokers}\", topic: mixed-dead }} }}\npipeline:\n  - source: {{ kafka: {{ brokers: \"{brokers}\", topic: mixed, bounded: latest }} }}\n  - sink: {{ file: {{ path: {:?} }} }}\n",
            out.display().to_string(),
            brokers = kafka.brokers(),
        ),
    );
    weir(&["run", "-q", job.to_str().expect("utf-8")], &[], None).expect_code(0);
    let lines = std::fs::read_to_string(&out).expect("output");
    assert_eq!(lines, "{\"n\":1}\n{\"n\":2}\n");
    let dead = kafka.read_committed("mixed-dead");
    assert_eq!(dead.len(), 1, "one dead letter: {dead:?}");
    let dead = &dead[0].2;
    let letter: serde_json::Value = serde_json::from_str(dead).expect("a JSON dead letter");
    let origin = letter["origin"].as_str().unwrap_or_default();
    assert!(
        origin.contains("topic `mixed` partition") && origin.contains("offset 1"),
        "{dead}"
    );
    assert!(
        letter["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not JSON"),
        "{dead}"
    );

    // A missing topic and an unreachable broker fail the job, named.
    fails_naming(
        dir.path(),
        "missing.yaml",
        &format!(
            "name: missing\npipeline:\n  - source: {{ kafka: {{ brokers: \"{}\", topic: nowhere }} }}\n  - sink: {{ blackhole: {{}} }}\n",
            kafka.brokers()
        ),
        "topic `nowhere` does not exist",
    );
    fails_naming(
        dir.path(),
        "unreachable.yaml",
        "name: unreachable\nrestart_strategy: none\npipeline:\n  - source: { kafka: { brokers: \"127.0.0.1:9\", topic: t, properties: { socket.connection.setup.timeout.ms: \"1000\" } } }\n  - sink: { blackhole: {} }\n",
        "Kafka at 127.0.0.1:9",
    );
}
