//! `running_count`, upgraded: the same `count` state (so a job resumed from a savepoint of
//! `running_count` keeps counting where it was), plus the highest `seq` field seen since, as
//! `{"key":"<key>","count":N,"max_seq":M}`. Weir restores state by step name, not by module,
//! so the new version takes over the old one's state.

use weir_sdk::Record;

fn read_u64(bytes: Option<Vec<u8>>) -> Option<u64> {
    bytes
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map(u64::from_le_bytes)
}

#[weir_sdk::map]
fn running_count_max(record: Record) -> String {
    let count = read_u64(record.state("count")).unwrap_or(0) + 1;
    record.set_state("count", &count.to_le_bytes());
    let seq = serde_json::from_slice::<serde_json::Value>(record.value())
        .ok()
        .and_then(|value| value["seq"].as_u64());
    let max = match (read_u64(record.state("max_seq")), seq) {
        (Some(held), Some(seq)) => Some(held.max(seq)),
        (held, seq) => held.or(seq),
    };
    if let Some(max) = max {
        record.set_state("max_seq", &max.to_le_bytes());
    }
    let key = String::from_utf8_lossy(record.key().unwrap_or_default());
    let max = max.map_or("null".to_string(), |m| m.to_string());
    format!("{{\"key\":\"{key}\",\"count\":{count},\"max_seq\":{max}}}")
}
