//! Map, list and reducing state: after a `key_by` on the auction, emits for each bid how many
//! distinct bidders and bids its auction has had so far, its highest and total price, as
//! `{"key":"<auction>","distinct":D,"bids":N,"max_bid_of_bidder":M,"highest":H,"total":T}`.
//! Bidders are a map (bidder → their highest price so far), prices a list, highest and total
//! reducing state (folded by the host): all live in Weir's keyed state.

use weir_sdk::Record;

fn field(value: &str, name: &str) -> Option<i64> {
    let start = value.find(&format!("\"{name}\":"))? + name.len() + 3;
    let digits: String = value[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}

#[weir_sdk::map]
fn distinct_bidders(record: Record) -> Result<String, String> {
    let value = record.value_str().map_err(|e| e.to_string())?;
    let bidder = field(value, "bidder").ok_or("no bidder")?;
    let price = field(value, "price").ok_or("no price")?;
    let best = record
        .map_get("bidders", &bidder.to_le_bytes())
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(price, |b| i64::from_le_bytes(b).max(price));
    record.map_put("bidders", &bidder.to_le_bytes(), &best.to_le_bytes());
    record.list_append("prices", &price.to_le_bytes());
    record.reduce_max("highest", price);
    record.reduce_sum("total", price);
    let distinct = record.map_entries("bidders").len();
    let bids = record.list("prices").len();
    let (highest, total) = (record.reduced("highest"), record.reduced("total"));
    let (highest, total) = (highest.ok_or("no highest")?, total.ok_or("no total")?);
    let key = String::from_utf8_lossy(record.key().unwrap_or_default());
    Ok(format!(
        "{{\"key\":\"{key}\",\"distinct\":{distinct},\"bids\":{bids},\"max_bid_of_bidder\":{best},\"highest\":{highest},\"total\":{total}}}"
    ))
}
