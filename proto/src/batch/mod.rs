//! Record batches: the unit in which records move between operators, tasks and Wasm UDFs.
//!
//! The layout is columnar and flat, exactly as the WIT `batch` record: one byte buffer holding
//! every key and value back to back, two end offsets per record, a timestamp column and a flag
//! column. Handing a batch to a UDF is therefore a few memcpys, never a per-record conversion.

#[cfg(test)]
mod tests;

/// Flag bit: the record has a key (an absent key differs from an empty one).
pub const FLAG_HAS_KEY: u8 = 1;

/// A batch of records in Weir's flat layout (see the module docs and `proto/wit/udf.wit`).
///
/// Its rkyv archive (see [`crate::wire`]) has the same columns, so a receiver reads records in
/// place, without deserializing.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct RecordBatch {
    /// Keys and values of all records back to back.
    pub data: Vec<u8>,
    /// Per record: offset where its key ends, offset where its value ends.
    pub ends: Vec<u32>,
    /// Event time per record, ms since the Unix epoch.
    pub timestamps: Vec<i64>,
    /// Flags per record ([`FLAG_HAS_KEY`]).
    pub flags: Vec<u8>,
}

/// One record of a batch, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The record's key, if it has one.
    pub key: Option<&'a [u8]>,
    /// The record's payload.
    pub value: &'a [u8],
    /// Event time, ms since the Unix epoch.
    pub timestamp: i64,
}

/// Why a batch's columns do not describe valid records; raised for batches that come from
/// outside the process (a UDF's output, later the network), never silently repaired.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchLayoutError {
    /// The columns disagree about how many records there are.
    #[error(
        "batch columns disagree: {ends} ends (2 per record), {timestamps} timestamps, {flags} flags"
    )]
    ColumnLengths {
        /// Length of `ends`.
        ends: usize,
        /// Length of `timestamps`.
        timestamps: usize,
        /// Length of `flags`.
        flags: usize,
    },
    /// An end offset goes backwards or past the data buffer.
    #[error("record {record}: offset {offset} is out of order or past the {len}-byte data buffer")]
    BadOffset {
        /// Index of the record.
        record: usize,
        /// The bad offset.
        offset: u32,
        /// Length of `data`.
        len: usize,
    },
    /// A record has no key but a non-empty key range, or a reserved flag bit is set.
    #[error("record {record}: flags {flags:#04x} do not match its key range")]
    BadFlags {
        /// Index of the record.
        record: usize,
        /// The flag byte.
        flags: u8,
    },
}

impl RecordBatch {
    /// An empty batch with room for `records` records of about `bytes_per_record` bytes each.
    pub fn with_capacity(records: usize, bytes_per_record: usize) -> Self {
        RecordBatch {
            data: Vec::with_capacity(records * bytes_per_record),
            ends: Vec::with_capacity(records * 2),
            timestamps: Vec::with_capacity(records),
            flags: Vec::with_capacity(records),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Bytes of keys and values held.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Removes all records, keeping the allocations for reuse.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        self.timestamps.clear();
        self.flags.clear();
    }

    /// Appends a record.
    ///
    /// # Panics
    /// If the batch would exceed 4 GiB of data, which batch builders prevent by flushing far
    /// earlier.
    pub fn push(&mut self, key: Option<&[u8]>, value: &[u8], timestamp: i64) {
        if let Some(key) = key {
            self.data.extend_from_slice(key);
        }
        self.ends.push(offset(self.data.len()));
        self.data.extend_from_slice(value);
        self.ends.push(offset(self.data.len()));
        self.timestamps.push(timestamp);
        self.flags
            .push(if key.is_some() { FLAG_HAS_KEY } else { 0 });
    }

    /// Appends a record whose value is produced by `write`, which appends it to the buffer given;
    /// saves a copy when a value is built in place.
    pub fn push_with(
        &mut self,
        key: Option<&[u8]>,
        timestamp: i64,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        if let Some(key) = key {
            self.data.extend_from_slice(key);
        }
        self.ends.push(offset(self.data.len()));
        write(&mut self.data);
        self.ends.push(offset(self.data.len()));
        self.timestamps.push(timestamp);
        self.flags
            .push(if key.is_some() { FLAG_HAS_KEY } else { 0 });
    }

    /// Appends a copy of `record`.
    pub fn push_ref(&mut self, record: RecordRef<'_>) {
        self.push(record.key, record.value, record.timestamp);
    }

    /// Appends every record of `other`, in order.
    pub fn append(&mut self, other: &RecordBatch) {
        let base = offset(self.data.len());
        offset(self.data.len() + other.data.len());
        self.data.extend_from_slice(&other.data);
        self.ends.extend(other.ends.iter().map(|end| end + base));
        self.timestamps.extend_from_slice(&other.timestamps);
        self.flags.extend_from_slice(&other.flags);
    }

    /// Record `index`.
    ///
    /// # Panics
    /// If `index >= len()`, or if the batch's offsets are invalid — batches from outside the
    /// process must pass [`RecordBatch::validate`] first.
    pub fn get(&self, index: usize) -> RecordRef<'_> {
        let start = if index == 0 {
            0
        } else {
            self.ends[2 * index - 1] as usize
        };
        let key_end = self.ends[2 * index] as usize;
        let value_end = self.ends[2 * index + 1] as usize;
        let has_key = self.flags[index] & FLAG_HAS_KEY != 0;
        RecordRef {
            key: has_key.then(|| &self.data[start..key_end]),
            value: &self.data[key_end..value_end],
            timestamp: self.timestamps[index],
        }
    }

    /// The records in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordRef<'_>> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Checks that the columns describe valid records, so [`RecordBatch::get`] cannot panic.
    pub fn validate(&self) -> Result<(), BatchLayoutError> {
        validate_columns(
            self.data.len(),
            self.ends.iter().copied(),
            self.ends.len(),
            self.timestamps.len(),
            &self.flags,
        )
    }

    /// Keeps the records whose entry in `keep` is true, in place and in order.
    pub fn retain_mask(&mut self, keep: &[bool]) {
        let mut out = RecordBatch::with_capacity(self.len(), 0);
        out.data.reserve(self.data.len());
        for (i, record) in self.iter().enumerate() {
            if keep.get(i).copied().unwrap_or(false) {
                out.push_ref(record);
            }
        }
        *self = out;
    }
}

fn offset(len: usize) -> u32 {
    u32::try_from(len).expect("record batch data exceeds 4 GiB")
}

/// A list of byte strings in one flat buffer, as the WIT `blobs` record: keys chosen by a UDF,
/// aggregate accumulators, aggregate results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blobs {
    /// The strings back to back.
    pub data: Vec<u8>,
    /// Where each string ends.
    pub ends: Vec<u32>,
}

impl Blobs {
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is no string.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Appends a string.
    pub fn push(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
        self.ends.push(offset(self.data.len()));
    }

    /// String `index`; panics when out of range or when [`Blobs::validate`] would fail.
    pub fn get(&self, index: usize) -> &[u8] {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        &self.data[start..self.ends[index] as usize]
    }

    /// The strings in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Checks that the offsets are in order and inside the buffer.
    pub fn validate(&self) -> Result<(), BatchLayoutError> {
        let mut previous = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            if end < previous || end as usize > self.data.len() {
                return Err(BatchLayoutError::BadOffset {
                    record: i,
                    offset: end,
                    len: self.data.len(),
                });
            }
            previous = end;
        }
        Ok(())
    }
}

/// The layout rules of a batch, over its columns as any representation holds them.
pub(crate) fn validate_columns(
    data_len: usize,
    ends: impl Iterator<Item = u32>,
    ends_len: usize,
    records: usize,
    flags: &[u8],
) -> Result<(), BatchLayoutError> {
    if ends_len != 2 * records || flags.len() != records {
        return Err(BatchLayoutError::ColumnLengths {
            ends: ends_len,
            timestamps: records,
            flags: flags.len(),
        });
    }
    let mut previous = 0u32;
    for (i, end) in ends.enumerate() {
        if end < previous || end as usize > data_len {
            return Err(BatchLayoutError::BadOffset {
                record: i / 2,
                offset: end,
                len: data_len,
            });
        }
        if i % 2 == 0 {
            let flag = flags[i / 2];
            if flag & !FLAG_HAS_KEY != 0 || (flag & FLAG_HAS_KEY == 0 && end != previous) {
                return Err(BatchLayoutError::BadFlags {
                    record: i / 2,
                    flags: flag,
                });
            }
        }
        previous = end;
    }
    Ok(())
}
