//! Checkpoints under backpressure: a step throttled to 1 % of the source's rate keeps every
//! channel full, so an aligned checkpoint's barriers wait behind the queued records; with an
//! aligned timeout the tasks take it unaligned instead (the records in flight stored with it).
//! Prints the checkpoint durations of both, from the same job in this process.

use crate::peer::median;
use std::time::Duration;
use weir_blob::paths::created_weir_home as home;
use weir_client::spec;
use weir_client::udf::UdfBuilder;
use weir_minicluster::MiniCluster;
use weir_runtime::operators::NativeRegistry;
use weir_wasm::{EngineConfig, WasmEngine};

/// Records of each run: 8 s through the throttle.
const RECORDS: u64 = 16_000;

/// Runs the throttled job aligned and with a 100 ms aligned timeout; prints each one's
/// checkpoint durations.
pub(crate) fn backpressure_bench() -> Result<(), String> {
    let engine =
        WasmEngine::new(EngineConfig::new(home().join("modules"))).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("weir-bench-backpressure-{}", std::process::id()));
    let cluster = MiniCluster::new(engine, NativeRegistry::default())
        .with_checkpoint_dir(dir.join("checkpoints"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (label, timeout) in [
        ("aligned", ""),
        ("unaligned after 100 ms", ", aligned_timeout_ms: 100"),
    ] {
        let path = dir.join("throttled.yaml");
        let yaml = format!(
            "name: throttled\ncheckpointing: {{ interval_ms: 500{timeout} }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, count: {RECORDS}, rate: 200000, keys: 100 }} }}\n  - key_by: {{ field: key }}\n  - throttle: {{ records_per_second: 2000 }}\n  - sink: {{ blackhole: {{}} }}\n"
        );
        std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
        let loaded = spec::load(&path, &|_| None).map_err(|e| e.to_string())?;
        let graph =
            weir_client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| e.to_string())?;
        let outcome = cluster
            .run(&graph, Duration::from_secs(600), &mut |_| {})
            .map_err(|e| e.to_string())?;
        let durations: Vec<f64> = outcome
            .checkpoints
            .iter()
            .map(|c| c.duration.as_secs_f64() * 1e3)
            .collect();
        let longest = durations.iter().copied().fold(0.0, f64::max);
        println!(
            "checkpoints under backpressure (a throttle at 1 % of the source's rate), {label}: {} completed in 8 s, {:.0} ms median, {longest:.0} ms longest (target <= 2,000 ms)",
            durations.len(),
            median(durations.clone()),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
