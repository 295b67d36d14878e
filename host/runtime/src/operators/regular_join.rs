//! A regular join, as Flink's: the records of both keyed inputs are kept in the job's keyed
//! state (on the heap or in RocksDB, checkpointed and rescaled by key group), and a record
//! pairs with every kept record of the other side with its key as soon as it arrives. What SQL
//! joins without a window (`FROM a JOIN b ON a.k = b.k`) compile into.
//!
//! Inputs may be updating results (`JoinSpec::changelog`): a record whose `op` is `-U` or `-D`
//! takes one equal row back out, and the pairs that row made are retracted as `"op": "-D"`;
//! other records pair as `"op": "+I"`. Each side's state per key is a multiset: the row (without
//! `op`) as a pair writes it, and how many times it is held. A retraction of a row the join does not
//! hold is rejected with its reason, never dropped.
//!
//! An outer join (`JoinSpec::outer`) keeps a side's rows without a match: such a row pairs
//! with nothing while the other side holds no row of its key, and that pair is taken back when
//! the first such row arrives (and put out again when the last one leaves).

use super::aggregate::key_of;
use super::join::pair_side;
use super::{Operator, RejectSink, Rejection};
use crate::error::{TaskError, task_error};
use std::fmt::Write as _;
use weir_proto::spec::JoinOuter;
use weir_proto::{RecordBatch, RecordRef};
use weir_state::KeyedValues;

/// The state name of each side's rows.
const SIDES: [&str; 2] = ["left", "right"];

/// One subtask of a regular join.
pub(super) struct RegularJoin {
    operator: String,
    /// The output field names of the two sides, as JSON strings.
    names: [String; 2],
    flatten: bool,
    changelog: bool,
    outer: JoinOuter,
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
        (flatten, changelog, outer): (bool, bool, JoinOuter),
        state: KeyedValues,
    ) -> Self {
        let quoted = |name: &str| serde_json::Value::from(name).to_string();
        RegularJoin {
            operator,
            names: [quoted(left_as), quoted(right_as)],
            flatten,
            changelog,
            outer,
            state,
        }
    }

    /// `record` as a row of this join, or why it is not one.
    fn row(&self, record: &RecordRef<'_>) -> Result<Row, String> {
        let text = String::from_utf8_lossy(record.value);
        if !self.changelog && self.outer == JoinOuter::Inner {
            return Ok(Row {
                text: text.into_owned(),
                retract: false,
            });
        }
        let mut fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| format!("a row of an updating input is a JSON object: {e}"))?;
        let retract = match fields.remove("op") {
            None => false,
            Some(serde_json::Value::String(op)) => crate::changelog::retracts(&op)?,
            Some(other) => return Err(format!("row kind `op` is a string, not {other}")),
        };
        Ok(Row {
            text: serde_json::Value::Object(fields).to_string(),
            retract,
        })
    }

    /// Takes `record` of `side` in: holds (or takes back) its row and writes its pairs. In an
    /// outer join, a row of a kept side pairs with nothing while the other side has no row of
    /// its key; the first row to arrive there takes those pairs back, the last to leave puts
    /// them out again.
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
            Err(error) => return rejects.reject(Rejection::by_step(&self.operator, record, error)),
        };
        // Held as the join writes it into a pair, so a pair is written without reading it again.
        let member = pair_side(&self.names, self.flatten, side, &row.text);
        let failed = |e| task_error(&self.operator, e);
        let held = self.state.map_get(key, SIDES[side], member.as_bytes());
        let held = held.map_err(failed)?.map_or(0, |bytes| count(&bytes));
        let now = match (row.retract, held) {
            (true, 0) => {
                let error = "takes back (-U/-D) a row this join does not hold".to_string();
                return rejects.reject(Rejection::by_step(&self.operator, record, error));
            }
            (true, n) => n - 1,
            (false, n) => n + 1,
        };
        // This side's rows of the key before the record, when the other side's unmatched
        // rows depend on them.
        let own_before = match self.outer.keeps(1 - side) {
            true => {
                let own = self.state.map_entries(key, SIDES[side]).map_err(failed)?;
                own.iter().map(|(_, n)| count(n)).sum::<u64>()
            }
            false => 0,
        };
        let written = match now {
            0 => self.state.map_remove(key, SIDES[side], member.as_bytes()),
            n => self
                .state
                .map_put(key, SIDES[side], member.as_bytes(), &n.to_le_bytes()),
        };
        written.map_err(failed)?;
        let others = self
            .state
            .map_entries(key, SIDES[1 - side])
            .map_err(failed)?;
        let mut pairs = Pairs {
            join: self,
            key,
            side,
            time: record.timestamp,
            out,
        };
        let (taken, given) = ("-D", "+I");
        let op = if row.retract { taken } else { given };
        if others.is_empty() {
            if pairs.join.outer.keeps(side) {
                pairs.write(op, Some(&member), None, 1);
            }
            return Ok(());
        }
        let own_after = match row.retract {
            true => own_before.saturating_sub(1),
            false => own_before + 1,
        };
        for (other, times) in &others {
            let other = String::from_utf8_lossy(other);
            let times = count(times);
            pairs.write(op, Some(&member), Some(&other), times);
            // The other side's row pairs with nothing again, or no longer.
            if pairs.join.outer.keeps(1 - side) {
                match (own_before, own_after) {
                    (0, 1..) => pairs.write(taken, None, Some(&other), times),
                    (1.., 0) => pairs.write(given, None, Some(&other), times),
                    _ => {}
                }
            }
        }
        Ok(())
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

/// Where [`RegularJoin::add`] writes the pairs of one record of `side`.
struct Pairs<'a> {
    join: &'a RegularJoin,
    key: &'a [u8],
    side: usize,
    time: i64,
    out: &'a mut RecordBatch,
}

impl Pairs<'_> {
    /// Writes the pair of `own` (a row of this side) and `other` (of the other side), each
    /// as [`pair_side`] writes it, `times` times as `op`; a missing row pairs as nothing
    /// (`null`, or no fields when flattened).
    fn write(&mut self, op: &str, own: Option<&str>, other: Option<&str>, times: u64) {
        let join = self.join;
        let member = |side: usize, row: Option<&str>| match row {
            Some(row) => Some(row.to_string()),
            None if join.flatten => None,
            None => Some(format!("{}:null", join.names[side])),
        };
        let (own, other) = (member(self.side, own), member(1 - self.side, other));
        let (left, right) = match self.side {
            0 => (own, other),
            _ => (other, own),
        };
        let mut line = String::new();
        if join.changelog || join.outer != JoinOuter::Inner {
            let _ = write!(line, "{{\"op\":\"{op}\",");
        } else {
            line.push('{');
        }
        let _ = write!(line, "\"key\":{}", super::aggregate::key_json(self.key));
        for member in [left, right].into_iter().flatten() {
            line.push(',');
            line.push_str(&member);
        }
        line.push('}');
        for _ in 0..times {
            self.out.push(Some(self.key), line.as_bytes(), self.time);
        }
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

    keeps_keyed_values!();
}
