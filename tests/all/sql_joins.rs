//! Outer joins in SQL (`LEFT`, `RIGHT`, `FULL JOIN … ON`): the engine's regular join keeping a
//! side's unmatched rows. Their updating results, folded into their final tables, equal
//! references computed here, at parallelism 1 and 2 on both state backends.

use crate::sql::sql_json_rows;
use crate::sql_nexmark::sorted;
use crate::sql_nexmark_joins::final_table;
use serde_json::{Value, json};

/// `(key, value)` rows of a table.
type Rows = Vec<(i64, i64)>;

/// A row of the join: each side's row, or none.
type Pair = (Option<(i64, i64)>, Option<(i64, i64)>);

/// `(k, x)` rows of table `a` and `(k, y)` rows of table `b`: keys 0–39 and 20–69, several
/// rows per key, so some keys match on one side only.
fn sides() -> (Rows, Rows) {
    let a = (0..300).map(|i| (i % 40, i)).collect();
    let b = (0..200).map(|j| (20 + j % 50, j)).collect();
    (a, b)
}

fn lines(rows: &[(i64, i64)], value: &str) -> String {
    rows.iter()
        .map(|(k, v)| format!("{{\"k\":{k},\"{value}\":{v}}}\n"))
        .collect()
}

/// The pairs of `a` and `b` on `k`, and (when kept) each side's unmatched rows with `None`.
fn reference(keep_left: bool, keep_right: bool) -> Vec<Pair> {
    let (a, b) = sides();
    let mut pairs = Vec::new();
    for left in &a {
        let matched: Vec<_> = b.iter().filter(|r| r.0 == left.0).collect();
        pairs.extend(matched.iter().map(|r| (Some(*left), Some(**r))));
        if matched.is_empty() && keep_left {
            pairs.push((Some(*left), None));
        }
    }
    for right in &b {
        if keep_right && !a.iter().any(|l| l.0 == right.0) {
            pairs.push((None, Some(*right)));
        }
    }
    pairs
}

#[test]
fn left_right_and_full_joins_keep_unmatched_rows_with_nulls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = sides();
    let (a_path, b_path) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::write(&a_path, lines(&a, "x")).expect("a");
    std::fs::write(&b_path, lines(&b, "y")).expect("b");
    let tables = format!(
        "CREATE TABLE a (k BIGINT, x BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}');\n\
         CREATE TABLE b (k BIGINT, y BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}');\n",
        a_path.display(),
        b_path.display()
    );
    let value = |side: Option<(i64, i64)>, part: fn((i64, i64)) -> i64| {
        side.map_or(Value::Null, |s| json!(part(s)))
    };
    let (key, number) = (|s: (i64, i64)| s.0, |s: (i64, i64)| s.1);
    let left = sorted(
        reference(true, false)
            .into_iter()
            .map(|(l, r)| json!({"k": value(l, key), "x": value(l, number), "y": value(r, number)}))
            .collect(),
    );
    let right = sorted(
        reference(false, true)
            .into_iter()
            .filter(|(_, r)| r.is_some_and(|r| r.1 < 150))
            .map(|(l, r)| json!({"x": value(l, number), "k": value(r, key), "y": value(r, number)}))
            .collect(),
    );
    let full = sorted(
        reference(true, true)
            .into_iter()
            .map(|(l, r)| json!({"x": value(l, number), "y": value(r, number)}))
            .collect(),
    );
    assert!(left.iter().any(|r| r["y"].is_null()) && full.iter().any(|r| r["x"].is_null()));
    for (parallelism, backend) in [(1, "hashmap"), (2, "rocksdb"), (2, "hashmap")] {
        let settings = format!(
            "SET 'parallelism.default' = '{parallelism}';\nSET 'state.backend.type' = '{backend}';\n{tables}"
        );
        for (name, query, expected) in [
            (
                "LEFT",
                "SELECT a.k AS k, a.x AS x, b.y AS y FROM a LEFT JOIN b ON a.k = b.k",
                &left,
            ),
            (
                "RIGHT",
                "SELECT a.x, b.k, b.y FROM a RIGHT OUTER JOIN b ON a.k = b.k WHERE b.y < 150",
                &right,
            ),
            (
                "FULL",
                "SELECT a.x AS x, b.y AS y FROM a FULL OUTER JOIN b ON b.k = a.k",
                &full,
            ),
        ] {
            let rows = final_table(sql_json_rows(&format!("{settings}{query};")));
            assert_eq!(
                rows.len(),
                expected.len(),
                "{name} JOIN at p={parallelism} on {backend}"
            );
            assert!(
                rows == *expected,
                "{name} JOIN at p={parallelism} on {backend}: rows differ"
            );
        }
    }
}
