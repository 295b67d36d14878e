//! Kafka tables in SQL, with Flink's connector options: a windowed query reads a topic of
//! JSON bids up to its end offsets (`'scan.bounded.mode' = 'latest-offset'`) and writes its
//! rows to another topic, exactly once with checkpoints; a read_committed reader sees each
//! window's row once, equal to a reference.

use crate::harness::{wait_until, weir};
use crate::servers::Kafka;
use std::collections::BTreeMap;
use std::time::Duration;

#[test]
fn a_windowed_sql_query_from_a_kafka_topic_to_another_gives_each_row_once() {
    let kafka = Kafka::start();
    kafka.create_topic("sql-bids", 3);
    kafka.create_topic("sql-counts", 2);
    let bids = crate::windows::bids(6000, 0);
    let records: Vec<(String, String)> = bids
        .iter()
        .map(|(auction, price, ts)| {
            (
                auction.to_string(),
                format!("{{\"auction\":{auction},\"price\":{price},\"ts\":{ts}}}"),
            )
        })
        .collect();
    kafka.produce("sql-bids", &records);
    let mut expected: BTreeMap<(i64, String), (u64, i64)> = BTreeMap::new();
    for (auction, price, ts) in &bids {
        let start = weir_sql::timestamp_text(ts - ts.rem_euclid(100));
        let row = expected.entry((*auction, start)).or_default();
        row.0 += 1;
        row.1 = row.1.max(*price);
    }
    let brokers = kafka.brokers();
    let script = format!(
        "SET 'parallelism.default' = '2';\nSET 'execution.checkpointing.interval' = '200ms';\n\
         CREATE TABLE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)\n\
           WITH ('connector' = 'kafka', 'topic' = 'sql-bids', 'properties.bootstrap.servers' = '{brokers}',\n\
                 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', 'format' = 'json');\n\
         CREATE TABLE counts (auction BIGINT, window_start TIMESTAMP(3), n BIGINT, top BIGINT)\n\
           WITH ('connector' = 'kafka', 'topic' = 'sql-counts', 'properties.bootstrap.servers' = '{brokers}',\n\
                 'key.fields' = 'auction', 'format' = 'json');\n\
         INSERT INTO counts SELECT auction, window_start, COUNT(*) AS n, MAX(price) AS top\n\
         FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '100' MILLISECOND))\n\
         GROUP BY auction, window_start, window_end;\n"
    );
    let run = weir(&["sql", "-q", "-e", &script], &[], None).expect_code(0);
    // A commit returns before its markers reach the partitions: a read_committed reader's end
    // (the last stable offset) catches up a moment later.
    let mut rows = Vec::new();
    wait_until("the committed rows", Duration::from_secs(30), || {
        rows = kafka.read_committed("sql-counts");
        match rows.len() >= expected.len() {
            true => Ok(()),
            false => Err(rows.len()),
        }
    });
    let mut actual: BTreeMap<(i64, String), (u64, i64)> = BTreeMap::new();
    for (_, key, value) in &rows {
        let row: serde_json::Value = serde_json::from_str(value).expect("a JSON row");
        let auction = row["auction"].as_i64().expect("auction");
        assert_eq!(
            key.as_deref(),
            Some(auction.to_string().as_str()),
            "keyed by auction"
        );
        let start = row["window_start"]
            .as_str()
            .expect("window_start")
            .to_string();
        let previous = actual.insert(
            (auction, start),
            (
                row["n"].as_u64().expect("n"),
                row["top"].as_i64().expect("top"),
            ),
        );
        assert!(previous.is_none(), "one row per window: {value}");
    }
    assert_eq!(
        rows.len(),
        expected.len(),
        "rows in the topic; the run's stderr:\n{}",
        run.stderr
    );
    assert!(
        actual == expected,
        "the topic's rows differ from the reference"
    );
}
