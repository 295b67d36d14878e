//! `examples/kafka/`, run as a user would, against a real broker and database the test starts:
//! the Nexmark generator fills the topic `bids`, then the polyglot pipeline (C filter, Python
//! map, Rust key and aggregate, JavaScript format) reads it at parallelism 2 and writes lines to
//! a topic and totals to a table. Both outputs must equal a reference the test computes itself
//! from the bids a `read_committed` reader finds in the topic.

use crate::harness::{repo, weir};
use crate::servers::{Kafka, Postgres};
use std::collections::BTreeMap;

/// Per auction kept by Nexmark q2: (bids, Σ price, Σ price in euros).
type Totals = BTreeMap<i64, (u64, i64, i64)>;

fn reference(bids: &[(i32, Option<String>, String)]) -> Totals {
    let mut totals = Totals::new();
    for (_, key, value) in bids {
        let bid: serde_json::Value = serde_json::from_str(value).expect("a JSON bid");
        let auction = bid["auction"].as_i64().expect("auction");
        let price = bid["price"].as_i64().expect("price");
        assert_eq!(
            key.as_deref(),
            Some(auction.to_string().as_str()),
            "key_field"
        );
        if auction % 123 == 0 || price > 500 {
            let entry = totals.entry(auction).or_default();
            entry.0 += 1;
            entry.1 += price;
            entry.2 += price * 908 / 1000;
        }
    }
    totals
}

#[test]
fn the_kafka_example_fills_a_topic_and_its_polyglot_pipeline_writes_a_topic_and_a_table() {
    let kafka = Kafka::start();
    let postgres = Postgres::start();
    kafka.create_topic("bids", 4);
    postgres.query(
        "CREATE TABLE auction_totals (auction BIGINT PRIMARY KEY, bids BIGINT NOT NULL, total_eur BIGINT NOT NULL)",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let checkpoints = dir.path().join("chk");
    let checkpoints = checkpoints.to_str().expect("utf-8");
    let brokers = kafka.brokers();
    let url = postgres.url();
    let env = [
        ("KAFKA", brokers.as_str()),
        ("POSTGRES", url.as_str()),
        ("EVENTS", "5000"),
        ("PARALLELISM", "2"),
    ];
    for job in ["fill-bids.yaml", "pipeline.yaml"] {
        let path = repo().join("examples/kafka").join(job);
        let path = path.to_str().expect("utf-8");
        weir(
            &["run", "-q", "--checkpoint-dir", checkpoints, path],
            &env,
            None,
        )
        .expect_code(0);
    }

    let bids = kafka.read_committed("bids");
    // Nexmark's 1:3:46 mix of persons, auctions and bids.
    assert_eq!(bids.len(), 4600, "every generated bid once");
    let expected = reference(&bids);
    assert!(expected.len() > 100, "{} auctions", expected.len());

    let table: Totals = postgres
        .query("SELECT auction, bids, total_eur FROM auction_totals")
        .iter()
        .map(|row| {
            let fields: Vec<i64> = row
                .split('|')
                .map(|f| f.parse().expect("a number"))
                .collect();
            (fields[0], (fields[1] as u64, 0, fields[2]))
        })
        .collect();
    let expected_table: Totals = expected
        .iter()
        .map(|(&auction, &(bids, _, euros))| (auction, (bids, 0, euros)))
        .collect();
    assert_eq!(table, expected_table, "the table auction_totals");

    let mut lines: Vec<String> = kafka
        .read_committed("auction-lines")
        .into_iter()
        .map(|(_, _, line)| line)
        .collect();
    lines.sort();
    let mut expected_lines: Vec<String> = expected
        .iter()
        .map(|(auction, (count, sum, _))| {
            format!(
                "auction {auction}: {count} bids, {sum} in all, {} on average",
                sum / *count as i64
            )
        })
        .collect();
    expected_lines.sort();
    assert_eq!(lines, expected_lines, "the topic auction-lines");
}
