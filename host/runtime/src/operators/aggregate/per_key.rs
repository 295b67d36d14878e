//! Snapshots of whole-input aggregates: one accumulator per key, stored by key group (so a
//! restore at another parallelism reads each subtask's range), in the aggregate's own encoding.

use crate::error::TaskError;
use std::collections::HashMap;
use weir_state::checkpoint::{HeapEntries, OperatorRestore, OperatorSnapshot};
use weir_state::layout;

/// Every key's accumulator, encoded by `encode`.
pub(super) fn snapshot<A>(
    state: &HashMap<Vec<u8>, A>,
    max_parallelism: u32,
    encode: impl Fn(&A) -> Vec<u8>,
) -> OperatorSnapshot {
    let mut entries = HeapEntries::new(max_parallelism);
    for (key, accumulator) in state {
        entries.push(key, b"", encode(accumulator));
    }
    OperatorSnapshot {
        meta: None,
        keyed: Some(entries.finish()),
    }
}

/// Reads back the accumulators of this subtask's keys into `state`, each decoded by `decode`
/// (`None`: malformed, an error naming step `operator`).
pub(super) fn restore<A>(
    restored: &OperatorRestore,
    operator: &str,
    state: &mut HashMap<Vec<u8>, A>,
    decode: impl Fn(&[u8]) -> Option<A>,
) -> Result<(), TaskError> {
    let read = restored.entries(None, &mut |stored, value| {
        let (key, accumulator) = layout::parse_state(stored)
            .and_then(|(key, _)| Some((key, decode(value)?)))
            .ok_or_else(|| std::io::Error::other("a malformed accumulator entry"))?;
        state.insert(key.to_vec(), accumulator);
        Ok(())
    });
    read.map_err(|e| TaskError::State {
        operator: operator.to_string(),
        detail: format!("restoring accumulators: {e}"),
    })
}
