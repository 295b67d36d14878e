//! The window aggregate's part in checkpoints: its windows as layout entries (heap) or a RocksDB
//! checkpoint, its progress (watermark, last fired window) inline; restored from either.

use super::{Progress, WindowAggregate, WindowStore};
use crate::error::{TaskError, task_error};
use crate::operators::aggregate::acc_codec;
use crate::operators::aggregate::builtin::Acc;
use crate::operators::keyed_snapshot;
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
        self.flush()?;
        let windows = &self.windows;
        let mut heap = |entries: &mut HeapEntries| {
            let mut bytes = Vec::new();
            for (start, key, accs) in windows.iter() {
                bytes.clear();
                acc_codec::encode(accs, &mut bytes);
                entries.push(key, &layout::ordered_i64(start), bytes.clone());
            }
        };
        let store = self.store.as_mut().map(|s| &mut s.store);
        let heap = (
            self.max_parallelism,
            &mut heap as &mut dyn FnMut(&mut HeapEntries),
        );
        keyed_snapshot::take(&self.operator, id, store, heap, progress)
    }

    /// Takes back windows and progress from a checkpoint (at another parallelism, the
    /// earliest progress of any old subtask: a window fires again rather than never).
    pub(super) fn restore_windows(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let metas: Vec<Progress> = keyed_snapshot::metas(restored, &self.operator)?;
        if let Some(progress) = metas.into_iter().reduce(|p, read| Progress {
            watermark: p.watermark.min(read.watermark),
            emitted: p.emitted.min(read.emitted),
        }) {
            self.watermark = progress.watermark;
            self.emitted = progress.emitted;
        }
        let operator = self.operator.clone();
        let merge = Some(WindowStore::merge_operator());
        keyed_snapshot::entries(restored, &operator, merge, &mut |key, namespace, value| {
            let start = namespace.try_into().ok().map(layout::read_ordered_i64);
            let (Some(start), Some(accs)) = (start, acc_codec::decode(value)) else {
                return Err(keyed_snapshot::malformed(&operator, "window"));
            };
            self.restore_window(key, start, accs)
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
    /// lateness) goes to the store, due only to be dropped when its lateness has passed, so it never fires again.
    fn restore_window(&mut self, key: &[u8], start: i64, accs: Vec<Acc>) -> Result<(), TaskError> {
        let fired = start + self.size - 1 <= self.emitted;
        if let (true, Some(store)) = (fired, &mut self.store) {
            let cleanup = (start + self.size - 1).saturating_add(self.lateness);
            store.store.note_due(cleanup);
            let merged = store.merge(key, start, &accs);
            return merged.map_err(|e| task_error(&self.operator, e));
        }
        if let Some(store) = &mut self.store {
            store.store.note_due(start + self.size - 1);
        }
        self.windows.insert(start, key.to_vec(), accs);
        if self.windows.is_full() {
            self.flush()?;
        }
        Ok(())
    }
}
