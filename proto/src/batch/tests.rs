use super::*;

fn sample() -> RecordBatch {
    let mut batch = RecordBatch::default();
    batch.push(Some(b"k1"), b"value one", 10);
    batch.push(None, b"no key", 20);
    batch.push(Some(b""), b"", 30);
    batch
}

#[test]
fn records_read_back_as_pushed() {
    let batch = sample();
    let records: Vec<_> = batch.iter().collect();
    assert_eq!(
        records,
        vec![
            RecordRef {
                key: Some(b"k1"),
                value: b"value one",
                timestamp: 10
            },
            RecordRef {
                key: None,
                value: b"no key",
                timestamp: 20
            },
            RecordRef {
                key: Some(b""),
                value: b"",
                timestamp: 30
            },
        ]
    );
    assert_eq!(batch.ends, vec![2, 11, 11, 17, 17, 17]);
    batch.validate().expect("a pushed batch is valid");
}

#[test]
fn validate_rejects_offsets_past_the_data() {
    let mut batch = sample();
    batch.ends[3] = 1000;
    assert!(matches!(
        batch.validate(),
        Err(BatchLayoutError::BadOffset { record: 1, .. })
    ));
}

#[test]
fn validate_rejects_mismatched_columns() {
    let mut batch = sample();
    batch.flags.pop();
    assert!(matches!(
        batch.validate(),
        Err(BatchLayoutError::ColumnLengths { .. })
    ));
}

#[test]
fn validate_rejects_a_key_range_on_a_keyless_record() {
    let mut batch = sample();
    batch.flags[0] = 0;
    assert!(matches!(
        batch.validate(),
        Err(BatchLayoutError::BadFlags { record: 0, .. })
    ));
}

#[test]
fn retain_mask_keeps_order_and_content() {
    let mut batch = sample();
    batch.retain_mask(&[true, false, true]);
    let values: Vec<_> = batch.iter().map(|r| r.value.to_vec()).collect();
    assert_eq!(values, vec![b"value one".to_vec(), Vec::new()]);
    batch.validate().expect("valid");
}

#[test]
fn append_shifts_offsets() {
    let mut batch = sample();
    batch.append(&sample());
    assert_eq!(batch.len(), 6);
    assert_eq!(
        batch.get(3),
        RecordRef {
            key: Some(b"k1"),
            value: b"value one",
            timestamp: 10
        }
    );
    assert_eq!(
        batch.get(4),
        RecordRef {
            key: None,
            value: b"no key",
            timestamp: 20
        }
    );
    batch.validate().expect("valid");
}
