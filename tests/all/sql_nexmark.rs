//! Nexmark q0, q1, q2 and q11 in Flink SQL (examples/sql/nexmark/) equal references computed
//! here over the generator's own bids, at parallelism 1 and 3 (q11 on both state backends).

use crate::harness::{job_file, repo, weir};
use serde_json::{Value, json};

/// The generator's bids among its first `events` events, as JSON.
fn generated_bids(dir: &std::path::Path, events: u64) -> Vec<Value> {
    generated(dir, &format!("count: {events}, only: bid"))
}

/// What a `nexmark: { <options> }` source generates, as JSON.
pub(crate) fn generated(dir: &std::path::Path, options: &str) -> Vec<Value> {
    let job = job_file(
        dir,
        "generated.yaml",
        &format!(
            "name: generated\npipeline:\n  - source: {{ nexmark: {{ {options} }} }}\n  - sink: {{ stdout: {{}} }}\n"
        ),
    );
    let run = weir(&["run", "-q", job.to_str().expect("utf-8")], &[], None).expect_code(0);
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("an event"))
        .collect()
}

/// Runs example query `name` (or `dir/name.sql`) over `events` events at `parallelism`: its
/// rows, sorted.
fn query(dir: &std::path::Path, name: &str, events: u64, parallelism: u32) -> Vec<Value> {
    query_on(dir, name, events, parallelism, "hashmap")
}

/// The same, keeping state on `backend` (Flink's `state.backend.type`).
pub(crate) fn query_on(
    dir: &std::path::Path,
    name: &str,
    events: u64,
    parallelism: u32,
    backend: &str,
) -> Vec<Value> {
    // A query the test wrote into `dir`, else the example of that name.
    let own = dir.join(format!("{name}.sql"));
    let path = match own.exists() {
        true => own,
        false => repo().join(format!("examples/sql/nexmark/{name}.sql")),
    };
    let text = std::fs::read_to_string(path)
        .expect("example query")
        .replace("'rows' = '100000'", &format!("'rows' = '{events}'"));
    let script = format!(
        "SET 'parallelism.default' = '{parallelism}';\nSET 'state.backend.type' = '{backend}';\n{text}"
    );
    let file = dir.join(format!("{name}-{parallelism}-{backend}.sql"));
    std::fs::write(&file, script).expect("script");
    let run = weir(
        &["sql", "-q", "-f", file.to_str().expect("utf-8")],
        &[],
        None,
    )
    .expect_code(0);
    sorted(
        run.stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("a row"))
            .collect(),
    )
}

/// `rows` sorted, a DOUBLE `price` in thousandths (serde_json's default float parsing may miss
/// the nearest double by an ulp).
pub(crate) fn sorted(mut rows: Vec<Value>) -> Vec<Value> {
    for row in &mut rows {
        if let Some(price) = row["price"].as_f64().filter(|_| row["price"].is_f64()) {
            row["price"] = json!((price * 1000.0).round() as i64);
        }
    }
    rows.sort_by_key(|r| r.to_string());
    rows
}

pub(crate) fn int(bid: &Value, field: &str) -> i64 {
    bid[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} of {bid}"))
}

#[test]
fn nexmark_q0_q1_q2_in_sql_equal_references_over_the_generators_bids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = 20_000;
    let bids = generated_bids(dir.path(), events);
    assert!(bids.len() > 10_000, "{} bids", bids.len());
    let time = |bid: &Value| weir_sql::timestamp_text(int(bid, "dateTime"));
    let q0 = sorted(
        bids.iter()
            .map(|b| json!({"auction": int(b, "auction"), "bidder": int(b, "bidder"), "price": int(b, "price"), "dateTime": time(b), "extra": b["extra"]}))
            .collect(),
    );
    let q1 = sorted(
        bids.iter()
            .map(|b| json!({"auction": int(b, "auction"), "bidder": int(b, "bidder"), "price": 0.908 * int(b, "price") as f64, "dateTime": time(b), "extra": b["extra"]}))
            .collect(),
    );
    let q2 = sorted(
        bids.iter()
            .filter(|b| int(b, "auction") % 123 == 0)
            .map(|b| json!({"auction": int(b, "auction"), "price": int(b, "price")}))
            .collect(),
    );
    assert!(!q2.is_empty());
    for parallelism in [1, 3] {
        for (name, expected) in [("q0", &q0), ("q1", &q1), ("q2", &q2)] {
            let rows = query(dir.path(), name, events, parallelism);
            assert_eq!(rows.len(), expected.len(), "{name} at p={parallelism}");
            assert!(
                rows == *expected,
                "{name} at p={parallelism}: rows differ from the reference"
            );
        }
    }
}

#[test]
fn nexmark_q11_in_sql_counts_each_bidders_sessions_as_the_reference_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = 20_000;
    let bids: Vec<(i64, i64, i64)> = generated_bids(dir.path(), events)
        .iter()
        .map(|b| (int(b, "bidder"), int(b, "price"), int(b, "dateTime")))
        .collect();
    let text = weir_sql::timestamp_text;
    let expected = sorted(
        crate::windows::sessions(&bids, 10_000)
            .into_iter()
            .map(|((bidder, start, end), (count, _))| {
                json!({"bidder": bidder, "bid_count": count, "starttime": text(start), "endtime": text(end)})
            })
            .collect(),
    );
    assert!(expected.len() > 100, "{} sessions", expected.len());
    // The same sessions by Flink's SESSION table-valued function.
    let q11 = std::fs::read_to_string(repo().join("examples/sql/nexmark/q11.sql")).expect("q11");
    let tables = &q11[..q11.find("SELECT").expect("a query")];
    let tvf = format!(
        "{tables}SELECT bidder, COUNT(*) AS bid_count, window_start AS starttime, window_end AS endtime\n\
         FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))\n\
         GROUP BY bidder, window_start, window_end;\n"
    );
    std::fs::write(dir.path().join("q11_tvf.sql"), tvf).expect("script");
    for (parallelism, backend) in [(1, "hashmap"), (3, "rocksdb")] {
        let rows = query_on(dir.path(), "q11", events, parallelism, backend);
        let tvf_rows = query_on(dir.path(), "q11_tvf", events, parallelism, backend);
        assert!(
            tvf_rows == expected,
            "q11 by SESSION(TABLE …) at p={parallelism} on {backend}"
        );
        assert_eq!(
            rows.len(),
            expected.len(),
            "q11 at p={parallelism} on {backend}: one row per session"
        );
        assert!(
            rows == expected,
            "q11 at p={parallelism} on {backend}: rows differ from the reference"
        );
    }
}
