//! A keyed process function: sessions of activity per key, like a session window written by
//! hand. Each record's event time goes into list state; one event-time timer per key waits for
//! the latest time plus the gap. When it fires, the key's times are cut into sessions (records
//! closer than the gap belong together) and every session that has ended by then is emitted as
//! `{"bidder":<key>,"window_start":s,"window_end":e,"bids":n}` — what Nexmark q11 computes with
//! a session window.

use weir_sdk::{Process, Record};

/// Inactivity that ends a session, ms.
const GAP: i64 = 10_000;

fn read_i64(bytes: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(bytes.try_into().ok()?))
}

#[weir_sdk::process]
struct Sessionizer;

impl Process for Sessionizer {
    fn process(record: Record) -> Vec<String> {
        let time = record.timestamp();
        record.list_append("times", &time.to_le_bytes());
        let latest = record.state("latest").and_then(|b| read_i64(&b));
        if latest.is_none_or(|latest| time > latest) {
            if let Some(latest) = latest {
                record.delete_event_timer(latest + GAP - 1);
            }
            record.set_state("latest", &time.to_le_bytes());
            record.register_event_timer(time + GAP - 1);
        }
        Vec::new()
    }

    fn on_timer(timer: Record) -> Vec<String> {
        let mut times: Vec<i64> = timer
            .list("times")
            .iter()
            .filter_map(|b| read_i64(b))
            .collect();
        times.sort_unstable();
        let key = String::from_utf8_lossy(timer.key().unwrap_or_default()).into_owned();
        let (mut sessions, mut open) = (Vec::new(), Vec::new());
        let mut i = 0;
        while i < times.len() {
            let (start, mut last, mut j) = (times[i], times[i], i + 1);
            while j < times.len() && times[j] < last + GAP {
                last = times[j];
                j += 1;
            }
            if last + GAP - 1 <= timer.timestamp() {
                sessions.push(format!(
                    "{{\"bidder\":{key},\"window_start\":{start},\"window_end\":{},\"bids\":{}}}",
                    last + GAP,
                    j - i
                ));
            } else {
                open.extend_from_slice(&times[i..j]);
            }
            i = j;
        }
        timer.clear_state("times");
        for time in &open {
            timer.list_append("times", &time.to_le_bytes());
        }
        if open.is_empty() {
            timer.clear_state("latest");
        }
        sessions
    }
}
