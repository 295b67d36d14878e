//! Jobs with no UDF at all: CSV and JSON sources, built-in key_by and aggregates, CSV and JSON
//! sinks — checked against references computed here.

use crate::harness::{job_file, weir};
use std::collections::BTreeMap;

#[test]
fn csv_in_builtin_aggregates_csv_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut csv = String::from("city,temp\n");
    let mut expected: BTreeMap<String, (u64, i64, i64, i64)> = BTreeMap::new();
    for i in 0..3000i64 {
        let city = ["Oslo", "Lima", "Pune", "Kyiv", "Nuuk"][(i % 5) as usize];
        let temp = (i * 37) % 61 - 20;
        csv.push_str(&format!("{city},{temp}\n"));
        let entry = expected
            .entry(city.to_string())
            .or_insert((0, 0, i64::MAX, i64::MIN));
        entry.0 += 1;
        entry.1 += temp;
        entry.2 = entry.2.min(temp);
        entry.3 = entry.3.max(temp);
    }
    // Two files in a directory: both are read.
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    let (first, second) = csv.split_at(csv.find("Lima,").expect("a Lima row"));
    std::fs::write(input.join("a.csv"), first).expect("write");
    std::fs::write(input.join("b.csv"), format!("city,temp\n{second}")).expect("write");
    let out = dir.path().join("out.csv");
    let yaml = format!(
        "name: temps\nparallelism: 3\npipeline:\n  - source: {{ file: {{ path: {:?}, format: csv }} }}\n  - key_by: {{ field: city }}\n  - aggregate:\n      functions:\n        - {{ fn: count, as: n }}\n        - {{ fn: sum, field: temp, as: total }}\n        - {{ fn: min, field: temp, as: low }}\n        - {{ fn: max, field: temp, as: high }}\n  - sink: {{ file: {{ path: {:?}, format: csv }} }}\n    parallelism: 1\n",
        input.display().to_string(),
        out.display().to_string()
    );
    let job = job_file(dir.path(), "job.yaml", &yaml);
    weir(&["run", "--quiet", job.to_str().expect("utf-8")], &[], None).expect_code(0);
    let written = std::fs::read_to_string(&out).expect("output");
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("city,n,total,low,high"));
    let mut rows: Vec<&str> = lines.collect();
    rows.sort();
    let expected: Vec<String> = expected
        .iter()
        .map(|(city, (n, total, low, high))| format!("{city},{n},{total},{low},{high}"))
        .collect();
    assert_eq!(rows, expected);
}

#[test]
fn stdin_json_lines_with_a_bad_line_and_no_dead_letter_sink_fails_naming_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml =
        "name: j\npipeline:\n  - source: { stdin: { format: json } }\n  - sink: { stdout: {} }\n";
    let job = job_file(dir.path(), "job.yaml", yaml);
    let run = weir(
        &["run", "--quiet", job.to_str().expect("utf-8")],
        &[],
        Some(b"{\"a\":1}\n{\"a\":\n"),
    )
    .expect_code(1);
    assert!(
        run.stderr.contains("<stdin>:2") && run.stderr.contains("not valid JSON"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("dead_letter"),
        "hints at the dead-letter sink: {}",
        run.stderr
    );
}

#[test]
fn broadcast_sends_every_record_to_every_subtask() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let yaml = format!(
        "name: b\npipeline:\n  - source: {{ datagen: {{ count: 100 }} }}\n  - broadcast: {{}}\n  - sink: {{ file: {{ path: {:?} }} }}\n    parallelism: 3\n",
        out.display().to_string()
    );
    let job = job_file(dir.path(), "job.yaml", &yaml);
    weir(&["run", "--quiet", job.to_str().expect("utf-8")], &[], None).expect_code(0);
    let expected: Vec<String> = {
        let mut ids: Vec<String> = (0..100).map(|id| format!("{{\"id\":{id}}}")).collect();
        ids.sort();
        ids
    };
    for part in 0..3 {
        let text = std::fs::read_to_string(out.join(format!("part-{part}"))).expect("part file");
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        assert_eq!(lines, expected, "part {part}");
    }
}
