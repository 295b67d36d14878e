//! Never returns: the host's time limit must stop it.

use weir_sdk::Record;

#[weir_sdk::map]
fn spin(record: Record) -> Vec<u8> {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(record.value().len() as u64 + 1));
        if std::hint::black_box(counter) == 0 {
            return record.value().to_vec();
        }
    }
}
