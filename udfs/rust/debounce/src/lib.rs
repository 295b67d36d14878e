//! A keyed process function on processing time: each record of a key moves the key's one
//! processing-time timer to 300 ms after the record's (ingestion) time, deleting the earlier
//! timer; when a key has been quiet that long, its timer fires and emits
//! `{"key":<key>,"records":N}` for the burst. A debouncer: one output per burst, not per record.

use weir_sdk::{Process, Record};

/// Quiet time that ends a burst, ms.
const QUIET: i64 = 300;

fn read_i64(bytes: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(bytes.try_into().ok()?))
}

#[weir_sdk::process]
struct Debounce;

impl Process for Debounce {
    fn process(record: Record) -> Vec<String> {
        if let Some(due) = record.state("due").and_then(|b| read_i64(&b)) {
            record.delete_processing_timer(due);
        }
        let due = record.timestamp() + QUIET;
        record.register_processing_timer(due);
        record.set_state("due", &due.to_le_bytes());
        record.reduce_sum("records", 1);
        Vec::new()
    }

    fn on_timer(timer: Record) -> Vec<String> {
        let records = timer.reduced("records").unwrap_or(0);
        timer.clear_state("records");
        timer.clear_state("due");
        let key = String::from_utf8_lossy(timer.key().unwrap_or_default()).into_owned();
        vec![format!("{{\"key\":{key},\"records\":{records}}}")]
    }
}
