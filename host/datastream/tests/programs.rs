//! DataStream programs run on the embedded mini-cluster: the example's report equals a
//! reference computed here from the generator's bids, and typed closures reject what they
//! cannot read (or panic on) as dead letters naming the step.

#[allow(dead_code)]
#[path = "../examples/bid_report.rs"]
mod bid_report;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use weir_datastream::StreamEnvironment;
use weir_datastream::spec::{
    CheckpointSpec, DatagenMode, DatagenSpec, FileSinkSpec, PayloadFormat, SinkFormat, SinkSpec,
    SourceSpec,
};
use weir_runtime::operators::sources::bid_row;

/// Every JSON line of the part files under `dir`, sorted.
fn rows(dir: &Path) -> Vec<Value> {
    let mut rows: Vec<Value> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|part| part.expect("entry").path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
        })
        .flat_map(|path| {
            std::fs::read_to_string(&path)
                .expect("part")
                .lines()
                .map(|l| serde_json::from_str(l).expect("JSON"))
                .collect::<Vec<Value>>()
        })
        .collect();
    rows.sort_by_key(|r| r.to_string());
    rows
}

fn sorted(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by_key(|r| r.to_string());
    rows
}

#[test]
fn the_bid_report_program_equals_a_reference_over_the_generators_bids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = 200_000;
    let env = StreamEnvironment::new("bid-report");
    env.parallelism(2)
        .checkpointing(CheckpointSpec::every(200))
        .checkpoint_dir(dir.path().join("chk"));
    bid_report::report(&env, bids, dir.path());
    let outcome = env.execute().expect("the program runs");
    assert!(!outcome.checkpoints.is_empty(), "it checkpointed");

    let mut per_window: BTreeMap<(u64, i64), (u64, u64)> = BTreeMap::new();
    let mut per_bidder: BTreeMap<u64, u64> = BTreeMap::new();
    for j in 0..bids {
        let (auction, bidder, price, ts) = bid_row(j);
        if price <= bid_report::EXPENSIVE {
            continue;
        }
        let euros = price * 908 / 1000;
        let start = ts - ts.rem_euclid(bid_report::WINDOW_MS as i64);
        let window = per_window.entry((auction, start)).or_default();
        window.0 += 1;
        window.1 = window.1.max(euros);
        *per_bidder.entry(bidder).or_default() += euros;
    }
    let expected_windows = sorted(
        per_window
            .iter()
            .map(|(&(auction, start), &(count, max))| {
                json!({"auction": auction, "window_start": start,
                    "window_end": start + bid_report::WINDOW_MS as i64,
                    "count": count, "max_euros": max})
            })
            .collect(),
    );
    let expected_bidders = sorted(
        per_bidder
            .iter()
            .map(|(&bidder, &sum)| json!({"bidder": bidder, "sum_euros": sum}))
            .collect(),
    );
    let windows = rows(&dir.path().join("per_auction"));
    assert_eq!(windows.len(), expected_windows.len());
    assert!(windows == expected_windows, "per-auction windows differ");
    let bidders = rows(&dir.path().join("per_bidder"));
    assert_eq!(bidders.len(), expected_bidders.len());
    assert!(bidders == expected_bidders, "per-bidder sums differ");
}

#[derive(serde::Deserialize)]
struct Numbered {
    id: u64,
}

/// What a number record is not.
#[derive(serde::Deserialize)]
struct Bid {
    price: u64,
}

#[test]
fn closures_reject_records_they_cannot_read_or_panic_on_naming_the_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str| {
        SinkSpec::File(FileSinkSpec {
            path: dir.path().join(name).display().to_string(),
            format: SinkFormat::Json,
        })
    };
    let env = StreamEnvironment::new("closures");
    env.dead_letter(file("dead.jsonl"));
    let numbers = env.from_source(
        "numbers",
        SourceSpec::Datagen(DatagenSpec {
            mode: DatagenMode::Sequence,
            count: Some(100),
            rate: None,
            seed: 0,
            payload: PayloadFormat::Json,
            keys: None,
        }),
    );
    numbers
        .filter_fn("not-seven", |n: &Numbered| {
            assert!(n.id != 7, "seven");
            true
        })
        .map_fn("as-bid", |bid: Bid| bid.price)
        .sink(file("out.jsonl"));
    env.execute()
        .expect("the job runs: rejected records are dead letters");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.jsonl")).expect("output"),
        "",
        "no number reads as a bid"
    );
    let letters: Vec<Value> = std::fs::read_to_string(dir.path().join("dead.jsonl"))
        .expect("dead letters")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(letters.len(), 100, "each record once: {letters:?}");
    let by_step = |step: &str| letters.iter().filter(|l| l["operator"] == step).count();
    assert_eq!(by_step("not-seven"), 1);
    assert_eq!(by_step("as-bid"), 99);
    let seven = letters
        .iter()
        .find(|l| l["operator"] == "not-seven")
        .expect("seven");
    let error = seven["error"].as_str().unwrap_or_default();
    assert!(error.contains("the closure panicked: seven"), "{error}");
    let other = letters
        .iter()
        .find(|l| l["operator"] == "as-bid")
        .expect("a bid");
    let error = other["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("is not a `") && error.contains("Bid`"),
        "{error}"
    );
}

#[test]
fn a_program_branches_joins_and_reads_side_outputs_as_a_job_spec_does() {
    use weir_datastream::windows;
    let env = StreamEnvironment::new("shape");
    let source = |name| {
        env.from_source(
            name,
            SourceSpec::Datagen(DatagenSpec {
                mode: DatagenMode::Bids,
                count: Some(10),
                rate: None,
                seed: 0,
                payload: PayloadFormat::Json,
                keys: None,
            }),
        )
    };
    let left = source("left").key_by("auction");
    let right = source("right").key_by("auction");
    let joined = left
        .window_join(&right, windows::tumbling(1_000))
        .named("pairs");
    let counted = left
        .window(windows::sliding(2_000, 1_000))
        .side_output_late_data("late")
        .aggregate(vec![weir_datastream::aggregates::count()]);
    counted
        .side_output("late")
        .sink(SinkSpec::Blackhole(Default::default()));
    joined.sink(SinkSpec::Blackhole(Default::default()));
    let spec = env
        .cluster_job_spec()
        .expect("no closures: fit for a cluster");
    let step = |name: &str| {
        spec.pipeline
            .iter()
            .find(|s| s.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("step {name} in {:?}", spec.pipeline))
    };
    let pairs = step("pairs");
    assert_eq!(pairs.input.as_deref(), Some(left.name()));
    assert_eq!(
        pairs.join.as_ref().map(|j| j.with.as_str()),
        Some(right.name())
    );
    let window = step(counted.name());
    assert_eq!(window.input.as_deref(), Some(left.name()));
    let late_sink = spec
        .pipeline
        .iter()
        .find(|s| s.input.as_deref() == Some("late"))
        .expect("a step reads the side output");
    assert!(late_sink.sink.is_some());

    let with_closure = StreamEnvironment::new("local");
    with_closure
        .from_source(
            "n",
            SourceSpec::Datagen(DatagenSpec {
                mode: DatagenMode::Sequence,
                count: Some(1),
                rate: None,
                seed: 0,
                payload: PayloadFormat::Json,
                keys: None,
            }),
        )
        .map_fn("double", |n: Numbered| n.id * 2);
    let refused = with_closure
        .cluster_job_spec()
        .expect_err("closures stay local");
    assert!(refused.to_string().contains("\"double\""), "{refused}");
}
