//! Key selector: the `auction` of a JSON bid, as decimal text.

use serde::Deserialize;
use weir_sdk::Record;

#[derive(Deserialize)]
struct Bid {
    auction: i64,
}

#[weir_sdk::key_selector]
fn auction(bid: Record) -> Result<String, String> {
    let bid: Bid = serde_json::from_slice(bid.value()).map_err(|e| format!("not a bid: {e}"))?;
    Ok(bid.auction.to_string())
}
