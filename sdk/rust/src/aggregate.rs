//! Aggregate functions: a typed accumulator per key, which the host stores as bytes.

use crate::Record;
use crate::json::{Arguments, IntoJson};
use std::fmt::Display;
use std::marker::PhantomData;

/// An aggregate function. The host keeps one accumulator per key; `add` folds records into it,
/// `merge` combines two (e.g. from two partial aggregates), `result` is the output per key.
pub trait Aggregate {
    /// The accumulator; `Default` is the accumulator of a key with no records yet.
    type Acc: Default + AccCodec;
    /// Why a record cannot be added (it is rejected; its accumulator is left unchanged).
    type Error: Display;
    /// Adds `record` to `acc`.
    fn add(acc: &mut Self::Acc, record: Record<'_>) -> Result<(), Self::Error>;
    /// Merges `other` into `acc`.
    fn merge(acc: &mut Self::Acc, other: Self::Acc);
    /// The output value for a key.
    fn result(acc: &Self::Acc) -> Vec<u8>;
}

/// An aggregate function SQL calls with typed arguments (`CREATE FUNCTION name AS 'module'
/// LANGUAGE WASM`, then `SELECT key, name(a, b) … GROUP BY key, window_start, window_end`), as
/// Flink's `AggregateFunction`: SQL passes each row's arguments, read as [`Self::Args`] (a
/// tuple such as `(i64,)` or `(i64, f64)`); an argument of another type rejects the row, naming
/// it. Export it with `#[weir_sdk::aggregate_function]`.
pub trait AggregateFunction {
    /// The accumulator; `Default` is the accumulator of a group with no rows yet.
    type Acc: Default + Clone + AccCodec;
    /// The arguments, a tuple of `i64`, `f64`, `bool`, `String` or an `Option` of one.
    type Args: Arguments;
    /// The result, written as JSON (`i64`, `f64`, `bool`, `String`, `Option`, tuples).
    type Output: IntoJson;
    /// Adds one row's arguments to `acc`; `Err` rejects the row, leaving `acc` unchanged.
    fn accumulate(acc: &mut Self::Acc, args: Self::Args) -> Result<(), String>;
    /// Merges `other` into `acc`.
    fn merge(acc: &mut Self::Acc, other: Self::Acc);
    /// The result of a group.
    fn result(acc: &Self::Acc) -> Self::Output;
}

/// An [`AggregateFunction`] as an [`Aggregate`] over records holding argument arrays: what
/// `#[weir_sdk::aggregate_function]` exports.
pub struct SqlAggregate<F>(PhantomData<F>);

impl<F: AggregateFunction> Aggregate for SqlAggregate<F> {
    type Acc = F::Acc;
    type Error = String;

    fn add(acc: &mut F::Acc, record: Record<'_>) -> Result<(), String> {
        let name = std::any::type_name::<F>()
            .rsplit("::")
            .next()
            .unwrap_or("aggregate");
        let args = F::Args::from_arguments(record.value(), name)?;
        // A rejected row leaves the accumulator as it was.
        let before = acc.clone();
        F::accumulate(acc, args).inspect_err(|_| *acc = before)
    }

    fn merge(acc: &mut F::Acc, other: F::Acc) {
        F::merge(acc, other);
    }

    fn result(acc: &F::Acc) -> Vec<u8> {
        match F::result(acc).into_json() {
            Ok(json) => json,
            Err(_) => b"null".to_vec(),
        }
    }
}

/// How an accumulator becomes the bytes the host stores, and back.
pub trait AccCodec: Sized {
    /// Appends the encoding of `self`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Decodes a value from the front of `bytes`, returning it and the bytes it used.
    fn decode(bytes: &[u8]) -> Option<(Self, usize)>;
}

macro_rules! fixed_codec {
    ($($ty:ty),*) => {$(
        impl AccCodec for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn decode(bytes: &[u8]) -> Option<(Self, usize)> {
                const N: usize = std::mem::size_of::<$ty>();
                let value = <$ty>::from_le_bytes(bytes.get(..N)?.try_into().ok()?);
                Some((value, N))
            }
        }
    )*};
}

fixed_codec!(u64, i64, f64, u32, i32);

macro_rules! tuple_codec {
    ($($name:ident),+) => {
        impl<$($name: AccCodec),+> AccCodec for ($($name,)+) {
            #[allow(non_snake_case)]
            fn encode(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode(out);)+
            }
            #[allow(non_snake_case)]
            fn decode(bytes: &[u8]) -> Option<(Self, usize)> {
                let mut used = 0;
                $(
                    let ($name, n) = $name::decode(bytes.get(used..)?)?;
                    used += n;
                )+
                Some((($($name,)+), used))
            }
        }
    };
}

tuple_codec!(A, B);
tuple_codec!(A, B, C);
tuple_codec!(A, B, C, D);

/// Decodes a whole accumulator; corrupt bytes are a host bug, reported by a trap naming it.
fn decode_exact<T: AccCodec>(bytes: &[u8]) -> T {
    match T::decode(bytes) {
        Some((value, used)) if used == bytes.len() => value,
        _ => panic!(
            "weir-sdk: accumulator bytes are corrupt ({} bytes that do not decode exactly)",
            bytes.len()
        ),
    }
}

/// The exports behind `#[aggregate]`.
pub(crate) mod glue {
    use super::{AccCodec, Aggregate, decode_exact};
    use crate::__private::{AddOutput, AggregateBatch, AggregateBlobs};
    use crate::batch::{BlobsBuilder, Columns, blob};
    use crate::bindings::aggregate::weir::udf::types::RecordError;

    fn decode_all<A: Aggregate>(accs: &AggregateBlobs) -> Vec<A::Acc> {
        (0..accs.ends.len())
            .map(|i| decode_exact(blob(&accs.data, &accs.ends, i)))
            .collect()
    }

    fn encode_all<T: AccCodec>(values: &[T]) -> AggregateBlobs {
        let mut out = BlobsBuilder::default();
        for value in values {
            value.encode(&mut out.data);
            out.push_end();
        }
        AggregateBlobs {
            data: out.data,
            ends: out.ends,
        }
    }

    /// `create-accumulator`.
    pub fn create_accumulator<A: Aggregate>() -> Vec<u8> {
        let mut out = Vec::new();
        A::Acc::default().encode(&mut out);
        out
    }

    /// `add`.
    pub fn add<A: Aggregate>(
        accumulators: AggregateBlobs,
        groups: Vec<u32>,
        input: AggregateBatch,
    ) -> AddOutput {
        let mut accs = decode_all::<A>(&accumulators);
        let records = Columns {
            data: &input.data,
            ends: &input.ends,
            timestamps: &input.timestamps,
            flags: &input.record_flags,
        };
        let mut errors = Vec::new();
        for i in 0..records.len() {
            let Some(acc) = groups.get(i).and_then(|&g| accs.get_mut(g as usize)) else {
                panic!(
                    "weir-sdk: record {i} names no accumulator ({} groups, {} accumulators)",
                    groups.len(),
                    accumulators.ends.len()
                );
            };
            if let Err(error) = A::add(acc, records.get(i)) {
                errors.push(RecordError {
                    index: i as u32,
                    message: error.to_string(),
                });
            }
        }
        AddOutput {
            accumulators: encode_all(&accs),
            errors,
        }
    }

    /// `merge`.
    pub fn merge<A: Aggregate>(left: AggregateBlobs, right: AggregateBlobs) -> AggregateBlobs {
        let mut lefts = decode_all::<A>(&left);
        for (acc, other) in lefts.iter_mut().zip(decode_all::<A>(&right)) {
            A::merge(acc, other);
        }
        encode_all(&lefts)
    }

    /// `get-result`.
    pub fn get_result<A: Aggregate>(accumulators: AggregateBlobs) -> AggregateBlobs {
        let mut out = BlobsBuilder::default();
        for acc in decode_all::<A>(&accumulators) {
            out.data.extend_from_slice(&A::result(&acc));
            out.push_end();
        }
        AggregateBlobs {
            data: out.data,
            ends: out.ends,
        }
    }
}
