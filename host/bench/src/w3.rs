//! `weir bench --w3`: PROBES.md's W3 shape on its generator — bids keyed by auction (10,000
//! keys), a 10 s tumbling event-time window with count and max(price), watermark = highest
//! timestamp − 1 s; `weir bench --w3 --peer flink` runs Flink's W3 beside it.
//! `--check` prints the checksums Flink's run produced: rows, windows, Σ count, Σ max price.

use crate::{BenchArgs, peer, results};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_blob::paths::created_weir_home as home;
use weir_client::human::{bytes, count};
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
    /// Records/s.
    pub(crate) rate: f64,
    /// What the sink saw.
    pub(crate) checksum: W3Checksum,
    /// The most bytes of state the window held.
    pub(crate) state_peak: u64,
    /// The checkpoints of the run.
    pub(crate) checkpoints: Vec<weir_core::coordinator::CompletedCheckpoint>,
    /// The most resident memory of this process seen during the run (sampled every 100 ms).
    pub(crate) rss_peak: u64,
}

/// One W3 job to measure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct W3Job {
    /// Bids in the run.
    pub(crate) events: u64,
    /// Where the windows' state lives.
    pub(crate) backend: StateBackend,
    /// Entries of the operators' write caches.
    pub(crate) write_cache: usize,
    /// Checkpoint interval, if checkpointing.
    pub(crate) checkpoint_ms: Option<u64>,
    /// Subtasks per step.
    pub(crate) parallelism: u32,
    /// The grouping field: `auction` (10,000 keys) or `bidder` (1,000,000).
    pub(crate) key: &'static str,
}

impl W3Job {
    /// PROBES.md's W3 (by auction, p=1, no checkpoints) over `events` bids in `backend`.
    pub(crate) fn new(events: u64, backend: StateBackend, write_cache: usize) -> Self {
        W3Job {
            events,
            backend,
            write_cache,
            checkpoint_ms: None,
            parallelism: 1,
            key: "auction",
        }
    }
}

/// The W3 grouping field `name` as the bench names it (`--w3-key`).
pub(crate) fn key_field(name: &str) -> &'static str {
    match name {
        "bidder" => "bidder",
        _ => "auction",
    }
}

/// Runs `job` once.
pub(crate) fn w3(job: &W3Job) -> Result<W3Run, String> {
    let W3Job {
        events,
        backend,
        write_cache,
        checkpoint_ms,
        parallelism,
        key,
    } = *job;
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
        "name: w3\nparallelism: {parallelism}\npipeline:\n  - source: {{ datagen: {{ mode: bids, count: {events} }} }}\n  - watermark: {{ out_of_orderness_ms: 1000 }}\n  - key_by: {{ field: {key} }}\n  - aggregate:\n      window: {{ tumbling: {{ size_ms: 10000 }} }}\n      functions:\n        - {{ fn: count }}\n        - {{ fn: max, field: price }}\n  - native: w3-checksum\n"
    );
    std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
    let loaded = spec::load(&path, &|_| None).map_err(|e| e.to_string())?;
    let mut graph =
        weir_client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| e.to_string())?;
    graph.config.state_backend = backend;
    graph.config.checkpointing = checkpoint_ms.map(CheckpointSpec::every);
    let mut rss_peak = 0;
    let started = Instant::now();
    let outcome = cluster
        .run(&graph, Duration::from_millis(100), &mut |_| {
            rss_peak = rss_peak.max(resident_bytes().unwrap_or(0));
        })
        .map_err(|e| e.to_string());
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = outcome?;
    let checksum = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(W3Run {
        rate: events as f64 / elapsed.as_secs_f64(),
        checksum,
        state_peak: outcome.progress.state_bytes_peak(),
        checkpoints: outcome.checkpoints,
        rss_peak,
    })
}

/// W3 on the heap, on RocksDB and on RocksDB with a write cache far smaller than the 10,000
/// keys (nearly every record reaches RocksDB), each beside Flink's W3 on the same backend when
/// `flink` is given, in interleaved rounds.
pub(crate) fn w3_bench(args: &BenchArgs, flink: Option<&peer::Flink>) -> Result<(), String> {
    let default_cache = weir_state::DEFAULT_WRITE_CACHE_ENTRIES;
    let configs = [
        (StateBackend::Memory, default_cache),
        (StateBackend::Rocksdb, default_cache),
        (StateBackend::Rocksdb, 1024),
    ];
    let key = key_field(&args.w3_key);
    // PROBES.md's W3 by auction; by bidder it is another workload (1 M keys).
    let name = match key {
        "auction" => "W3",
        _ => "W3 1M keys",
    };
    let workload = |backend: StateBackend, cache: usize| match (backend, cache == default_cache) {
        (StateBackend::Memory, _) => format!("{name} memory"),
        (StateBackend::Rocksdb, true) => format!("{name} rocksdb"),
        (StateBackend::Rocksdb, false) => format!("{name} rocksdb, write cache {cache}"),
    };
    let (mut weir, mut peers) = (vec![Vec::new(); 3], vec![Vec::new(); 2]);
    // Peak resident memory per run: Weir's process per configuration, Flink's per backend.
    let (mut weir_rss, mut peer_rss) = (vec![Vec::new(); 3], vec![Vec::new(); 2]);
    let mut last = Vec::new();
    for _ in 0..args.runs.max(1) {
        if let Some(flink) = flink {
            for (rocksdb, rates) in peers.iter_mut().enumerate() {
                let peer_workload = peer::FlinkWorkload::W3 { key };
                let (rate, rss) = flink.run_measured(peer_workload, args.events, rocksdb == 1)?;
                peer_rss[rocksdb].extend(rss.map(|b| b as f64));
                // Flink's RocksDB run is the peer of both RocksDB configurations.
                let compared = match rocksdb {
                    0 => vec![workload(StateBackend::Memory, default_cache)],
                    _ => vec![
                        workload(StateBackend::Rocksdb, default_cache),
                        workload(StateBackend::Rocksdb, 1024),
                    ],
                };
                for label in compared {
                    results::record("flink", &label, 1, args.events, rate);
                }
                rates.push(rate);
            }
        }
        last.clear();
        for (i, ((backend, cache), rates)) in configs.iter().zip(&mut weir).enumerate() {
            let run = w3(&W3Job {
                key,
                ..W3Job::new(args.events, *backend, *cache)
            })?;
            weir_rss[i].push(run.rss_peak as f64);
            results::record(
                "weir",
                &workload(*backend, *cache),
                1,
                args.events,
                run.rate,
            );
            rates.push(run.rate);
            last.push(run);
        }
    }
    for (i, (((backend, cache), rates), run)) in configs.iter().zip(weir).zip(&last).enumerate() {
        let label = match backend {
            StateBackend::Memory => "memory state".to_string(),
            StateBackend::Rocksdb => format!("rocksdb state, write cache {}", count(*cache as u64)),
        };
        let rate = peer::median(rates);
        let beside = match peers[usize::from(*backend == StateBackend::Rocksdb)].clone() {
            flink if flink.is_empty() => {
                "no Flink ratio measured (--peer flink runs it beside)".to_string()
            }
            flink => {
                let flink = peer::median(flink);
                format!(
                    "Flink 2.3 in the same rounds {:.2} M/s: {:.2}x",
                    flink / 1e6,
                    rate / flink
                )
            }
        };
        println!(
            "{name} (10 s tumbling window by {key}, count + max(price)), {label}: {:.2} M records/s (median of {}); {beside}; state at most {}",
            rate / 1e6,
            args.runs.max(1),
            bytes(run.state_peak)
        );
        let weir_peak = peer::median(weir_rss[i].clone());
        let flink_rss = peer_rss[usize::from(*backend == StateBackend::Rocksdb)].clone();
        let memory = match flink_rss.is_empty() {
            true => format!(
                "Weir's process {} (no Flink figure measured)",
                bytes(weir_peak as u64)
            ),
            false => {
                let flink_peak = peer::median(flink_rss);
                format!(
                    "Weir's process {}, Flink's {}: {:.2} of Flink's (target <= 0.25)",
                    bytes(weir_peak as u64),
                    bytes(flink_peak as u64),
                    weir_peak / flink_peak
                )
            }
        };
        println!("{name} {label}: peak resident memory (medians): {memory}");
        if args.check {
            let checksum = &run.checksum;
            println!(
                "{name} checksums for N = {} ({label}): {} rows over {} windows, sum(count) = {}, sum(max price) = {}",
                count(args.events),
                count(checksum.rows),
                checksum.windows.len(),
                count(checksum.count),
                count(checksum.max_price as u64)
            );
        }
    }
    Ok(())
}
