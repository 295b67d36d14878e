//! Nexmark q3, q4, q5, q7, q8 and q19 in Flink SQL (examples/sql/nexmark/): joins without a
//! window, joins of aggregates and subqueries, aggregates over an updating result, and Top-N.
//! Each equals a
//! reference computed here over the generator's own events, at parallelism 1 and 3 on both
//! state backends; the updating queries are compared on their final table, after applying
//! their changelog.

use crate::sql_nexmark::{generated, int, query_on, sorted};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Events per second of event time: 20,000 events span 40 s, so several windows of each query.
const RATE: u64 = 500;

/// The generator's first `events` events (persons, auctions and bids), as JSON.
fn generated_events(dir: &std::path::Path, events: u64) -> Vec<Value> {
    generated(dir, &format!("count: {events}, events_per_second: {RATE}"))
}

fn of_type<'e>(events: &'e [Value], kind: &str) -> Vec<&'e Value> {
    events.iter().filter(|e| e["event_type"] == kind).collect()
}

/// The final table of a changelog: `+I`/`+U` rows added, `-U`/`-D` rows taking one equal row
/// back out (a retraction of a row not there is a failure), `op` dropped; sorted.
pub(crate) fn final_table(rows: Vec<Value>) -> Vec<Value> {
    let mut table: BTreeMap<String, (Value, i64)> = BTreeMap::new();
    for row in rows {
        let op = row["op"].as_str().unwrap_or("+I").to_string();
        // The row without `op`, its other columns in their order.
        let row: Value = match row {
            Value::Object(columns) => columns.into_iter().filter(|(c, _)| c != "op").collect(),
            other => other,
        };
        let held = table.entry(row.to_string()).or_insert((row.clone(), 0));
        match op.as_str() {
            "+I" | "+U" => held.1 += 1,
            "-U" | "-D" => {
                assert!(held.1 > 0, "{op} of a row not in the table: {row}");
                held.1 -= 1;
            }
            other => panic!("row kind {other} in {row}"),
        }
    }
    let rows = table
        .into_values()
        .flat_map(|(row, n)| std::iter::repeat_n(row, n as usize))
        .collect();
    sorted(rows)
}

/// Example query `name`'s final table over `events` events at `parallelism` on `backend`, its
/// tables generated at [`RATE`].
fn final_rows(
    dir: &std::path::Path,
    name: &str,
    events: u64,
    parallelism: u32,
    backend: &str,
) -> Vec<Value> {
    let example = crate::harness::repo().join(format!("examples/sql/nexmark/{name}.sql"));
    let text = std::fs::read_to_string(example).expect("example query");
    let paced = text.replace(
        "'rows' = '100000'",
        &format!("'rows' = '100000', 'events-per-second' = '{RATE}'"),
    );
    std::fs::write(dir.join(format!("{name}.sql")), paced).expect("query");
    final_table(query_on(dir, name, events, parallelism, backend))
}

/// Parallelism and state backend of each run.
const RUNS: [(u32, &str); 4] = [
    (1, "hashmap"),
    (3, "rocksdb"),
    (3, "hashmap"),
    (1, "rocksdb"),
];

/// Runs example `name` over `events` events at p=1 and p=3 on both backends, comparing each
/// run's final table with `expected`.
fn check(dir: &std::path::Path, name: &str, events: u64, expected: &[Value]) {
    for (parallelism, backend) in RUNS {
        let rows = final_rows(dir, name, events, parallelism, backend);
        assert_eq!(
            rows.len(),
            expected.len(),
            "{name} at p={parallelism} on {backend}: rows of the final table"
        );
        assert!(
            rows == expected,
            "{name} at p={parallelism} on {backend}: rows differ from the reference"
        );
    }
}

const EVENTS: u64 = 20_000;

#[test]
fn nexmark_q3_joins_sellers_to_their_auctions_as_the_reference_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = generated_events(dir.path(), EVENTS);
    let people: BTreeMap<i64, &Value> = of_type(&events, "person")
        .into_iter()
        .map(|p| (int(p, "id"), p))
        .collect();
    let expected = sorted(
        of_type(&events, "auction")
            .into_iter()
            .filter(|a| int(a, "category") == 10)
            .filter_map(|a| {
                let p = people.get(&int(a, "seller"))?;
                ["OR", "ID", "CA"].contains(&p["state"].as_str()?).then(|| {
                    json!({"name": p["name"], "city": p["city"], "state": p["state"], "id": int(a, "id")})
                })
            })
            .collect(),
    );
    assert!(expected.len() > 20, "{} rows", expected.len());
    check(dir.path(), "q3", EVENTS, &expected);
}

#[test]
fn nexmark_q4_averages_each_categorys_winning_bids_as_the_reference_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = generated_events(dir.path(), EVENTS);
    let mut bids: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for bid in of_type(&events, "bid") {
        bids.entry(int(bid, "auction")).or_default().push(bid);
    }
    // (auction, category) → its highest bid between its start and its expiry.
    let mut winning: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for auction in of_type(&events, "auction") {
        let (id, start, end) = (
            int(auction, "id"),
            int(auction, "dateTime"),
            int(auction, "expires"),
        );
        for bid in bids.get(&id).into_iter().flatten() {
            let time = int(bid, "dateTime");
            if start <= time && time <= end {
                let best = winning
                    .entry((id, int(auction, "category")))
                    .or_insert(i64::MIN);
                *best = (*best).max(int(bid, "price"));
            }
        }
    }
    let mut per_category: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for ((_, category), price) in winning {
        let sum = per_category.entry(category).or_default();
        sum.0 += price;
        sum.1 += 1;
    }
    let expected = sorted(
        per_category
            .into_iter()
            .map(|(category, (sum, n))| json!({"category": category, "EXPR$1": sum as f64 / n as f64}))
            .collect(),
    );
    assert!(expected.len() >= 3, "{} categories", expected.len());
    for (parallelism, backend) in RUNS {
        let rows = final_rows(dir.path(), "q4", EVENTS, parallelism, backend);
        // Per category, in millionths (the engine's AVG is a DOUBLE).
        let averages = |rows: &[Value]| -> BTreeMap<i64, i64> {
            rows.iter()
                .map(|r| {
                    let average = r["EXPR$1"].as_f64().expect("an average");
                    (int(r, "category"), (average * 1e6).round() as i64)
                })
                .collect()
        };
        assert_eq!(
            rows.len(),
            expected.len(),
            "q4 at p={parallelism} on {backend}: one row per category"
        );
        assert_eq!(
            averages(&rows),
            averages(&expected),
            "q4 at p={parallelism} on {backend}: the final table's averages"
        );
    }
}

/// Start of every `size` ms window, every `slide` ms, holding time `t`.
fn windows_of(t: i64, size: i64, slide: i64) -> Vec<i64> {
    let last = t.div_euclid(slide) * slide;
    (0..size / slide)
        .map(|k| last - k * slide)
        .filter(|start| start + size > t)
        .collect()
}

#[test]
fn nexmark_q5_finds_each_windows_hot_items_as_the_reference_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = generated_events(dir.path(), EVENTS);
    let mut counts: BTreeMap<i64, BTreeMap<i64, i64>> = BTreeMap::new();
    for bid in of_type(&events, "bid") {
        for start in windows_of(int(bid, "dateTime"), 10_000, 2_000) {
            *counts
                .entry(start)
                .or_default()
                .entry(int(bid, "auction"))
                .or_default() += 1;
        }
    }
    let mut expected = Vec::new();
    for per_auction in counts.values() {
        let most = per_auction.values().copied().max().unwrap_or(0);
        for (auction, num) in per_auction {
            if *num >= most {
                expected.push(json!({"auction": auction, "num": num}));
            }
        }
    }
    let expected = sorted(expected);
    assert!(expected.len() > 20, "{} rows", expected.len());
    check(dir.path(), "q5", EVENTS, &expected);
}

#[test]
fn nexmark_q7_finds_each_windows_highest_bids_as_the_reference_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = generated_events(dir.path(), EVENTS);
    let bids = of_type(&events, "bid");
    let mut highest: BTreeMap<i64, i64> = BTreeMap::new();
    for bid in &bids {
        let end = windows_of(int(bid, "dateTime"), 10_000, 10_000)[0] + 10_000;
        let max = highest.entry(end).or_insert(i64::MIN);
        *max = (*max).max(int(bid, "price"));
    }
    let text = weir_sql::timestamp_text;
    let mut expected = Vec::new();
    for (end, max) in &highest {
        for bid in &bids {
            let time = int(bid, "dateTime");
            if int(bid, "price") == *max && end - 10_000 <= time && time <= *end {
                expected.push(json!({"auction": int(bid, "auction"), "price": max, "bidder": int(bid, "bidder"), "dateTime": text(time), "extra": bid["extra"]}));
            }
        }
    }
    let expected = sorted(expected);
    assert!(highest.len() >= 4, "{} windows", highest.len());
    assert!(expected.len() >= highest.len(), "{} rows", expected.len());
    check(dir.path(), "q7", EVENTS, &expected);
}

#[test]
fn nexmark_q8_finds_new_sellers_as_the_reference_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = generated_events(dir.path(), EVENTS);
    let window = |v: &Value| windows_of(int(v, "dateTime"), 10_000, 10_000)[0];
    let sellers: BTreeSet<(i64, i64)> = of_type(&events, "auction")
        .into_iter()
        .map(|a| (int(a, "seller"), window(a)))
        .collect();
    let people: BTreeSet<(i64, String, i64)> = of_type(&events, "person")
        .into_iter()
        .map(|p| {
            (
                int(p, "id"),
                p["name"].as_str().expect("a name").to_string(),
                window(p),
            )
        })
        .collect();
    let text = weir_sql::timestamp_text;
    let expected = sorted(
        people
            .into_iter()
            .filter(|(id, _, start)| sellers.contains(&(*id, *start)))
            .map(|(id, name, start)| json!({"id": id, "name": name, "starttime": text(start)}))
            .collect(),
    );
    assert!(expected.len() > 10, "{} rows", expected.len());
    check(dir.path(), "q8", EVENTS, &expected);
}

#[test]
fn nexmark_q19_keeps_each_auctions_ten_highest_bids_as_the_reference_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = generated_events(dir.path(), EVENTS);
    let text = weir_sql::timestamp_text;
    // Each bid as the query's rows write it (ties on price keep the order of this text).
    let mut per_auction: BTreeMap<i64, Vec<(i64, String, Value)>> = BTreeMap::new();
    for bid in of_type(&events, "bid") {
        let row = json!({"auction": int(bid, "auction"), "bidder": int(bid, "bidder"), "price": int(bid, "price"), "channel": bid["channel"], "url": bid["url"], "dateTime": text(int(bid, "dateTime")), "extra": bid["extra"]});
        let written = format!(
            "{{\"auction\":{},\"bidder\":{},\"price\":{},\"channel\":{},\"url\":{},\"dateTime\":{},\"extra\":{}}}",
            row["auction"],
            row["bidder"],
            row["price"],
            row["channel"],
            row["url"],
            row["dateTime"],
            row["extra"]
        );
        per_auction
            .entry(int(bid, "auction"))
            .or_default()
            .push((int(bid, "price"), written, row));
    }
    let mut expected = Vec::new();
    for bids in per_auction.values_mut() {
        bids.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (place, (_, _, row)) in bids.iter().take(10).enumerate() {
            let mut row = row.clone();
            row["rank_number"] = json!(place + 1);
            expected.push(row);
        }
    }
    let expected = sorted(expected);
    assert!(
        per_auction.values().any(|b| b.len() > 10),
        "an auction with more than ten bids"
    );
    check(dir.path(), "q19", EVENTS, &expected);
}
