//! Counts each key's records in keyed state like running_count, but after it has written the
//! new count panics on a value containing `poison` (a trap) and reports a value containing
//! `reject` as a bad record (an `Err`): either way with state already changed, which must leave
//! no state behind.

use weir_sdk::Record;

#[weir_sdk::map]
fn count_then_trap(record: Record) -> Result<String, String> {
    let seen = record
        .state("count")
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map_or(0, u64::from_le_bytes);
    let count = seen + 1;
    record.set_state("count", &count.to_le_bytes());
    if record.value().windows(6).any(|w| w == b"poison") {
        panic!("poison record after its state write");
    }
    if record.value().windows(6).any(|w| w == b"reject") {
        return Err("rejected after its state write".into());
    }
    let key = String::from_utf8_lossy(record.key().unwrap_or_default());
    Ok(format!("{{\"key\":\"{key}\",\"count\":{count}}}"))
}
