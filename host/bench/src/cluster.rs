//! `weir bench --cluster`: the Nexmark q1/q2 job with a hash exchange, on a real cluster of
//! processes — once with both subtasks of every vertex in one TaskManager, once spread over two
//! TaskManagers so the exchange crosses QUIC — and the ratio of the two in the same run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use weir_blob::paths::created_weir_home as home;
use weir_client::rest::RestClient;
use weir_client::spec;
use weir_client::udf::UdfBuilder;
use weir_proto::graph::JobGraph;

/// Child processes killed when dropped.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A cluster of this binary's processes: one JobManager, TaskManagers with `slots` each.
struct BenchCluster {
    rest: String,
    token: String,
    _processes: Processes,
}

fn weir_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot find the weir binary: {e}"))
}

impl BenchCluster {
    fn start(dir: &Path, slots: &[u32]) -> Result<Self, String> {
        let exe = weir_exe()?;
        let mut processes = Processes(Vec::new());
        let mut jobmanager = Command::new(&exe)
            .args(["jobmanager", "--dir"])
            .arg(dir)
            .args(["--rpc", "127.0.0.1:0", "--rest", "127.0.0.1:0"])
            .env("WEIR_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start a jobmanager: {e}"))?;
        let stdout = jobmanager.stdout.take().ok_or("no jobmanager stdout")?;
        processes.0.push(jobmanager);
        let mut lines = BufReader::new(stdout).lines();
        let mut endpoint = |prefix: &str| -> Result<String, String> {
            let line = lines
                .next()
                .and_then(Result::ok)
                .ok_or("the jobmanager did not start")?;
            line.strip_prefix(prefix)
                .map(str::to_string)
                .ok_or_else(|| format!("unexpected jobmanager output {line:?}"))
        };
        let rpc = endpoint("rpc ")?;
        let rest = endpoint("rest ")?;
        for (i, slots) in slots.iter().enumerate() {
            let child = Command::new(&exe)
                .args(["taskmanager", "--dir"])
                .arg(dir)
                .args(["--jobmanager", &rpc, "--slots", &slots.to_string()])
                .args(["--name", &format!("taskmanager-{}", i + 1)])
                .env("WEIR_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("cannot start a taskmanager: {e}"))?;
            processes.0.push(child);
        }
        let token = std::fs::read_to_string(dir.join("rest-token"))
            .map_err(|e| format!("rest-token: {e}"))?
            .trim()
            .to_string();
        let cluster = BenchCluster {
            rest,
            token,
            _processes: processes,
        };
        let client = cluster.client();
        let started = Instant::now();
        while client.taskmanagers().map(|t| t.len()).unwrap_or(0) < slots.len() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err("the TaskManagers did not register within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(cluster)
    }

    /// Kills TaskManager `taskmanager-N` with SIGKILL.
    fn kill(&mut self, name: &str) -> Result<(), String> {
        let index: usize = name
            .trim_start_matches("taskmanager-")
            .parse()
            .map_err(|_| format!("no TaskManager `{name}`"))?;
        let child = self
            ._processes
            .0
            .get_mut(index)
            .ok_or_else(|| format!("no TaskManager `{name}`"))?;
        child.kill().map_err(|e| format!("cannot kill {name}: {e}"))
    }

    fn client(&self) -> RestClient {
        RestClient::new(&self.rest, Some(self.token.clone()))
    }

    /// Runs `graph` to its end; returns its duration as the JobManager measured it.
    fn run(&self, graph: &JobGraph) -> Result<Duration, String> {
        let client = self.client();
        client.upload_modules(graph).map_err(|e| e.to_string())?;
        let id = client.submit(graph, None).map_err(|e| e.to_string())?;
        loop {
            let view = client.job(&id).map_err(|e| e.to_string())?;
            if view.summary.status.is_terminal() {
                if view.summary.status.to_string() != "finished" {
                    return Err(format!("the job {}: {:?}", view.summary.status, view.error));
                }
                return Ok(Duration::from_millis(view.summary.duration_ms));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The job: Nexmark bids → q1 (Wasm map) → key by auction (hash exchange) → q2 (Wasm filter) →
/// blackhole, every vertex at parallelism 2.
fn job_graph(dir: &Path, udfs: &Path, events: u64) -> Result<JobGraph, String> {
    let yaml = format!(
        "name: nexmark-q1-q2-exchange\nparallelism: 2\nmodules:\n  q1: {{ path: {:?} }}\n  q2: {{ path: {:?} }}\npipeline:\n  - source: {{ nexmark: {{ count: {events}, seed: 42, only: bid }} }}\n  - map: {{ module: q1 }}\n  - key_by: {{ field: auction }}\n  - filter: {{ module: q2 }}\n  - sink: {{ blackhole: {{}} }}\n",
        udfs.join("currency_convert"),
        udfs.join("bid_filter")
    );
    let path = dir.join("exchange.yaml");
    std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
    let loaded = spec::load(&path, &|_| None).map_err(|e| e.to_string())?;
    weir_client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| e.to_string())
}

/// A fresh cluster directory (`weir cluster init`) for bench `name`.
fn init_cluster(name: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("weir-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let init = Command::new(weir_exe()?)
        .args(["cluster", "init"])
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cluster init: {e}"))?;
    match init.success() {
        true => Ok(dir),
        false => Err("weir cluster init failed".into()),
    }
}

/// Runs the comparison and prints it.
pub(crate) fn cluster_bench(events: u64, runs: usize, udfs: &Path) -> Result<(), String> {
    let dir = init_cluster("cluster")?;
    let result = compare(&dir, events, runs, udfs);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn compare(dir: &Path, events: u64, runs: usize, udfs: &Path) -> Result<(), String> {
    let graph = job_graph(dir, udfs, events)?;
    let bids = events / 50 * 46;
    let mut rates = Vec::new();
    for (name, slots) in [
        ("one TaskManager (2 slots)", vec![2]),
        ("two TaskManagers (1 slot each)", vec![1, 1]),
    ] {
        let cluster = BenchCluster::start(dir, &slots)?;
        cluster.run(&graph)?; // warm-up: modules shipped and compiled
        let mut seconds: Vec<f64> = (0..runs.max(1))
            .map(|_| cluster.run(&graph).map(|d| d.as_secs_f64().max(1e-3)))
            .collect::<Result<_, _>>()?;
        seconds.sort_by(f64::total_cmp);
        let rate = bids as f64 / seconds[seconds.len() / 2];
        println!(
            "nexmark q1/q2 with a hash exchange, p=2, {name:<31}: {:>6.2} M bids/s",
            rate / 1e6
        );
        rates.push(rate);
    }
    println!(
        "crossing TaskManagers keeps {:.0} % of the throughput (target: costs under 30 %)",
        rates[1] / rates[0] * 100.0
    );
    Ok(())
}

/// `weir bench --recovery`: a job checkpointing every 100 ms on two TaskManagers; one is
/// killed with SIGKILL; prints the time to detect it (default heartbeat timeout), and from
/// then to a completed checkpoint of the restarted job (processing again, the restart delay
/// included).
pub(crate) fn recovery_bench(runs: usize) -> Result<(), String> {
    let dir = init_cluster("recovery")?;
    let result = (0..runs.max(1))
        .map(|_| recover_once(&dir))
        .collect::<Result<Vec<_>, _>>();
    let _ = std::fs::remove_dir_all(&dir);
    let mut runs = result?;
    runs.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (detection, restart) = runs[runs.len() / 2];
    println!(
        "TaskManager killed: detected in {detection:.2} s (heartbeat timeout 2 s), processing again {restart:.2} s later (restart delay 1 s included; target < 3 s), median of {}",
        runs.len()
    );
    Ok(())
}

fn recover_once(dir: &Path) -> Result<(f64, f64), String> {
    let mut cluster = BenchCluster::start(dir, &[2, 2])?;
    let yaml = "name: recovery\nparallelism: 2\ncheckpointing: { interval_ms: 100 }\npipeline:\n  - source: { datagen: { rate: 200000 } }\n  - key_by: { field: id }\n  - sink: { blackhole: {} }\n";
    let path = dir.join("recovery.yaml");
    std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
    let loaded = spec::load(&path, &|_| None).map_err(|e| e.to_string())?;
    let graph =
        weir_client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| e.to_string())?;
    let client = cluster.client();
    let id = client.submit(&graph, None).map_err(|e| e.to_string())?;
    let wait = |what: &str, done: &dyn Fn(&weir_proto::rest::JobView) -> bool| {
        let started = Instant::now();
        loop {
            let view = client.job(&id).map_err(|e| e.to_string())?;
            if done(&view) {
                return Ok::<_, String>(view);
            }
            if started.elapsed() > Duration::from_secs(60) || view.summary.status.is_terminal() {
                return Err(format!(
                    "{what}: the job is {} ({:?})",
                    view.summary.status, view.error
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let view = wait("a first checkpoint", &|v| v.checkpoints >= 1)?;
    let victim = view
        .taskmanagers
        .first()
        .cloned()
        .ok_or("the job runs nowhere")?;
    cluster.kill(&victim)?;
    let killed = Instant::now();
    wait("the loss to be detected", &|v| {
        !v.failures.is_empty() || v.error.is_some()
    })?;
    let detected = Instant::now();
    wait("a checkpoint of the restarted job", &|v| {
        v.restarts >= 1 && v.checkpoints >= 1
    })?;
    let _ = client.cancel(&id);
    Ok((
        (detected - killed).as_secs_f64(),
        detected.elapsed().as_secs_f64(),
    ))
}
