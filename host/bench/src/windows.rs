//! `weir bench --windows`: the windowed Nexmark examples (q5 hot items, q7 highest bid, q11
//! user sessions) as written in `examples/nexmark/`, their output to a blackhole, on the memory
//! and the RocksDB state backend: bids/s and the most state they held.

use std::path::Path;
use std::time::{Duration, Instant};
use weir_blob::paths::created_weir_home as home;
use weir_client::human::{bytes, count};
use weir_client::spec;
use weir_client::udf::UdfBuilder;
use weir_minicluster::MiniCluster;
use weir_proto::spec::{Blackhole, SinkSpec, StateBackend};
use weir_runtime::operators::NativeRegistry;
use weir_wasm::{EngineConfig, WasmEngine};

/// Runs each example over `events` Nexmark events (bids are 46 in 50) `runs` times per backend
/// and prints the median bids/s and the peak state.
pub(crate) fn windows_bench(examples: &Path, events: u64, runs: usize) -> Result<(), String> {
    let engine =
        WasmEngine::new(EngineConfig::new(home().join("modules"))).map_err(|e| e.to_string())?;
    let cluster = MiniCluster::new(engine, NativeRegistry::default());
    let bids = events / 50 * 46;
    println!(
        "Nexmark windows over {} events ({} bids), median of {runs} runs:",
        count(events),
        count(bids)
    );
    for query in ["q5", "q7", "q11"] {
        let path = examples.join(format!("{query}.yaml"));
        let events_text = events.to_string();
        let mut loaded = spec::load(&path, &|name| {
            (name == "EVENTS").then(|| events_text.clone())
        })
        .map_err(|e| e.to_string())?;
        if let Some(last) = loaded.spec.pipeline.last_mut() {
            last.sink = Some(SinkSpec::Blackhole(Blackhole::default()));
        }
        let mut graph =
            weir_client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| e.to_string())?;
        let mut line = format!("  {query:<4}");
        for backend in [StateBackend::Memory, StateBackend::Rocksdb] {
            graph.config.state_backend = backend;
            let mut rates = Vec::new();
            let mut peak = 0;
            for _ in 0..runs.max(1) {
                let started = Instant::now();
                let outcome = cluster
                    .run(&graph, Duration::from_secs(3600), &mut |_| {})
                    .map_err(|e| format!("{query}: {e}"))?;
                rates.push(bids as f64 / started.elapsed().as_secs_f64());
                peak = outcome.progress.state_bytes_peak();
            }
            rates.sort_by(f64::total_cmp);
            line.push_str(&format!(
                "  {}: {:.2} M bids/s, state at most {:>9}",
                backend.name(),
                rates[rates.len() / 2] / 1e6,
                bytes(peak)
            ));
        }
        println!("{line}");
    }
    Ok(())
}
