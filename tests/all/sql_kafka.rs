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

#[test]
fn an_updating_query_into_upsert_kafka_leaves_each_keys_latest_row_and_tombstones() {
    let kafka = Kafka::start();
    kafka.create_topic("sql-tops", 2);
    // The benchmark's bid generator, paced, so results change over many batches; the same
    // rows printed once for the reference.
    let bids_table = "CREATE TABLE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3))\n\
           WITH ('connector' = 'bids', 'rows' = '20000', 'rows-per-second' = '20000');\n";
    let printed = weir(
        &[
            "sql",
            "-q",
            "-e",
            &format!("{bids_table}SELECT auction, price FROM bids;"),
        ],
        &[],
        None,
    )
    .expect_code(0);
    // Each auction's highest price, then how many auctions have each highest price: a group
    // whose last auction moves on to a higher price is deleted.
    let mut top: BTreeMap<i64, i64> = BTreeMap::new();
    for line in printed.stdout.lines() {
        let bid: serde_json::Value = serde_json::from_str(line).expect("a bid");
        let (auction, price) = (bid["auction"].as_i64(), bid["price"].as_i64());
        let (Some(auction), Some(price)) = (auction, price) else {
            panic!("a bid: {line}");
        };
        let held = top.entry(auction).or_insert(price);
        *held = (*held).max(price);
    }
    let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
    for price in top.values() {
        *expected.entry(*price).or_default() += 1;
    }
    let brokers = kafka.brokers();
    let script = format!(
        "SET 'parallelism.default' = '2';\nSET 'execution.checkpointing.interval' = '200ms';\n{bids_table}\
         CREATE TABLE tops (highest BIGINT, auctions BIGINT, PRIMARY KEY (highest) NOT ENFORCED)\n\
           WITH ('connector' = 'upsert-kafka', 'topic' = 'sql-tops', 'properties.bootstrap.servers' = '{brokers}',\n\
                 'key.format' = 'json', 'value.format' = 'json');\n\
         INSERT INTO tops SELECT highest, COUNT(*) AS auctions\n\
         FROM (SELECT auction, MAX(price) AS highest FROM bids GROUP BY auction) GROUP BY highest;\n"
    );
    weir(&["sql", "-q", "-e", &script], &[], None).expect_code(0);
    // The topic compacted by hand: each key's last message, a tombstone deleting it.
    let mut table: BTreeMap<String, String> = BTreeMap::new();
    let mut tombstones = 0;
    wait_until("the upserts", Duration::from_secs(30), || {
        table.clear();
        tombstones = 0;
        for (_, key, value) in kafka.read_committed("sql-tops") {
            let key = key.expect("an upsert has a key");
            match value.is_empty() {
                true => {
                    tombstones += 1;
                    table.remove(&key)
                }
                false => table.insert(key, value),
            };
        }
        match table.len() == expected.len() {
            true => Ok(()),
            false => Err(table.len()),
        }
    });
    assert!(expected.len() > 100, "{} groups", expected.len());
    assert!(tombstones > 0, "some group was deleted");
    let mut actual: BTreeMap<i64, i64> = BTreeMap::new();
    for (key, value) in &table {
        let key: serde_json::Value = serde_json::from_str(key).expect("a JSON key");
        let row: serde_json::Value = serde_json::from_str(value).expect("a JSON row");
        assert_eq!(
            key,
            serde_json::json!({"highest": row["highest"]}),
            "the key is the primary key"
        );
        assert!(row.get("op").is_none(), "{row}");
        actual.insert(
            row["highest"].as_i64().expect("highest"),
            row["auctions"].as_i64().expect("auctions"),
        );
    }
    assert_eq!(actual, expected);

    // A plain Kafka table appends: an updating result into it is refused, naming the remedy.
    let plain = script
        .replace("'upsert-kafka'", "'kafka'")
        .replace(", PRIMARY KEY (highest) NOT ENFORCED", "");
    let refused = weir(&["sql", "-q", "-e", &plain], &[], None).expect_code(2);
    assert!(
        refused.stderr.contains("upsert-kafka"),
        "{}",
        refused.stderr
    );
}
