//! `weir sql`: Flink's W2 and W3 statements (../shared/peers/flink/FlinkBench.java) on the
//! shared bid generator give the independent checksums (PROBES.md, gen_reference.py); EXPLAIN
//! shows the plan; mistakes are errors naming line and column.

use crate::exactly_once::{Running, committed_parts, resume, stop};
use crate::harness::weir;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The bids table of FlinkBench, on Weir's `bids` connector, and `out_rows` as JSON files.
fn tables(rows: u64, out: &Path, columns: &str) -> String {
    format!(
        "CREATE TABLE bids (\n  auction BIGINT,\n  bidder BIGINT,\n  price BIGINT,\n  ts TIMESTAMP(3),\n  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND\n) WITH ('connector' = 'bids', 'rows' = '{rows}');\nCREATE TABLE out_rows ({columns}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n",
        out.display()
    )
}

/// Every JSON line of the file (or, at parallelism > 1, the part files) at `out`.
fn rows(out: &Path) -> Vec<serde_json::Value> {
    let files = match out.is_dir() {
        true => std::fs::read_dir(out)
            .expect("output dir")
            .map(|e| e.expect("entry").path())
            .collect(),
        false => vec![out.to_path_buf()],
    };
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("output")
                .lines()
                .map(|l| serde_json::from_str(l).expect("a JSON row"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The rows `weir sql -q -e script` prints, as JSON, in the order printed (it must succeed).
pub(crate) fn sql_json_rows(script: &str) -> Vec<serde_json::Value> {
    weir(&["sql", "-q", "-e", script], &[], None)
        .expect_code(0)
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect()
}

fn int(row: &serde_json::Value, field: &str) -> i64 {
    row[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} of {row}"))
}

#[test]
fn flinks_w2_statement_gives_the_independent_checksums() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("w2.json");
    let script = tables(3_000_017, &out, "auction BIGINT, price_eur BIGINT")
        + "INSERT INTO out_rows SELECT auction, price * 908 / 1000 AS price_eur FROM bids \
           WHERE MOD(auction, 123) = 0 OR price > 500;\n";
    let file = dir.path().join("w2.sql");
    std::fs::write(&file, script).expect("script");
    weir(&["sql", "-q", "-f", &file.display().to_string()], &[], None).expect_code(0);
    let rows = rows(&out);
    assert_eq!(rows.len(), 1_509_081);
    assert_eq!(
        rows.iter().map(|r| int(r, "price_eur")).sum::<i64>(),
        1_022_324_658
    );
    assert!(
        rows.iter()
            .all(|r| r.as_object().is_some_and(|o| o.len() == 2))
    );
}

#[test]
fn flinks_w3_statement_gives_the_independent_checksums_at_parallelism_2_on_rocksdb() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("w3");
    let script = "SET 'parallelism.default' = '2';\nSET 'state.backend.type' = 'rocksdb';\n"
        .to_string()
        + &tables(
            3_000_017,
            &out,
            "auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), bids BIGINT, max_price BIGINT",
        )
        + "INSERT INTO out_rows SELECT auction, window_start, window_end, COUNT(*), MAX(price) \
           FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
           GROUP BY auction, window_start, window_end;\n";
    let file = dir.path().join("w3.sql");
    std::fs::write(&file, script).expect("script");
    weir(&["sql", "-q", "-f", &file.display().to_string()], &[], None).expect_code(0);
    let rows = rows(&out);
    assert_eq!(rows.len(), 30_017);
    let windows: BTreeSet<String> = rows
        .iter()
        .map(|r| r["window_start"].as_str().expect("a timestamp").to_string())
        .collect();
    assert_eq!(windows.len(), 4, "{windows:?}");
    assert!(windows.contains("2026-01-01 00:00:10.000"), "{windows:?}");
    assert_eq!(
        rows.iter().map(|r| int(r, "EXPR$3")).sum::<i64>(),
        3_000_017
    );
    assert_eq!(
        rows.iter().map(|r| int(r, "EXPR$4")).sum::<i64>(),
        29_724_799
    );
}

#[test]
fn explain_prints_the_plan_and_the_job_graph() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("w3.json");
    let script = tables(1000, &out, "auction BIGINT, n BIGINT")
        + "EXPLAIN INSERT INTO out_rows SELECT auction, COUNT(*) AS n \
           FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
           GROUP BY auction, window_start, window_end;\n";
    let run = weir(&["sql", "-e", &script], &[], None).expect_code(0);
    for part in [
        "== plan",
        "\"key_by\"",
        "\"tumbling\"",
        "== JobGraph ==",
        "Hash",
    ] {
        assert!(run.stdout.contains(part), "{part}:\n{}", run.stdout);
    }
    assert!(!out.exists(), "EXPLAIN runs nothing");
}

#[test]
fn mistakes_are_errors_naming_line_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x.json");
    let header = tables(10, &out, "a BIGINT");
    let header_lines = header.lines().count();
    for (query, column, named) in [
        (
            "INSERT INTO out_rows SELECT UPPER(price) FROM bids;",
            35,
            "`price` is BIGINT, where a STRING is expected",
        ),
        (
            "INSERT INTO out_rows SELECT prize FROM bids;",
            29,
            "unknown column `prize`",
        ),
        (
            "INSERT INTO out_rows SELECT FROBNICATE(price) FROM bids;",
            29,
            "unknown function `FROBNICATE`",
        ),
        (
            "INSERT INTO out_rows SELECT price FROM bidz;",
            40,
            "unknown table `bidz`",
        ),
        (
            "INSERT INTO out_rows SELECT window_start FROM bids GROUP BY auction;",
            29,
            "`window_start` comes from a windowing function",
        ),
    ] {
        let run = weir(&["sql", "-e", &format!("{header}{query}")], &[], None).expect_code(2);
        let place = format!("line {}, column {column}", header_lines + 1);
        assert!(
            run.stderr.contains(&place) && run.stderr.contains(named),
            "{query}: expected {place} and {named}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn a_record_that_fails_an_expression_fails_the_job_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in.json");
    std::fs::write(&input, "{\"a\":6,\"b\":3}\n{\"a\":1,\"b\":0}\n").expect("input");
    let script = format!(
        "CREATE TABLE t (a BIGINT, b BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\nSELECT a / b AS q FROM t;",
        input.display()
    );
    let run = weir(&["sql", "-e", &script], &[], None).expect_code(1);
    assert!(
        run.stderr.contains("division by zero") && run.stderr.contains(r#"{\"a\":1,\"b\":0}"#),
        "{}",
        run.stderr
    );
}

/// A SQL job over paced bids, checkpointing, at `parallelism`, writing `query`'s rows (into
/// `out_rows (columns)`) to `out`.
fn checkpointed(parallelism: u32, out: &Path, (columns, query): (&str, &str)) -> String {
    format!(
        "SET 'parallelism.default' = '{parallelism}';\nSET 'execution.checkpointing.interval' = '250ms';\n\
         CREATE TABLE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3),\n\
           WATERMARK FOR ts AS ts - INTERVAL '5' MILLISECOND)\n\
           WITH ('connector' = 'bids', 'rows' = '40000', 'rows-per-second' = '15000');\n\
         CREATE TABLE out_rows ({columns}) WITH ('connector' = 'filesystem', 'path' = '{}');\n\
         INSERT INTO out_rows {query};\n",
        out.display()
    )
}

/// Queries whose state a savepoint carries: windows, a regular join of the bids with an
/// updating aggregate of them, and a Top-N.
const CHECKPOINTED_QUERIES: [(&str, &str); 3] = [
    (
        "auction BIGINT, window_start TIMESTAMP(3), n BIGINT, top BIGINT",
        "SELECT auction, window_start, COUNT(*) AS n, MAX(price) AS top \
         FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '25' MILLISECOND)) \
         GROUP BY auction, window_start, window_end",
    ),
    (
        "auction BIGINT, bidder BIGINT, price BIGINT",
        "SELECT b.auction, b.bidder, b.price FROM bids AS b \
         JOIN (SELECT auction, MAX(price) AS top FROM bids GROUP BY auction) AS m \
         ON b.auction = m.auction WHERE b.price = m.top",
    ),
    (
        "auction BIGINT, bidder BIGINT, price BIGINT, place BIGINT",
        "SELECT auction, bidder, price, place FROM (SELECT auction, bidder, price, \
         ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS place FROM bids) \
         WHERE place <= 3",
    ),
];

#[test]
fn a_sql_job_stopped_with_a_savepoint_at_parallelism_2_resumes_at_3_with_the_uninterrupted_output()
{
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("script");
        path.display().to_string()
    };
    let (expected_out, stopped_out) = (dir.path().join("expected"), dir.path().join("stopped"));
    // The committed rows, an updating result's changelog applied.
    let table = |out: &Path| {
        let lines = committed_parts(out).into_values().flatten();
        crate::sql_nexmark_joins::final_table(
            lines
                .map(|l| serde_json::from_str(&l).expect("a JSON row"))
                .collect(),
        )
    };
    for (number, query) in CHECKPOINTED_QUERIES.into_iter().enumerate() {
        let expected_job = write("expected.sql", checkpointed(2, &expected_out, query));
        let first_job = write("first.sql", checkpointed(2, &stopped_out, query));
        let resumed_job = write("first-p3.sql", checkpointed(3, &stopped_out, query));
        for backend in ["memory", "rocksdb"] {
            let _ = std::fs::remove_dir_all(&expected_out);
            let _ = std::fs::remove_dir_all(&stopped_out);
            let checkpoints = dir.path().join(format!("chk-{number}-{backend}"));
            let savepoints = dir.path().join(format!("sp-{number}-{backend}"));
            let common = [
                "--state-backend",
                backend,
                "--checkpoint-dir",
                checkpoints.to_str().expect("utf-8"),
            ];
            weir(
                &[&["run", "-q"][..], &common, &[&expected_job]].concat(),
                &[],
                None,
            )
            .expect_code(0);
            let expected = table(&expected_out);
            assert!(
                expected.len() > 500,
                "query {number} on {backend}: {} rows",
                expected.len()
            );
            let args = [
                &["run", "-q"][..],
                &common,
                &[
                    "--savepoint-dir",
                    savepoints.to_str().expect("utf-8"),
                    &first_job,
                ],
            ]
            .concat();
            let mut run = Running::start(&args, &[]);
            run.wait_for_checkpoint(2);
            let savepoint = stop(run);
            resume(&common, &savepoint, &resumed_job);
            assert!(
                table(&stopped_out) == expected,
                "query {number} on {backend}: stopped at p=2 and resumed at p=3 = uninterrupted"
            );
        }
    }
}

#[test]
fn a_query_calls_scalar_functions_written_in_rust_and_python_with_typed_arguments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = crate::windows::bids(2000, 0);
    let input = crate::windows::write_bids(dir.path(), &bids);
    let functions = "CREATE FUNCTION to_euro AS 'udfs/rust/to_euro' LANGUAGE WASM;\n\
                     CREATE FUNCTION price_band AS 'udfs/python/price_band' LANGUAGE WASM;\n";
    let table = format!(
        "CREATE TABLE bids (auction BIGINT, price BIGINT, ts BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n",
        input.display()
    );
    let query = "SELECT auction, to_euro(price) AS eur, price_band(price, 500) AS band FROM bids \
                 WHERE to_euro(price) > 100;";
    let run = weir(
        &["sql", "-q", "-e", &format!("{functions}{table}{query}")],
        &[],
        None,
    )
    .expect_code(0);
    let expected: Vec<String> = bids
        .iter()
        .filter(|(_, price, _)| price * 908 / 1000 > 100)
        .map(|(auction, price, _)| {
            let band = if *price > 500 { "high" } else { "low" };
            format!(
                "{{\"auction\":{auction},\"eur\":{},\"band\":\"{band}\"}}",
                price * 908 / 1000
            )
        })
        .collect();
    assert!(expected.len() > 1000);
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), expected);

    // An argument of another type than the function's parameter, or a wrong number of them, is
    // an error at its place, before the job runs: the module declares its signature.
    for (query, place, error) in [
        (
            "SELECT to_euro(CAST(auction AS STRING)) AS eur FROM bids;",
            "line 4, column 21",
            "argument 1 of `to_euro`: `CAST(auction AS STRING)` is STRING, where a BIGINT is expected",
        ),
        (
            "SELECT price_band(price, 'high') AS band FROM bids;",
            "line 4, column 26",
            "argument 2 of `price_band`: `'high'` is STRING, where a BIGINT is expected",
        ),
        (
            "SELECT to_euro(price, 2) AS eur FROM bids;",
            "line 4, column 8",
            "`to_euro` takes 1 argument(s) (BIGINT), not 2",
        ),
    ] {
        let script = format!("{functions}{table}{query}");
        let run = weir(&["sql", "-q", "-e", &script], &[], None).expect_code(2);
        assert!(
            run.stderr.contains(place) && run.stderr.contains(error),
            "{query}: {}",
            run.stderr
        );
    }
    // A language other than Wasm, and a function never created, are errors at their place.
    let python = "CREATE FUNCTION f AS 'm.py' LANGUAGE PYTHON;\nSELECT 1 FROM bids;";
    let run = weir(&["sql", "-e", &format!("{table}{python}")], &[], None).expect_code(2);
    assert!(
        run.stderr.contains("line 2, column 1") && run.stderr.contains("LANGUAGE WASM"),
        "{}",
        run.stderr
    );
    let run = weir(
        &[
            "sql",
            "-e",
            &format!("{functions}{table}SELECT to_dollar(price) FROM bids;"),
        ],
        &[],
        None,
    )
    .expect_code(2);
    assert!(
        run.stderr.contains("unknown function `to_dollar`")
            && run.stderr.contains("created: price_band, to_euro"),
        "{}",
        run.stderr
    );
}

#[test]
fn group_by_without_a_window_is_an_updating_result_whose_changelog_folds_to_the_reference() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = crate::windows::bids(5000, 0);
    let input = crate::windows::write_bids(dir.path(), &bids);
    let mut reference: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
    for (auction, price, _) in &bids {
        let (n, top, sum) = reference.entry(*auction).or_insert((0, 0, 0));
        *n += 1;
        *top = (*top).max(*price);
        *sum += price;
    }
    for (parallelism, backend) in [(1, "hashmap"), (2, "rocksdb")] {
        let script = format!(
            "SET 'parallelism.default' = '{parallelism}';\nSET 'state.backend.type' = '{backend}';\n\
             CREATE TABLE bids (auction BIGINT, price BIGINT, ts BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n\
             SELECT auction, COUNT(*) AS n, MAX(price) AS top, SUM(price) AS total FROM bids GROUP BY auction;",
            input.display()
        );
        let run = weir(&["sql", "-q", "-e", &script], &[], None).expect_code(0);
        // Fold the changelog: a -U retracts exactly the row last emitted for its key.
        let mut table: BTreeMap<i64, serde_json::Value> = BTreeMap::new();
        let mut kinds = BTreeMap::new();
        for line in run.stdout.lines() {
            let mut row: serde_json::Value = serde_json::from_str(line).expect("a JSON row");
            let op = row["op"].as_str().expect("a row kind").to_string();
            let auction = int(&row, "auction");
            if let Some(object) = row.as_object_mut() {
                object.remove("op");
            }
            *kinds.entry(op.clone()).or_insert(0) += 1;
            match op.as_str() {
                "+I" => assert!(
                    table.insert(auction, row).is_none(),
                    "+I of a present key: {line}"
                ),
                "-U" => assert_eq!(
                    table.remove(&auction).as_ref(),
                    Some(&row),
                    "-U retracts the last row: {line}"
                ),
                "+U" => assert!(
                    table.insert(auction, row).is_none(),
                    "+U without its -U: {line}"
                ),
                other => panic!("row kind {other}"),
            }
        }
        let folded: BTreeMap<i64, (i64, i64, i64)> = table
            .iter()
            .map(|(k, r)| (*k, (int(r, "n"), int(r, "top"), int(r, "total"))))
            .collect();
        assert_eq!(folded, reference, "p={parallelism} {backend}");
        assert_eq!(kinds.get("+I"), Some(&reference.len()), "{kinds:?}");
        assert!(
            kinds.get("+U").is_some_and(|&u| u > 0) && kinds.get("-U") == kinds.get("+U"),
            "{kinds:?}"
        );
    }
}

#[test]
fn the_sql_shell_keeps_tables_and_shows_an_updating_query_as_its_final_table() {
    // `weir sql` without a script reads statements from stdin; here not a terminal, so each
    // query's table is printed once, at its end, with its changelog applied.
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = crate::windows::bids(300, 0);
    let input = crate::windows::write_bids(dir.path(), &bids);
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for (auction, _, _) in &bids {
        *counts.entry(*auction).or_default() += 1;
    }
    let session = format!(
        "CREATE TABLE bids (auction BIGINT, price BIGINT, ts BIGINT)\n  WITH ('connector' = 'filesystem', 'path' = '{}');\n\
         SELECT auction, COUNT(*) AS n FROM bids GROUP BY auction;\n\
         SELECT prize FROM bids;\n\
         SELECT auction FROM bids WHERE auction = {};\nquit;\n",
        input.display(),
        bids[0].0
    );
    let run = weir(&["sql"], &[], Some(session.as_bytes())).expect_code(0);
    let tables: Vec<&str> = run.stdout.split("rows\n").collect();
    let first = tables[0];
    let mut shown: BTreeMap<i64, u64> = BTreeMap::new();
    for line in first
        .lines()
        .filter(|l| l.starts_with("| ") && !l.contains("auction"))
    {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        shown.insert(
            cells[0].parse().expect("auction"),
            cells[1].parse().expect("n"),
        );
    }
    assert_eq!(
        shown, counts,
        "the final table of the updating query:\n{first}"
    );
    assert!(
        first.trim_end().ends_with(&counts.len().to_string()),
        "{first}"
    );
    assert!(
        run.stderr.contains("unknown column `prize`"),
        "a mistake is shown and the session goes on: {}",
        run.stderr
    );
    let matching = bids.iter().filter(|b| b.0 == bids[0].0).count();
    assert!(
        run.stdout.contains(&format!("{matching} rows")),
        "the last query ran after the mistake:\n{}",
        run.stdout
    );
}

#[test]
fn a_window_join_of_two_tables_pairs_each_keys_records_in_the_same_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let left = crate::windows::bids(600, 3);
    let right: Vec<(i64, i64, i64)> = crate::windows::bids(600, 0)
        .into_iter()
        .map(|(auction, price, ts)| (auction, price + 1, ts + 7))
        .collect();
    let (left_dir, right_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&left_dir).expect("dir");
    std::fs::create_dir_all(&right_dir).expect("dir");
    let (left_file, right_file) = (
        crate::windows::write_bids(&left_dir, &left),
        crate::windows::write_bids(&right_dir, &right),
    );
    let window = |ts: i64| ts - ts.rem_euclid(100);
    let mut expected = Vec::new();
    for (auction, price, ts) in &left {
        for (other, other_price, other_ts) in &right {
            if auction == other && window(*ts) == window(*other_ts) {
                let start = weir_sql::timestamp_text(window(*ts));
                expected.push(serde_json::json!({"auction": auction, "left_price": price, "right_price": other_price, "start": start}));
            }
        }
    }
    expected.sort_by_key(|r| r.to_string());
    assert!(expected.len() > 1000, "{} pairs", expected.len());
    let table = |name: &str, path: &Path| {
        format!(
            "CREATE TABLE {name} (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '50' MILLISECOND)\n  WITH ('connector' = 'filesystem', 'path' = '{}');\n",
            path.display()
        )
    };
    for parallelism in [1, 2] {
        let script = format!(
            "SET 'parallelism.default' = '{parallelism}';\n{}{}\
             SELECT L.auction, L.price AS left_price, R.price AS right_price, L.window_start AS start\n\
             FROM (SELECT * FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), INTERVAL '100' MILLISECOND))) L\n\
             JOIN (SELECT * FROM TABLE(TUMBLE(TABLE b, DESCRIPTOR(ts), INTERVAL '100' MILLISECOND))) R\n\
             ON L.auction = R.auction AND L.window_start = R.window_start AND L.window_end = R.window_end;",
            table("a", &left_file),
            table("b", &right_file)
        );
        let mut rows = sql_json_rows(&script);
        rows.sort_by_key(|r| r.to_string());
        assert_eq!(
            rows.len(),
            expected.len(),
            "p={parallelism}: one row per pair"
        );
        assert!(
            rows == expected,
            "p={parallelism}: the pairs differ from the reference"
        );
    }
    let unqualified = format!(
        "{}{}SELECT auction FROM (SELECT * FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), INTERVAL '100' MILLISECOND))) L\n\
         JOIN (SELECT * FROM TABLE(TUMBLE(TABLE b, DESCRIPTOR(ts), INTERVAL '100' MILLISECOND))) R\n\
         ON L.auction = R.auction AND L.window_start = R.window_start AND L.window_end = R.window_end;",
        table("a", &left_file),
        table("b", &right_file)
    );
    let refused = weir(&["sql", "-q", "-e", &unqualified], &[], None).expect_code(2);
    assert!(
        refused.stderr.contains("line 5, column 8") && refused.stderr.contains("which side's"),
        "{}",
        refused.stderr
    );
}
