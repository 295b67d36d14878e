//! Built-in accumulators as bytes, for the RocksDB backend: the encoding, and the merge that
//! RocksDB runs to fold partial accumulators written without a read.
//!
//! Each accumulator is a tag byte and a fixed payload (little-endian): count `0 u64`, sum
//! `1 number`, min `2 option<number>`, max `3 option<number>`, avg `4 f64 u64`, max_by
//! `5 option<number> u32 (u32 bytes)*`; a number is `0 i64` or `1 f64`, an absent one `0xff`.

use super::builtin::Acc;
use crate::json::Number;
use weir_state::MergeOperands;

/// The name RocksDB records for the merge operator (it must not change for a stored format).
pub(super) const MERGE_NAME: &str = "weir-builtin-accumulators-v1";

fn push_number(out: &mut Vec<u8>, number: Option<Number>) {
    match number {
        Some(Number::Int(i)) => {
            out.push(0);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Some(Number::Float(f)) => {
            out.push(1);
            out.extend_from_slice(&f.to_le_bytes());
        }
        None => out.push(0xff),
    }
}

/// Appends `accs` to `out`.
pub(super) fn encode(accs: &[Acc], out: &mut Vec<u8>) {
    for acc in accs {
        match *acc {
            Acc::MaxBy(max, ref records) => {
                out.push(5);
                push_number(out, max);
                out.extend_from_slice(&(records.len() as u32).to_le_bytes());
                for record in records {
                    out.extend_from_slice(&(record.len() as u32).to_le_bytes());
                    out.extend_from_slice(record);
                }
            }
            Acc::Count(n) => {
                out.push(0);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Acc::Sum(sum) => {
                out.push(1);
                push_number(out, Some(sum));
            }
            Acc::Min(min) => {
                out.push(2);
                push_number(out, min);
            }
            Acc::Max(max) => {
                out.push(3);
                push_number(out, max);
            }
            Acc::Avg(sum, n) => {
                out.push(4);
                out.extend_from_slice(&sum.to_le_bytes());
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
    }
}

/// Reads bytes in order; every read fails cleanly at the end of input.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn eight(&mut self) -> Option<[u8; 8]> {
        let bytes = self.0.get(..8)?.try_into().ok()?;
        self.0 = &self.0[8..];
        Some(bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        let bytes = self.0.get(..4)?.try_into().ok()?;
        self.0 = &self.0[4..];
        Some(u32::from_le_bytes(bytes))
    }

    fn bytes(&mut self, len: usize) -> Option<&[u8]> {
        let bytes = self.0.get(..len)?;
        self.0 = &self.0[len..];
        Some(bytes)
    }

    fn number(&mut self) -> Option<Option<Number>> {
        match self.byte()? {
            0 => Some(Some(Number::Int(i64::from_le_bytes(self.eight()?)))),
            1 => Some(Some(Number::Float(f64::from_le_bytes(self.eight()?)))),
            0xff => Some(None),
            _ => None,
        }
    }
}

/// The accumulators in `bytes`; `None` if they are malformed.
pub(super) fn decode(bytes: &[u8]) -> Option<Vec<Acc>> {
    let mut reader = Reader(bytes);
    let mut accs = Vec::new();
    while !reader.0.is_empty() {
        accs.push(match reader.byte()? {
            0 => Acc::Count(u64::from_le_bytes(reader.eight()?)),
            1 => Acc::Sum(reader.number()??),
            2 => Acc::Min(reader.number()?),
            3 => Acc::Max(reader.number()?),
            4 => Acc::Avg(
                f64::from_le_bytes(reader.eight()?),
                u64::from_le_bytes(reader.eight()?),
            ),
            5 => {
                let max = reader.number()?;
                let count = reader.u32()?;
                let mut records = Vec::new();
                for _ in 0..count {
                    let len = reader.u32()? as usize;
                    records.push(reader.bytes(len)?.to_vec());
                }
                Acc::MaxBy(max, records)
            }
            _ => return None,
        });
    }
    Some(accs)
}

/// RocksDB's merge of accumulators: the stored value (if any) with every operand folded in.
/// `None` (malformed bytes) makes RocksDB report the entry as corrupt rather than guess.
pub(super) fn merge(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &MergeOperands,
) -> Option<Vec<u8>> {
    let mut merged: Option<Vec<Acc>> = match existing {
        Some(bytes) => Some(decode(bytes)?),
        None => None,
    };
    for operand in operands {
        let accs = decode(operand)?;
        match &mut merged {
            None => merged = Some(accs),
            Some(into) if into.len() == accs.len() => {
                for (acc, other) in into.iter_mut().zip(&accs) {
                    acc.merge(other);
                }
            }
            Some(_) => return None,
        }
    }
    let mut out = Vec::new();
    encode(&merged?, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accumulator_reads_back_as_written() {
        let accs = vec![
            Acc::Count(7),
            Acc::Sum(Number::Int(-3)),
            Acc::Sum(Number::Float(2.5)),
            Acc::Min(None),
            Acc::Min(Some(Number::Int(4))),
            Acc::Max(Some(Number::Float(-0.5))),
            Acc::Avg(10.0, 4),
            Acc::MaxBy(
                Some(Number::Int(3)),
                vec![b"{\"a\":3}".to_vec(), Vec::new()],
            ),
            Acc::MaxBy(None, Vec::new()),
        ];
        let mut bytes = Vec::new();
        encode(&accs, &mut bytes);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(format!("{back:?}"), format!("{accs:?}"));
        // Every truncation is refused, never misread as fewer accumulators.
        for end in 1..bytes.len() {
            let cut = decode(&bytes[..end]);
            assert!(
                cut.is_none() || cut.as_ref().is_some_and(|c| c.len() < accs.len()),
                "truncation at {end}"
            );
        }
        assert!(decode(&[9]).is_none());
    }
}
