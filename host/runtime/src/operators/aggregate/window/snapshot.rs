//! The window aggregate's part in checkpoints: its windows as layout entries (heap) or a RocksDB
//! checkpoint, its progress (watermark, last fired window) inline; restored from either.

use super::{CLEANUP, Progress, WindowAggregate, WindowStore};
use crate::error::TaskError;
use crate::error::task_error;
use crate::operators::aggregate::acc_codec;
use crate::operators::aggregate::builtin::Acc;
use weir_state::checkpoint::{HeapEntries, OperatorRestore, OperatorSnapshot};
use weir_state::layout;

impl WindowAggregate {
    /// Its windows and progress for checkpoint `id`: heap entries, or a RocksDB checkpoint
    /// after the write cache is folded in.
    pub(super) fn snapshot_windows(&mut self, id: u64) -> Result<OperatorSnapshot, TaskError> {
        let progress = Progress {
            watermark: self.watermark,
            emitted: self.emitted,
        };
        let keyed = match &mut self.store {
            Some(_) => {
                self.flush()?;
                let Some(store) = &mut self.store else {
                    return Err(TaskError::Internal("a window store vanished".into()));
                };
                let snapshot = store.store.native_checkpoint(id);
                snapshot.map_err(|e| task_error(&self.operator, e))?
            }
            None => {
                let mut entries = HeapEntries::new(self.max_parallelism);
                let mut bytes = Vec::new();
                for (start, keys) in &self.windows {
                    for (key, accs) in keys {
                        bytes.clear();
                        acc_codec::encode(accs, &mut bytes);
                        entries.push(key, &layout::ordered_i64(*start), bytes.clone());
                    }
                }
                entries.finish()
            }
        };
        Ok(OperatorSnapshot {
            meta: serde_json::to_value(progress).ok(),
            keyed: Some(keyed),
        })
    }

    /// Takes back windows and progress from a checkpoint (at another parallelism, the
    /// earliest progress of any old subtask).
    pub(super) fn restore_windows(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let malformed = |what: &str| TaskError::State {
            operator: self.operator.clone(),
            detail: format!("the checkpoint's {what} is malformed"),
        };
        // At another parallelism, the earliest progress of any old subtask: a window fires
        // again rather than never.
        let mut progress: Option<Progress> = None;
        let metas: Vec<&serde_json::Value> = match restored.own_meta() {
            Some(own) => vec![own],
            None => restored.all_meta().map(|(_, _, m)| m).collect(),
        };
        for meta in metas {
            let read: Progress =
                serde_json::from_value(meta.clone()).map_err(|_| malformed("window progress"))?;
            progress = Some(match progress {
                None => read,
                Some(p) => Progress {
                    watermark: p.watermark.min(read.watermark),
                    emitted: p.emitted.min(read.emitted),
                },
            });
        }
        if let Some(progress) = progress {
            self.watermark = progress.watermark;
            self.emitted = progress.emitted;
        }
        let mut failed = None;
        let merge = Some(WindowStore::merge_operator());
        let read = restored.entries(merge, &mut |stored, value| {
            let parsed = layout::parse_state(stored).and_then(|(key, namespace)| {
                let start = layout::read_ordered_i64(namespace.try_into().ok()?);
                Some((key, start, acc_codec::decode(value)?))
            });
            let (key, start, accs) =
                parsed.ok_or_else(|| std::io::Error::other("a malformed window entry"))?;
            self.restore_window(key, start, accs).map_err(|e| {
                let detail = e.to_string();
                failed = Some(e);
                std::io::Error::other(detail)
            })
        });
        if let Some(error) = failed {
            return Err(error);
        }
        read.map_err(|e| TaskError::State {
            operator: self.operator.clone(),
            detail: format!("restoring windows: {e}"),
        })?;
        if let Some(store) = &mut self.store {
            store
                .store
                .commit()
                .map_err(|e| task_error(&self.operator, e))?;
        }
        Ok(())
    }

    /// Adds restored window `start` of `key`. A window that had fired (kept for its allowed
    /// lateness) goes to the store with its cleanup timer only, so it never fires again.
    fn restore_window(&mut self, key: &[u8], start: i64, accs: Vec<Acc>) -> Result<(), TaskError> {
        let fired = start + self.size - 1 <= self.emitted;
        if let (true, Some(store)) = (fired, &mut self.store) {
            let cleanup = (start + self.size - 1).saturating_add(self.lateness);
            store.stored_windows.insert(start);
            store.store.note_due(cleanup);
            let merged = store.merge(key, start, &accs, (cleanup, CLEANUP));
            return merged.map_err(|e| task_error(&self.operator, e));
        }
        if let Some(store) = &mut self.store {
            store.store.note_due(start + self.size - 1);
        }
        if self
            .windows
            .entry(start)
            .or_default()
            .insert(key.to_vec(), accs)
            .is_none()
        {
            self.entries += 1;
        }
        if self
            .store
            .as_ref()
            .is_some_and(|s| self.entries >= s.cache_limit)
        {
            self.flush()?;
        }
        Ok(())
    }
}
