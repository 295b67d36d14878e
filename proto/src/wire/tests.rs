use super::*;

fn sample() -> RecordBatch {
    let mut batch = RecordBatch::default();
    batch.push(Some(b"k"), b"hello", 7);
    batch.push(None, b"ab", 9);
    batch
}

#[test]
fn records_read_in_place_equal_the_originals() {
    let bytes = encode(&WireElement::Records(sample())).expect("encode");
    let ArchivedWireElement::Records(batch) = decode(&bytes).expect("decode") else {
        panic!("expected records");
    };
    let original = sample();
    assert_eq!(
        batch.iter().collect::<Vec<_>>(),
        original.iter().collect::<Vec<_>>()
    );
    let watermark = encode(&WireElement::Watermark(42)).expect("encode");
    assert!(
        matches!(decode(&watermark), Ok(ArchivedWireElement::Watermark(w)) if w.to_native() == 42)
    );
}

#[test]
fn a_batch_with_offsets_past_its_data_is_refused() {
    let mut bad = sample();
    bad.ends[3] = 1000;
    let bytes = encode(&WireElement::Records(bad)).expect("encode");
    assert!(matches!(
        decode(&bytes),
        Err(WireError::Layout(BatchLayoutError::BadOffset {
            record: 1,
            ..
        }))
    ));
}

#[test]
fn truncated_or_corrupted_bytes_are_errors_never_panics() {
    let bytes = encode(&WireElement::Records(sample())).expect("encode");
    for len in 0..bytes.len() {
        let mut truncated = AlignedVec::<16>::new();
        truncated.extend_from_slice(&bytes[..len]);
        let _ = decode(&truncated);
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..2000 {
        let mut corrupt = AlignedVec::<16>::new();
        corrupt.extend_from_slice(&bytes);
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let at = (state % corrupt.len() as u64) as usize;
        corrupt[at] ^= (state >> 32) as u8 | 1;
        if let Ok(ArchivedWireElement::Records(batch)) = decode(&corrupt) {
            // Whatever survived the checks must be safe to read in full.
            for record in batch.iter() {
                let _ = (record.key, record.value, record.timestamp);
            }
        }
    }
}
