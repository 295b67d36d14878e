//! Lists of byte strings stored as one RocksDB value and appended to with the merge operator:
//! each item is its length (u32 LE) and its bytes, so a concatenation of encoded items is an
//! encoded list, and appending needs no read.

use rocksdb::MergeOperands;

/// The name RocksDB records for the append operator (it must not change for a stored format).
pub const APPEND_NAME: &str = "weir-list-append-v1";

/// `item` as a merge operand (a one-item list).
pub fn item(item: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&(item.len() as u32).to_le_bytes());
    out.extend_from_slice(item);
}

/// The items of a stored list; `None` if it is malformed.
pub fn items(mut bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut items = Vec::new();
    while !bytes.is_empty() {
        let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        items.push(bytes.get(4..4 + len)?);
        bytes = &bytes[4 + len..];
    }
    Some(items)
}

/// RocksDB's merge for lists: the stored list followed by every operand's items.
pub fn append(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let mut out = existing.map(<[u8]>::to_vec).unwrap_or_default();
    for operand in operands {
        out.extend_from_slice(operand);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_items_read_back_as_a_list() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        item(b"first", &mut a);
        item(b"", &mut b);
        let mut list = a.clone();
        list.extend_from_slice(&b);
        list.extend_from_slice(&a);
        assert_eq!(
            items(&list),
            Some(vec![
                b"first".as_slice(),
                b"".as_slice(),
                b"first".as_slice()
            ])
        );
        assert_eq!(
            items(&list[..list.len() - 1]),
            None,
            "a cut item is refused"
        );
    }
}
