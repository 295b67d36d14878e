//! The flat batch layout, read in place and written into preallocated columns.

use std::str::Utf8Error;

/// Flag bit: the record has a key.
const HAS_KEY: u8 = 1;

/// One input record, borrowed from the batch (nothing is copied to give it to you).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    key: Option<&'a [u8]>,
    value: &'a [u8],
    timestamp: i64,
    /// Its position in the batch being processed: how keyed state names its key to the host.
    pub(crate) index: u32,
}

impl<'a> Record<'a> {
    /// A record (for tests of your own functions).
    pub fn new(key: Option<&'a [u8]>, value: &'a [u8], timestamp: i64) -> Self {
        Record {
            key,
            value,
            timestamp,
            index: 0,
        }
    }

    /// The key, if the record has one (set by a `key_by` step).
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The payload.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// The payload as text.
    pub fn value_str(&self) -> Result<&'a str, Utf8Error> {
        std::str::from_utf8(self.value)
    }

    /// Event time, milliseconds since the Unix epoch.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
}

/// Columns of a batch, as the WIT `batch` record holds them.
pub(crate) struct Columns<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) ends: &'a [u32],
    pub(crate) timestamps: &'a [i64],
    pub(crate) flags: &'a [u8],
}

impl<'a> Columns<'a> {
    pub(crate) fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Record `i`. The host validates batches it sends; a malformed one is a host bug, reported
    /// by a trap with this message rather than by undefined behaviour.
    pub(crate) fn get(&self, i: usize) -> Record<'a> {
        let start = if i == 0 {
            0
        } else {
            self.ends[2 * i - 1] as usize
        };
        let key_end = self.ends[2 * i] as usize;
        let value_end = self.ends[2 * i + 1] as usize;
        let (Some(key), Some(value)) = (
            self.data.get(start..key_end),
            self.data.get(key_end..value_end),
        ) else {
            panic!(
                "weir-sdk: malformed input batch (record {i}: offsets {start}..{key_end}..{value_end} of {})",
                self.data.len()
            );
        };
        Record {
            key: (self.flags[i] & HAS_KEY != 0).then_some(key),
            value,
            timestamp: self.timestamps[i],
            index: i as u32,
        }
    }
}

/// The output batch under construction: opaque to UDF authors, who return values instead.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Builder {
    pub(crate) data: Vec<u8>,
    pub(crate) ends: Vec<u32>,
    pub(crate) timestamps: Vec<i64>,
    pub(crate) flags: Vec<u8>,
}

fn offset(len: usize) -> u32 {
    u32::try_from(len).unwrap_or_else(|_| panic!("weir-sdk: output batch exceeds 4 GiB"))
}

impl Builder {
    pub(crate) fn with_capacity(records: usize, bytes: usize) -> Self {
        Builder {
            data: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(records * 2),
            timestamps: Vec::with_capacity(records),
            flags: Vec::with_capacity(records),
        }
    }

    /// Starts a record: writes its key and returns so the caller appends the value to `data`.
    pub(crate) fn begin(&mut self, key: Option<&[u8]>, timestamp: i64) {
        if let Some(key) = key {
            self.data.extend_from_slice(key);
        }
        self.ends.push(offset(self.data.len()));
        self.timestamps.push(timestamp);
        self.flags.push(if key.is_some() { HAS_KEY } else { 0 });
    }

    /// Ends the record begun last.
    pub(crate) fn end(&mut self) {
        self.ends.push(offset(self.data.len()));
    }

    /// Appends a whole record.
    pub(crate) fn push(&mut self, key: Option<&[u8]>, value: &[u8], timestamp: i64) {
        self.begin(key, timestamp);
        self.data.extend_from_slice(value);
        self.end();
    }
}

/// A flat list of byte strings under construction (the WIT `blobs` record).
#[derive(Debug, Default)]
pub(crate) struct BlobsBuilder {
    pub(crate) data: Vec<u8>,
    pub(crate) ends: Vec<u32>,
}

impl BlobsBuilder {
    pub(crate) fn push_end(&mut self) {
        self.ends.push(offset(self.data.len()));
    }
}

/// Item `i` of a flat list of byte strings.
pub(crate) fn blob<'a>(data: &'a [u8], ends: &[u32], i: usize) -> &'a [u8] {
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    match data.get(start..ends[i] as usize) {
        Some(bytes) => bytes,
        None => panic!(
            "weir-sdk: malformed blobs (item {i}: {start}..{} of {})",
            ends[i],
            data.len()
        ),
    }
}

/// The loops behind the transform and key-selector attributes.
pub(crate) mod glue {
    use super::{Builder, Columns};
    use crate::__private::{KeyBatch, KeysOutput, TransformBatch, TransformOutput};
    use crate::Record;
    use crate::bindings::key::weir::udf::types::{
        Blobs as KeyBlobs, RecordError as KeyRecordError,
    };
    use crate::bindings::transform::weir::udf::types::RecordError;
    use crate::output::{FilterResult, FlatMapResult, KeyResult, MapResult};

    fn columns(batch: &TransformBatch) -> Columns<'_> {
        Columns {
            data: &batch.data,
            ends: &batch.ends,
            timestamps: &batch.timestamps,
            flags: &batch.record_flags,
        }
    }

    fn output(out: Builder, errors: Vec<RecordError>) -> TransformOutput {
        TransformOutput {
            output: TransformBatch {
                data: out.data,
                ends: out.ends,
                timestamps: out.timestamps,
                record_flags: out.flags,
            },
            errors,
        }
    }

    fn error(index: usize, message: String) -> RecordError {
        RecordError {
            index: index as u32,
            message,
        }
    }

    /// Runs a map function over a batch.
    pub fn run_map<R: MapResult>(
        input: TransformBatch,
        f: impl Fn(Record<'_>) -> R,
    ) -> TransformOutput {
        let records = columns(&input);
        let mut out = Builder::with_capacity(records.len(), input.data.len() + records.len() * 8);
        let mut errors = Vec::new();
        for i in 0..records.len() {
            let record = records.get(i);
            if let Err(message) = f(record).write_map(&record, &mut out) {
                errors.push(error(i, message));
            }
        }
        output(out, errors)
    }

    /// Runs a filter function over a batch.
    pub fn run_filter<R: FilterResult>(
        input: TransformBatch,
        f: impl Fn(Record<'_>) -> R,
    ) -> TransformOutput {
        let records = columns(&input);
        let mut out = Builder::with_capacity(records.len(), input.data.len());
        let mut errors = Vec::new();
        for i in 0..records.len() {
            let record = records.get(i);
            match f(record).keep() {
                Ok(true) => out.push(record.key(), record.value(), record.timestamp()),
                Ok(false) => {}
                Err(message) => errors.push(error(i, message)),
            }
        }
        output(out, errors)
    }

    /// Runs a whole-window function once over a batch: the records of one key's window.
    /// Outputs take the first record's key and timestamp (the window's last millisecond).
    pub fn run_window<T: crate::IntoRecord>(
        input: TransformBatch,
        f: impl Fn(&[Record<'_>]) -> Vec<T>,
    ) -> TransformOutput {
        let records = columns(&input);
        let all: Vec<Record<'_>> = (0..records.len()).map(|i| records.get(i)).collect();
        let mut out = Builder::with_capacity(4, 256);
        if let Some(first) = all.first() {
            for item in f(&all) {
                item.write(first, &mut out);
            }
        }
        output(out, Vec::new())
    }

    /// Runs a flat_map function over a batch.
    pub fn run_flat_map<R: FlatMapResult>(
        input: TransformBatch,
        f: impl Fn(Record<'_>) -> R,
    ) -> TransformOutput {
        let records = columns(&input);
        let mut out = Builder::with_capacity(records.len(), input.data.len() * 2);
        let mut errors = Vec::new();
        for i in 0..records.len() {
            let record = records.get(i);
            if let Err(message) = f(record).write_all(&record, &mut out) {
                errors.push(error(i, message));
            }
        }
        output(out, errors)
    }

    /// Runs a key selector over a batch.
    pub fn run_key_selector<R: KeyResult>(
        input: KeyBatch,
        f: impl Fn(Record<'_>) -> R,
    ) -> KeysOutput {
        let records = Columns {
            data: &input.data,
            ends: &input.ends,
            timestamps: &input.timestamps,
            flags: &input.record_flags,
        };
        let mut keys = super::BlobsBuilder::default();
        let mut errors = Vec::new();
        for i in 0..records.len() {
            match f(records.get(i)).write_key(&mut keys.data) {
                Ok(()) => keys.push_end(),
                Err(message) => errors.push(KeyRecordError {
                    index: i as u32,
                    message,
                }),
            }
        }
        KeysOutput {
            keys: KeyBlobs {
                data: keys.data,
                ends: keys.ends,
            },
            errors,
        }
    }
}
