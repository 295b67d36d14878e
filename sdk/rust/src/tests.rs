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

#[test]
fn sql_values_rows_and_arguments_read_and_write_as_sql_expects() {
    use crate::json::{Arguments, IntoJson, TableRows};
    assert_eq!(600.0f64.into_json().unwrap(), b"600.0");
    assert_eq!(2.5f64.into_json().unwrap(), b"2.5");
    assert_eq!(("a", 1i64).into_json().unwrap(), br#"["a",1]"#);
    let rows = vec![("x".to_string(), 0i64), ("y".to_string(), 1)]
        .into_rows()
        .unwrap();
    assert_eq!(rows, [br#"["x",0]"#.to_vec(), br#"["y",1]"#.to_vec()]);
    assert_eq!(
        <(i64, String)>::from_arguments(br#"[3,"b"]"#, "f"),
        Ok((3, "b".to_string()))
    );
    assert_eq!(
        <(i64, i64)>::from_arguments(br#"[3,"b"]"#, "f"),
        Err("argument 2 of f is \"b\", not a BIGINT".to_string())
    );
    assert_eq!(
        <(i64,)>::from_arguments(b"[1,2]", "f"),
        Err("f takes 1 argument(s), not 2".to_string())
    );
}

#[test]
fn a_sql_aggregate_leaves_its_accumulator_as_it_was_on_a_rejected_row() {
    use crate::{Aggregate, AggregateFunction, SqlAggregate};
    struct Positive;
    impl AggregateFunction for Positive {
        type Acc = (i64, i64);
        type Args = (i64,);
        type Output = i64;
        fn accumulate(acc: &mut (i64, i64), (x,): (i64,)) -> Result<(), String> {
            acc.1 += 1;
            acc.0 += x;
            if x < 0 {
                return Err(format!("{x} is negative"));
            }
            Ok(())
        }
        fn merge(acc: &mut (i64, i64), other: (i64, i64)) {
            acc.0 += other.0;
            acc.1 += other.1;
        }
        fn result(acc: &(i64, i64)) -> i64 {
            acc.0
        }
    }
    let mut acc = (0, 0);
    let add = |acc: &mut (i64, i64), value: &[u8]| {
        SqlAggregate::<Positive>::add(acc, Record::new(None, value, 0))
    };
    assert_eq!(add(&mut acc, b"[5]"), Ok(()));
    assert_eq!(add(&mut acc, b"[-2]"), Err("-2 is negative".to_string()));
    assert_eq!(acc, (5, 1));
    assert!(
        add(&mut acc, b"[\"x\"]")
            .unwrap_err()
            .contains("argument 1 of Positive")
    );
    assert_eq!(SqlAggregate::<Positive>::result(&acc), b"5");
}

#[test]
fn a_signature_request_is_answered_with_the_parameters_sql_types() {
    use crate::json::{SIGNATURE_REQUEST, is_signature_request, signature};
    assert!(is_signature_request(SIGNATURE_REQUEST));
    assert!(!is_signature_request(b"[1,2]"));
    assert_eq!(
        signature(&["BIGINT", "STRING"]),
        br#"{"args":["BIGINT","STRING"]}"#
    );
    assert_eq!(signature(&[]), br#"{"args":[]}"#);
}
