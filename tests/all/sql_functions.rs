//! Functions from modules in SQL: a query calling a Python scalar function, a JavaScript table
//! function and a Rust aggregate function gives exactly the reference's rows, at parallelism 1
//! and 2; mistakes are errors naming their place or the row.

use crate::harness::weir;
use crate::sql::sql_json_rows;
use std::collections::BTreeMap;

const FUNCTIONS: &str = "CREATE FUNCTION price_band AS 'udfs/python/price_band' LANGUAGE WASM;\n\
     CREATE FUNCTION split_words AS 'udfs/js/split_words' LANGUAGE WASM;\n\
     CREATE FUNCTION weighted_avg AS 'udfs/rust/weighted_avg' LANGUAGE WASM;\n";

/// The bids table over `bids.jsonl` in `dir`, a second's windows by `ts`.
fn table(path: &std::path::Path) -> String {
    format!(
        "CREATE TABLE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '50' MILLISECOND)\n  WITH ('connector' = 'filesystem', 'path' = '{}');\n",
        path.display()
    )
}

#[test]
fn a_query_calls_a_python_scalar_a_javascript_table_function_and_a_rust_aggregate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = crate::windows::bids(4000, 3);
    let input = crate::windows::write_bids(dir.path(), &bids);
    // Per (word, window start): Σ price × weight and Σ weight, each bid giving the words of
    // "<band> auction-<auction>", its weight MOD(price, 5) + the word's position.
    let mut sums: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for &(auction, price, ts) in &bids {
        let band = if price > 500 { "high" } else { "low" };
        for (position, word) in [band.to_string(), format!("auction-{auction}")]
            .into_iter()
            .enumerate()
        {
            let weight = price % 5 + position as i64;
            let sum = sums.entry((word, ts - ts.rem_euclid(1000))).or_default();
            sum.0 += price * weight;
            sum.1 += weight;
        }
    }
    let mut expected: Vec<serde_json::Value> = sums
        .into_iter()
        .map(|((word, start), (sum, weights))| {
            // Through JSON text, as the rows come: the same parse of the same shortest digits.
            let avg = match weights > 0 {
                true => format!("{:?}", sum as f64 / weights as f64),
                false => "null".to_string(),
            };
            let row = format!(
                r#"{{"word":"{word}","window_start":"{}","window_end":"{}","avg_price":{avg}}}"#,
                weir_sql::timestamp_text(start),
                weir_sql::timestamp_text(start + 1000)
            );
            serde_json::from_str(&row).expect("a reference row")
        })
        .collect();
    expected.sort_by_key(|r| r.to_string());
    assert!(expected.len() > 300, "{} rows", expected.len());
    let query = "SELECT word, window_start, window_end, weighted_avg(price, MOD(price, 5) + position) AS avg_price\n\
         FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND)),\n\
         LATERAL TABLE(split_words(CONCAT(price_band(price, 500), ' auction-', CAST(auction AS STRING)))) AS w(word, position)\n\
         GROUP BY word, window_start, window_end;";
    for parallelism in [1, 2] {
        let script = format!(
            "SET 'parallelism.default' = '{parallelism}';\n{FUNCTIONS}{}{query}",
            table(&input)
        );
        let mut rows = sql_json_rows(&script);
        rows.sort_by_key(|r| r.to_string());
        assert_eq!(
            rows.len(),
            expected.len(),
            "p={parallelism}: one row per word and window"
        );
        let differing = rows.iter().zip(&expected).find(|(row, want)| row != want);
        assert!(
            differing.is_none(),
            "p={parallelism}: a row differs from the reference: {differing:?}"
        );
    }
}

#[test]
fn a_left_join_lateral_keeps_rows_without_output_and_errors_name_their_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "{\"id\":1,\"text\":\"a b\",\"ts\":0}\n{\"id\":2,\"text\":\"\",\"ts\":1}\n{\"id\":3,\"text\":\"c\",\"ts\":2}\n";
    let input = dir.path().join("lines.jsonl");
    std::fs::write(&input, text).expect("write lines");
    let table = format!(
        "CREATE TABLE lines (id BIGINT, text STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = 'filesystem', 'path' = '{}');\n",
        input.display()
    );
    let run = |query: &str, code: i32| {
        weir(
            &["sql", "-q", "-e", &format!("{FUNCTIONS}{table}{query}")],
            &[],
            None,
        )
        .expect_code(code)
    };
    let cross = run(
        "SELECT id, word, position FROM lines CROSS JOIN LATERAL TABLE(split_words(text)) AS w(word, position);",
        0,
    );
    assert_eq!(
        cross.stdout.lines().collect::<Vec<_>>(),
        [
            r#"{"id":1,"word":"a","position":0}"#,
            r#"{"id":1,"word":"b","position":1}"#,
            r#"{"id":3,"word":"c","position":0}"#
        ]
    );
    let left = run(
        "SELECT id, UPPER(word) AS word FROM lines LEFT JOIN LATERAL TABLE(split_words(text)) AS w(word, position) ON TRUE WHERE id > 1;",
        0,
    );
    assert_eq!(
        left.stdout.lines().collect::<Vec<_>>(),
        [r#"{"id":2,"word":null}"#, r#"{"id":3,"word":"C"}"#]
    );
    // An argument of another type than the function declares is an error at its place.
    let wrong = run(
        "SELECT id, word FROM lines, LATERAL TABLE(split_words(id)) AS w(word, n);",
        2,
    );
    assert!(
        wrong.stderr.contains("line 5, column 55")
            && wrong.stderr.contains(
                "argument 1 of `split_words`: `id` is BIGINT, where a STRING is expected"
            ),
        "{}",
        wrong.stderr
    );
    // Planning mistakes name their line and column.
    let unknown = run(
        "SELECT id FROM lines,\n  LATERAL TABLE(split(text)) AS w(word);",
        2,
    );
    assert!(
        unknown.stderr.contains("line 6, column 17")
            && unknown.stderr.contains("unknown table function `split`"),
        "{}",
        unknown.stderr
    );
    let clash = run(
        "SELECT id FROM lines, LATERAL TABLE(split_words(text)) AS w(id);",
        2,
    );
    assert!(
        clash
            .stderr
            .contains("column `id` of split_words is also a column"),
        "{}",
        clash.stderr
    );
    let mixed = run(
        "SELECT id, COUNT(*) AS n, weighted_avg(id, 1) AS a FROM TABLE(TUMBLE(TABLE lines, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY id, window_start, window_end;",
        2,
    );
    assert!(mixed.stderr.contains("only aggregate"), "{}", mixed.stderr);
}

#[test]
fn a_c_scalar_function_reads_typed_arguments_and_names_a_wrong_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = crate::windows::bids(2000, 0);
    let input = crate::windows::write_bids(dir.path(), &bids);
    let script = |query: &str| {
        format!(
            "CREATE FUNCTION clamp_price AS 'udfs/c/clamp_price' LANGUAGE WASM;\n\
             CREATE TABLE bids (auction BIGINT, price BIGINT, ts BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}');\n{query}",
            input.display()
        )
    };
    let run = weir(
        &[
            "sql",
            "-q",
            "-e",
            &script("SELECT auction, clamp_price(price, 100, 900) AS p FROM bids;"),
        ],
        &[],
        None,
    )
    .expect_code(0);
    let expected: Vec<String> = bids
        .iter()
        .map(|(auction, price, _)| {
            format!(
                "{{\"auction\":{auction},\"p\":{}}}",
                price.clamp(&100, &900)
            )
        })
        .collect();
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), expected);
    let wrong = weir(
        &[
            "sql",
            "-q",
            "-e",
            &script("SELECT clamp_price(price, 'low', 900) AS p FROM bids;"),
        ],
        &[],
        None,
    )
    .expect_code(1);
    assert!(
        wrong
            .stderr
            .contains("argument 2 of clamp_price is \"low\", not a BIGINT"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn python_and_javascript_aggregate_functions_get_each_rows_arguments_per_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = crate::windows::bids(3000, 3);
    let input = crate::windows::write_bids(dir.path(), &bids);
    // Per (auction, window): lowest and highest price, and how many are above 500.
    let mut groups: BTreeMap<(i64, i64), (i64, i64, u64)> = BTreeMap::new();
    for &(auction, price, ts) in &bids {
        let group = groups
            .entry((auction, ts - ts.rem_euclid(1000)))
            .or_insert((price, price, 0));
        *group = (
            group.0.min(price),
            group.1.max(price),
            group.2 + u64::from(price > 500),
        );
    }
    let mut expected: Vec<String> = groups
        .into_iter()
        .map(|((auction, start), (low, high, above))| {
            format!(
                "{{\"auction\":{auction},\"window_start\":\"{}\",\"spread\":{},\"above\":{above}}}",
                weir_sql::timestamp_text(start),
                high - low
            )
        })
        .collect();
    expected.sort();
    // One aggregate from a module per query: the Python one, then the JavaScript one.
    let run = |function: &str, module: &str, call: &str| {
        let script = format!(
            "SET 'parallelism.default' = '2';\n\
             CREATE FUNCTION {function} AS '{module}' LANGUAGE WASM;\n{}\
             SELECT auction, window_start, {call}\n\
             FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND))\n\
             GROUP BY auction, window_start, window_end;",
            table(&input)
        );
        let mut rows = sql_json_rows(&script);
        rows.sort_by_key(|r| (r["auction"].as_i64(), r["window_start"].to_string()));
        rows
    };
    let spreads = run(
        "price_range",
        "udfs/python/price_range",
        "price_range(price) AS spread",
    );
    let above = run(
        "count_above",
        "udfs/js/count_above",
        "count_above(price, 500) AS above",
    );
    let mut rows: Vec<String> = spreads
        .iter()
        .zip(&above)
        .map(|(s, a)| {
            format!(
                "{{\"auction\":{},\"window_start\":{},\"spread\":{},\"above\":{}}}",
                s["auction"], s["window_start"], s["spread"], a["above"]
            )
        })
        .collect();
    rows.sort();
    assert!(expected.len() > 100, "{} groups", expected.len());
    assert_eq!(spreads.len(), expected.len());
    assert_eq!(above.len(), expected.len());
    assert_eq!(rows, expected);
}
