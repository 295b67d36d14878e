//! Aggregate: per key, the number of JSON bids and the sum of their `price`, as
//! `{"count":N,"sum":S}`.

use serde::Deserialize;
use weir_sdk::{Aggregate, Record};

#[derive(Deserialize)]
struct Bid {
    price: i64,
}

#[weir_sdk::aggregate]
struct SumCount;

impl Aggregate for SumCount {
    type Acc = (u64, i64);
    type Error = String;

    fn add(acc: &mut (u64, i64), record: Record) -> Result<(), String> {
        let bid: Bid = serde_json::from_slice(record.value()).map_err(|e| format!("not a bid with a price: {e}"))?;
        acc.0 += 1;
        acc.1 += bid.price;
        Ok(())
    }

    fn merge(acc: &mut (u64, i64), other: (u64, i64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }

    fn result(acc: &(u64, i64)) -> Vec<u8> {
        format!("{{\"count\":{},\"sum\":{}}}", acc.0, acc.1).into_bytes()
    }
}
