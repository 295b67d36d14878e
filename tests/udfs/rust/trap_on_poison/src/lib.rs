//! Passes values through, but panics (traps) on a value containing `poison`.

use weir_sdk::Record;

#[weir_sdk::map]
fn pass_unless_poison(record: Record) -> Vec<u8> {
    let value = record.value();
    if value.windows(6).any(|w| w == b"poison") {
        panic!("poison record: {}", String::from_utf8_lossy(value));
    }
    value.to_vec()
}
