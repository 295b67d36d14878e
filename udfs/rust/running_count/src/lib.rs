//! Keyed state: after a `key_by`, emits for each record how many records of its key have been
//! seen so far (this one included), as `{"key":"<key>","count":N}`. The count lives in Weir's
//! keyed state, so it carries across batches.

use weir_sdk::Record;

#[weir_sdk::map]
fn running_count(record: Record) -> String {
    let seen = record
        .state("count")
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map_or(0, u64::from_le_bytes);
    let count = seen + 1;
    record.set_state("count", &count.to_le_bytes());
    let key = String::from_utf8_lossy(record.key().unwrap_or_default());
    format!("{{\"key\":\"{key}\",\"count\":{count}}}")
}
