//! Built-in aggregate functions (count, sum, min, max, avg) of JSON fields.

use super::KeyField;
use super::key_cache::{KeyCache, PerKey, Plain};
use super::{acc_codec, key_of};
use crate::error::TaskError;
use crate::json::{self, FieldPath, Number};
use crate::operators::Batches;
use crate::operators::{Operator, RejectSink, Rejection};
use std::fmt::Write as _;
use weir_proto::spec::AggregateFn;
use weir_proto::{RecordBatch, RecordRef};
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};

/// One function of the aggregate and where it writes.
pub(crate) struct BuiltinFunction {
    pub function: AggregateFn,
    pub field: Option<FieldPath>,
    pub output: String,
}

#[derive(Debug, Clone)]
pub(super) enum Acc {
    Count(u64),
    Sum(Number),
    Min(Option<Number>),
    Max(Option<Number>),
    Avg(f64, u64),
    /// The maximum and the records holding it, sorted and without repeats.
    MaxBy(Option<Number>, Vec<Vec<u8>>),
}

impl Acc {
    fn new(function: AggregateFn) -> Self {
        match function {
            AggregateFn::Count => Acc::Count(0),
            AggregateFn::Sum => Acc::Sum(Number::Int(0)),
            AggregateFn::Min => Acc::Min(None),
            AggregateFn::Max => Acc::Max(None),
            AggregateFn::Avg => Acc::Avg(0.0, 0),
            AggregateFn::MaxBy => Acc::MaxBy(None, Vec::new()),
        }
    }

    /// Combines another accumulator of the same function into this one (merging sessions).
    pub(super) fn merge(&mut self, other: &Acc) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum(a), Acc::Sum(b)) => *a = add(*a, *b),
            (Acc::Min(a), Acc::Min(Some(b))) => {
                *a = Some(a.map_or(*b, |m| if less(*b, m) { *b } else { m }))
            }
            (Acc::Max(a), Acc::Max(Some(b))) => {
                *a = Some(a.map_or(*b, |m| if less(m, *b) { *b } else { m }))
            }
            (Acc::Avg(sum, n), Acc::Avg(other_sum, other_n)) => {
                *sum += other_sum;
                *n += other_n;
            }
            (Acc::MaxBy(max, records), Acc::MaxBy(Some(other), others)) => {
                for record in others {
                    max_by(max, records, *other, record);
                }
            }
            _ => {}
        }
    }

    fn add(&mut self, value: Option<Number>, record: &[u8]) {
        match (self, value) {
            (Acc::MaxBy(max, records), Some(v)) => max_by(max, records, v, record),
            (Acc::Count(n), _) => *n += 1,
            (Acc::Sum(sum), Some(v)) => *sum = add(*sum, v),
            (Acc::Min(min), Some(v)) => {
                *min = Some(min.map_or(v, |m| if less(v, m) { v } else { m }))
            }
            (Acc::Max(max), Some(v)) => {
                *max = Some(max.map_or(v, |m| if less(m, v) { v } else { m }))
            }
            (Acc::Avg(sum, n), Some(v)) => {
                *sum += v.as_f64();
                *n += 1;
            }
            (_, None) => {}
        }
    }

    /// Takes a value back out (a retracted row of an updating input): COUNT, SUM and AVG only,
    /// which the graph builder checks.
    fn retract(&mut self, value: Option<Number>) {
        match (self, value) {
            (Acc::Count(n), _) => *n = n.saturating_sub(1),
            (Acc::Sum(sum), Some(v)) => *sum = add(*sum, negate(v)),
            (Acc::Avg(sum, n), Some(v)) => {
                *sum -= v.as_f64();
                *n = n.saturating_sub(1);
            }
            _ => {}
        }
    }

    fn write_json(&self, out: &mut String) {
        let number = |n: Number, out: &mut String| match n {
            Number::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Number::Float(f) => out.push_str(&serde_json::Value::from(f).to_string()),
        };
        match *self {
            Acc::MaxBy(_, ref records) => {
                out.push('[');
                for (i, record) in records.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&String::from_utf8_lossy(record));
                }
                out.push(']');
            }
            Acc::Count(n) => {
                let _ = write!(out, "{n}");
            }
            Acc::Sum(sum) => number(sum, out),
            Acc::Min(Some(v)) | Acc::Max(Some(v)) => number(v, out),
            Acc::Min(None) | Acc::Max(None) => out.push_str("null"),
            Acc::Avg(_, 0) => out.push_str("null"),
            Acc::Avg(sum, n) => number(Number::Float(sum / n as f64), out),
        }
    }
}

/// Folds `record` with value `value` into a maximum and the records holding it.
fn max_by(max: &mut Option<Number>, records: &mut Vec<Vec<u8>>, value: Number, record: &[u8]) {
    match *max {
        Some(m) if less(value, m) => {}
        Some(m) if !less(m, value) => {
            if let Err(at) = records.binary_search_by(|r| r.as_slice().cmp(record)) {
                records.insert(at, record.to_vec());
            }
        }
        _ => {
            *max = Some(value);
            records.clear();
            records.push(record.to_vec());
        }
    }
}

fn negate(n: Number) -> Number {
    match n {
        Number::Int(i) => i
            .checked_neg()
            .map_or(Number::Float(-(i as f64)), Number::Int),
        Number::Float(f) => Number::Float(-f),
    }
}

fn add(a: Number, b: Number) -> Number {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => x
            .checked_add(y)
            .map_or(Number::Float(x as f64 + y as f64), Number::Int),
        _ => Number::Float(a.as_f64() + b.as_f64()),
    }
}

fn less(a: Number, b: Number) -> bool {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => x < y,
        _ => a.as_f64() < b.as_f64(),
    }
}

/// Built-in functions of JSON fields, per key; emits `{"<key_as>": key, "<output>": value, ...}`.
/// The built-in functions of one aggregate step: reads their fields from a record, keeps their
/// accumulators, writes their results as JSON fields. Shared by whole-input and windowed
/// aggregates.
pub(super) struct Functions {
    operator: String,
    functions: Vec<BuiltinFunction>,
    names: Vec<String>,
    values: Vec<Option<Number>>,
    /// The record last read, kept only when a function needs whole records (`max_by`).
    record: Vec<u8>,
    keeps_records: bool,
}

impl Functions {
    pub(super) fn new(operator: String, functions: Vec<BuiltinFunction>) -> Self {
        let names = functions
            .iter()
            .map(|f| serde_json::Value::from(f.output.as_str()).to_string())
            .collect();
        Functions {
            operator,
            keeps_records: functions.iter().any(|f| f.function == AggregateFn::MaxBy),
            functions,
            names,
            values: Vec::new(),
            record: Vec::new(),
        }
    }

    /// Reads every function's field of `record` first, so a bad record changes no accumulator;
    /// `false` when it was rejected.
    pub(super) fn read(
        &mut self,
        record: RecordRef<'_>,
        rejects: &mut dyn RejectSink,
    ) -> Result<bool, TaskError> {
        self.values.clear();
        if self.keeps_records {
            self.record.clear();
            self.record.extend_from_slice(record.value);
        }
        for function in &self.functions {
            match &function.field {
                None => self.values.push(None),
                Some(field) => match json::number(record.value, field) {
                    Ok(number) => self.values.push(Some(number)),
                    Err(error) => {
                        rejects.reject(Rejection {
                            operator: self.operator.clone(),
                            module: None,
                            export: None,
                            error: format!("{} of `{field}`: {error}", function.function.name()),
                            origin: None,
                            record: record.into(),
                        })?;
                        return Ok(false);
                    }
                },
            }
        }
        Ok(true)
    }

    /// Fresh accumulators.
    pub(super) fn accumulators(&self) -> Vec<Acc> {
        self.functions
            .iter()
            .map(|f| Acc::new(f.function))
            .collect()
    }

    /// Adds the values last [`Functions::read`] to `accs`.
    pub(super) fn add(&self, accs: &mut [Acc]) {
        for (acc, value) in accs.iter_mut().zip(&self.values) {
            acc.add(*value, &self.record);
        }
    }

    /// Takes the values last [`Functions::read`] back out of `accs`.
    pub(super) fn retract(&self, accs: &mut [Acc]) {
        for (acc, value) in accs.iter_mut().zip(&self.values) {
            acc.retract(*value);
        }
    }

    /// Merges `from` into `into`, function by function.
    pub(super) fn merge(&self, into: &mut [Acc], from: &[Acc]) {
        for (acc, other) in into.iter_mut().zip(from) {
            acc.merge(other);
        }
    }

    /// Appends `,"name":result` for every function.
    pub(super) fn write(&self, line: &mut String, accs: &[Acc]) {
        for (name, acc) in self.names.iter().zip(accs) {
            let _ = write!(line, ",{name}:");
            acc.write_json(line);
        }
    }
}

/// An estimate of the heap bytes of one key's accumulators (with its map entry).
pub(super) fn heap_bytes(key: &[u8], accs: &[Acc]) -> u64 {
    let records: usize = accs
        .iter()
        .map(|acc| match acc {
            Acc::MaxBy(_, records) => records.iter().map(|r| r.len() + 24).sum(),
            _ => 0,
        })
        .sum();
    (key.len() + size_of_val(accs) + records + 64) as u64
}

/// A key's accumulators over the whole input.
#[derive(Default)]
pub(crate) struct WholeInput(Vec<Acc>);

impl PerKey for WholeInput {
    const NAMESPACE: &'static [u8] = b"";
    const WHAT: &'static str = "key's accumulators";

    fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        acc_codec::encode(&self.0, &mut bytes);
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        acc_codec::decode(bytes).map(WholeInput)
    }

    fn is_empty(&self) -> bool {
        false
    }
}

/// Built-in functions per key over the whole input: on the heap, or in RocksDB behind a write
/// cache.
pub(crate) struct BuiltinAggregate {
    operator: String,
    /// The output field of the key, as JSON text (`"word"`): written into every result.
    key_field: KeyField,
    functions: Functions,
    state: KeyCache<WholeInput, Plain>,
    batch_size: usize,
    /// Emit an updating result per batch (`-U`/`+U`/`+I` rows) rather than one at the end.
    changelog: bool,
    /// The input is an updating result: `-U`/`-D` records take their row back. Each key's
    /// accumulators then end with a count of the rows it holds, so a key left with none
    /// emits `-D`.
    retract: bool,
    /// The field holding a row's kind (`op`), read with `retract`.
    row_kind: FieldPath,
}

/// The record's row kind `op` takes its row back (`-U`, `-D`); `Err` for a kind that is none
/// of Flink's four.
fn retracts(record: RecordRef<'_>, row_kind: &FieldPath) -> Result<bool, String> {
    match json::field(record.value, row_kind) {
        Err(_) => Ok(false),
        Ok(op) => crate::changelog::retracts(op.trim_matches('"')),
    }
}

/// The rows a key holds, from the count at the end of its accumulators (with `retract`).
fn rows_held(accs: &[Acc]) -> u64 {
    match accs.last() {
        Some(Acc::Count(n)) => *n,
        _ => 0,
    }
}

impl BuiltinAggregate {
    pub(crate) fn new(
        operator: String,
        key_field: KeyField,
        functions: Vec<BuiltinFunction>,
        batch_size: usize,
        state: KeyCache<WholeInput, Plain>,
    ) -> Self {
        BuiltinAggregate {
            functions: Functions::new(operator.clone(), functions),
            operator,
            key_field,
            state,
            batch_size: batch_size.max(1),
            changelog: false,
            retract: false,
            row_kind: FieldPath::parse("op"),
        }
    }

    /// Takes `-U`/`-D` rows of an updating input back out (with a changelog).
    pub(crate) fn with_retract(mut self, retract: bool) -> Self {
        self.retract = retract;
        self
    }

    /// Fresh accumulators of a key, with its row count when rows can be taken back.
    fn fresh(functions: &Functions, retract: bool) -> WholeInput {
        let mut accs = functions.accumulators();
        if retract {
            accs.push(Acc::Count(0));
        }
        WholeInput(accs)
    }

    /// Emits an updating result after each batch instead of one result per key at the end.
    pub(crate) fn with_changelog(mut self, changelog: bool) -> Self {
        self.changelog = changelog;
        self
    }

    /// `key`'s result as a JSON line, with the changelog's row kind `op` if given.
    fn result_line(&self, line: &mut String, op: Option<&str>, key: &[u8], accs: &[Acc]) {
        line.clear();
        line.push('{');
        if let Some(op) = op {
            let _ = write!(line, "\"op\":\"{op}\",");
        }
        self.key_field.write(line, key);
        self.functions.write(line, accs);
        line.push('}');
    }
}

impl Operator for BuiltinAggregate {
    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        self.state.snapshot(id, ()).map(Some)
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        self.state.restore(restored)
    }

    fn state_bytes(&self) -> u64 {
        self.state.state_bytes(|key, accs| heap_bytes(key, &accs.0))
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        // With a changelog: the keys this batch changes, in first-change order, with the
        // result each had before it (`None`: new).
        let mut changed: Vec<(Vec<u8>, Option<Vec<Acc>>)> = Vec::new();
        let mut seen: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
        let retract = self.retract;
        for record in batch.iter() {
            let Some(key) = key_of(record, &self.operator, rejects)? else {
                continue;
            };
            let takes_back = match retract
                .then(|| retracts(record, &self.row_kind))
                .transpose()
            {
                Ok(takes_back) => takes_back.unwrap_or(false),
                Err(error) => {
                    rejects.reject(Rejection::by_step(&self.operator, record, error))?;
                    continue;
                }
            };
            if !self.functions.read(record, rejects)? {
                continue;
            }
            let functions = &self.functions;
            let mut fresh = false;
            let accs = self.state.get_mut(key, || {
                fresh = true;
                Self::fresh(functions, retract)
            })?;
            let held = !fresh && (!retract || rows_held(&accs.0) > 0);
            if takes_back && !held {
                let error = "takes back (-U/-D) a row this aggregate has not counted";
                rejects.reject(Rejection::by_step(
                    &self.operator,
                    record,
                    error.to_string(),
                ))?;
                continue;
            }
            if self.changelog && seen.insert(key.to_vec()) {
                changed.push((key.to_vec(), held.then(|| accs.0.clone())));
            }
            match takes_back {
                true => functions.retract(&mut accs.0),
                false => functions.add(&mut accs.0),
            }
            if let (true, Some(Acc::Count(rows))) = (retract, accs.0.last_mut()) {
                *rows = match takes_back {
                    true => rows.saturating_sub(1),
                    false => *rows + 1,
                };
            }
        }
        let mut out = RecordBatch::default();
        let mut line = String::new();
        for (key, before) in changed {
            let functions = &self.functions;
            let after = self
                .state
                .get_mut(&key, || Self::fresh(functions, retract))?
                .0
                .clone();
            let remains = !retract || rows_held(&after) > 0;
            let op = match (&before, remains) {
                (Some(before), true) => {
                    self.result_line(&mut line, Some("-U"), &key, before);
                    out.push(Some(&key), line.as_bytes(), 0);
                    "+U"
                }
                (Some(before), false) => {
                    self.result_line(&mut line, Some("-D"), &key, before);
                    out.push(Some(&key), line.as_bytes(), 0);
                    continue;
                }
                (None, true) => "+I",
                (None, false) => continue,
            };
            self.result_line(&mut line, Some(op), &key, &after);
            out.push(Some(&key), line.as_bytes(), 0);
        }
        Ok(out)
    }

    fn finish(
        &mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        if self.changelog {
            // Every change went out with its batch.
            return Ok(());
        }
        let mut all = self.state.take_all()?;
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = Batches::new(self.batch_size, emit);
        let mut line = String::new();
        for (key, accs) in all {
            self.result_line(&mut line, None, &key, &accs.0);
            out.push(Some(&key), line.as_bytes(), 0)?;
        }
        out.finish()
    }
}

/// A key (or record) as JSON: its own text when it is JSON already (keys from a JSON field),
/// else a JSON string of it.
pub(crate) fn key_json(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => text.to_string(),
        _ => serde_json::Value::from(String::from_utf8_lossy(key).into_owned()).to_string(),
    }
}
