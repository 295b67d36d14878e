//! The windowed Nexmark examples (`examples/nexmark/q5.yaml`, `q7.yaml`, `q8.yaml`,
//! `q11.yaml`) on generated events that arrive up to 1 s out of order: each equals a reference
//! computed here from the same events, on both state backends, at parallelism 1 and 3.

use crate::harness::{job_file, repo, weir};
use crate::windows::sessions;
use std::collections::{BTreeMap, BTreeSet};

/// A bid's auction, bidder, price and event time.
struct Bid {
    auction: i64,
    bidder: i64,
    price: i64,
    time: i64,
}

/// The `events` Nexmark events of type `only` that the examples read (same seed and disorder),
/// dumped by a plain job.
fn generated(dir: &std::path::Path, events: u64, only: &str) -> Vec<serde_json::Value> {
    let raw = job_file(
        dir,
        &format!("{only}.yaml"),
        &format!(
            "name: dump\npipeline:\n  - source: {{ nexmark: {{ count: {events}, seed: 42, only: {only}, out_of_order_ms: 1000 }} }}\n  - sink: {{ stdout: {{}} }}\n"
        ),
    );
    let all: Vec<serde_json::Value> = weir(&["run", "-q", raw.to_str().expect("utf-8")], &[], None)
        .expect_code(0)
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("event"))
        .collect();
    assert!(
        all.windows(2)
            .any(|pair| int(&pair[1], "dateTime") < int(&pair[0], "dateTime")),
        "the generated {only} events are out of order"
    );
    all
}

/// The `events` bids the examples read.
fn generated_bids(dir: &std::path::Path, events: u64) -> Vec<Bid> {
    generated(dir, events, "bid")
        .iter()
        .map(|bid| Bid {
            auction: int(bid, "auction"),
            bidder: int(bid, "bidder"),
            price: int(bid, "price"),
            time: int(bid, "dateTime"),
        })
        .collect()
}

/// Runs `example` with `events` on every backend and parallelism; gives each run's stdout
/// lines parsed as JSON, with a label naming the run.
fn runs(example: &str, events: u64) -> Vec<(String, Vec<serde_json::Value>)> {
    let example = repo().join("examples/nexmark").join(example);
    let mut all = Vec::new();
    for backend in ["memory", "rocksdb"] {
        for parallelism in ["1", "3"] {
            let run = weir(
                &[
                    "run",
                    "-q",
                    "--state-backend",
                    backend,
                    // A small write cache: state goes through RocksDB mid-window.
                    "--state-write-cache",
                    "64",
                    example.to_str().expect("utf-8"),
                ],
                &[
                    ("EVENTS", events.to_string().as_str()),
                    ("PARALLELISM", parallelism),
                ],
                None,
            )
            .expect_code(0);
            let lines = run
                .stdout
                .lines()
                .map(|line| serde_json::from_str(line).expect("JSON result"))
                .collect();
            all.push((format!("{backend} at parallelism {parallelism}"), lines));
        }
    }
    all
}

fn int(value: &serde_json::Value, name: &str) -> i64 {
    value[name]
        .as_i64()
        .unwrap_or_else(|| panic!("{name} in {value}"))
}

#[test]
fn q5_finds_every_auction_tied_for_the_most_bids_in_each_sliding_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = 200_000;
    let bids = generated_bids(dir.path(), events);
    // (window end) → (most bids, the auctions with that many), for 10 s windows every 2 s.
    let mut counts: BTreeMap<(i64, i64), u64> = BTreeMap::new();
    for bid in &bids {
        let last_start = bid.time - bid.time.rem_euclid(2_000);
        for start in (last_start - 8_000..=last_start).step_by(2_000) {
            *counts.entry((start + 10_000, bid.auction)).or_default() += 1;
        }
    }
    let mut expected: BTreeMap<i64, (u64, BTreeSet<i64>)> = BTreeMap::new();
    for ((end, auction), count) in counts {
        let entry = expected.entry(end).or_insert((0, BTreeSet::new()));
        if count > entry.0 {
            *entry = (count, BTreeSet::new());
        }
        if count == entry.0 {
            entry.1.insert(auction);
        }
    }
    assert!(expected.len() > 5, "{} windows", expected.len());
    for (label, lines) in runs("q5.yaml", events) {
        let mut actual: BTreeMap<i64, (u64, BTreeSet<i64>)> = BTreeMap::new();
        for line in &lines {
            let end = int(line, "window_end");
            let hot = line["hot_items"].as_array().expect("hot_items");
            let mut auctions = BTreeSet::new();
            let mut most = BTreeSet::new();
            for item in hot {
                assert_eq!(int(item, "window_end"), end, "{label}: {line}");
                auctions.insert(int(item, "auction"));
                most.insert(int(item, "bids") as u64);
            }
            assert_eq!(most.len(), 1, "{label}: one maximum per window: {line}");
            let most = most.into_iter().next().unwrap_or_default();
            assert!(
                actual.insert(end, (most, auctions)).is_none(),
                "{label}: {end} twice"
            );
        }
        assert_eq!(actual, expected, "q5 {label} differs from the reference");
    }
}

#[test]
fn q7_finds_the_highest_bids_of_each_window_over_all_bids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = 300_000;
    // window start → (highest price, bids, the winning bids' (auction, bidder, time))
    type Window = (i64, u64, BTreeSet<(i64, i64, i64)>);
    let mut expected: BTreeMap<i64, Window> = BTreeMap::new();
    for bid in generated_bids(dir.path(), events) {
        let entry = expected
            .entry(bid.time - bid.time.rem_euclid(10_000))
            .or_insert((i64::MIN, 0, BTreeSet::new()));
        if bid.price > entry.0 {
            entry.0 = bid.price;
            entry.2.clear();
        }
        if bid.price == entry.0 {
            entry.2.insert((bid.auction, bid.bidder, bid.time));
        }
        entry.1 += 1;
    }
    assert!(expected.len() >= 3, "{} windows", expected.len());
    for (label, lines) in runs("q7.yaml", events) {
        let actual: BTreeMap<i64, Window> = lines
            .iter()
            .map(|v| {
                let winners = v["winning_bids"].as_array().expect("winning_bids");
                let winners = winners
                    .iter()
                    .map(|b| {
                        assert_eq!(b["price"], v["highest_price"], "{label}: {v}");
                        (int(b, "auction"), int(b, "bidder"), int(b, "dateTime"))
                    })
                    .collect();
                let bids = v["bids"].as_u64().expect("bids");
                (
                    int(v, "window_start"),
                    (int(v, "highest_price"), bids, winners),
                )
            })
            .collect();
        assert_eq!(lines.len(), actual.len(), "{label}: one result per window");
        assert_eq!(actual, expected, "q7 {label}");
    }
}

#[test]
fn q11_counts_each_bidders_sessions_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = 30_000;
    let bids: Vec<(i64, i64, i64)> = generated_bids(dir.path(), events)
        .into_iter()
        .map(|bid| (bid.bidder, bid.price, bid.time))
        .collect();
    let expected: BTreeMap<(i64, i64, i64), u64> = sessions(&bids, 10_000)
        .into_iter()
        .map(|(session, (count, _))| (session, count))
        .collect();
    assert!(expected.len() > 100, "{} sessions", expected.len());
    for (label, lines) in runs("q11.yaml", events) {
        let actual: BTreeMap<(i64, i64, i64), u64> = lines
            .iter()
            .map(|v| {
                let session = (
                    int(v, "bidder"),
                    int(v, "window_start"),
                    int(v, "window_end"),
                );
                (session, v["bids"].as_u64().expect("bids"))
            })
            .collect();
        assert_eq!(
            lines.len(),
            expected.len(),
            "{label}: one result per session"
        );
        assert!(actual == expected, "q11 {label} differs from the reference");
    }
}

#[test]
fn q8_pairs_each_new_person_with_the_auctions_they_opened_in_the_same_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = 200_000;
    let window = |time: i64| time - time.rem_euclid(10_000);
    let persons: Vec<(i64, i64)> = generated(dir.path(), events, "person")
        .iter()
        .map(|p| (int(p, "id"), window(int(p, "dateTime"))))
        .collect();
    // (person id, auction id, window start) of every pair, sorted: a multiset.
    let mut expected: Vec<(i64, i64, i64)> = Vec::new();
    for auction in generated(dir.path(), events, "auction") {
        let (seller, start) = (int(&auction, "seller"), window(int(&auction, "dateTime")));
        for &(id, person_start) in &persons {
            if id == seller && person_start == start {
                expected.push((id, int(&auction, "id"), start));
            }
        }
    }
    expected.sort_unstable();
    assert!(expected.len() > 1000, "{} pairs", expected.len());
    for (label, lines) in runs("q8.yaml", events) {
        let mut actual: Vec<(i64, i64, i64)> = lines
            .iter()
            .map(|v| {
                let (person, auction) = (&v["person"], &v["auction"]);
                assert_eq!(int(v, "key"), int(person, "id"), "{label}: {v}");
                assert_eq!(int(person, "id"), int(auction, "seller"), "{label}: {v}");
                (
                    int(person, "id"),
                    int(auction, "id"),
                    int(v, "window_start"),
                )
            })
            .collect();
        actual.sort_unstable();
        assert!(
            actual == expected,
            "q8 {label}: {} pairs, expected {}",
            actual.len(),
            expected.len()
        );
    }
}
