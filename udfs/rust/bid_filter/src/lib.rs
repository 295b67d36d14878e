//! Bid selection (filter, Nexmark q2-like): keeps JSON bids with `auction % 123 == 0` or
//! `price > 500`.

use serde::Deserialize;
use weir_sdk::Record;

#[derive(Deserialize)]
struct Bid {
    auction: i64,
    price: i64,
}

#[weir_sdk::filter]
fn selected(bid: Record) -> Result<bool, String> {
    let bid: Bid = serde_json::from_slice(bid.value()).map_err(|e| format!("not a bid: {e}"))?;
    Ok(bid.auction % 123 == 0 || bid.price > 500)
}
