//! A DataStream program: typed Rust closures pick the expensive bids and convert their price
//! to euros; one branch counts them per auction and half-second event-time window, the other
//! sums each bidder's euros over the whole input. Run it with
//! `cargo run --release -p weir-datastream --example bid_report -- 1000000 /tmp/report`.

use serde::{Deserialize, Serialize};
use std::path::Path;
use weir_datastream::spec::{
    CheckpointSpec, DatagenMode, DatagenSpec, FileSinkSpec, PayloadFormat, SinkFormat, SinkSpec,
    SourceSpec, WatermarkSpec,
};
use weir_datastream::{StreamEnvironment, aggregates, windows};

/// A bid as the generator writes it.
#[derive(Deserialize)]
pub(crate) struct Bid {
    auction: u64,
    bidder: u64,
    price: u64,
}

/// An expensive bid, in euro cents' worth of the generator's units.
#[derive(Serialize, Deserialize)]
pub(crate) struct EuroBid {
    auction: u64,
    bidder: u64,
    euros: u64,
}

/// Bids above this price are expensive.
pub(crate) const EXPENSIVE: u64 = 500;
/// The windows per auction, ms of event time.
pub(crate) const WINDOW_MS: u64 = 500;

fn files(path: &Path) -> SinkSpec {
    SinkSpec::File(FileSinkSpec {
        path: path.display().to_string(),
        format: SinkFormat::Json,
    })
}

/// Adds the report over the first `bids` generated bids to `env`: part files in
/// `out/per_auction` and `out/per_bidder`.
pub(crate) fn report(env: &StreamEnvironment, bids: u64, out: &Path) {
    let source = SourceSpec::Datagen(DatagenSpec {
        mode: DatagenMode::Bids,
        count: Some(bids),
        rate: None,
        seed: 0,
        payload: PayloadFormat::Json,
        keys: None,
    });
    let euros = env
        .from_source("bids", source)
        .assign_watermarks(WatermarkSpec {
            out_of_orderness_ms: 0,
            timestamp_field: None,
            ingestion_time: false,
            idle_timeout_ms: None,
        })
        .filter_fn("expensive", |bid: &Bid| bid.price > EXPENSIVE)
        .map_fn("to_euros", |bid: Bid| EuroBid {
            auction: bid.auction,
            bidder: bid.bidder,
            euros: bid.price * 908 / 1000,
        });
    euros
        .key_by("auction")
        .window(windows::tumbling(WINDOW_MS))
        .aggregate(vec![aggregates::count(), aggregates::max("euros")])
        .named("per-auction")
        .sink(files(&out.join("per_auction")));
    euros
        .key_by("bidder")
        .aggregate(vec![aggregates::sum("euros")])
        .named("per-bidder")
        .parallelism(1)
        .sink(files(&out.join("per_bidder")));
}

fn main() {
    let mut args = std::env::args().skip(1);
    let bids = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let out = args.next().unwrap_or_else(|| "bid-report".into());
    let env = StreamEnvironment::new("bid-report");
    env.parallelism(2)
        .checkpointing(CheckpointSpec::every(1_000));
    report(&env, bids, Path::new(&out));
    match env.execute() {
        Ok(outcome) => println!(
            "{bids} bids → {out}/per_auction, {out}/per_bidder ({} checkpoints)",
            outcome.checkpoints.len()
        ),
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    }
}
