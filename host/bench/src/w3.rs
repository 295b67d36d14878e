//! `weir bench --w3`: PROBES.md's W3 shape on its generator — bids keyed by auction (10,000
//! keys), a 10 s tumbling event-time window with count and max(price), watermark = highest
//! timestamp − 1 s; `weir bench --w3 --peer flink` runs Flink's W3 beside it.
//! `--check` prints the checksums Flink's run produced: rows, windows, Σ count, Σ max price.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_blob::paths::created_weir_home as home;
use weir_client::spec;
use weir_client::udf::UdfBuilder;
use weir_minicluster::MiniCluster;
use weir_proto::RecordBatch;
use weir_proto::spec::{CheckpointSpec, StateBackend};
use weir_runtime::error::TaskError;
use weir_runtime::exposition::resident_bytes;
use weir_runtime::json::{self, FieldPath};
use weir_runtime::operators::{NativeRegistry, Operator, RejectSink};
use weir_state::StateSettings;
use weir_wasm::{EngineConfig, WasmEngine};

/// What the W3 checksum sink has seen.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct W3Checksum {
    /// Output rows (one per auction and window).
    pub(crate) rows: u64,
    /// Distinct window starts.
    pub(crate) windows: BTreeSet<i64>,
    /// Σ count.
    pub(crate) count: u64,
    /// Σ max(price).
    pub(crate) max_price: i64,
}

struct W3Sink {
    seen: Arc<Mutex<W3Checksum>>,
    fields: [FieldPath; 3],
}

impl Operator for W3Sink {
    fn process(
        &mut self,
        batch: RecordBatch,
        _: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for record in batch.iter() {
            let number = |field: &FieldPath| match json::number(record.value, field) {
                Ok(json::Number::Int(n)) => n,
                _ => 0,
            };
            seen.rows += 1;
            seen.windows.insert(number(&self.fields[0]));
            seen.count += number(&self.fields[1]) as u64;
            seen.max_price += number(&self.fields[2]);
        }
        Ok(RecordBatch::default())
    }
}

/// One W3 measurement.
pub(crate) struct W3Run {
    /// Median records/s.
    pub(crate) rate: f64,
    /// What the sink saw (the last run's).
    pub(crate) checksum: W3Checksum,
    /// The most bytes of state the window held (the last run's).
    pub(crate) state_peak: u64,
    /// The checkpoints of the last run.
    pub(crate) checkpoints: Vec<weir_core::coordinator::CompletedCheckpoint>,
    /// The most resident memory of this process seen during the runs (sampled every 100 ms).
    pub(crate) rss_peak: u64,
}

/// Runs W3 over `events` bids `runs` times with state in `backend`, with operators' write
/// caches of `write_cache` entries, checkpointing every `checkpoint_ms` if given.
pub(crate) fn w3(
    events: u64,
    runs: usize,
    backend: StateBackend,
    write_cache: usize,
    checkpoint_ms: Option<u64>,
    parallelism: u32,
) -> Result<W3Run, String> {
    let seen: Arc<Mutex<W3Checksum>> = Arc::default();
    let mut native = NativeRegistry::default();
    let sink_seen = seen.clone();
    native.register(
        "w3-checksum",
        Arc::new(move |_, _| {
            Box::new(W3Sink {
                seen: sink_seen.clone(),
                fields: [
                    FieldPath::parse("window_start"),
                    FieldPath::parse("count"),
                    FieldPath::parse("max_price"),
                ],
            }) as Box<dyn Operator>
        }),
    );
    let engine =
        WasmEngine::new(EngineConfig::new(home().join("modules"))).map_err(|e| e.to_string())?;
    let state = StateSettings {
        write_cache_entries: write_cache,
        ..StateSettings::default()
    };
    let dir = std::env::temp_dir().join(format!("weir-bench-w3-{}", std::process::id()));
    let cluster = MiniCluster::new(engine, native)
        .with_state(state)
        .with_checkpoint_dir(dir.join("checkpoints"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("w3.yaml");
    let yaml = format!(
        "name: w3\nparallelism: {parallelism}\npipeline:\n  - source: {{ datagen: {{ mode: bids, count: {events} }} }}\n  - watermark: {{ out_of_orderness_ms: 1000 }}\n  - key_by: {{ field: auction }}\n  - aggregate:\n      window: {{ tumbling: {{ size_ms: 10000 }} }}\n      functions:\n        - {{ fn: count }}\n        - {{ fn: max, field: price }}\n  - native: w3-checksum\n"
    );
    std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
    let loaded = spec::load(&path, &|_| None).map_err(|e| e.to_string())?;
    let mut graph =
        weir_client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| e.to_string())?;
    graph.config.state_backend = backend;
    graph.config.checkpointing = checkpoint_ms.map(|interval_ms| CheckpointSpec {
        interval_ms,
        timeout_ms: 60_000,
        retained: 1,
        incremental: true,
        max_concurrent: 1,
        min_pause_ms: 0,
        aligned_timeout_ms: None,
    });
    let mut rates = Vec::new();
    let mut state_peak = 0;
    let mut checkpoints = Vec::new();
    let mut rss_peak = 0;
    for _ in 0..runs.max(1) {
        *seen.lock().unwrap_or_else(|p| p.into_inner()) = W3Checksum::default();
        let started = Instant::now();
        let outcome = cluster
            .run(&graph, Duration::from_millis(100), &mut |_| {
                rss_peak = rss_peak.max(resident_bytes().unwrap_or(0));
            })
            .map_err(|e| e.to_string())?;
        rates.push(events as f64 / started.elapsed().as_secs_f64());
        state_peak = outcome.progress.state_bytes_peak();
        checkpoints = outcome.checkpoints;
    }
    let _ = std::fs::remove_dir_all(&dir);
    rates.sort_by(f64::total_cmp);
    let checksum = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(W3Run {
        rate: rates[rates.len() / 2],
        checksum,
        state_peak,
        checkpoints,
        rss_peak,
    })
}
