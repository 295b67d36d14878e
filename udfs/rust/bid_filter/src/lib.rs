//! Bid selection (filter, Nexmark q2-like): keeps JSON bids with `auction % 123 == 0` or
//! `price > 500`. Reads the two members with the SDK's JSON fast path, building no document.

use weir_sdk::Record;
use weir_sdk::json::{fields, int};

#[weir_sdk::filter]
fn selected(bid: Record) -> Result<bool, String> {
    let [auction, price] =
        fields(bid.value(), ["auction", "price"]).map_err(|e| format!("not a bid: {e}"))?;
    let integer = |name: &str, raw: Option<&str>| {
        raw.and_then(int)
            .ok_or_else(|| format!("not a bid: `{name}` is not an integer"))
    };
    Ok(integer("auction", auction)? % 123 == 0 || integer("price", price)? > 500)
}
