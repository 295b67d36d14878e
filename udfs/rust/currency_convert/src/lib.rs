//! Currency conversion (map, Nexmark q1): a JSON bid gains `price_eur` = price * 908 / 1000.
//! Only `price` is parsed; the rest of the object is copied as it is.

use serde::Deserialize;
use weir_sdk::Record;

#[derive(Deserialize)]
struct Bid {
    price: i64,
}

#[weir_sdk::map]
fn to_euro(bid: Record) -> Result<Vec<u8>, String> {
    let parsed: Bid = serde_json::from_slice(bid.value()).map_err(|e| format!("not a bid with an integer price: {e}"))?;
    let text = bid.value().trim_ascii_end();
    let Some(body) = text.strip_suffix(b"}") else {
        return Err("not a JSON object".into());
    };
    let mut out = Vec::with_capacity(text.len() + 24);
    out.extend_from_slice(body);
    out.extend_from_slice(format!(",\"price_eur\":{}}}", parsed.price * 908 / 1000).as_bytes());
    Ok(out)
}
