//! `weir bench`: throughput on the data Apache Flink was measured on here (PROBES.md), through
//! the whole engine (job graph, task threads, channels) on one core:
//! (a) generator → blackhole; (b) generator → Wasm map → Wasm filter → sink;
//! (c) the same with native Rust operators; (d) (b) with JSON payloads.
//! Every figure is a median of several runs in this process; `--check` verifies the output.
#![deny(missing_docs)]

mod backpressure;
mod checkpoints;
mod cluster;
mod kafka;
mod languages;
mod net;
mod peer;
mod plot;
mod results;
mod sql;
mod w3;
mod windows;

use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_blob::paths::created_weir_home as home;
use weir_client::builder::JobBuilder;
use weir_client::human::count;
use weir_client::spec::{LoadedSpec, Locations};
use weir_client::udf::UdfBuilder;
use weir_minicluster::MiniCluster;
use weir_proto::RecordBatch;
use weir_proto::graph::JobGraph;
use weir_proto::spec::{
    Blackhole, DatagenMode, DatagenSpec, PayloadFormat, SinkSpec, SourceSpec, StateBackend,
};
use weir_runtime::json::{self, FieldPath};
use weir_runtime::operators::{NativeRegistry, Operator, RejectSink};
use weir_wasm::{EngineConfig, TransformUdf, WasmEngine};

/// Arguments of `weir bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Events per run.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Runs per job; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Print and cross-check the output checksums of (b), (c) and (d).
    #[arg(long)]
    check: bool,
    /// Measure only one data channel over loopback QUIC (mTLS, credits, checked decoding).
    #[arg(long)]
    net: bool,
    /// Measure the Nexmark q1/q2 job with a hash exchange on a real cluster: two TaskManagers
    /// against one.
    #[arg(long)]
    cluster: bool,
    /// Measure the q1 map written in Rust, Python, JavaScript and C: start-up and records/s.
    #[arg(long)]
    languages: bool,
    /// Measure W3 (PROBES.md): a 10 s tumbling event-time window by auction, count and max.
    #[arg(long)]
    w3: bool,
    /// The field W3 groups by: `auction` (10,000 keys, PROBES.md's W3) or `bidder` (1,000,000
    /// keys: state far larger than any write cache, on both engines).
    #[arg(long, default_value = "auction", value_parser = ["auction", "bidder"])]
    w3_key: String,
    /// Measure checkpoints: W4 (W3 with exactly-once checkpoints every 10 s and every second)
    /// vs none, and a full vs incremental checkpoint of a large RocksDB state (`--state-mb`).
    #[arg(long)]
    checkpoints: bool,
    /// Run a peer beside Weir, interleaved, and print ratios of the medians of this run
    /// (`flink`: Apache Flink 2.3 through the peer harness; for W2, `--w3` and `--checkpoints`).
    #[arg(long, value_parser = ["flink"])]
    peer: Option<String>,
    /// The peer harness: the directory holding `flink/run_flink.sh` (this repository's
    /// `bench/`: Flink 2.3 from PyPI running the same workloads on the same generated rows).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench"))]
    peers_dir: PathBuf,
    /// Measure recovery on a real cluster: the time from a TaskManager's SIGKILL to its
    /// detection, and from there to the restarted job processing again.
    #[arg(long)]
    recovery: bool,
    /// MiB of RocksDB state for `--checkpoints`.
    #[arg(long, default_value_t = 1024)]
    state_mb: u64,
    /// Measure the windowed Nexmark examples (q5, q7, q11) on the memory and RocksDB backends.
    #[arg(long)]
    windows: bool,
    /// Directory of the Nexmark example jobs.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/nexmark"))]
    examples: PathBuf,
    /// Measure Kafka → Wasm map → Kafka, at least once and exactly once, against the same
    /// client's own consume → produce loop on the same broker.
    #[arg(long)]
    kafka: bool,
    /// The Kafka brokers for `--kafka`; unset: a noida-db broker started for the run.
    #[arg(long)]
    brokers: Option<String>,
    /// Measure Flink's W2 and W3 SQL statements run by `weir sql` (beside Flink SQL with
    /// `--peer flink`).
    #[arg(long)]
    sql: bool,
    /// Measure W2 (b) and W3 (heap) at parallelism 1 and 2 in interleaved rounds: how far a
    /// job scales over the machine's cores.
    #[arg(long)]
    scaling: bool,
    /// Where every run's figures are appended as JSON lines (default:
    /// `$WEIR_HOME/bench/results.jsonl`).
    #[arg(long)]
    results: Option<PathBuf>,
    /// Draw the results file's newest same-session figures as an SVG chart (to `--svg`) and
    /// exit.
    #[arg(long)]
    plot: bool,
    /// Where `--plot` writes its chart.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/performance.svg"))]
    svg: PathBuf,
    /// Directory of the Rust example UDFs.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../udfs/rust"))]
    udfs: PathBuf,
}

/// Rows and the sum of `price_eur` seen by the checksum sink.
type Checksum = Arc<Mutex<(u64, i64)>>;

/// The checksum sink: counts rows and sums `price_eur` (binary: bytes 24..32; JSON: the field).
struct ChecksumSink {
    checksum: Checksum,
    /// Where each record holds the number summed.
    field: Summed,
}

/// Where a checksum sink finds the number it sums.
#[derive(Clone)]
enum Summed {
    /// Bytes 24..32 of a binary bid (its converted price).
    Binary,
    /// A JSON field.
    Json(FieldPath),
    /// A column of SQL's binary rows.
    Row(usize),
}

impl Operator for ChecksumSink {
    fn process(
        &mut self,
        batch: RecordBatch,
        _: &mut dyn RejectSink,
    ) -> Result<RecordBatch, weir_runtime::error::TaskError> {
        let mut sum = 0i64;
        for record in batch.iter() {
            sum += match &self.field {
                Summed::Binary => record
                    .value
                    .get(24..32)
                    .and_then(|bytes| bytes.try_into().ok())
                    .map_or(0, i64::from_le_bytes),
                Summed::Json(field) => match json::number(record.value, field) {
                    Ok(json::Number::Int(n)) => n,
                    _ => 0,
                },
                Summed::Row(column) => {
                    weir_sql::rows::int_column(record.value, *column).unwrap_or(0)
                }
            };
        }
        let mut checksum = self.checksum.lock().unwrap_or_else(|p| p.into_inner());
        checksum.0 += batch.len() as u64;
        checksum.1 += sum;
        Ok(RecordBatch::default())
    }
}

fn u64_at(value: &[u8], index: usize) -> u64 {
    value
        .get(index * 8..index * 8 + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
}

/// Native equivalents of the Wasm UDFs: the baseline.
fn native_convert(batch: RecordBatch) -> RecordBatch {
    let mut out = RecordBatch::with_capacity(batch.len(), 32);
    for record in batch.iter() {
        let price = u64_at(record.value, 2);
        out.push_with(record.key, record.timestamp, |data| {
            data.extend_from_slice(&record.value[..24.min(record.value.len())]);
            data.extend_from_slice(&(price * 908 / 1000).to_le_bytes());
        });
    }
    out
}

fn native_filter(batch: RecordBatch) -> RecordBatch {
    let keep: Vec<bool> = batch
        .iter()
        .map(|r| u64_at(r.value, 0).is_multiple_of(123) || u64_at(r.value, 2) > 500)
        .collect();
    let mut batch = batch;
    batch.retain_mask(&keep);
    batch
}

struct Bench {
    cluster: MiniCluster,
    checksum: Checksum,
    udfs: PathBuf,
    events: u64,
}

impl Bench {
    fn job(&self, name: &str, payload: PayloadFormat) -> JobBuilder {
        let source = DatagenSpec {
            mode: DatagenMode::Bids,
            count: Some(self.events),
            rate: None,
            seed: 0,
            payload,
            keys: None,
        };
        JobBuilder::new(name).source(SourceSpec::Datagen(source))
    }

    /// `job`'s JobGraph (its modules built).
    fn graph(&self, job: JobBuilder) -> Result<JobGraph, String> {
        let loaded = LoadedSpec {
            spec: job.build(),
            file: PathBuf::from("<weir bench>"),
            dir: self.udfs.clone(),
            locations: Locations::default(),
        };
        weir_client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| e.to_string())
    }

    /// One run of `graph`: its records/s and checksum.
    fn run_once(&self, graph: &JobGraph) -> Result<(f64, (u64, i64)), String> {
        *self.checksum.lock().unwrap_or_else(|p| p.into_inner()) = (0, 0);
        let started = Instant::now();
        self.cluster
            .run(graph, Duration::from_secs(3600), &mut |_| {})
            .map_err(|e| e.to_string())?;
        let rate = self.events as f64 / started.elapsed().as_secs_f64();
        Ok((
            rate,
            *self.checksum.lock().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

/// W2 (b) and W3 on the heap at parallelism 1 and 2, interleaved: the p=2 / p=1 ratios.
fn scaling_bench(args: &BenchArgs, bench: &Bench) -> Result<(), String> {
    let w2 = |parallelism: u32| {
        bench.graph(
            bench
                .job("b", PayloadFormat::Binary)
                .parallelism(parallelism)
                .module("map", "bid_convert_bin")
                .module("filter", "bid_filter_bin")
                .map("map")
                .filter("filter")
                .native("checksum"),
        )
    };
    let graphs = [w2(1)?, w2(2)?];
    let (mut w2_rates, mut w3_rates) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for _ in 0..args.runs.max(1) {
        for (i, graph) in graphs.iter().enumerate() {
            let parallelism = i as u32 + 1;
            let (rate, _) = bench.run_once(graph)?;
            results::record("weir", "W2 (b) Wasm", parallelism, args.events, rate);
            w2_rates[i].push(rate);
            let cache = weir_state::DEFAULT_WRITE_CACHE_ENTRIES;
            let run = w3::w3(&w3::W3Job {
                parallelism,
                ..w3::W3Job::new(args.events, StateBackend::Memory, cache)
            })?;
            results::record("weir", "W3 memory", parallelism, args.events, run.rate);
            w3_rates[i].push(run.rate);
        }
    }
    for (name, [p1, p2]) in [("W2 (b) Wasm", w2_rates), ("W3 memory", w3_rates)] {
        let (p1, p2) = (peer::median(p1), peer::median(p2));
        println!(
            "{name}: p=1 {:.2} M/s, p=2 {:.2} M/s: {:.2}x  (target >= 1.7 on 2 cores; medians of {} interleaved runs)",
            p1 / 1e6,
            p2 / 1e6,
            p2 / p1,
            args.runs.max(1)
        );
    }
    Ok(())
}

/// Nanoseconds per call of a transform UDF over one 1024-record batch, and of the same work
/// natively: the cost of the Wasm boundary (copying in and out, the call itself).
fn boundary_cost(engine: &WasmEngine, module: &Path) -> Result<(f64, f64), String> {
    let loaded = engine
        .load("bid_filter_bin", module, None)
        .map_err(|e| e.to_string())?;
    let mut udf = TransformUdf::new(engine, &loaded, "filter", engine.config().defaults)
        .map_err(|e| e.to_string())?;
    let mut batch = RecordBatch::with_capacity(1024, 24);
    for j in 0..1024 {
        let (auction, bidder, price, ts) = weir_runtime::operators::sources::bid_row(j);
        batch.push_with(None, ts, |out| {
            for v in [auction, bidder, price] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        });
    }
    let calls = 3000;
    let started = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(udf.process(&mut batch).map_err(|e| e.to_string())?);
    }
    let wasm = started.elapsed().as_nanos() as f64 / calls as f64;
    let started = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(native_filter(batch.clone()));
    }
    let native = started.elapsed().as_nanos() as f64 / calls as f64;
    Ok((wasm, native))
}

/// Runs the benchmarks `args` ask for and prints their figures; `Ok(false)` when a run's output
/// did not check out.
pub fn bench(args: &BenchArgs) -> Result<bool, String> {
    let results_path = args
        .results
        .clone()
        .unwrap_or_else(|| home().join("bench").join("results.jsonl"));
    if args.plot {
        let runs = results::read(&results_path)?;
        std::fs::write(&args.svg, plot::svg(&runs))
            .map_err(|e| format!("{}: {e}", args.svg.display()))?;
        println!(
            "drew {} runs of {} into {}",
            runs.len(),
            results_path.display(),
            args.svg.display()
        );
        return Ok(true);
    }
    results::open(results_path);
    let flink = match &args.peer {
        Some(_) => Some(peer::Flink::set_up(&args.peers_dir)?),
        None => None,
    };
    let outcome = run_benchmarks(args, flink.as_ref());
    if let Some(path) = results::path() {
        println!("runs recorded in {}", path.display());
    }
    outcome
}

/// The benchmarks `args` ask for, beside `flink` where given.
fn run_benchmarks(args: &BenchArgs, flink: Option<&peer::Flink>) -> Result<bool, String> {
    if args.w3 {
        w3::w3_bench(args, flink)?;
        return Ok(true);
    }
    if args.kafka {
        let udfs = args
            .udfs
            .canonicalize()
            .map_err(|e| format!("UDF directory {}: {e}", args.udfs.display()))?;
        kafka::kafka_bench(
            args.brokers.as_deref(),
            args.events.min(1_000_000),
            args.runs,
            &udfs,
        )?;
        return Ok(true);
    }
    if args.recovery {
        cluster::recovery_bench(args.runs)?;
        return Ok(true);
    }
    if args.checkpoints {
        checkpoints::checkpoint_bench(args.events, args.runs, args.state_mb, flink)?;
        backpressure::backpressure_bench()?;
        return Ok(true);
    }
    if args.windows {
        windows::windows_bench(&args.examples, args.events.min(5_000_000), args.runs)?;
        return Ok(true);
    }
    if args.languages {
        let udfs = args.udfs.parent().unwrap_or(&args.udfs);
        languages::language_bench(udfs, args.events.min(2_000_000), args.runs)?;
        return Ok(true);
    }
    if args.cluster {
        cluster::cluster_bench(args.events, args.runs, &args.udfs)?;
        return Ok(true);
    }
    if args.net {
        let batches = (args.events / 1024).max(1);
        // Interleaved runs, median of each: loopback throughput is noisy on a shared machine.
        let (mut tcp_runs, mut quic_runs) = (Vec::new(), Vec::new());
        for _ in 0..args.runs.max(1) {
            tcp_runs.push(net::tcp_channel(batches)?);
            quic_runs.push(net::quic_channel(batches)?);
        }
        let median = |mut runs: Vec<(f64, f64)>| {
            runs.sort_by(|a, b| a.1.total_cmp(&b.1));
            runs[runs.len() / 2]
        };
        let (tcp, quic) = (median(tcp_runs), median(quic_runs));
        for (name, (records, bytes)) in [("TCP (baseline)", tcp), ("QUIC + mTLS + credits", quic)] {
            println!(
                "{name:<22} one channel, {} batches of 1024 binary bids: {:>6.2} M records/s, {:>5.0} MB/s",
                count(batches),
                records / 1e6,
                bytes / 1e6
            );
        }
        println!(
            "QUIC / TCP = {:.2} (target ≥ 0.4; quinn's defaults reached 0.17 here)",
            quic.1 / tcp.1
        );
        return Ok(true);
    }
    let engine =
        WasmEngine::new(EngineConfig::new(home().join("modules"))).map_err(|e| e.to_string())?;
    let checksum: Checksum = Arc::default();
    let mut native = NativeRegistry::default();
    native.register_fn("native-convert", native_convert);
    native.register_fn("native-filter", native_filter);
    // Binary bids ("checksum"), JSON rows ("checksum-json") and SQL's binary rows of
    // (auction, price_eur) ("checksum-rows"), as each job's payload is.
    for (name, field) in [
        ("checksum", Summed::Binary),
        ("checksum-json", Summed::Json(FieldPath::parse("price_eur"))),
        ("checksum-rows", Summed::Row(1)),
    ] {
        let sink_checksum = checksum.clone();
        native.register(
            name,
            Arc::new(move |_, _| {
                Box::new(ChecksumSink {
                    checksum: sink_checksum.clone(),
                    field: field.clone(),
                }) as Box<dyn Operator>
            }),
        );
    }
    let udfs = args
        .udfs
        .canonicalize()
        .map_err(|e| format!("UDF directory {}: {e}", args.udfs.display()))?;
    let bench = Bench {
        cluster: MiniCluster::new(engine.clone(), native),
        checksum,
        udfs: udfs.clone(),
        events: args.events,
    };
    println!(
        "weir bench: {} events per run, parallelism 1, batch 1024, median of {} runs",
        count(args.events),
        args.runs
    );
    if args.scaling {
        return scaling_bench(args, &bench).map(|()| true);
    }
    if args.sql {
        return sql::sql_bench(args, &bench, flink);
    }
    let binary = PayloadFormat::Binary;
    let blackhole = SinkSpec::Blackhole(Blackhole {});
    let wasm_job = |name: &str, payload, map: &str, filter: &str| {
        let sink = match payload {
            PayloadFormat::Binary => "checksum",
            PayloadFormat::Json => "checksum-json",
            PayloadFormat::Rows => "checksum-rows",
        };
        bench
            .job(name, payload)
            .module("map", map)
            .module("filter", filter)
            .map("map")
            .filter("filter")
            .native(sink)
    };
    let jobs = [
        (
            "(a) generator -> blackhole",
            "W1 (a)",
            bench.job("a", binary).sink(blackhole),
        ),
        (
            "(b) generator -> Wasm map -> Wasm filter -> sink",
            "W2 (b) Wasm",
            wasm_job("b", binary, "bid_convert_bin", "bid_filter_bin"),
        ),
        (
            "(c) generator -> native map -> native filter -> sink",
            "W2 (c) native",
            bench
                .job("c", binary)
                .native("native-convert")
                .native("native-filter")
                .native("checksum"),
        ),
        (
            "(d) as (b), JSON payloads",
            "W2 (d) JSON",
            wasm_job("d", PayloadFormat::Json, "currency_convert", "bid_filter"),
        ),
    ];
    let graphs = jobs
        .iter()
        .map(|(_, _, job)| bench.graph(job.clone()))
        .collect::<Result<Vec<_>, String>>()?;
    // Interleaved rounds: a noisy moment slows one round of each, not one job or one engine.
    let (mut rates, mut sums, mut peer) = (
        vec![Vec::new(); jobs.len()],
        vec![(0, 0); jobs.len()],
        Vec::new(),
    );
    for _ in 0..args.runs.max(1) {
        if let Some(flink) = flink {
            let rate = flink.run(peer::FlinkWorkload::W2, args.events, false)?;
            results::record("flink", "W2 (b) Wasm", 1, args.events, rate);
            peer.push(rate);
        }
        for (i, graph) in graphs.iter().enumerate() {
            let (rate, sum) = bench.run_once(graph)?;
            results::record("weir", jobs[i].1, 1, args.events, rate);
            rates[i].push(rate);
            sums[i] = sum;
        }
    }
    let medians: Vec<f64> = rates.into_iter().map(peer::median).collect();
    for ((label, _, _), rate) in jobs.iter().zip(&medians) {
        println!("{label:<56} {:>7.2} M records/s", rate / 1e6);
    }
    let (b, c) = (medians[1], medians[2]);
    let (b_sum, c_sum, d_sum) = (sums[1], sums[2], sums[3]);
    println!("(b)/(c) = {:.2}  (target >= 0.90)", b / c);
    match peer.is_empty() {
        true => println!(
            "(b) / Flink 2.3 W2: no ratio measured (run with --peer flink to run Flink's W2 beside it)"
        ),
        false => {
            let flink = peer::median(peer);
            println!(
                "(b) / Flink 2.3 W2, same rounds (medians of {} interleaved runs): Weir {:.2} M/s, Flink {:.2} M/s = {:.2}x  (target >= 3)",
                args.runs.max(1),
                b / 1e6,
                flink / 1e6,
                b / flink
            );
        }
    }
    let (wasm_ns, native_ns) = boundary_cost(
        &engine,
        &UdfBuilder::new(home())
            .build(&udfs.join("bid_filter_bin"))
            .map_err(|e| e.to_string())?
            .path,
    )?;
    println!(
        "Wasm filter call on a 1024-record batch: {:.1} us ({:.1} ns/record); native: {:.1} us; boundary + guest = {:.2}x native",
        wasm_ns / 1e3,
        wasm_ns / 1024.0,
        native_ns / 1e3,
        wasm_ns / native_ns
    );
    if !args.check {
        return Ok(true);
    }
    println!("check (b): rows {} sum(price_eur) {}", b_sum.0, b_sum.1);
    println!("check (c): rows {} sum(price_eur) {}", c_sum.0, c_sum.1);
    println!("check (d): rows {} sum(price_eur) {}", d_sum.0, d_sum.1);
    let agree = b_sum == c_sum && c_sum == d_sum;
    println!("checksums {}", if agree { "agree" } else { "DISAGREE" });
    Ok(agree)
}
