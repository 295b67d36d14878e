//! The checkpoint of an operator that keeps keyed state in either backend (windows, sessions,
//! record lists, process functions): its entries by key group — copied off the heap, or a
//! RocksDB native checkpoint — and its small progress (the watermark) inline. Every operator of
//! this kind reads back entries written by either backend, so a job may change backend, module
//! version or parallelism between a savepoint and its restore.

use crate::error::{TaskError, task_error};
use serde::de::DeserializeOwned;
use weir_state::checkpoint::{HeapEntries, KeyedSnapshot, OperatorRestore, OperatorSnapshot};
use weir_state::{MergeFn, RocksStore, layout};

/// Where an event-time operator was: the watermark it had seen. Restored at another
/// parallelism, the earliest of the old subtasks' (a record is then never wrongly late).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(super) struct EventTime {
    /// The operator's watermark at the barrier.
    pub(super) watermark: i64,
}

/// A snapshot of keyed state for checkpoint `id`: with a `store`, its native checkpoint (the
/// caller has written its cache out first); otherwise what `heap` pushes, by key group of a job
/// of `max_parallelism` groups. `meta` is kept inline (`()`: none).
pub(super) fn take(
    operator: &str,
    id: u64,
    store: Option<&mut RocksStore>,
    (max_parallelism, heap): (u32, &mut dyn FnMut(&mut HeapEntries)),
    meta: impl serde::Serialize,
) -> Result<OperatorSnapshot, TaskError> {
    let keyed: KeyedSnapshot = match store {
        Some(store) => store
            .native_checkpoint(id)
            .map_err(|e| task_error(operator, e))?,
        None => {
            let mut entries = HeapEntries::new(max_parallelism);
            heap(&mut entries);
            entries.finish()
        }
    };
    Ok(OperatorSnapshot {
        meta: serde_json::to_value(meta).ok().filter(|m| !m.is_null()),
        keyed: Some(keyed),
    })
}

/// The inline state this subtask takes back: its own old subtask's, or at another parallelism
/// every old subtask's (the caller folds them, usually to the earliest).
pub(super) fn metas<T: DeserializeOwned>(
    restored: &OperatorRestore,
    operator: &str,
) -> Result<Vec<T>, TaskError> {
    let metas: Vec<&serde_json::Value> = match restored.own_meta() {
        Some(own) => vec![own],
        None => restored.all_meta().map(|(_, _, meta)| meta).collect(),
    };
    metas
        .into_iter()
        .map(|meta| {
            serde_json::from_value(meta.clone()).map_err(|e| TaskError::State {
                operator: operator.to_string(),
                detail: format!("the checkpoint's progress is malformed: {e}"),
            })
        })
        .collect()
}

/// The earliest watermark any restored subtask had seen; `None` with no progress restored.
pub(super) fn restored_watermark(
    restored: &OperatorRestore,
    operator: &str,
) -> Result<Option<i64>, TaskError> {
    let metas: Vec<EventTime> = metas(restored, operator)?;
    Ok(metas.into_iter().map(|m| m.watermark).min())
}

/// What [`entries`] calls with each restored (key, namespace, value).
pub(super) type OnEntry<'a> = dyn FnMut(&[u8], &[u8], &[u8]) -> Result<(), TaskError> + 'a;

/// Calls `each` with every (key, namespace, value) of this subtask's key groups in the
/// checkpoint, from whichever old subtasks and backend wrote them. RocksDB checkpoints are read
/// with `merge`, the merge operator their store had. The first error `each` returns stops the
/// read and is returned as it was.
pub(super) fn entries(
    restored: &OperatorRestore,
    operator: &str,
    merge: Option<(&str, MergeFn)>,
    each: &mut OnEntry<'_>,
) -> Result<(), TaskError> {
    let mut failed = None;
    let read = restored.entries(merge, &mut |stored, value| {
        let Some((key, namespace)) = layout::parse_state(stored) else {
            return Err(std::io::Error::other("a malformed state entry"));
        };
        each(key, namespace, value).map_err(|e| {
            let detail = e.to_string();
            failed = Some(e);
            std::io::Error::other(detail)
        })
    });
    if let Some(error) = failed {
        return Err(error);
    }
    read.map_err(|e| TaskError::State {
        operator: operator.to_string(),
        detail: format!("restoring keyed state: {e}"),
    })
}

/// The error of a restored entry that does not decode.
pub(super) fn malformed(operator: &str, what: &str) -> TaskError {
    TaskError::State {
        operator: operator.to_string(),
        detail: format!("the checkpoint holds a malformed {what}"),
    }
}
