//! The records of an unaligned checkpoint that were in flight: read by a task after its
//! snapshot and before a channel's barrier. They are stored with the checkpoint under the
//! task's head step name and [`IN_FLIGHT_SUFFIX`], by key group like keyed state — so a
//! restore at another parallelism gives each subtask the records of its keys — and a restored
//! task runs them through its chain before it reads its inputs.

use weir_proto::RecordBatch;
use weir_runtime::error::TaskError;
use weir_state::checkpoint::{HeapEntries, OperatorRestore, OperatorSnapshot};
use weir_state::layout;

pub use weir_state::checkpoint::IN_FLIGHT_SUFFIX;

/// Records by input side (0, or 1 for a join's right side), in the order they were read.
pub type InFlightRecords = Vec<(u8, RecordBatch)>;

/// `records` (input side, batch) as checkpoint entries: per record, its key (or none) and a
/// namespace of its side, its position and whether it had a key; the value holds its timestamp
/// and bytes.
pub(super) fn snapshot<'a>(
    records: impl IntoIterator<Item = (u8, &'a RecordBatch)>,
    max_parallelism: u32,
) -> OperatorSnapshot {
    let mut entries = HeapEntries::new(max_parallelism);
    let mut position = 0u64;
    for (side, batch) in records {
        for record in batch.iter() {
            let mut namespace = Vec::with_capacity(10);
            namespace.push(side);
            namespace.extend_from_slice(&position.to_be_bytes());
            namespace.push(u8::from(record.key.is_some()));
            let mut value = Vec::with_capacity(8 + record.value.len());
            value.extend_from_slice(&record.timestamp.to_le_bytes());
            value.extend_from_slice(record.value);
            entries.push(record.key.unwrap_or_default(), &namespace, value);
            position += 1;
        }
    }
    OperatorSnapshot {
        meta: None,
        keyed: Some(entries.finish()),
    }
}

/// This subtask's in-flight records from a checkpoint, in their old order, in batches of at
/// most `batch_size`.
pub(crate) fn restore(
    restored: &OperatorRestore,
    batch_size: usize,
) -> Result<InFlightRecords, TaskError> {
    let operator = restored_name(restored);
    // (old position, side, key, timestamp, value)
    type Entry = (u64, u8, Option<Vec<u8>>, i64, Vec<u8>);
    let mut read: Vec<Entry> = Vec::new();
    let parsed = restored.entries(None, &mut |stored, value| {
        let entry = layout::parse_state(stored).and_then(|(key, namespace)| {
            let (&side, rest) = namespace.split_first()?;
            let position = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
            let keyed = *rest.get(8)? == 1;
            let timestamp = i64::from_le_bytes(value.get(..8)?.try_into().ok()?);
            let key = keyed.then(|| key.to_vec());
            Some((position, side, key, timestamp, value[8..].to_vec()))
        });
        read.push(entry.ok_or_else(|| std::io::Error::other("a malformed in-flight record"))?);
        Ok(())
    });
    parsed.map_err(|e| TaskError::State {
        operator: operator.clone(),
        detail: format!("restoring in-flight records: {e}"),
    })?;
    read.sort_by_key(|entry| entry.0);
    let mut batches: InFlightRecords = Vec::new();
    for (_, side, key, timestamp, value) in read {
        let start_new = match batches.last() {
            Some((last_side, batch)) => *last_side != side || batch.len() >= batch_size.max(1),
            None => true,
        };
        if start_new {
            batches.push((side, RecordBatch::default()));
        }
        if let Some((_, batch)) = batches.last_mut() {
            batch.push(key.as_deref(), &value, timestamp);
        }
    }
    Ok(batches)
}

fn restored_name(restored: &OperatorRestore) -> String {
    let (subtask, parallelism) = restored.subtask();
    format!("in-flight records of subtask {}/{parallelism}", subtask + 1)
}
