//! Consumer lag of a Kafka source per partition, on a cluster: the JobManager's and the
//! TaskManager's `/metrics` and `weir status` show each partition's next offset and the messages
//! after it, and together they account for every message of the topic.

use crate::harness::job_file;
use crate::live_cluster::LiveCluster;
use crate::metrics::scrape;
use crate::servers::Kafka;
use std::collections::BTreeMap;
use std::time::Duration;

const PARTITIONS: i32 = 4;
const RECORDS: u64 = 4000;

/// (offset, lag) per partition of the samples of `job` at one scrape.
fn lag_by_partition(
    samples: &[(String, serde_json::Value, f64)],
    job_label: (&str, &str),
) -> BTreeMap<String, (f64, f64)> {
    let mut partitions: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (name, labels, value) in samples {
        if labels[job_label.0] != job_label.1 || labels["topic"] != "lagging" {
            continue;
        }
        let partition = labels["partition"].as_str().unwrap_or_default().to_string();
        match name.as_str() {
            "weir_source_partition_offset" => partitions.entry(partition).or_default().0 = *value,
            "weir_source_partition_lag" => partitions.entry(partition).or_default().1 = *value,
            _ => {}
        }
    }
    partitions
}

#[test]
fn a_kafka_sources_lag_per_partition_shows_in_metrics_and_status() {
    let kafka = Kafka::start();
    kafka.create_topic("lagging", PARTITIONS);
    let records: Vec<(String, String)> = (0..RECORDS)
        .map(|n| (n.to_string(), format!("{{\"n\":{n}}}")))
        .collect();
    kafka.produce("lagging", &records);

    let (cluster, tm_url) = LiveCluster::metered();
    let work = tempfile::tempdir().expect("temp dir");
    // Unbounded and slow: a backlog that shrinks as the job reads.
    let job = job_file(
        work.path(),
        "lagging.yaml",
        &format!(
            "name: lagging\nparallelism: 2\nbatch_size: 10\npipeline:\n  - source: {{ kafka: {{ brokers: \"{}\", topic: lagging }} }}\n    name: in\n  - throttle: {{ records_per_second: 200 }}\n  - sink: {{ blackhole: {{}} }}\n",
            kafka.brokers()
        ),
    );
    let id = cluster.submit_detached(&job);
    let jm_url = format!("{}/metrics", cluster.rest);
    let token = cluster.token();

    // Every partition reported, and offset + lag = the partition's end: all messages counted.
    let accounted = |partitions: &BTreeMap<String, (f64, f64)>| {
        partitions.len() == PARTITIONS as usize
            && partitions.values().map(|(o, l)| o + l).sum::<f64>() == RECORDS as f64
            && partitions.values().any(|(o, _)| *o > 0.0)
    };
    let mut first = BTreeMap::new();
    cluster.wait_for("lag per partition", Duration::from_secs(60), |_| {
        first = lag_by_partition(&scrape(&jm_url, &token), ("job", &id));
        accounted(&first)
    });
    let total_lag = |p: &BTreeMap<String, (f64, f64)>| p.values().map(|(_, l)| l).sum::<f64>();
    assert!(total_lag(&first) > 0.0, "a backlog: {first:?}");
    cluster.wait_for("the lag to shrink", Duration::from_secs(60), |_| {
        let now = lag_by_partition(&scrape(&jm_url, &token), ("job", &id));
        accounted(&now) && total_lag(&now) < total_lag(&first)
    });
    let tasks = lag_by_partition(&scrape(&tm_url, ""), ("job", &id));
    assert!(
        accounted(&tasks),
        "the TaskManager's tasks report it: {tasks:?}"
    );

    let status = cluster.rest(&["status", &id]).expect_code(0).stdout;
    let rows: Vec<&str> = status
        .lines()
        .filter(|line| line.split_whitespace().any(|word| word == "lagging"))
        .collect();
    assert!(status.contains("PARTITION"), "{status}");
    assert_eq!(rows.len(), PARTITIONS as usize, "{status}");
    cluster.rest(&["cancel", &id]).expect_code(0);
}
