//! The Nexmark q1/q2 example: every bid converted exactly, the selection exactly the bids that
//! satisfy the predicate, the same at any parallelism.

use crate::harness::{job_file, weir};

fn bids(output: &str) -> Vec<serde_json::Value> {
    output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

#[test]
fn q1_converts_every_bid_and_q2_selects_exactly_the_matching_ones() {
    let events = "20000";
    // q1 alone, from the example's own modules: every bid, converted.
    let example =
        std::fs::read_to_string(crate::harness::repo().join("examples/nexmark-q1-q2.yaml"))
            .expect("example");
    let q1_only = example
        .replace("  - name: q2-selection\n    filter: { module: q2 }\n", "")
        .replace(
            "../udfs/rust",
            &crate::harness::repo()
                .join("udfs/rust")
                .display()
                .to_string(),
        );
    let dir = tempfile::tempdir().expect("temp dir");
    let job = job_file(dir.path(), "q1.yaml", &q1_only);
    let converted = bids(
        &weir(
            &["run", "--quiet", job.to_str().expect("utf-8")],
            &[("EVENTS", events)],
            None,
        )
        .expect_code(0)
        .stdout,
    );
    assert_eq!(
        converted.len(),
        20000 / 50 * 46,
        "46 of every 50 events are bids"
    );
    for bid in &converted {
        assert_eq!(bid["event_type"], "bid");
        let price = bid["price"].as_i64().expect("price");
        assert_eq!(bid["price_eur"].as_i64(), Some(price * 908 / 1000), "{bid}");
    }
    let mut expected: Vec<String> = converted
        .iter()
        .filter(|b| {
            b["auction"].as_i64().expect("auction") % 123 == 0
                || b["price"].as_i64().expect("price") > 500
        })
        .map(|b| b.to_string())
        .collect();
    expected.sort();
    assert!(!expected.is_empty() && expected.len() < converted.len());
    for parallelism in ["1", "3"] {
        let run = weir(
            &["run", "--quiet", "examples/nexmark-q1-q2.yaml"],
            &[("EVENTS", events), ("PARALLELISM", parallelism)],
            None,
        )
        .expect_code(0);
        let mut selected: Vec<String> = bids(&run.stdout).iter().map(|b| b.to_string()).collect();
        selected.sort();
        assert_eq!(selected, expected, "parallelism {parallelism}");
    }
}
