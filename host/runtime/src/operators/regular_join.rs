//! A regular join, as Flink's: the records of both keyed inputs are kept in the job's keyed
//! state (on the heap or in RocksDB, checkpointed and rescaled by key group), and a record
//! pairs with every kept record of the other side with its key as soon as it arrives. What SQL
//! joins without a window (`FROM a JOIN b ON a.k = b.k`) compile into.
//!
//! Inputs may be updating results (`JoinSpec::changelog`): a record whose `op` is `-U` or `-D`
//! takes one equal row back out, and the pairs that row made are retracted as `"op": "-D"`;
//! other records pair as `"op": "+I"`. Each side's state per key is a multiset: the row's JSON
//! text (without `op`) and how many times it is held. A retraction of a row the join does not
//! hold is rejected with its reason, never dropped.

use super::aggregate::key_of;
use super::join::pair_side;
use super::{Operator, RejectSink, Rejection};
use crate::error::{TaskError, task_error};
use std::fmt::Write as _;
use weir_proto::{RecordBatch, RecordRef};
use weir_state::KeyedValues;
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};

/// The state name of each side's rows.
const SIDES: [&str; 2] = ["left", "right"];

/// One subtask of a regular join.
pub(super) struct RegularJoin {
    operator: String,
    /// The output field names of the two sides, as JSON strings.
    names: [String; 2],
    flatten: bool,
    changelog: bool,
    state: KeyedValues,
}

/// A record as a join row: its text without `op`, and whether it takes the row back.
struct Row {
    text: String,
    retract: bool,
}

impl RegularJoin {
    pub(super) fn new(
        operator: String,
        (left_as, right_as): (&str, &str),
        (flatten, changelog): (bool, bool),
        state: KeyedValues,
    ) -> Self {
        let quoted = |name: &str| serde_json::Value::from(name).to_string();
        RegularJoin {
            operator,
            names: [quoted(left_as), quoted(right_as)],
            flatten,
            changelog,
            state,
        }
    }

    /// `record` as a row of this join, or why it is not one.
    fn row(&self, record: &RecordRef<'_>) -> Result<Row, String> {
        let text = String::from_utf8_lossy(record.value);
        if !self.changelog {
            return Ok(Row {
                text: text.into_owned(),
                retract: false,
            });
        }
        let mut fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| format!("a row of an updating input is a JSON object: {e}"))?;
        let retract = match fields.remove("op") {
            None => false,
            Some(serde_json::Value::String(op)) => match op.as_str() {
                "+I" | "+U" => false,
                "-U" | "-D" => true,
                other => return Err(format!("row kind `op` is +I, +U, -U or -D, not {other}")),
            },
            Some(other) => return Err(format!("row kind `op` is a string, not {other}")),
        };
        Ok(Row {
            text: serde_json::Value::Object(fields).to_string(),
            retract,
        })
    }

    /// Takes `record` of `side` in: holds (or takes back) its row and writes its pairs.
    fn add(
        &mut self,
        side: usize,
        record: RecordRef<'_>,
        out: &mut RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<(), TaskError> {
        let Some(key) = key_of(record, &self.operator, rejects)? else {
            return Ok(());
        };
        let row = match self.row(&record) {
            Ok(row) => row,
            Err(error) => return self.reject(record, error, rejects),
        };
        let failed = |e| task_error(&self.operator, e);
        let held = self.state.map_get(key, SIDES[side], row.text.as_bytes());
        let held = held.map_err(failed)?.map_or(0, |bytes| count(&bytes));
        let now = match (row.retract, held) {
            (true, 0) => {
                let error = "takes back (-U/-D) a row this join does not hold".to_string();
                return self.reject(record, error, rejects);
            }
            (true, n) => n - 1,
            (false, n) => n + 1,
        };
        let written = match now {
            0 => self.state.map_remove(key, SIDES[side], row.text.as_bytes()),
            n => self
                .state
                .map_put(key, SIDES[side], row.text.as_bytes(), &n.to_le_bytes()),
        };
        written.map_err(failed)?;
        let others = self.state.map_entries(key, SIDES[1 - side]);
        let others = others.map_err(|e| task_error(&self.operator, e))?;
        let own = pair_side(&self.names, self.flatten, side, &row.text);
        let key_text = super::aggregate::key_json(key);
        let op = match (self.changelog, row.retract) {
            (false, _) => "",
            (true, false) => "\"op\":\"+I\",",
            (true, true) => "\"op\":\"-D\",",
        };
        let mut line = String::new();
        for (other, times) in others {
            let other = pair_side(
                &self.names,
                self.flatten,
                1 - side,
                &String::from_utf8_lossy(&other),
            );
            let (left, right) = match side {
                0 => (&own, &other),
                _ => (&other, &own),
            };
            line.clear();
            let _ = write!(line, "{{{op}\"key\":{key_text},{left},{right}}}");
            for _ in 0..count(&times) {
                out.push(Some(key), line.as_bytes(), record.timestamp);
            }
        }
        Ok(())
    }

    fn reject(
        &self,
        record: RecordRef<'_>,
        error: String,
        rejects: &mut dyn RejectSink,
    ) -> Result<(), TaskError> {
        rejects.reject(Rejection {
            operator: self.operator.clone(),
            module: None,
            export: None,
            error,
            origin: None,
            record: record.into(),
        })
    }

    fn side(
        &mut self,
        side: usize,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let mut out = RecordBatch::default();
        for record in batch.iter() {
            self.add(side, record, &mut out, rejects)?;
        }
        Ok(out)
    }
}

/// A held row's count, as stored (little-endian).
fn count(bytes: &[u8]) -> u64 {
    bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

impl Operator for RegularJoin {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        self.side(0, batch, rejects)
    }

    fn process_second(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        self.side(1, batch, rejects)
    }

    fn state_bytes(&self) -> u64 {
        self.state.size()
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        let keyed = self.state.snapshot(id);
        let keyed = keyed.map_err(|e| task_error(&self.operator, e))?;
        Ok(Some(OperatorSnapshot {
            meta: None,
            keyed: Some(keyed),
        }))
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let taken = self.state.restore(restored);
        taken.map_err(|e| task_error(&self.operator, e))
    }
}
