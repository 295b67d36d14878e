//! Top-N per key (Flink's Rank operator; SQL's `ROW_NUMBER() OVER (PARTITION BY … ORDER BY …)
//! <= n`): each key's first `n` records by a numeric field, kept in the job's keyed state (on
//! the heap or in RocksDB, checkpointed and rescaled by key group), emitted as an updating
//! result. After each batch, a key whose first `n` changed emits `"op": "-D"` for each row that
//! left its place and `"op": "+I"` for each row now in a place, each with its place in
//! `number_as`; applying them gives the current first `n`. Ties keep their order by the
//! record's text, so every run ranks alike.

use super::aggregate::key_of;
use super::{Operator, RejectSink, Rejection};
use crate::error::{TaskError, task_error};
use crate::json::{self, FieldPath, Number};
use std::cmp::Ordering;
use std::collections::HashMap;
use weir_proto::RecordBatch;
use weir_proto::spec::TopNSpec;
use weir_state::KeyedValues;

/// The state name of a key's ranked rows.
const RANKED: &str = "top-n";

/// A key's first rows, in order: each row's value of the ranking field and its JSON text.
type Ranked = Vec<(Number, String)>;

/// One subtask of a top-N step.
pub(super) struct TopN {
    operator: String,
    order_by: FieldPath,
    descending: bool,
    n: usize,
    /// The output field of a row's place, as JSON text.
    number_as: Option<String>,
    state: KeyedValues,
}

impl TopN {
    pub(super) fn new(operator: String, spec: &TopNSpec, state: KeyedValues) -> Self {
        TopN {
            operator,
            order_by: FieldPath::parse(&spec.order_by),
            descending: spec.descending,
            n: usize::try_from(spec.n).unwrap_or(usize::MAX).max(1),
            number_as: spec
                .number_as
                .as_deref()
                .map(|name| serde_json::Value::from(name).to_string()),
            state,
        }
    }

    /// The order of two rows: by value (largest first when descending), then by text.
    fn order(&self, a: &(Number, String), b: &(Number, String)) -> Ordering {
        let by_value = match (a.0, b.0) {
            (Number::Int(x), Number::Int(y)) => x.cmp(&y),
            (x, y) => x.as_f64().total_cmp(&y.as_f64()),
        };
        let by_value = if self.descending {
            by_value.reverse()
        } else {
            by_value
        };
        by_value.then_with(|| a.1.cmp(&b.1))
    }

    /// `key`'s ranked rows as stored.
    fn load(&mut self, key: &[u8]) -> Result<Ranked, TaskError> {
        let stored = self.state.get(key, RANKED);
        let Some(bytes) = stored.map_err(|e| task_error(&self.operator, e))? else {
            return Ok(Vec::new());
        };
        let rows: Vec<(serde_json::Number, String)> = serde_json::from_slice(&bytes)
            .map_err(|e| TaskError::Internal(format!("{}: stored ranks: {e}", self.operator)))?;
        Ok(rows
            .into_iter()
            .map(|(value, row)| {
                let value = match value.as_i64() {
                    Some(int) => Number::Int(int),
                    None => Number::Float(value.as_f64().unwrap_or(f64::NAN)),
                };
                (value, row)
            })
            .collect())
    }

    fn store(&mut self, key: &[u8], ranked: &Ranked) -> Result<(), TaskError> {
        let rows: Vec<(serde_json::Value, &str)> = ranked
            .iter()
            .map(|(value, row)| {
                let value = match *value {
                    Number::Int(int) => serde_json::Value::from(int),
                    Number::Float(float) => serde_json::Value::from(float),
                };
                (value, row.as_str())
            })
            .collect();
        let bytes = serde_json::to_vec(&rows)
            .map_err(|e| TaskError::Internal(format!("{}: ranks: {e}", self.operator)))?;
        let stored = self.state.set(key, RANKED, &bytes);
        stored.map_err(|e| task_error(&self.operator, e))
    }

    /// `row` (a JSON object's text) with its kind and place: `{"op":…,<fields>,"<number_as>":place}`.
    fn line(&self, op: &str, row: &str, place: usize) -> String {
        let fields = row
            .trim()
            .trim_start_matches('{')
            .trim_end_matches('}')
            .trim();
        let mut parts = vec![format!("\"op\":\"{op}\"")];
        if !fields.is_empty() {
            parts.push(fields.to_string());
        }
        if let Some(name) = &self.number_as {
            parts.push(format!("{name}:{place}"));
        }
        format!("{{{}}}", parts.join(","))
    }
}

impl Operator for TopN {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        // The keys this batch changed, in first-change order: (key, before, now, time).
        let mut changed: Vec<(Vec<u8>, Ranked, Ranked, i64)> = Vec::new();
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        for record in batch.iter() {
            let Some(key) = key_of(record, &self.operator, rejects)? else {
                continue;
            };
            let value = match json::number(record.value, &self.order_by) {
                Ok(value) => value,
                Err(error) => {
                    let error = format!("top_n by `{}`: {error}", self.order_by.leaf());
                    rejects.reject(Rejection::by_step(&self.operator, record, error))?;
                    continue;
                }
            };
            let row = String::from_utf8_lossy(record.value).trim().to_string();
            if !row.starts_with('{') {
                let error = "top_n ranks JSON objects".to_string();
                rejects.reject(Rejection::by_step(&self.operator, record, error))?;
                continue;
            }
            let at = match index.get(key) {
                Some(&at) => at,
                None => {
                    let before = self.load(key)?;
                    changed.push((key.to_vec(), before.clone(), before, record.timestamp));
                    index.insert(key.to_vec(), changed.len() - 1);
                    changed.len() - 1
                }
            };
            let entry = (value, row);
            let ranked = &changed[at].2;
            let place =
                ranked.partition_point(|held| self.order(held, &entry) != Ordering::Greater);
            if place < self.n {
                let (_, _, ranked, time) = &mut changed[at];
                ranked.insert(place, entry);
                ranked.truncate(self.n);
                *time = (*time).max(record.timestamp);
            }
        }
        let mut out = RecordBatch::default();
        for (key, before, now, time) in changed {
            if before.iter().map(|r| &r.1).eq(now.iter().map(|r| &r.1)) {
                continue;
            }
            self.store(&key, &now)?;
            let placed = |ranked: &Ranked, place: usize, row: &str| {
                ranked.get(place).is_some_and(|(_, held)| held == row)
            };
            for (place, (_, row)) in before.iter().enumerate() {
                if !placed(&now, place, row) {
                    out.push(Some(&key), self.line("-D", row, place + 1).as_bytes(), time);
                }
            }
            for (place, (_, row)) in now.iter().enumerate() {
                if !placed(&before, place, row) {
                    out.push(Some(&key), self.line("+I", row, place + 1).as_bytes(), time);
                }
            }
        }
        Ok(out)
    }

    keeps_keyed_values!();
}
