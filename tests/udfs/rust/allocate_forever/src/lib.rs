//! Allocates and touches memory until the host's memory limit stops it.

use weir_sdk::Record;

#[weir_sdk::map]
fn hoard(record: Record) -> Vec<u8> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 1 << 20];
        block[record.value().len() % (1 << 20)] = 1;
        hoard.push(std::hint::black_box(block));
        if std::hint::black_box(hoard.len()) == usize::MAX {
            return record.value().to_vec();
        }
    }
}
