//! Currency conversion over the benchmark's compact bids (map): 24 bytes in (auction, bidder,
//! price as little-endian u64), 32 bytes out (the same plus price_eur = price * 908 / 1000).

use weir_sdk::Record;

#[weir_sdk::map]
fn to_euro(bid: Record) -> Result<[u8; 32], String> {
    let value: &[u8; 24] = bid.value().try_into().map_err(|_| format!("a bid is 24 bytes, not {}", bid.value().len()))?;
    let price = u64::from_le_bytes([value[16], value[17], value[18], value[19], value[20], value[21], value[22], value[23]]);
    let mut out = [0u8; 32];
    out[..24].copy_from_slice(value);
    out[24..].copy_from_slice(&(price * 908 / 1000).to_le_bytes());
    Ok(out)
}
