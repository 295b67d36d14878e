//! Credit-based backpressure across TaskManagers: a sink that drains slowly (it writes to a FIFO
//! this test reads at a trickle) slows the source on the other TaskManager to its pace, the
//! records in flight and each TaskManager's memory stay bounded, and every record arrives once.

use crate::harness::job_file;
use crate::live_cluster::LiveCluster;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const RECORDS: u64 = 3_000_000;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn a_slow_sink_slows_the_source_across_taskmanagers_within_bounded_memory_losing_nothing() {
    let mut cluster = LiveCluster::start(2, &[]);
    cluster.add_taskmanager(None, &[], 1);
    cluster.add_taskmanager(None, &[], 2);
    let pids: Vec<u32> = cluster.taskmanagers.iter().map(|c| c.id()).collect();
    let idle: Vec<u64> = pids.iter().map(|&pid| rss_kib(pid)).collect();
    let work = tempfile::tempdir().expect("temp dir");
    let fifo = work.path().join("slow-sink");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let job = job_file(
        work.path(),
        "slow.yaml",
        &format!(
            "name: slow\nparallelism: 2\npipeline:\n  - source: {{ datagen: {{ count: {RECORDS} }} }}\n  - key_by: {{ field: id }}\n  - parallelism: 1\n    sink: {{ file: {{ path: {fifo:?} }} }}\n"
        ),
    );
    let id = cluster.submit_detached(&job);

    // The reader trickles (≈ 400 KB/s) until told to drain at full speed.
    let trickle = Arc::new(AtomicBool::new(true));
    let reader = {
        let trickle = trickle.clone();
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut pipe = std::fs::File::open(&fifo).expect("open fifo");
            let mut all = Vec::new();
            let mut chunk = vec![0u8; 64 << 10];
            loop {
                let want = if trickle.load(Ordering::Relaxed) {
                    4096
                } else {
                    chunk.len()
                };
                match pipe.read(&mut chunk[..want]) {
                    Ok(0) => return all,
                    Ok(n) => all.extend_from_slice(&chunk[..n]),
                    Err(e) => panic!("reading the sink's FIFO: {e}"),
                }
                if trickle.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        })
    };

    let started = Instant::now();
    let mut peak = idle.clone();
    let mut in_flight_seen = 0u64;
    let mut last = None;
    while started.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(100));
        for (i, &pid) in pids.iter().enumerate() {
            peak[i] = peak[i].max(rss_kib(pid));
        }
        if let Ok(view) = cluster.client().job(&id) {
            let source = &view.progress.vertices[0];
            let sink = &view.progress.vertices[view.progress.vertices.len() - 1];
            in_flight_seen = in_flight_seen.max(source.records_out.saturating_sub(sink.records_in));
            last = Some(view);
        }
    }
    let view = last.expect("the job's status");
    let source = &view.progress.vertices[0];
    eprintln!(
        "slow phase: source emitted {} of {RECORDS}, at most {in_flight_seen} in flight, source backpressured {:.0}%, RSS idle {idle:?} KiB, peak {peak:?} KiB",
        source.records_out,
        source.backpressured_ratio * 100.0
    );
    assert!(
        source.records_out < RECORDS / 5,
        "the source slowed to the sink's pace: {} of {RECORDS} emitted",
        source.records_out
    );
    // Two producer subtasks, one channel each to the sink: a few dozen 1024-record batches of
    // queues, credits and gate buffers, plus counters reported every 0.5 s.
    assert!(
        in_flight_seen < 150_000,
        "{in_flight_seen} records in flight"
    );
    assert!(
        source.backpressured_ratio > 0.3,
        "the source reports backpressure: {:.2}",
        source.backpressured_ratio
    );
    for (i, (&idle, &peak)) in idle.iter().zip(&peak).enumerate() {
        assert!(
            peak < idle + 32 * 1024,
            "TaskManager {i}: RSS {idle} KiB idle, {peak} KiB peak"
        );
    }

    trickle.store(false, Ordering::Relaxed);
    let output = reader.join().expect("reader");
    cluster.wait_for("the job to finish", Duration::from_secs(60), |c| {
        c.client()
            .job(&id)
            .is_ok_and(|v| v.summary.status.is_terminal())
    });
    let end = cluster.client().job(&id).expect("job");
    assert_eq!(
        end.summary.status.to_string(),
        "finished",
        "{:?}\n{}\n{}",
        end.error,
        cluster.taskmanager_log(0),
        cluster.taskmanager_log(1)
    );
    let text = String::from_utf8(output).expect("utf-8");
    let mut seen = vec![false; RECORDS as usize];
    let mut lines = 0u64;
    for line in text.lines() {
        let digits: String = line.chars().filter(char::is_ascii_digit).collect();
        let n: usize = digits
            .parse()
            .unwrap_or_else(|_| panic!("bad line {line:?}"));
        assert!(!seen[n], "record {n} twice");
        seen[n] = true;
        lines += 1;
    }
    assert_eq!(lines, RECORDS, "every record arrived");
}
