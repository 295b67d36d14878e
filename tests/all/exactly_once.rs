//! Exactly-once through failures (issue 6): a `weir run` killed with SIGKILL resumes from its
//! newest checkpoint; a job stopped with a savepoint resumes at another parallelism, or with
//! an upgraded module, keeping its state. The data carries each key's sequence number and the
//! sink is the two-phase-commit file sink, so every check counts lost, duplicated and
//! out-of-order records per key against a run that never failed.

use crate::harness::{job_file, udf, weir, weir_bin, weir_home};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A `weir run` whose stderr lines arrive as they are written.
pub(crate) struct Running {
    pub(crate) child: Child,
    stderr: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(weir_bin())
            .args(args)
            .envs(env.iter().copied())
            .env("WEIR_HOME", weir_home())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start weir");
        let stderr = child.stderr.take().expect("stderr");
        let (lines, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        Running {
            child,
            stderr: receiver,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line that `wanted` accepts (signals, never sleeps); panics with
    /// everything seen if the process ends or 120 s pass first.
    pub(crate) fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let _ = self.child.kill();
                    panic!("no {what}; stderr:\n{}", self.seen.join("\n"))
                }
            }
        }
    }

    /// Waits until checkpoint `n` or a later one has completed.
    pub(crate) fn wait_for_checkpoint(&mut self, n: u64) {
        self.wait_for(&format!("checkpoint {n}"), |line| {
            line.contains("checkpoint complete") && checkpoint_id(line).is_some_and(|id| id >= n)
        });
    }

    /// Waits for the process to end; its exit code and the rest of its stderr.
    pub(crate) fn wait(mut self) -> (i32, String) {
        let status = self.child.wait().expect("wait");
        self.seen.extend(self.stderr.iter());
        (status.code().unwrap_or(-1), self.seen.join("\n"))
    }
}

/// The `checkpoint=N` field of a log line.
fn checkpoint_id(line: &str) -> Option<u64> {
    let rest = &line[line.find("checkpoint=")? + "checkpoint=".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The committed part files of a sink directory: (subtask, part number) → lines. In-progress
/// parts are hidden files, never read.
pub(crate) fn committed_parts(dir: &Path) -> BTreeMap<(u32, u64), Vec<String>> {
    let mut parts = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("sink directory") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("part-") else {
            continue;
        };
        let (subtask, number) = rest.split_once('-').expect("part-S-N");
        let text = std::fs::read_to_string(entry.path()).expect("part");
        parts.insert(
            (
                subtask.parse().expect("subtask"),
                number.parse().expect("number"),
            ),
            text.lines().map(str::to_string).collect(),
        );
    }
    parts
}

pub(crate) fn sorted(lines: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut lines: Vec<String> = lines.into_iter().collect();
    lines.sort();
    lines
}

/// Checks running counts: per key, read in commit order, the counts go 1, 2, 3, … up to
/// `per_key` with no gap, repeat or reordering — each record exactly once, and the keyed
/// state (the count) restored exactly.
pub(crate) fn assert_counts_exactly_once(
    parts: &BTreeMap<(u32, u64), Vec<String>>,
    keys: u64,
    per_key: u64,
) {
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for ((subtask, number), lines) in parts {
        for line in lines {
            let record: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let key = record["key"].as_str().expect("key").to_string();
            let count = record["count"].as_u64().expect("count");
            let before = last.insert(key.clone(), count).unwrap_or(0);
            assert_eq!(
                count,
                before + 1,
                "key {key} in part-{subtask}-{number}: count {count} after {before} (lost, duplicated or out of order)"
            );
        }
    }
    assert_eq!(last.len() as u64, keys, "every key arrived");
    for (key, count) in &last {
        assert_eq!(*count, per_key, "key {key} ended at {count} of {per_key}");
    }
}

/// Each key's counts in the committed output, sorted: at a parallelism other than the
/// source's, a key's records come from several source subtasks, so they are checked as a set.
pub(crate) fn counts_per_key(dir: &Path) -> BTreeMap<String, Vec<u64>> {
    let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in committed_parts(dir).values().flatten() {
        let record: serde_json::Value = serde_json::from_str(line).expect("JSON");
        counts
            .entry(record["key"].as_str().expect("key").to_string())
            .or_default()
            .push(record["count"].as_u64().expect("count"));
    }
    for seen in counts.values_mut() {
        seen.sort_unstable();
    }
    counts
}

pub(crate) fn counting_job(dir: &Path, out: &Path) -> std::path::PathBuf {
    job_file(
        dir,
        "counting.yaml",
        &format!(
            "name: exactly-once\nparallelism: ${{P:-2}}\ncheckpointing: {{ interval_ms: 250, retained: 2 }}\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, count: 60000, rate: 15000, keys: 50 }} }}\n  - key_by: {{ field: key }}\n  - map: {{ module: count }}\n    name: counter\n  - sink: {{ file: {{ path: {:?} }} }}\n",
            udf("running_count"),
            out.display().to_string()
        ),
    )
}

#[test]
fn a_run_killed_mid_stream_resumes_from_its_checkpoint_with_every_record_once() {
    for backend in ["memory", "rocksdb"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("out");
        let checkpoints = dir.path().join("checkpoints");
        let job = counting_job(dir.path(), &out);
        let job = job.to_str().expect("utf-8");
        let checkpoint_dir = checkpoints.to_str().expect("utf-8");
        let args = [
            "run",
            "-q",
            "--state-backend",
            backend,
            "--checkpoint-dir",
            checkpoint_dir,
            job,
        ];
        let mut first = Running::start(&args, &[]);
        first.wait_for_checkpoint(3);
        first.child.kill().expect("SIGKILL");
        let (code, stderr) = first.wait();
        assert_ne!(code, 0, "{backend}: killed before its end\n{stderr}");
        let before = committed_parts(&out);
        assert!(
            !before.is_empty(),
            "{backend}: three checkpoints committed output before the kill"
        );

        let storage = checkpoints.join("exactly-once");
        let resumed = resume(
            &[
                "--state-backend",
                backend,
                "--checkpoint-dir",
                checkpoint_dir,
            ],
            storage.to_str().expect("utf-8"),
            job,
        );
        assert!(
            resumed.stderr.contains("resuming from checkpoint"),
            "{}",
            resumed.stderr
        );
        let parts = committed_parts(&out);
        for (part, lines) in &before {
            assert_eq!(
                parts.get(part),
                Some(lines),
                "{backend}: committed parts stay as they were"
            );
        }
        assert_counts_exactly_once(&parts, 50, 1200);
        let hidden: Vec<String> = std::fs::read_dir(&out)
            .expect("out")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(
            hidden.is_empty(),
            "{backend}: in-progress parts left: {hidden:?}"
        );
        assert_retained_checkpoints_hold_every_shared_file(&storage, backend);
    }
}

#[test]
fn a_kill_in_the_asynchronous_phase_before_or_during_the_commit_loses_and_duplicates_nothing() {
    // Paused (then killed) while checkpoint 3 is written to storage; once it completed but
    // before the sinks commit it; once one sink subtask committed and the other has not.
    for fault in ["pause@upload:3", "pause@commit:3", "pause@commit:3:1"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("out");
        let checkpoints = dir.path().join("checkpoints");
        let job = counting_job(dir.path(), &out);
        let job = job.to_str().expect("utf-8");
        let checkpoint_dir = checkpoints.to_str().expect("utf-8");
        let args = ["run", "-q", "--checkpoint-dir", checkpoint_dir, job];
        let mut first = Running::start(&args, &[("WEIR_FAULT", fault)]);
        first.wait_for(&format!("the pause of {fault}"), |line| {
            line.starts_with("weir fault: paused at")
        });
        first.child.kill().expect("SIGKILL");
        first.wait();
        let storage = checkpoints.join("exactly-once");
        let newest = crate::harness::newest_checkpoint(&storage);
        let expected = if fault.contains("upload") { 2 } else { 3 };
        assert_eq!(newest, expected, "{fault}: the newest completed checkpoint");
        resume(
            &["--checkpoint-dir", checkpoint_dir],
            storage.to_str().expect("utf-8"),
            job,
        );
        let parts = committed_parts(&out);
        assert_counts_exactly_once(&parts, 50, 1200);
    }
}

#[test]
fn a_task_failing_mid_run_restarts_in_process_from_its_checkpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let checkpoints = dir.path().join("checkpoints");
    let job = counting_job(dir.path(), &out);
    let run = weir(
        &[
            "run",
            "-q",
            "--checkpoint-dir",
            checkpoints.to_str().expect("utf-8"),
            job.to_str().expect("utf-8"),
        ],
        &[("WEIR_FAULT", "fail@snapshot:3")],
        None,
    )
    .expect_code(0);
    assert!(
        run.stderr.contains("injected fault") && run.stderr.contains("restarting from"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("restarts: 1"), "{}", run.stderr);
    let parts = committed_parts(&out);
    assert_counts_exactly_once(&parts, 50, 1200);
}

/// At most the two retained checkpoints are left, and every shared (incremental) file is one
/// they refer to: discarded checkpoints took their files with them.
fn assert_retained_checkpoints_hold_every_shared_file(storage: &Path, backend: &str) {
    let mut referenced = std::collections::BTreeSet::new();
    let mut checkpoints = 0;
    for entry in std::fs::read_dir(storage).expect("storage") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("chk-") {
            continue;
        }
        checkpoints += 1;
        let metadata = std::fs::read_to_string(entry.path().join("_metadata")).expect("metadata");
        let metadata: serde_json::Value = serde_json::from_str(&metadata).expect("JSON");
        for operator in metadata["operators"].as_array().expect("operators") {
            for file in operator["keyed"]["rocks"]["files"]
                .as_array()
                .into_iter()
                .flatten()
            {
                referenced.insert(file[1].as_str().expect("path").to_string());
            }
        }
    }
    assert!(
        (1..=2).contains(&checkpoints),
        "{backend}: {checkpoints} checkpoints kept (2 retained)"
    );
    let shared: Vec<String> = std::fs::read_dir(storage.join("shared"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| format!("shared/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    for file in &shared {
        assert!(
            referenced.contains(file),
            "{backend}: {file} is referenced by no checkpoint"
        );
    }
    if backend == "rocksdb" {
        assert!(
            !shared.is_empty(),
            "incremental checkpoints share SST files"
        );
    }
}

#[test]
fn a_savepoint_at_parallelism_2_resumes_at_3_with_the_uninterrupted_windows() {
    for backend in ["memory", "rocksdb"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let spec = |out: &Path| {
            format!(
                "name: rescaled\nparallelism: ${{P}}\ncheckpointing: {{ interval_ms: 250 }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, count: 40000, rate: 15000, keys: 40 }} }}\n    name: numbers\n  - watermark: {{ out_of_orderness_ms: 0 }}\n    name: event-time\n  - key_by: {{ field: key }}\n  - aggregate:\n      window: {{ tumbling: {{ size_ms: 500 }} }}\n      functions:\n        - {{ fn: count }}\n        - {{ fn: max, field: seq }}\n    name: windows\n  - sink: {{ file: {{ path: {:?} }} }}\n    name: out\n",
                out.display().to_string()
            )
        };
        let expected_out = dir.path().join("expected");
        let expected_job = job_file(dir.path(), "expected.yaml", &spec(&expected_out));
        let stopped_out = dir.path().join("stopped");
        let job = job_file(dir.path(), "rescaled.yaml", &spec(&stopped_out));
        let (checkpoints, savepoints) = (dir.path().join("chk"), dir.path().join("sp"));
        let common = [
            "--state-backend",
            backend,
            "--checkpoint-dir",
            checkpoints.to_str().expect("utf-8"),
        ];
        let expected = weir(
            &[
                &["run", "-q"][..],
                &common,
                &[expected_job.to_str().expect("utf-8")],
            ]
            .concat(),
            &[("P", "2")],
            None,
        )
        .expect_code(0);
        let expected_lines = sorted(committed_parts(&expected_out).into_values().flatten());
        assert_eq!(
            expected_lines.len(),
            80 * 40,
            "{backend}: 80 windows of 40 keys\n{}",
            expected.stderr
        );

        let savepoint = {
            let args = [
                &["run", "-q"][..],
                &common,
                &["--savepoint-dir", savepoints.to_str().expect("utf-8")],
                &[job.to_str().expect("utf-8")],
            ]
            .concat();
            let mut run = Running::start(&args, &[("P", "2")]);
            run.wait_for_checkpoint(2);
            stop(run)
        };
        let resumed = weir(
            &[
                &["run", "-q"][..],
                &common,
                &["--from-savepoint", &savepoint, job.to_str().expect("utf-8")],
            ]
            .concat(),
            &[("P", "3")],
            None,
        )
        .expect_code(0);
        let lines = sorted(committed_parts(&stopped_out).into_values().flatten());
        assert_eq!(
            lines, expected_lines,
            "{backend}: stopped at p=2 and resumed at p=3 = uninterrupted\n{}",
            resumed.stderr
        );
    }
}

#[test]
fn a_savepoint_resumes_with_an_upgraded_module_keeping_its_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let spec = |module: &str, parallelism: u32| {
        format!(
            "name: upgraded\nparallelism: {parallelism}\ncheckpointing: {{ interval_ms: 250 }}\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, count: 40000, rate: 15000, keys: 40 }} }}\n    name: numbers\n  - key_by: {{ field: key }}\n  - map: {{ module: count }}\n    name: counter\n  - sink: {{ file: {{ path: {:?} }} }}\n    name: out\n",
            udf(module),
            out.display().to_string()
        )
    };
    let v1 = job_file(dir.path(), "v1.yaml", &spec("running_count", 2));
    let v2 = job_file(dir.path(), "v2.yaml", &spec("running_count_max", 3));
    let (checkpoints, savepoints) = (dir.path().join("chk"), dir.path().join("sp"));
    let checkpoint_dir = checkpoints.to_str().expect("utf-8");
    let mut run = Running::start(
        &[
            "run",
            "-q",
            "--checkpoint-dir",
            checkpoint_dir,
            "--savepoint-dir",
            savepoints.to_str().expect("utf-8"),
            v1.to_str().expect("utf-8"),
        ],
        &[],
    );
    run.wait_for_checkpoint(2);
    let savepoint = stop(run);
    let resumed = resume(
        &["--checkpoint-dir", checkpoint_dir],
        &savepoint,
        v2.to_str().expect("utf-8"),
    );
    let parts = committed_parts(&out);
    // Per key, every count from 1 to 1000 once: the new module counted on from the old
    // module's state (at another parallelism, so arrival order within a key may differ).
    let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut upgraded = 0;
    let mut max_seq: BTreeMap<String, u64> = BTreeMap::new();
    for line in parts.values().flatten() {
        let record: serde_json::Value = serde_json::from_str(line).expect("JSON");
        let key = record["key"].as_str().expect("key").to_string();
        counts
            .entry(key.clone())
            .or_default()
            .push(record["count"].as_u64().expect("count"));
        if let Some(max) = record["max_seq"].as_u64() {
            upgraded += 1;
            let held = max_seq.entry(key).or_default();
            *held = (*held).max(max);
        }
    }
    assert_eq!(counts.len(), 40, "{}", resumed.stderr);
    for (key, mut seen) in counts {
        seen.sort_unstable();
        assert_eq!(seen, (1..=1000).collect::<Vec<u64>>(), "key {key}");
    }
    assert!(
        upgraded > 0 && upgraded < 40_000,
        "both versions wrote output: {upgraded} by v2"
    );
    assert!(
        max_seq.values().all(|&m| m == 999),
        "v2 tracked the max: {max_seq:?}"
    );
}

/// `weir run -q OPTIONS --from-savepoint FROM JOB`, which must succeed.
pub(crate) fn resume(options: &[&str], from: &str, job: &str) -> crate::harness::Run {
    let args = [
        &["run", "-q"][..],
        options,
        &["--from-savepoint", from, job],
    ]
    .concat();
    weir(&args, &[], None).expect_code(0)
}

/// SIGTERM: the job stops with a savepoint; its path.
pub(crate) fn stop(run: Running) -> String {
    let pid = run.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (code, stderr) = run.wait();
    assert_eq!(code, 0, "a stop with a savepoint exits 0\n{stderr}");
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("savepoint: "))
        .unwrap_or_else(|| panic!("no savepoint path:\n{stderr}"))
        .to_string()
}

#[test]
fn dead_letters_commit_with_checkpoints_and_a_resumed_run_writes_each_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = crate::dead_letters::checkpointed_dead_letter_job(dir.path(), 40_000, 10_000);
    let job = job.to_str().expect("utf-8");
    let checkpoints = dir.path().join("chk");
    let checkpoint_dir = checkpoints.to_str().expect("utf-8");
    let mut first = Running::start(&["run", "-q", "--checkpoint-dir", checkpoint_dir, job], &[]);
    first.wait_for_checkpoint(3);
    first.child.kill().expect("SIGKILL");
    first.wait();
    let dead = dir.path().join("dead");
    let before = committed_parts(&dead);
    assert!(
        !before.is_empty(),
        "three checkpoints committed dead letters before the kill"
    );
    let storage = checkpoints.join("dlq-checkpoints");
    resume(
        &["--checkpoint-dir", checkpoint_dir],
        storage.to_str().expect("utf-8"),
        job,
    );
    let parts = committed_parts(&dead);
    for (part, lines) in &before {
        assert_eq!(
            parts.get(part),
            Some(lines),
            "committed dead-letter parts stay as they were"
        );
    }
    assert_eq!(
        crate::dead_letters::letter_ids(&dead),
        (0..40_000).collect::<Vec<u64>>(),
        "each dead letter exactly once through the kill"
    );
}
