//! Bad records are data: they reach the dead-letter sink with module, export and error, and
//! every other record reaches the main sink.

use crate::harness::{job_file, udf, weir};

fn dead_letter_job(module: &str, input: &str, out: &str, dead: &str) -> String {
    format!(
        "name: dlq\nparallelism: 2\nbatch_size: 16\nmodules:\n  m: {{ path: {module:?} }}\ndead_letter:\n  file: {{ path: {dead:?} }}\npipeline:\n  - source: {{ file: {{ path: {input:?}, format: lines }} }}\n  - map: {{ module: m }}\n  - sink: {{ file: {{ path: {out:?} }} }}\n    parallelism: 1\n"
    )
}

fn read_lines(path: &std::path::Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .expect("output file")
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn poison_records_go_to_the_dead_letter_sink_and_the_rest_to_the_main_sink() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut input = String::new();
    let mut expected = Vec::new();
    for i in 0..500 {
        if i % 97 == 5 {
            input.push_str(&format!("poison {i}\n"));
        } else {
            input.push_str(&format!("line {i}\n"));
            expected.push(format!("line {i}"));
        }
    }
    expected.sort();
    let (input_path, out, dead) = (
        dir.path().join("in.txt"),
        dir.path().join("out.txt"),
        dir.path().join("dead.jsonl"),
    );
    std::fs::write(&input_path, &input).expect("write input");
    let yaml = dead_letter_job(
        &udf("trap_on_poison"),
        &input_path.display().to_string(),
        &out.display().to_string(),
        &dead.display().to_string(),
    );
    let job = job_file(dir.path(), "job.yaml", &yaml);
    weir(&["run", "--quiet", job.to_str().expect("utf-8")], &[], None).expect_code(0);
    assert_eq!(read_lines(&out), expected, "every good record, once");
    let letters: Vec<serde_json::Value> = read_lines(&dead)
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON dead letter"))
        .collect();
    let mut poisoned: Vec<String> = letters
        .iter()
        .map(|l| l["record"]["value"].as_str().expect("value").to_string())
        .collect();
    poisoned.sort();
    let mut expected_poison: Vec<String> = (0..500)
        .filter(|i| i % 97 == 5)
        .map(|i| format!("poison {i}"))
        .collect();
    expected_poison.sort();
    assert_eq!(poisoned, expected_poison);
    for letter in &letters {
        assert_eq!(letter["operator"], "map-1");
        assert_eq!(letter["module"], "m");
        assert_eq!(letter["export"], "weir:udf/transform@0.1.0#process");
        assert_eq!(letter["module_sha256"].as_str().map(str::len), Some(64));
        let error = letter["error"].as_str().expect("error");
        assert!(
            error.contains("trapped") && error.contains("poison record"),
            "{error}"
        );
    }
}

#[test]
fn records_a_udf_reports_as_bad_are_dead_letters_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input: String = (0..200).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    let (input_path, out, dead) = (
        dir.path().join("in.jsonl"),
        dir.path().join("out.txt"),
        dir.path().join("dead.jsonl"),
    );
    std::fs::write(&input_path, &input).expect("write input");
    let yaml = dead_letter_job(
        &udf("reject_odd"),
        &input_path.display().to_string(),
        &out.display().to_string(),
        &dead.display().to_string(),
    );
    let job = job_file(dir.path(), "job.yaml", &yaml);
    weir(&["run", "--quiet", job.to_str().expect("utf-8")], &[], None).expect_code(0);
    let mut expected: Vec<String> = (0..200)
        .filter(|n| n % 2 == 0)
        .map(|n| format!("{{\"n\":{n}}}"))
        .collect();
    expected.sort();
    assert_eq!(read_lines(&out), expected);
    let letters = read_lines(&dead);
    assert_eq!(letters.len(), 100);
    assert!(
        letters.iter().all(|l| l.contains("odd number")),
        "{letters:?}"
    );
}

#[test]
fn a_line_that_is_not_json_is_a_dead_letter_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (input_path, out, dead) = (
        dir.path().join("in.jsonl"),
        dir.path().join("out.txt"),
        dir.path().join("dead.jsonl"),
    );
    std::fs::write(&input_path, "{\"n\":2}\n{broken\n{\"n\":4}\n").expect("write input");
    let yaml = dead_letter_job(
        &udf("reject_odd"),
        &input_path.display().to_string(),
        &out.display().to_string(),
        &dead.display().to_string(),
    )
    .replace("format: lines", "format: json");
    let job = job_file(dir.path(), "job.yaml", &yaml);
    weir(&["run", "--quiet", job.to_str().expect("utf-8")], &[], None).expect_code(0);
    assert_eq!(read_lines(&out), vec!["{\"n\":2}", "{\"n\":4}"]);
    let letters = read_lines(&dead);
    assert_eq!(letters.len(), 1);
    let letter: serde_json::Value = serde_json::from_str(&letters[0]).expect("JSON");
    assert_eq!(letter["origin"], format!("{}:2", input_path.display()));
    assert_eq!(letter["record"]["value"], "{broken");
}

/// The `id`s of the generated records in a directory's committed dead-letter parts, sorted.
pub(crate) fn letter_ids(dir: &std::path::Path) -> Vec<u64> {
    let mut ids: Vec<u64> = crate::exactly_once::committed_parts(dir)
        .into_values()
        .flatten()
        .map(|line| {
            let letter: serde_json::Value = serde_json::from_str(&line).expect("JSON dead letter");
            let value = letter["record"]["value"].as_str().expect("record value");
            let record: serde_json::Value = serde_json::from_str(value).expect("JSON record");
            record["id"].as_u64().expect("id")
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// A checkpointing job whose every record is a dead letter: generated `{"id": n}` records
/// lack `n`, which reject_odd reports as bad, 2 subtasks at `rate` a second.
pub(crate) fn checkpointed_dead_letter_job(
    dir: &std::path::Path,
    count: u64,
    rate: u64,
) -> std::path::PathBuf {
    job_file(
        dir,
        "dlq.yaml",
        &format!(
            "name: dlq-checkpoints\nparallelism: 2\ncheckpointing: {{ interval_ms: 200, retained: 2 }}\nmodules:\n  m: {{ path: {:?} }}\ndead_letter:\n  file: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, count: {count}, rate: {rate} }} }}\n  - map: {{ module: m }}\n  - sink: {{ file: {{ path: {:?} }} }}\n    parallelism: 1\n",
            udf("reject_odd"),
            dir.join("dead").display().to_string(),
            dir.join("out").display().to_string()
        ),
    )
}

#[test]
fn a_checkpointing_job_with_a_dead_letter_sink_completes_checkpoints_and_commits_its_letters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = checkpointed_dead_letter_job(dir.path(), 20_000, 8_000);
    let checkpoints = dir.path().join("chk");
    let run = weir(
        &[
            "run",
            "-q",
            "--checkpoint-dir",
            checkpoints.to_str().expect("utf-8"),
            job.to_str().expect("utf-8"),
        ],
        &[],
        None,
    )
    .expect_code(0);
    let (summary, completed) = crate::harness::checkpoint_summary(&run.stderr);
    assert!(
        completed >= 3,
        "{summary}: a 2.5 s job checkpointing every 200 ms"
    );
    // Two source -> map subtasks, the sink and the dead-letter sink all acknowledged.
    assert!(summary.ends_with("over 4 tasks"), "{summary}");
    let dead = dir.path().join("dead");
    assert_eq!(
        letter_ids(&dead),
        (0..20_000).collect::<Vec<u64>>(),
        "every record once, in committed dead-letter parts"
    );
    let hidden: Vec<String> = std::fs::read_dir(&dead)
        .expect("dead-letter directory")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "in-progress parts left: {hidden:?}");
}

#[test]
fn a_trapped_or_rejecting_batch_replays_on_state_as_it_was_and_a_bad_record_leaves_no_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut input = String::new();
    // user → how many good records it has; and the poison records, as the DLQ holds them.
    let mut good: std::collections::BTreeMap<String, u64> = Default::default();
    let mut poison = Vec::new();
    // User 100: 30 records, one of them poison, in one batch; users 0..6: poison (a trap) and
    // rejected records (reported bad) scattered across batches of 16, so every failed batch
    // holds records of several keys before and after its bad record.
    let mut records: Vec<(String, Option<&str>, u64)> = (0..30)
        .map(|i| ("100".to_string(), (i == 9).then_some("poison"), i))
        .collect();
    records.extend((0..700u64).map(|i| {
        let bad = match i {
            _ if i % 41 == 13 => Some("poison"),
            _ if i % 37 == 5 => Some("reject"),
            _ => None,
        };
        ((i % 7).to_string(), bad, 100 + i)
    }));
    for (user, bad, id) in records {
        let line = match bad {
            Some(field) => format!("{{\"user\":{user},\"{field}\":{id}}}"),
            None => format!("{{\"user\":{user},\"n\":{id}}}"),
        };
        input.push_str(&line);
        input.push('\n');
        match bad {
            Some(_) => poison.push(line),
            None => *good.entry(user).or_default() += 1,
        }
    }
    poison.sort();
    assert_eq!(good["100"], 29);
    assert!(poison.len() > 10, "{} poison records", poison.len());
    let input_path = dir.path().join("in.jsonl");
    std::fs::write(&input_path, &input).expect("write input");
    for backend in ["memory", "rocksdb"] {
        let dead = dir.path().join(format!("dead-{backend}.jsonl"));
        let yaml = format!(
            "name: replay\nparallelism: 2\nbatch_size: 16\nmodules:\n  m: {{ path: {:?} }}\ndead_letter:\n  file: {{ path: {:?} }}\npipeline:\n  - source: {{ file: {{ path: {:?}, format: json }} }}\n    parallelism: 1\n  - key_by: {{ field: user }}\n  - map: {{ module: m }}\n  - sink: {{ stdout: {{}} }}\n    parallelism: 1\n",
            udf("count_then_trap"),
            dead.display().to_string(),
            input_path.display().to_string()
        );
        let job = job_file(dir.path(), &format!("{backend}.yaml"), &yaml);
        let args = [
            "run",
            "-q",
            "--state-backend",
            backend,
            job.to_str().expect("utf-8"),
        ];
        let run = weir(&args, &[], None).expect_code(0);
        let mut counts: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
        for line in run.stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON count");
            counts
                .entry(v["key"].as_str().expect("key").to_string())
                .or_default()
                .push(v["count"].as_u64().expect("count"));
        }
        assert_eq!(
            counts.keys().collect::<Vec<_>>(),
            good.keys().collect::<Vec<_>>(),
            "{backend}: every user"
        );
        for (user, mut seen) in counts {
            seen.sort_unstable();
            assert_eq!(
                seen,
                (1..=good[&user]).collect::<Vec<u64>>(),
                "{backend}: user {user} counts each good record once; replays and bad records add nothing"
            );
        }
        let mut dead_values: Vec<String> = read_lines(&dead)
            .iter()
            .map(|l| {
                let letter: serde_json::Value = serde_json::from_str(l).expect("JSON dead letter");
                let error = letter["error"].as_str().expect("error");
                assert!(
                    error.contains("poison record after its state write")
                        || error.contains("rejected after its state write"),
                    "{error}"
                );
                letter["record"]["value"]
                    .as_str()
                    .expect("value")
                    .to_string()
            })
            .collect();
        dead_values.sort();
        assert_eq!(
            dead_values, poison,
            "{backend}: every poison and rejected record dead-lettered, once"
        );
    }
}
