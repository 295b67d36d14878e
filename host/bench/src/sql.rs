//! `weir bench --sql`: Flink's own W2 and W3 statements (../shared/peers/flink/FlinkBench.java)
//! planned by `weir sql` and run on the embedded mini-cluster, beside Flink SQL running the same
//! statements on the same rows (`--peer flink`), in interleaved rounds.

use crate::{Bench, BenchArgs, peer, results};
use std::path::PathBuf;
use weir_client::spec::{LoadedSpec, Locations};
use weir_client::udf::UdfBuilder;
use weir_proto::graph::JobGraph;
use weir_proto::spec::{SelectOutput, StepSpec};

/// The bids table of FlinkBench on Weir's `bids` connector, `events` rows.
fn bids(events: u64, watermark: bool) -> String {
    let watermark = match watermark {
        true => ",\n  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND",
        false => "",
    };
    format!(
        "CREATE TABLE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3){watermark}) WITH ('connector' = 'bids', 'rows' = '{events}');\n"
    )
}

/// FlinkBench's W2 and W3 statements, verbatim, into a blackhole table.
fn statements(events: u64) -> [(&'static str, String); 2] {
    [
        (
            "W2 SQL",
            bids(events, false)
                + "CREATE TABLE out_rows (auction BIGINT, price_eur BIGINT) WITH ('connector' = 'blackhole');\n\
                   INSERT INTO out_rows SELECT auction, price * 908 / 1000 AS price_eur FROM bids \
                   WHERE MOD(auction, 123) = 0 OR price > 500",
        ),
        (
            "W3 SQL",
            bids(events, true)
                + "CREATE TABLE out_rows (auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), bids BIGINT, max_price BIGINT) WITH ('connector' = 'blackhole');\n\
                   INSERT INTO out_rows SELECT auction, window_start, window_end, COUNT(*), MAX(price) \
                   FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
                   GROUP BY auction, window_start, window_end",
        ),
    ]
}

/// The JobGraph of `sql`; with `checksum`, its sink is the bench's checksum sink instead (of
/// the JSON or the binary rows the step before it writes).
fn graph(bench: &Bench, name: &str, sql: &str, checksum: bool) -> Result<JobGraph, String> {
    let mut plan = weir_sql::plan(sql, name).map_err(|e| format!("{name}: {e}"))?;
    if checksum && let [.., before, last] = plan.spec.pipeline.as_mut_slice() {
        let rows = before
            .select
            .as_ref()
            .is_some_and(|s| s.output == SelectOutput::Rows);
        *last = StepSpec {
            native: Some(
                if rows {
                    "checksum-rows"
                } else {
                    "checksum-json"
                }
                .into(),
            ),
            ..StepSpec::default()
        };
    }
    let loaded = LoadedSpec {
        spec: plan.spec,
        file: PathBuf::from(format!("<{name}>")),
        dir: bench.udfs.clone(),
        locations: Locations::default(),
    };
    weir_client::job_graph(&loaded, &UdfBuilder::new(crate::home())).map_err(|e| e.to_string())
}

/// W2 and W3 in SQL, beside Flink SQL's when `flink` is given.
pub(crate) fn sql_bench(
    args: &BenchArgs,
    bench: &Bench,
    flink: Option<&peer::Flink>,
) -> Result<bool, String> {
    let jobs = statements(args.events);
    let graphs = jobs
        .iter()
        .map(|(name, sql)| graph(bench, name, sql, *name == "W2 SQL"))
        .collect::<Result<Vec<_>, String>>()?;
    let peers = [
        peer::FlinkWorkload::W2,
        peer::FlinkWorkload::W3 { key: "auction" },
    ];
    let (mut weir, mut flink_rates) = (vec![Vec::new(); 2], vec![Vec::new(); 2]);
    let mut w2_checksum = (0, 0);
    for _ in 0..args.runs.max(1) {
        for (i, graph) in graphs.iter().enumerate() {
            if let Some(flink) = flink {
                let rate = flink.run(peers[i], args.events, false)?;
                results::record("flink", jobs[i].0, 1, args.events, rate);
                flink_rates[i].push(rate);
            }
            let (rate, checksum) = bench.run_once(graph)?;
            results::record("weir", jobs[i].0, 1, args.events, rate);
            weir[i].push(rate);
            if i == 0 {
                w2_checksum = checksum;
            }
        }
    }
    for (i, (name, _)) in jobs.iter().enumerate() {
        let rate = peer::median(weir[i].clone());
        let beside = match flink_rates[i].is_empty() {
            true => "no Flink ratio measured (--peer flink runs Flink SQL beside it)".to_string(),
            false => {
                let flink = peer::median(flink_rates[i].clone());
                format!(
                    "Flink 2.3 SQL in the same rounds {:.2} M/s: {:.2}x (target >= 2)",
                    flink / 1e6,
                    rate / flink
                )
            }
        };
        println!(
            "{name} (FlinkBench's statement, weir sql): {:.2} M records/s (median of {}); {beside}",
            rate / 1e6,
            args.runs.max(1)
        );
    }
    if args.check {
        println!(
            "check W2 SQL: rows {} sum(price_eur) {}",
            w2_checksum.0, w2_checksum.1
        );
    }
    Ok(true)
}
