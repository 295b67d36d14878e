//! `weir bench --languages`: the same UDF — Nexmark q1's currency conversion over JSON bids — in
//! Rust, Python, JavaScript and C: each language's compile time (once per sha256), load time
//! from the precompiled cache, instantiation time, and records/s in a job, with the ratio to Rust.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use weir_blob::paths::created_weir_home as home;
use weir_client::builder::JobBuilder;
use weir_client::spec::{LoadedSpec, Locations};
use weir_client::udf::UdfBuilder;
use weir_minicluster::MiniCluster;
use weir_proto::RecordBatch;
use weir_proto::spec::{Blackhole, NexmarkEvent, NexmarkSpec, SinkSpec, SourceSpec};
use weir_runtime::operators::NativeRegistry;
use weir_wasm::{EngineConfig, TransformUdf, WasmEngine};

/// One language's figures.
struct Figures {
    compile: Duration,
    load: Duration,
    instantiate: Duration,
    records_per_second: f64,
    bytes: u64,
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Compile, load and instantiate times of the component at `path`.
fn start_up(path: &Path, sha256: &str) -> Result<(Duration, Duration, Duration), String> {
    let cache = std::env::temp_dir().join(format!("weir-bench-languages-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let engine = |dir: &Path| {
        WasmEngine::new(EngineConfig::new(dir.to_path_buf())).map_err(|e| e.to_string())
    };
    let cold = engine(&cache)?;
    let started = Instant::now();
    cold.load("q1", path, Some(sha256))
        .map_err(|e| e.to_string())?;
    let compile = started.elapsed();
    let warm = engine(&cache)?;
    let started = Instant::now();
    let loaded = warm
        .load("q1", path, Some(sha256))
        .map_err(|e| e.to_string())?;
    let load = started.elapsed();
    let mut instantiations = Vec::new();
    for _ in 0..5 {
        let mut udf = TransformUdf::new(&warm, &loaded, "map", warm.config().defaults)
            .map_err(|e| e.to_string())?;
        let mut empty = RecordBatch::default();
        let started = Instant::now();
        udf.process(&mut empty).map_err(|e| e.to_string())?;
        let first = started.elapsed();
        let started = Instant::now();
        udf.process(&mut empty).map_err(|e| e.to_string())?;
        instantiations.push(first.saturating_sub(started.elapsed()));
    }
    let _ = std::fs::remove_dir_all(&cache);
    Ok((compile, load, median(instantiations)))
}

/// Records/s of nexmark bids → q1 map in `module_dir` → blackhole, over `events` events.
fn throughput(cluster: &MiniCluster, dir: &Path, events: u64, runs: usize) -> Result<f64, String> {
    let source = NexmarkSpec {
        count: Some(events),
        rate: None,
        seed: 42,
        events_per_second: 10_000,
        only: Some(NexmarkEvent::Bid),
        out_of_order_ms: 0,
    };
    let job = JobBuilder::new("q1")
        .module("q1", &dir.display().to_string())
        .source(SourceSpec::Nexmark(source))
        .map("q1")
        .sink(SinkSpec::Blackhole(Blackhole::default()));
    let loaded = LoadedSpec {
        spec: job.build(),
        file: PathBuf::from("<weir bench --languages>"),
        dir: dir.to_path_buf(),
        locations: Locations::default(),
    };
    let graph =
        weir_client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| e.to_string())?;
    let bids = events / 50 * 46;
    let mut rates = Vec::new();
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        cluster
            .run(&graph, Duration::from_secs(3600), &mut |_| {})
            .map_err(|e| e.to_string())?;
        rates.push(bids as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

/// Runs the comparison over the example UDFs under `udfs` (the `udfs/` directory).
pub(crate) fn language_bench(udfs: &Path, events: u64, runs: usize) -> Result<(), String> {
    let engine =
        WasmEngine::new(EngineConfig::new(home().join("modules"))).map_err(|e| e.to_string())?;
    let cluster = MiniCluster::new(engine, NativeRegistry::default());
    let builder = UdfBuilder::new(home());
    let mut results: Vec<(&str, Figures)> = Vec::new();
    // Interpreted guests are ~100x slower per record: fewer events keep each run to seconds.
    for (language, events) in [
        ("rust", events),
        ("c", events),
        ("python", (events / 50).max(10_000)),
        ("js", (events / 50).max(10_000)),
    ] {
        let dir = udfs.join(language).join("currency_convert");
        let built = builder
            .build(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let (compile, load, instantiate) = start_up(&built.path, &built.sha256)?;
        let records_per_second = throughput(&cluster, &dir, events, runs)?;
        let bytes = std::fs::metadata(&built.path).map(|m| m.len()).unwrap_or(0);
        results.push((
            language,
            Figures {
                compile,
                load,
                instantiate,
                records_per_second,
                bytes,
            },
        ));
    }
    let rust = results[0].1.records_per_second;
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>12} {:>14} {:>9}",
        "language", "size", "compile", "load", "instantiate", "q1 bids/s", "vs Rust"
    );
    for (language, f) in &results {
        println!(
            "{:<8} {:>8.1}MB {:>8.0}ms {:>8.2}ms {:>10.3}ms {:>14.0} {:>8.3}",
            language,
            f.bytes as f64 / 1e6,
            f.compile.as_secs_f64() * 1e3,
            f.load.as_secs_f64() * 1e3,
            f.instantiate.as_secs_f64() * 1e3,
            f.records_per_second,
            f.records_per_second / rust
        );
    }
    Ok(())
}
