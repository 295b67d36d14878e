//! Currency conversion (map, Nexmark q1): a JSON bid gains `price_eur` = price * 908 / 1000.
//! Only `price` is read (the SDK's JSON fast path: one validating pass, no document); the rest
//! of the object is copied as it is.

use weir_sdk::Record;
use weir_sdk::json::{fields, int};

#[weir_sdk::map]
fn to_euro(bid: Record) -> Result<Vec<u8>, String> {
    let [price] = fields(bid.value(), ["price"])
        .map_err(|e| format!("not a bid with an integer price: {e}"))?;
    let price = price
        .and_then(int)
        .ok_or("not a bid with an integer price")?;
    let text = bid.value().trim_ascii_end();
    let Some(body) = text.strip_suffix(b"}") else {
        return Err("not a JSON object".into());
    };
    let mut out = Vec::with_capacity(text.len() + 24);
    out.extend_from_slice(body);
    out.extend_from_slice(b",\"price_eur\":");
    let eur = price.checked_mul(908).ok_or("price out of range")? / 1000;
    out.extend_from_slice(itoa::Buffer::new().format(eur).as_bytes());
    out.push(b'}');
    Ok(out)
}
