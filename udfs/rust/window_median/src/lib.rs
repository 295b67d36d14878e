//! A whole-window function: called once per key and window with all of the window's bids, it
//! emits `{"key":<key>,"window_end":E,"bids":N,"median_price":M}` — a median needs every value
//! at once, which no incremental aggregate gives. Each record carries the window's last
//! millisecond as its timestamp, so `window_end` is that plus one.

use weir_sdk::Record;

fn price(record: &Record) -> Option<i64> {
    let value = record.value_str().ok()?;
    let start = value.find("\"price\":")? + 8;
    let digits: String = value[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}

#[weir_sdk::window]
fn window_median(records: &[Record]) -> Vec<String> {
    let mut prices: Vec<i64> = records.iter().filter_map(price).collect();
    prices.sort_unstable();
    let (Some(first), Some(&median)) = (records.first(), prices.get((prices.len() - 1) / 2)) else {
        return Vec::new();
    };
    let key = String::from_utf8_lossy(first.key().unwrap_or_default()).into_owned();
    vec![format!(
        "{{\"key\":{key},\"window_end\":{},\"bids\":{},\"median_price\":{median}}}",
        first.timestamp() + 1,
        records.len()
    )]
}
