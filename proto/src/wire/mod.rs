//! The wire format of stream elements between TaskManagers: rkyv archives, read in place.
//!
//! Bytes from the network are never trusted: [`decode`] checks the archive with bytecheck and
//! then the batch layout (offsets in order and inside the data, flags consistent), so a
//! receiver can read records from the archive without deserializing and without any path to
//! undefined behaviour or a panic. `rkyv::access_unchecked` is not to be used on such bytes.

use crate::batch::{BatchLayoutError, FLAG_HAS_KEY, validate_columns};
use crate::{RecordBatch, RecordRef};
use rkyv::rancor;
use rkyv::util::AlignedVec;

pub use crate::batch::ArchivedRecordBatch;

/// One element of a stream between two subtasks, as sent over the network.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum WireElement {
    /// A batch of records.
    Records(RecordBatch),
    /// Event time has reached this point (ms) on this channel.
    Watermark(i64),
    /// The producer expects no records for a while: its watermark holds nothing back until
    /// records or a watermark come again.
    Idle,
    /// Checkpoint barrier: everything before it belongs to checkpoint `n`, everything after
    /// to the next.
    Barrier(u64),
    /// The producer has no more records for this channel.
    EndOfStream,
}

/// Why bytes could not be read as a stream element.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The bytes are not a valid archive (truncated, corrupt, misaligned).
    #[error("malformed stream element: {0}")]
    Malformed(String),
    /// The archive is valid but its batch breaks the layout rules.
    #[error("stream element holds an invalid batch: {0}")]
    Layout(#[from] BatchLayoutError),
    /// Encoding failed.
    #[error("cannot encode a stream element: {0}")]
    Encode(String),
}

/// Encodes `element` into an aligned buffer ready to send.
pub fn encode(element: &WireElement) -> Result<AlignedVec, WireError> {
    rkyv::to_bytes::<rancor::Error>(element).map_err(|e| WireError::Encode(e.to_string()))
}

/// Checks `bytes` (received into an aligned buffer) and gives access to the element in place.
pub fn decode(bytes: &[u8]) -> Result<&ArchivedWireElement, WireError> {
    let element = rkyv::access::<ArchivedWireElement, rancor::Error>(bytes)
        .map_err(|e| WireError::Malformed(e.to_string()))?;
    if let ArchivedWireElement::Records(batch) = element {
        batch.validate()?;
    }
    Ok(element)
}

impl ArchivedRecordBatch {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Checks the layout rules (done by [`decode`]).
    pub fn validate(&self) -> Result<(), BatchLayoutError> {
        validate_columns(
            self.data.len(),
            self.ends.iter().map(|e| e.to_native()),
            self.ends.len(),
            self.timestamps.len(),
            &self.flags,
        )
    }

    /// Record `index`, read in place. Panics if out of range or if the batch was not validated.
    pub fn get(&self, index: usize) -> RecordRef<'_> {
        let end = |i: usize| self.ends[i].to_native() as usize;
        let start = if index == 0 { 0 } else { end(2 * index - 1) };
        let (key_end, value_end) = (end(2 * index), end(2 * index + 1));
        RecordRef {
            key: (self.flags[index] & FLAG_HAS_KEY != 0).then(|| &self.data[start..key_end]),
            value: &self.data[key_end..value_end],
            timestamp: self.timestamps[index].to_native(),
        }
    }

    /// The records in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordRef<'_>> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

#[cfg(test)]
mod tests;
