use crate::__private::{TransformBatch, run_filter, run_flat_map, run_map};
use crate::{AccCodec, Out, Record};

/// A record as a test writes it: key, value, timestamp.
type Row<'a> = (Option<&'a [u8]>, &'a [u8], i64);

fn batch(records: &[Row<'_>]) -> TransformBatch {
    let mut b = crate::batch::Builder::default();
    for (key, value, ts) in records {
        b.push(*key, value, *ts);
    }
    TransformBatch {
        data: b.data,
        ends: b.ends,
        timestamps: b.timestamps,
        record_flags: b.flags,
    }
}

fn records(batch: &TransformBatch) -> Vec<(Option<Vec<u8>>, Vec<u8>, i64)> {
    let columns = crate::batch::Columns {
        data: &batch.data,
        ends: &batch.ends,
        timestamps: &batch.timestamps,
        flags: &batch.record_flags,
    };
    (0..columns.len())
        .map(|i| columns.get(i))
        .map(|r| {
            (
                r.key().map(<[u8]>::to_vec),
                r.value().to_vec(),
                r.timestamp(),
            )
        })
        .collect()
}

#[test]
fn map_keeps_keys_absent_empty_and_present() {
    let input = batch(&[(Some(b"k"), b"a", 1), (None, b"b", 2), (Some(b""), b"", 3)]);
    let out = run_map(input, |r: Record<'_>| {
        format!("{}!", r.value_str().unwrap_or("?"))
    });
    assert!(out.errors.is_empty());
    assert_eq!(
        records(&out.output),
        vec![
            (Some(b"k".to_vec()), b"a!".to_vec(), 1),
            (None, b"b!".to_vec(), 2),
            (Some(Vec::new()), b"!".to_vec(), 3)
        ]
    );
}

#[test]
fn errors_name_the_record_and_produce_no_output() {
    let input = batch(&[(None, b"1", 0), (None, b"x", 0), (None, b"3", 0)]);
    let out = run_map(input, |r: Record<'_>| {
        r.value_str()
            .map_err(|e| e.to_string())?
            .parse::<u32>()
            .map(|n| (n * 2).to_string())
            .map_err(|e| e.to_string())
    });
    assert_eq!(
        records(&out.output)
            .iter()
            .map(|r| r.1.clone())
            .collect::<Vec<_>>(),
        vec![b"2".to_vec(), b"6".to_vec()]
    );
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].index, 1);
}

#[test]
fn flat_map_emits_zero_to_many_and_out_sets_key_and_time() {
    let input = batch(&[(None, b"a b", 5), (None, b"", 6)]);
    let out = run_flat_map(input, |r: Record<'_>| -> Vec<Out> {
        r.value_str()
            .unwrap_or("")
            .split_whitespace()
            .map(|w| Out::value(w).with_key(w).with_timestamp(9))
            .collect()
    });
    assert_eq!(
        records(&out.output),
        vec![
            (Some(b"a".to_vec()), b"a".to_vec(), 9),
            (Some(b"b".to_vec()), b"b".to_vec(), 9)
        ]
    );
}

#[test]
fn filter_keeps_a_subset_in_order() {
    let input = batch(&[(None, b"1", 0), (Some(b"k"), b"22", 1), (None, b"333", 2)]);
    let out = run_filter(input, |r: Record<'_>| r.value().len() != 2);
    assert_eq!(
        records(&out.output),
        vec![(None, b"1".to_vec(), 0), (None, b"333".to_vec(), 2)]
    );
}

#[test]
fn accumulators_round_trip_and_reject_garbage() {
    let mut bytes = Vec::new();
    (7u64, -3i64, 1.5f64).encode(&mut bytes);
    assert_eq!(<(u64, i64, f64)>::decode(&bytes), Some(((7, -3, 1.5), 24)));
    assert_eq!(<(u64, i64)>::decode(&bytes[..10]), None);
}
