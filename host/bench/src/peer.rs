//! Apache Flink run beside Weir, in the same session on the same machine: every ratio `weir
//! bench` prints comes from runs it made itself, interleaved with Weir's, never from a figure
//! typed into the program. The Flink side is the peer harness (`run_flink.sh`: Flink 2.3 from
//! PyPI, the same generator and SQL), one process per run; its `rps_job` (rows / job runtime)
//! is what Weir's records/s (events / run time) is compared with.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Flink workload, as the peer harness names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlinkWorkload {
    /// W2: `SELECT auction, price * 908 / 1000 AS price_eur FROM bids WHERE MOD(auction, 123)
    /// = 0 OR price > 500` (the same rows and sum as `weir bench` (b)).
    W2,
    /// W3: a 10 s tumbling window by `key` (`auction`: 10,000 keys; `bidder`: 1,000,000),
    /// count and max(price).
    W3 {
        /// The grouping field.
        key: &'static str,
    },
    /// W4: W3 with exactly-once checkpoints every `interval` seconds.
    W4 {
        /// Seconds between checkpoints.
        interval_s: u64,
    },
}

/// The Flink peer: its harness script and where its runs' results go.
pub(crate) struct Flink {
    script: PathBuf,
    results: PathBuf,
}

impl Flink {
    /// The harness under `peers` (`flink/run_flink.sh`), set up if it is not yet (a venv with
    /// apache-flink, FlinkBench compiled: about a minute the first time).
    pub(crate) fn set_up(peers: &Path) -> Result<Self, String> {
        let script = peers.join("flink/run_flink.sh");
        if !script.exists() {
            return Err(format!(
                "no Flink peer harness at {} (pass --peers-dir: the directory of flink/run_flink.sh)",
                script.display()
            ));
        }
        let results =
            std::env::temp_dir().join(format!("weir-bench-flink-{}.jsonl", std::process::id()));
        let flink = Flink { script, results };
        flink.harness(&["setup"])?;
        Ok(flink)
    }

    fn harness(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new("bash")
            .arg(&self.script)
            .args(args)
            .env("RESULTS", &self.results)
            .output()
            .map_err(|e| format!("{}: {e}", self.script.display()))?;
        if !output.status.success() {
            return Err(format!(
                "the Flink peer ({} {}) failed: {}",
                self.script.display(),
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// One Flink run of `workload` over `rows` at parallelism 1 with state in `rocksdb` or
    /// on the heap: its rows per second of job runtime.
    pub(crate) fn run(
        &self,
        workload: FlinkWorkload,
        rows: u64,
        rocksdb: bool,
    ) -> Result<f64, String> {
        self.run_measured(workload, rows, rocksdb)
            .map(|(rate, _)| rate)
    }

    /// [`Flink::run`], with the Flink process's peak resident memory in bytes if the harness
    /// measured it.
    pub(crate) fn run_measured(
        &self,
        workload: FlinkWorkload,
        rows: u64,
        rocksdb: bool,
    ) -> Result<(f64, Option<u64>), String> {
        let rows = rows.to_string();
        let state = if rocksdb { "rocksdb" } else { "hashmap" };
        let mut args = vec![
            "one",
            "--rows",
            &rows,
            "--parallelism",
            "1",
            "--state",
            state,
        ];
        let interval;
        match workload {
            FlinkWorkload::W2 => args.extend(["--workload", "w2"]),
            FlinkWorkload::W3 { key } => args.extend(["--workload", "w3", "--key", key]),
            FlinkWorkload::W4 { interval_s } => {
                interval = format!("{interval_s}s");
                args.extend(["--workload", "w4", "--ckpt-interval", &interval]);
            }
        }
        self.harness(&args)?;
        let results = std::fs::read_to_string(&self.results)
            .map_err(|e| format!("{}: {e}", self.results.display()))?;
        let last = results.lines().last().unwrap_or_default();
        let record: serde_json::Value = serde_json::from_str(last)
            .map_err(|e| format!("the Flink peer's result {last:?}: {e}"))?;
        if record["rc"].as_i64() != Some(0) {
            return Err(format!("the Flink peer's run failed: {last}"));
        }
        if let FlinkWorkload::W3 { key } = workload
            && key != "auction"
            && record["key"].as_str() != Some(key)
        {
            return Err(format!(
                "the Flink peer at {} cannot group W3 by {key} (this repository's bench/ can)",
                self.script.display()
            ));
        }
        let rate = record["rps_job"]
            .as_f64()
            .ok_or_else(|| format!("the Flink peer's result has no rps_job: {last}"))?;
        // An integer from bench/flink, a float from ../shared/peers' record.py.
        let rss = record["maxrss_kb"]
            .as_f64()
            .filter(|&kib| kib > 0.0)
            .map(|kib| kib as u64 * 1024);
        Ok((rate, rss))
    }
}

impl Drop for Flink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.results);
    }
}

/// The median of `rates` (0 for none).
pub(crate) fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(0.0)
}
