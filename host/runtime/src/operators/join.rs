//! A keyed window join of two inputs: records of the left input (the step's own) and the right
//! input (the step named by `with`) pair up when their keys are equal and they fall in the same
//! window; when the watermark — the slower of both inputs' — passes a window's end, every pair
//! is emitted and the window's records are dropped. A record whose windows have all fired is
//! late: rejected to the dead-letter sink, never silently dropped.
//!
//! Each pair is `{"key": key, "window_start": s, "window_end": e, "<left_as>": left record,
//! "<right_as>": right record}`, records embedded as JSON when they are JSON, else as strings.
//! The records wait in [`WindowLists`] (on RocksDB: a list per key, window and side).

use super::aggregate::key_json;
use super::window_lists::{Sides, WindowLists};
use super::{Operator, RejectSink};
use crate::error::TaskError;
use crate::operators::Batches;
use std::fmt::Write as _;
use weir_proto::RecordBatch;

/// One subtask of a window join.
pub(super) struct WindowJoin {
    size: i64,
    slide: i64,
    /// The output field names of the two sides, as JSON strings.
    names: [String; 2],
    lists: WindowLists,
    watermark: i64,
    batch_size: usize,
    /// Sides' fields at the top level, prefixed by the side's name (`JoinSpec::flatten`).
    flatten: bool,
}

impl WindowJoin {
    pub(super) fn new(
        (size, slide): (i64, i64),
        (left_as, right_as): (&str, &str),
        batch_size: usize,
        lists: WindowLists,
    ) -> Self {
        let quoted = |name: &str| serde_json::Value::from(name).to_string();
        WindowJoin {
            size,
            slide,
            names: [quoted(left_as), quoted(right_as)],
            lists,
            watermark: i64::MIN,
            batch_size: batch_size.max(1),
            flatten: false,
        }
    }

    /// The same, writing each side's fields at the top level when `flatten`.
    pub(super) fn flattened(mut self, flatten: bool) -> Self {
        self.flatten = flatten;
        self
    }

    /// Emits every pair of every window whose last millisecond is at or before `up_to`.
    fn fire(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let (size, batch_size) = (self.size, self.batch_size);
        let mut out = Batches::new(batch_size, emit);
        let mut line = String::new();
        let (names, flatten) = (&self.names, self.flatten);
        self.lists
            .take_due(up_to, batch_size, &mut |start, key, sides: Sides| {
                let [left, right] = sides;
                if left.is_empty() || right.is_empty() {
                    return Ok(());
                }
                let right: Vec<String> = right.iter().map(|r| pair_side(names, flatten, 1, &key_json(r))).collect();
                let (key_text, end) = (key_json(key), start + size);
                for left in left {
                    let left = pair_side(names, flatten, 0, &key_json(&left));
                    for right in &right {
                        line.clear();
                        let _ = write!(
                            line,
                            "{{\"key\":{key_text},\"window_start\":{start},\"window_end\":{end},{left},{right}}}"
                        );
                        out.push(Some(key), line.as_bytes(), end - 1)?;
                    }
                }
                Ok(())
            })?;
        out.finish()
    }
}

impl Operator for WindowJoin {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let (slide, watermark) = (self.slide, self.watermark);
        self.lists.add(0, &batch, slide, watermark, rejects)?;
        Ok(RecordBatch::default())
    }

    fn process_second(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let (slide, watermark) = (self.slide, self.watermark);
        self.lists.add(1, &batch, slide, watermark, rejects)?;
        Ok(RecordBatch::default())
    }

    keeps_window_lists!();
}

/// `record` (JSON text) as the members of a pair for side `side`: `"<name>":record`, or
/// with `flatten` each field of an object as `"<name>$<field>":value`.
pub(super) fn pair_side(names: &[String; 2], flatten: bool, side: usize, record: &str) -> String {
    let name = &names[side];
    let fields = match flatten {
        true => serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(record).ok(),
        false => None,
    };
    let Some(fields) = fields else {
        return format!("{name}:{record}");
    };
    // The quoted name without its closing quote, then `$field"`.
    let open = &name[..name.len() - 1];
    let members: Vec<String> = fields
        .iter()
        .map(|(field, value)| {
            let quoted = serde_json::Value::from(field.as_str()).to_string();
            format!("{open}${}:{value}", &quoted[1..])
        })
        .collect();
    members.join(",")
}
