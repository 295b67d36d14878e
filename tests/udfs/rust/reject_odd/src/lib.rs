//! Rejects JSON records `{"n": odd}` as bad records (no trap); passes even ones unchanged.

use serde::Deserialize;
use weir_sdk::Record;

#[derive(Deserialize)]
struct Number {
    n: i64,
}

#[weir_sdk::map]
fn even_only(record: Record) -> Result<Vec<u8>, String> {
    let number: Number = serde_json::from_slice(record.value()).map_err(|e| format!("not {{\"n\": integer}}: {e}"))?;
    if number.n % 2 != 0 {
        return Err(format!("odd number {}", number.n));
    }
    Ok(record.value().to_vec())
}
