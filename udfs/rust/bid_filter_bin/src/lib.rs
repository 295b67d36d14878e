//! Bid selection over the benchmark's compact bids (filter): `auction % 123 == 0 || price > 500`,
//! reading the first 24 bytes (so converted 32-byte bids work too).

use weir_sdk::Record;

fn u64_at(value: &[u8], index: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&value[index * 8..index * 8 + 8]);
    u64::from_le_bytes(bytes)
}

#[weir_sdk::filter]
fn selected(bid: Record) -> Result<bool, String> {
    let value = bid.value();
    if value.len() != 24 && value.len() != 32 {
        return Err(format!("a bid is 24 or 32 bytes, not {}", value.len()));
    }
    Ok(u64_at(value, 0).is_multiple_of(123) || u64_at(value, 2) > 500)
}
