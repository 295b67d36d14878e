//! A whole-window function: per key and aligned event-time window, the window's records wait
//! (in [`WindowLists`]) until the watermark passes its end; then one call of a
//! `weir:udf/transform` component gets all of them as one batch — each record with its key and
//! the window's last millisecond as timestamp, which tells the function its window (Flink's
//! ProcessWindowFunction context) — and what it returns goes downstream with that timestamp.
//!
//! A trap, or a record the function reports as bad, fails the step: the window's records have
//! left the state, and a window is not retried record by record.

use super::window_lists::{Sides, WindowLists};
use super::{Operator, RejectSink};
use crate::error::TaskError;
use crate::operators::Batches;
use weir_proto::RecordBatch;
use weir_wasm::TransformUdf;

/// One subtask of a whole-window function.
pub(super) struct WindowFunction {
    operator: String,
    udf: TransformUdf,
    size: i64,
    slide: i64,
    lists: WindowLists,
    watermark: i64,
    batch_size: usize,
}

impl WindowFunction {
    pub(super) fn new(
        operator: String,
        udf: TransformUdf,
        (size, slide): (i64, i64),
        batch_size: usize,
        lists: WindowLists,
    ) -> Self {
        WindowFunction {
            operator,
            udf,
            size,
            slide,
            lists,
            watermark: i64::MIN,
            batch_size: batch_size.max(1),
        }
    }

    /// Calls the function on every window due at `up_to`.
    fn fire(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let (size, batch_size) = (self.size, self.batch_size);
        let (udf, operator) = (&mut self.udf, &self.operator);
        let mut out = Batches::new(batch_size, emit);
        self.lists
            .take_due(up_to, batch_size, &mut |start, key, sides: Sides| {
                let last = start + size - 1;
                let [records, _] = sides;
                let mut window = RecordBatch::with_capacity(records.len(), 64);
                for record in &records {
                    window.push(Some(key), record, last);
                }
                let (mut results, errors) =
                    udf.process(&mut window).map_err(|error| TaskError::Udf {
                        operator: operator.clone(),
                        error,
                        record: None,
                    })?;
                if let Some(error) = errors.first() {
                    return Err(TaskError::Config {
                        operator: operator.clone(),
                        message: format!(
                            "the window function reported a bad record in window [{start}, {}) of key {}: {}",
                            start + size,
                            String::from_utf8_lossy(key),
                            error.message
                        ),
                    });
                }
                results.timestamps.iter_mut().for_each(|t| *t = last);
                out.append(&results)?;
                Ok(())
            })?;
        out.finish()
    }
}

impl Operator for WindowFunction {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let (slide, watermark) = (self.slide, self.watermark);
        self.lists.add(0, &batch, slide, watermark, rejects)?;
        Ok(RecordBatch::default())
    }

    keeps_window_lists!();
}
