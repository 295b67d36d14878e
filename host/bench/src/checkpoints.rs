//! `weir bench --checkpoints`: what exactly-once costs. W4 — W3 with checkpoints every 10 s
//! and every second — against the same job without (interleaved runs, both backends), and with
//! `--peer flink` against Flink's W4 in the same rounds; and one operator's ~1 GiB of RocksDB
//! state checkpointed in full and incrementally, then restored.

use crate::peer::{Flink, FlinkWorkload, median};
use crate::w3::{W3Job, w3};
use std::path::Path;
use std::time::Instant;
use weir_client::human::{bytes, count};
use weir_proto::spec::StateBackend;
use weir_state::checkpoint::OperatorSnapshot;
use weir_state::checkpoint::{
    CheckpointMetadata, CheckpointStorage, FORMAT, Restore, storage::Upload,
};
use weir_state::{JobState, KeyedValues, StateSettings};

/// Prints both measurements; with `flink`, W4 beside Flink's W4 (checkpoints every 10 s) in
/// the same rounds.
pub(crate) fn checkpoint_bench(
    events: u64,
    runs: usize,
    state_mb: u64,
    flink: Option<&Flink>,
) -> Result<(), String> {
    let cache = weir_state::DEFAULT_WRITE_CACHE_ENTRIES;
    for backend in [StateBackend::Memory, StateBackend::Rocksdb] {
        let rocksdb = backend == StateBackend::Rocksdb;
        let (mut plain, mut every_10s, mut every_1s, mut peer) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut taken_10s, mut last) = (0, None);
        // Interleaved rounds: a noisy moment slows one round of each, not one engine.
        for _ in 0..runs.max(1) {
            if let Some(flink) = flink {
                peer.push(flink.run(FlinkWorkload::W4 { interval_s: 10 }, events, rocksdb)?);
            }
            plain.push(w3(&W3Job::new(events, backend, cache))?.rate);
            let run = w3(&W3Job {
                checkpoint_ms: Some(10_000),
                ..W3Job::new(events, backend, cache)
            })?;
            (taken_10s, every_10s) = (run.checkpoints.len(), [every_10s, vec![run.rate]].concat());
            let run = w3(&W3Job {
                checkpoint_ms: Some(1_000),
                ..W3Job::new(events, backend, cache)
            })?;
            every_1s.push(run.rate);
            last = Some(run);
        }
        let (plain, with_10s, with_1s) = (median(plain), median(every_10s), median(every_1s));
        let checkpoints = last.map(|run| run.checkpoints).unwrap_or_default();
        let taken = checkpoints.len().max(1) as u128;
        let mean_ms = checkpoints
            .iter()
            .map(|c| c.duration.as_millis())
            .sum::<u128>()
            / taken;
        let mean_bytes = checkpoints.iter().map(|c| c.bytes()).sum::<u64>() / taken as u64;
        let cost = |with: f64| (1.0 - with / plain) * 100.0;
        println!(
            "W4 {}: {:.2} M records/s without checkpoints; every 10 s: {:.2} M/s ({taken_10s} taken), cost {:.1} % (target < 5 %); every 1 s: {:.2} M/s ({} taken, {mean_ms} ms and {} each on average), cost {:.1} %",
            backend.name(),
            plain / 1e6,
            with_10s / 1e6,
            cost(with_10s),
            with_1s / 1e6,
            checkpoints.len(),
            bytes(mean_bytes),
            cost(with_1s),
        );
        match peer.is_empty() {
            true => println!(
                "W4 {}: no Flink ratio measured (run with --peer flink to measure Flink's W4 beside it)",
                backend.name()
            ),
            false => {
                let flink = median(peer);
                println!(
                    "W4 {} beside Flink 2.3 (checkpoints every 10 s, medians of {} interleaved runs of {} events): Weir {:.2} M/s, Flink {:.2} M/s: {:.2}x",
                    backend.name(),
                    runs.max(1),
                    count(events),
                    with_10s / 1e6,
                    flink / 1e6,
                    with_10s / flink
                );
            }
        }
    }
    large_state(state_mb << 20)
}

/// Total bytes of the files under `dir`.
fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => disk_usage(&entry.path()),
            _ => entry.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// Fills one RocksDB operator subtask with `target` bytes of UDF state, then checkpoints it
/// in full and incrementally (after 1 % of the keys changed), and restores it.
fn large_state(target: u64) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("weir-bench-checkpoints-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = StateSettings::new(dir.join("state"), 256);
    let job = JobState::new(&settings, "bench", StateBackend::Rocksdb, 128);
    let mut values = job
        .keyed_values("state", 0, None)
        .map_err(|e| e.to_string())?;
    let value = vec![0x5a_u8; 100];
    let keys = (target / (value.len() as u64 + 40)).max(1);
    let started = Instant::now();
    for key in 0..keys {
        values
            .set(&key.to_be_bytes(), "v", &value)
            .map_err(|e| e.to_string())?;
    }
    let fill = started.elapsed();
    // Compactions after the fill would rewrite files between the two checkpoints and hide
    // what one change costs: wait for them (at most two minutes).
    let settling = Instant::now();
    while !values.settled().map_err(|e| e.to_string())?
        && settling.elapsed() < std::time::Duration::from_secs(120)
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let state_size = values.size();
    println!(
        "large state: {} keys, {} in RocksDB (written in {:.1} s)",
        count(keys),
        bytes(state_size),
        fill.as_secs_f64()
    );
    let full = CheckpointStorage::new(dir.join("full"), false);
    let incremental = CheckpointStorage::new(dir.join("incremental"), true);
    let checkpoint = |storage: &CheckpointStorage, id: u64, values: &mut KeyedValues| {
        let started = Instant::now();
        let keyed = values.snapshot(id).map_err(|e| e.to_string())?;
        let sync = started.elapsed();
        let before = disk_usage(storage.root());
        let upload = Upload {
            operator: "state",
            subtask: 0,
            parallelism: 1,
            snapshot: OperatorSnapshot {
                meta: None,
                keyed: Some(keyed),
            },
        };
        let state = storage
            .upload(id, false, vec![upload])
            .map_err(|e| e.to_string())?;
        let total = started.elapsed();
        let written = disk_usage(storage.root()) - before;
        let metadata = CheckpointMetadata {
            format: FORMAT,
            job: "bench".into(),
            id,
            timestamp: 0,
            savepoint: false,
            max_parallelism: 128,
            backend: StateBackend::Rocksdb,
            modules: Default::default(),
            operators: state.operators,
        };
        let path = storage.complete(&metadata).map_err(|e| e.to_string())?;
        Ok::<_, String>((sync, total, written, path))
    };
    let (sync, total, written, _) = checkpoint(&full, 1, &mut values)?;
    println!(
        "full checkpoint: {:.0} ms synchronous (flush + hard links), {:.2} s in all, {} written",
        sync.as_secs_f64() * 1e3,
        total.as_secs_f64(),
        bytes(written)
    );
    checkpoint(&incremental, 1, &mut values)?;
    for key in (0..keys).step_by(100) {
        values
            .set(&key.to_be_bytes(), "v", &[0xa5; 100])
            .map_err(|e| e.to_string())?;
    }
    let (full2, full2_total, full2_written, _) = checkpoint(&full, 2, &mut values)?;
    let (sync, total, written, path) = checkpoint(&incremental, 2, &mut values)?;
    println!(
        "after 1 % of the keys changed: full {:.0} ms sync + {:.2} s, {} written; incremental {:.0} ms sync + {:.2} s, {} written ({:.1} % of full)",
        full2.as_secs_f64() * 1e3,
        full2_total.as_secs_f64(),
        bytes(full2_written),
        sync.as_secs_f64() * 1e3,
        total.as_secs_f64(),
        bytes(written),
        written as f64 * 100.0 / full2_written.max(1) as f64
    );
    let started = Instant::now();
    let restore = Restore::open(&path).map_err(|e| e.to_string())?;
    let restored_job = JobState::new(&settings, "bench-restored", StateBackend::Rocksdb, 128);
    let mut restored = restored_job
        .keyed_values("state", 0, None)
        .map_err(|e| e.to_string())?;
    if let Some(operator) = restore.operator("state", 0, 1) {
        restored.restore(&operator).map_err(|e| e.to_string())?;
    }
    let check = restored
        .get(&0u64.to_be_bytes(), "v")
        .map_err(|e| e.to_string())?;
    println!(
        "restore of the incremental checkpoint into a new store: {:.2} s (key 0 {})",
        started.elapsed().as_secs_f64(),
        if check.as_deref() == Some(&[0xa5; 100][..]) {
            "has its new value"
        } else {
            "IS WRONG"
        }
    );
    drop((values, restored));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
