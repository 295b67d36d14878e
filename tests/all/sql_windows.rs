//! Flink's CUMULATE windows in SQL: each period's running counts and maxima at every step equal
//! a reference over the same bids, at p=1 on the heap and p=2 on RocksDB.

use crate::harness::weir;
use std::collections::BTreeMap;

#[test]
fn cumulate_gives_each_periods_running_results_at_every_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bids = crate::windows::bids(3000, 3);
    let input = crate::windows::write_bids(dir.path(), &bids);
    // (auction, period start, window end) → (count, max price), windows [start, start + 250k).
    let mut windows: BTreeMap<(i64, i64, i64), (u64, i64)> = BTreeMap::new();
    for &(auction, price, ts) in &bids {
        let start = ts - ts.rem_euclid(1000);
        for k in (ts - start) / 250 + 1..=4 {
            let window = windows
                .entry((auction, start, start + 250 * k))
                .or_insert((0, 0));
            *window = (window.0 + 1, window.1.max(price));
        }
    }
    let mut expected: Vec<String> = windows
        .into_iter()
        .map(|((auction, start, end), (count, max))| {
            format!(
                "{{\"auction\":{auction},\"window_start\":\"{}\",\"window_end\":\"{}\",\"bids\":{count},\"top\":{max}}}",
                weir_sql::timestamp_text(start),
                weir_sql::timestamp_text(end)
            )
        })
        .collect();
    expected.sort();
    assert!(expected.len() > 500, "{} windows", expected.len());
    for (parallelism, backend) in [(1, "hashmap"), (2, "rocksdb")] {
        let script = format!(
            "SET 'parallelism.default' = '{parallelism}';\nSET 'state.backend.type' = '{backend}';\n\
             CREATE TABLE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '50' MILLISECOND)\n  WITH ('connector' = 'filesystem', 'path' = '{}');\n\
             SELECT auction, window_start, window_end, COUNT(*) AS bids, MAX(price) AS top\n\
             FROM TABLE(CUMULATE(TABLE bids, DESCRIPTOR(ts), INTERVAL '250' MILLISECOND, INTERVAL '1' SECOND))\n\
             GROUP BY auction, window_start, window_end;",
            input.display()
        );
        let run = weir(&["sql", "-q", "-e", &script], &[], None).expect_code(0);
        let mut rows: Vec<String> = run.stdout.lines().map(str::to_string).collect();
        rows.sort();
        assert_eq!(
            rows.len(),
            expected.len(),
            "p={parallelism} {backend}: one row per window"
        );
        assert!(
            rows == expected,
            "p={parallelism} {backend}: the windows differ from the reference"
        );
    }
    let uneven = format!(
        "CREATE TABLE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)\n  WITH ('connector' = 'filesystem', 'path' = '{}');\n\
         SELECT auction, window_start, window_end, COUNT(*) AS n\n\
         FROM TABLE(CUMULATE(TABLE bids, DESCRIPTOR(ts), INTERVAL '300' MILLISECOND, INTERVAL '1' SECOND))\n\
         GROUP BY auction, window_start, window_end;",
        input.display()
    );
    let refused = weir(&["sql", "-q", "-e", &uneven], &[], None).expect_code(2);
    assert!(
        refused.stderr.contains("line 4") && refused.stderr.contains("whole number of its steps"),
        "{}",
        refused.stderr
    );
}
