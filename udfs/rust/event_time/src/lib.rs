//! Event time from a Wasm function: a map that gives each record the time in its `ts` field (ms
//! since the epoch) as its timestamp, value unchanged. A `watermark:` step after it (without
//! `timestamp_field`) then generates watermarks from these timestamps — the way to take event
//! time from anything a UDF can compute (a log line's date, a nested field, a unit conversion).

use weir_sdk::{Out, Record};

#[weir_sdk::map]
fn event_time(record: Record) -> Result<Out, String> {
    let value = record.value_str().map_err(|e| e.to_string())?;
    let start = value.find("\"ts\":").ok_or("no ts field")? + 5;
    let digits: String = value[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    let ts: i64 = digits.parse().map_err(|_| format!("ts is not a number: {digits:?}"))?;
    Ok(Out::value(value.as_bytes()).with_timestamp(ts))
}
