//! Counts each key's records in keyed state like running_count, but panics on a value
//! containing `poison` after it has written the new count: a trap with state already changed,
//! which must leave no state behind.

use weir_sdk::Record;

#[weir_sdk::map]
fn count_then_trap(record: Record) -> String {
    let seen = record
        .state("count")
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map_or(0, u64::from_le_bytes);
    let count = seen + 1;
    record.set_state("count", &count.to_le_bytes());
    if record.value().windows(6).any(|w| w == b"poison") {
        panic!("poison record after its state write");
    }
    let key = String::from_utf8_lossy(record.key().unwrap_or_default());
    format!("{{\"key\":\"{key}\",\"count\":{count}}}")
}
