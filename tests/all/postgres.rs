//! The PostgreSQL sink against a private PostgreSQL 15 cluster the test starts: `append` made
//! exactly once by two-phase commit and `upsert` by idempotent writes, each through a SIGKILL
//! mid-stream and a SIGKILL between a checkpoint's completion and its commit; the table must
//! then equal what an uninterrupted run writes.

use crate::exactly_once::{Running, resume};
use crate::harness::{fails_naming, job_file, newest_checkpoint, udf, weir};
use crate::servers::Postgres;
use std::path::Path;

const KEYS: u64 = 20;
const PER_KEY: u64 = 1_000;

/// Running counts per key (Wasm, keyed state) into `table` in `mode`, at parallelism 2.
fn counting_job(dir: &Path, postgres: &Postgres, table: &str, mode: &str) -> String {
    let key = match mode {
        "upsert" => ", key: [key]",
        _ => "",
    };
    let job = job_file(
        dir,
        &format!("{table}.yaml"),
        &format!(
            "name: {table}\nparallelism: 2\ncheckpointing: {{ interval_ms: 300 }}\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, count: {}, rate: 5000, keys: {KEYS} }} }}\n  - key_by: {{ field: key }}\n  - map: {{ module: count }}\n  - sink: {{ postgres: {{ url: \"{}\", table: {table}, mode: {mode}{key} }} }}\n",
            udf("running_count"),
            KEYS * PER_KEY,
            postgres.url(),
        ),
    );
    job.to_str().expect("utf-8").to_string()
}

/// The rows an uninterrupted run of `per_key` records per key leaves: every (key, count) once
/// in `append`, each key's last count in `upsert`; as `key|count` lines in order.
fn expected_rows(mode: &str, per_key: u64) -> Vec<String> {
    let mut rows: Vec<String> = (0..KEYS)
        .flat_map(|key| match mode {
            "upsert" => vec![format!("{key}|{per_key}")],
            _ => (1..=per_key)
                .map(|count| format!("{key}|{count}"))
                .collect(),
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn postgres_tables_equal_an_uninterrupted_run_after_kills_in_both_modes() {
    let postgres = Postgres::start();
    for mode in ["append", "upsert"] {
        for (case, fault) in [("kill", None), ("commit", Some("pause@commit:3"))] {
            let table = format!("counts_{mode}_{case}");
            let primary = if mode == "upsert" { " PRIMARY KEY" } else { "" };
            postgres.query(&format!(
                "CREATE TABLE {table} (key text{primary}, count bigint NOT NULL, written timestamptz DEFAULT now())"
            ));
            let dir = tempfile::tempdir().expect("temp dir");
            let job = counting_job(dir.path(), &postgres, &table, mode);
            let checkpoints = dir.path().join("chk");
            let checkpoints = checkpoints.to_str().expect("utf-8");
            let args = ["run", "-q", "--checkpoint-dir", checkpoints, &job];
            let env: Vec<(&str, &str)> = fault.iter().map(|f| ("WEIR_FAULT", *f)).collect();
            let mut first = Running::start(&args, &env);
            match fault {
                None => first.wait_for_checkpoint(3),
                Some(_) => {
                    first.wait_for("the pause", |l| l.starts_with("weir fault: paused at"));
                }
            }
            first.child.kill().expect("SIGKILL");
            first.wait();
            let storage = Path::new(checkpoints).join(&table);
            assert!(newest_checkpoint(&storage) >= 3, "{mode}/{case}");
            let from = storage.to_str().expect("utf-8");
            let resumed = resume(&["--checkpoint-dir", checkpoints], from, &job);
            let mut rows = postgres.query(&format!("SELECT key, count FROM {table}"));
            rows.sort();
            let expected = expected_rows(mode, PER_KEY);
            if rows != expected {
                let twice: Vec<&String> = rows
                    .windows(2)
                    .filter(|w| w[0] == w[1])
                    .map(|w| &w[0])
                    .collect();
                let missing: Vec<&String> = expected.iter().filter(|r| !rows.contains(r)).collect();
                panic!(
                    "{mode}/{case}: the table has {} rows, {} expected; twice: {twice:?}; missing: {missing:?}\nresumed run:\n{}",
                    rows.len(),
                    expected.len(),
                    resumed.stderr
                );
            }
            let prepared = postgres.query("SELECT gid FROM pg_prepared_xacts");
            assert!(
                prepared.is_empty(),
                "{mode}/{case}: left prepared: {prepared:?}"
            );
        }
    }
}

/// A branch that ends while the other runs on, its sink at parallelism 1; the other branch's
/// subtask 1 pauses in checkpoint 2's upload, so no checkpoint after 1 completes.
fn finished_branch_job(dir: &Path, postgres: &Postgres, table: &str) -> String {
    let job = job_file(
        dir,
        &format!("{table}.yaml"),
        &format!(
            "name: {table}\nparallelism: 2\ncheckpointing: {{ interval_ms: 300 }}\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, count: {}, rate: 2000, keys: {KEYS} }} }}\n    name: short\n    parallelism: 1\n  - key_by: {{ field: key }}\n  - map: {{ module: count }}\n    parallelism: 1\n  - sink: {{ postgres: {{ url: \"{}\", table: {table} }} }}\n    parallelism: 1\n  - source: {{ datagen: {{ mode: sequence, count: 400000, rate: 20000 }} }}\n    name: long\n  - sink: {{ blackhole: {{}} }}\n",
            udf("running_count"),
            KEYS * SHORT_PER_KEY,
            postgres.url(),
        ),
    );
    job.to_str().expect("utf-8").to_string()
}

const SHORT_PER_KEY: u64 = 200;

#[test]
fn a_finished_sink_commits_only_with_a_checkpoint_holding_its_end() {
    // Flink's final checkpoint (FLIP-147): a sink whose input ended commits its last rows only
    // once a checkpoint holding its end completes. Killed before that, the run resumes from an
    // earlier checkpoint and writes those rows again: committed at the end of input, they
    // would be in the table twice.
    let postgres = Postgres::start();
    let table = "finished_branch";
    postgres.query(&format!(
        "CREATE TABLE {table} (key text, count bigint NOT NULL)"
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let job = finished_branch_job(dir.path(), &postgres, table);
    let checkpoints = dir.path().join("chk");
    let checkpoints = checkpoints.to_str().expect("utf-8");
    let args = ["run", "-q", "--checkpoint-dir", checkpoints, &job];
    let mut first = Running::start(&args, &[("WEIR_FAULT", "pause@upload:2:1")]);
    first.wait_for("the short branch's end", |l| {
        l.contains("its output commits with the next checkpoint")
    });
    let uncommitted = postgres.query(&format!("SELECT count(*) FROM {table}"));
    first.child.kill().expect("SIGKILL");
    first.wait();
    assert_ne!(
        uncommitted,
        [(KEYS * SHORT_PER_KEY).to_string()],
        "rows were committed before a checkpoint held the sink's end"
    );
    let from = Path::new(checkpoints).join(table);
    resume(
        &["--checkpoint-dir", checkpoints],
        from.to_str().expect("utf-8"),
        &job,
    );
    let mut rows = postgres.query(&format!("SELECT key, count FROM {table}"));
    rows.sort();
    let expected = expected_rows("append", SHORT_PER_KEY);
    assert_eq!(rows.len(), expected.len(), "each row once");
    assert_eq!(rows, expected);
    let prepared = postgres.query("SELECT gid FROM pg_prepared_xacts");
    assert!(prepared.is_empty(), "left prepared: {prepared:?}");
}

#[test]
fn a_column_type_mismatch_is_a_dead_letter_naming_the_column_and_a_bad_address_is_named() {
    let postgres = Postgres::start();
    postgres.query("CREATE TABLE typed (name text, price bigint, at timestamptz)");
    let dir = tempfile::tempdir().expect("temp dir");
    let input = job_file(
        dir.path(),
        "in.jsonl",
        "{\"name\":\"a\",\"price\":10,\"at\":1767225600000}\n{\"name\":\"b\",\"price\":\"ten\"}\n{\"name\":\"c\",\"price\":30,\"extra\":true}\n",
    );
    let dead = dir.path().join("dead.jsonl");
    let job = job_file(
        dir.path(),
        "typed.yaml",
        &format!(
            "name: typed\ndead_letter: {{ file: {{ path: {:?} }} }}\npipeline:\n  - source: {{ file: {{ path: {:?}, format: json }} }}\n  - sink: {{ postgres: {{ url: \"{}\", table: typed }} }}\n",
            dead.display().to_string(),
            input.display().to_string(),
            postgres.url()
        ),
    );
    weir(&["run", "-q", job.to_str().expect("utf-8")], &[], None).expect_code(0);
    let rows = postgres
        .query("SELECT name, price, extract(epoch from at)::bigint FROM typed ORDER BY name");
    assert_eq!(rows, ["a|10|1767225600", "c|30|"]);
    let dead = std::fs::read_to_string(&dead).expect("dead letters");
    let letter: serde_json::Value = serde_json::from_str(dead.trim()).expect("one dead letter");
    let error = letter["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("column `price` (bigint)") && error.contains("\"ten\""),
        "{dead}"
    );

    // The restart strategy applies to an unreachable database: one restart, then the failure.
    let stderr = fails_naming(
        dir.path(),
        "unreachable.yaml",
        "name: unreachable\nrestart_strategy: { fixed_delay: { attempts: 1, delay_ms: 100 } }\npipeline:\n  - source: { datagen: { count: 10 } }\n  - sink: { postgres: { url: \"postgres://nobody@127.0.0.1:9/db\", table: t } }\n",
        "PostgreSQL at 127.0.0.1 port 9",
    );
    assert!(
        stderr.contains("(restart 1)") && !stderr.contains("(restart 2)"),
        "{stderr}"
    );
}

#[test]
fn an_updating_sql_query_into_a_jdbc_table_with_a_primary_key_leaves_the_final_rows() {
    // Flink's JDBC connector over PostgreSQL: `GROUP BY` without a window is an updating
    // result, which a table with a primary key applies (upserts by key, skipping `-U`), with
    // checkpoints, at parallelism 2 on RocksDB; without a key it is refused.
    let postgres = Postgres::start();
    postgres
        .query("CREATE TABLE auction_totals (auction bigint PRIMARY KEY, n bigint, top bigint)");
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = crate::windows::bids(5000, 0);
    let input = crate::windows::write_bids(dir.path(), &bids);
    let mut reference: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
    for (auction, price, _) in &bids {
        let (n, top) = reference.entry(*auction).or_insert((0, 0));
        *n += 1;
        *top = (*top).max(*price);
    }
    let jdbc = postgres
        .url()
        .replace("postgres://postgres@", "jdbc:postgresql://");
    let script = |key: &str| {
        format!(
            "SET 'parallelism.default' = '2';\nSET 'state.backend.type' = 'rocksdb';\nSET 'execution.checkpointing.interval' = '200ms';\n\
             CREATE TABLE bids (auction BIGINT, price BIGINT, ts BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n\
             CREATE TABLE totals (auction BIGINT, n BIGINT, top BIGINT{key}) WITH ('connector' = 'jdbc', 'url' = '{jdbc}', 'table-name' = 'auction_totals', 'username' = 'postgres');\n\
             INSERT INTO totals SELECT auction, COUNT(*) AS n, MAX(price) AS top FROM bids GROUP BY auction;",
            input.display()
        )
    };
    let refused = weir(&["sql", "-q", "-e", &script("")], &[], None).expect_code(2);
    assert!(
        refused.stderr.contains("line 6") && refused.stderr.contains("needs a PRIMARY KEY"),
        "{}",
        refused.stderr
    );
    weir(
        &[
            "sql",
            "-q",
            "-e",
            &script(", PRIMARY KEY (auction) NOT ENFORCED"),
        ],
        &[],
        None,
    )
    .expect_code(0);
    let mut rows = postgres.query("SELECT auction, n, top FROM auction_totals");
    rows.sort();
    let mut expected: Vec<String> = reference
        .iter()
        .map(|(auction, (n, top))| format!("{auction}|{n}|{top}"))
        .collect();
    expected.sort();
    assert_eq!(rows.len(), expected.len(), "one row per auction");
    assert_eq!(rows, expected);
}
