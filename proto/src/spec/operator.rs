//! Specs of the operators between sources and sinks.

use serde::{Deserialize, Serialize};

/// A call of a Wasm UDF by module name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmCall {
    /// Name of a module in the job's `modules`.
    pub module: String,
    /// Keyed state this step writes expires this long after it was last written (processing
    /// time); unset keeps it forever.
    #[serde(default)]
    pub state_ttl_ms: Option<u64>,
}

/// How a record's key is found: a JSON field of its value, or a Wasm key selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBySpec {
    /// A field of the JSON value; dots go into nested objects (`bid.auction`).
    #[serde(default)]
    pub field: Option<String>,
    /// A module exporting `weir:udf/key-selector`.
    #[serde(default)]
    pub module: Option<String>,
    /// Several top-level fields, together the key (SQL's `GROUP BY a, b` and joins on more
    /// than one column): the key is the JSON array of their values, and an aggregate after it
    /// writes each under its own name.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// A per-key aggregate: a Wasm aggregate function, or built-in functions of JSON fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpec {
    /// A module exporting `weir:udf/aggregate`.
    #[serde(default)]
    pub module: Option<String>,
    /// Built-in aggregate functions; each adds one field to the output object.
    #[serde(default)]
    pub functions: Vec<BuiltinAggregate>,
    /// A whole-window function: a module exporting `weir:udf/transform`, called once per fired
    /// window with all of its records (each timestamped with the window's last millisecond).
    #[serde(default)]
    pub process: Option<String>,
    /// The output field holding the key; defaults to the last part of the `key_by` field, or `key`.
    #[serde(default)]
    pub key_as: Option<String>,
    /// Aggregate per event-time window instead of over the whole input: each window's result
    /// is emitted when the watermark passes its end.
    #[serde(default)]
    pub window: Option<WindowSpec>,
    /// How long after a tumbling or sliding window's end its state is kept: a record arriving
    /// that late still counts, and the window's updated result is emitted again.
    #[serde(default)]
    pub allowed_lateness_ms: u64,
    /// Names a side output of the records too late for any window (past the allowed
    /// lateness): later steps read it with `input: NAME` (Flink's `sideOutputLateData`).
    /// Unset, late records go to the dead-letter sink.
    #[serde(default)]
    pub late_output: Option<String>,
    /// Windows of processing time instead of event time: a record counts in the windows of the
    /// wall-clock time it arrives, and a window fires when the clock passes its end (and all at
    /// the end of bounded input). Tumbling and sliding windows only.
    #[serde(default)]
    pub processing_time: bool,
    /// Built-in functions over the whole input only: instead of one result per key at the end,
    /// an updating result as it goes (Flink's changelog): after each batch, every key it changed
    /// emits `"op": "+I"` (its first result) or `"op": "-U"` (the result it replaces) then
    /// `"op": "+U"` (the new one). What `weir sql` compiles `GROUP BY` without a window into.
    #[serde(default)]
    pub changelog: bool,
    /// With `changelog`: the input is itself an updating result, so a record whose `op` is
    /// `-U` or `-D` takes its row back out (COUNT, SUM and AVG; MIN and MAX cannot forget),
    /// and a key whose rows are all taken back emits `"op": "-D"`. What SQL's `GROUP BY` over
    /// an updating query compiles into.
    #[serde(default)]
    pub retract: bool,
}

/// Event-time windows (times in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WindowSpec {
    /// Fixed, non-overlapping windows of this size, aligned to the epoch.
    Tumbling {
        /// Window length.
        size_ms: u64,
    },
    /// Windows of `size_ms` starting every `slide_ms` (a record is in size/slide windows).
    Sliding {
        /// Window length.
        size_ms: u64,
        /// Distance between window starts.
        slide_ms: u64,
    },
    /// Per key, records closer than `gap_ms` to each other form one session; a session ends
    /// `gap_ms` after its last record.
    Session {
        /// Inactivity that closes a session.
        gap_ms: u64,
    },
    /// Per key, every `size` records form a window (Flink's `countWindow`: a global window with
    /// a purging count trigger); the last, partial one fires at the end of bounded input.
    Count {
        /// Records per window.
        size: u64,
    },
    /// Flink's cumulating windows: within each `size_ms` period (aligned to the epoch), a window
    /// from the period's start to the end of each step, `[s, s + step)`, `[s, s + 2·step)`, …,
    /// `[s, s + size)`; each fires when the watermark passes its end (a day's running totals,
    /// every hour). Built-in functions only.
    Cumulate {
        /// How often a window ends.
        step_ms: u64,
        /// The period, a whole number of steps.
        size_ms: u64,
    },
}

/// What an aggregate step computes, decoded once from its spec's fields: the task builder and
/// the snapshot check match on this, never on combinations of `module`, `process` and
/// `window` (the graph builder refuses the combinations that are none of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateForm {
    /// Built-in functions per key over the whole input.
    Builtin,
    /// A Wasm aggregate per key over the whole input.
    Wasm,
    /// Built-in functions per tumbling or sliding window (`size`, `slide`, ms).
    AlignedWindow(i64, i64),
    /// A Wasm aggregate per tumbling or sliding window.
    WasmWindow(i64, i64),
    /// A Wasm whole-window function per tumbling or sliding window.
    WindowFunction(i64, i64),
    /// Built-in functions per session closed after `gap_ms` of inactivity.
    Session(u64),
    /// Built-in functions per `size` records of a key.
    Count(u64),
    /// Built-in functions per cumulating window (`size`, `step`, ms).
    CumulativeWindow(i64, i64),
}

impl AggregateSpec {
    /// What the step computes; `None` for a combination no aggregate has (a Wasm aggregate or
    /// a window function over sessions or counts).
    pub fn form(&self) -> Option<AggregateForm> {
        let aligned = self.window.and_then(|w| w.aligned());
        Some(match (&self.module, &self.process, self.window, aligned) {
            (_, Some(_), _, Some((size, slide))) => AggregateForm::WindowFunction(size, slide),
            (_, Some(_), _, None) => return None,
            (None, None, None, _) => AggregateForm::Builtin,
            (Some(_), None, None, _) => AggregateForm::Wasm,
            (Some(_), None, Some(_), Some((size, slide))) => AggregateForm::WasmWindow(size, slide),
            (Some(_), None, Some(_), None) => return None,
            (None, None, Some(_), Some((size, slide))) => AggregateForm::AlignedWindow(size, slide),
            (None, None, Some(WindowSpec::Session { gap_ms }), None) => {
                AggregateForm::Session(gap_ms)
            }
            (None, None, Some(WindowSpec::Count { size }), None) => AggregateForm::Count(size),
            (None, None, Some(WindowSpec::Cumulate { step_ms, size_ms }), None) => {
                AggregateForm::CumulativeWindow(size_ms as i64, step_ms as i64)
            }
            (None, None, Some(_), None) => return None,
        })
    }
}

impl WindowSpec {
    /// Length and slide of windows aligned to the epoch (tumbling, sliding); `None` for sessions.
    pub fn aligned(&self) -> Option<(i64, i64)> {
        match *self {
            WindowSpec::Tumbling { size_ms } => Some((size_ms as i64, size_ms as i64)),
            WindowSpec::Sliding { size_ms, slide_ms } => Some((size_ms as i64, slide_ms as i64)),
            WindowSpec::Session { .. } | WindowSpec::Count { .. } | WindowSpec::Cumulate { .. } => {
                None
            }
        }
    }
}

/// Each cumulating window of period `size` and `step` that holds `timestamp`, named by its end
/// minus `size` (so it is due, like a window of `size` starting there, when its end passes),
/// earliest end first.
pub fn cumulate_windows(size: i64, step: i64, timestamp: i64) -> impl Iterator<Item = i64> {
    let period = timestamp - timestamp.rem_euclid(size);
    let first = (timestamp - period) / step + 1;
    (first..=size / step).map(move |k| period + k * step - size)
}

/// The start and end of the cumulating window [`cumulate_windows`] names `id`.
pub fn cumulate_bounds(size: i64, id: i64) -> (i64, i64) {
    let end = id + size;
    (end - 1 - (end - 1).rem_euclid(size), end)
}

/// The start of every aligned window of `size` every `slide` that holds `timestamp`, oldest
/// first.
pub fn window_starts(size: i64, slide: i64, timestamp: i64) -> impl Iterator<Item = i64> {
    let last = timestamp - timestamp.rem_euclid(slide);
    let count = (size + slide - 1) / slide;
    (0..count)
        .rev()
        .map(move |i| last - i * slide)
        .filter(move |start| start + size > timestamp)
}

/// Event time for the records that pass: where their timestamps come from and how late they may
/// arrive (the bounded-out-of-orderness strategy: watermark = highest timestamp seen − delay − 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatermarkSpec {
    /// How far behind the highest timestamp seen a record may still arrive, in milliseconds.
    #[serde(default)]
    pub out_of_orderness_ms: u64,
    /// A JSON field (milliseconds since the epoch) to take each record's timestamp from; by
    /// default the source's own timestamps stand.
    #[serde(default)]
    pub timestamp_field: Option<String>,
    /// Ingestion time: each record's timestamp is the wall-clock time it passes this step
    /// (instead of a time the data carries).
    #[serde(default)]
    pub ingestion_time: bool,
    /// After this long without records, this step's subtask declares itself idle, so that
    /// downstream event time follows its other inputs instead of waiting for it (a quiet
    /// partition must not stall every window); it becomes active with its next record.
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
}

/// One built-in aggregate function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinAggregate {
    /// Which function.
    #[serde(rename = "fn")]
    pub function: AggregateFn,
    /// The numeric JSON field it reads (not for `count`).
    #[serde(default)]
    pub field: Option<String>,
    /// The output field name; defaults to `count`, or `<fn>_<field>`.
    #[serde(default, rename = "as")]
    pub output: Option<String>,
}

impl BuiltinAggregate {
    /// The output field this function writes.
    pub fn output_name(&self) -> String {
        match (&self.output, &self.field) {
            (Some(name), _) => name.clone(),
            (None, Some(field)) => format!("{}_{}", self.function.name(), field.replace('.', "_")),
            (None, None) => self.function.name().to_string(),
        }
    }
}

/// The built-in aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFn {
    /// Number of records.
    Count,
    /// Sum of a numeric field.
    Sum,
    /// Smallest value of a numeric field.
    Min,
    /// Largest value of a numeric field.
    Max,
    /// Mean of a numeric field.
    Avg,
    /// The whole records with the largest value of a numeric field: every record tied for the
    /// maximum, as a JSON array ordered by their text (so the result does not depend on arrival
    /// order). Nexmark q5's "hot items" is `max_by` over per-auction counts.
    MaxBy,
}

impl AggregateFn {
    /// The name used in job specs.
    pub fn name(self) -> &'static str {
        match self {
            AggregateFn::Count => "count",
            AggregateFn::Sum => "sum",
            AggregateFn::Min => "min",
            AggregateFn::Max => "max",
            AggregateFn::Avg => "avg",
            AggregateFn::MaxBy => "max_by",
        }
    }
}

/// A two-input keyed join: records of this step's input (the left side) and of the step named
/// `with` (the right side) pair up when their keys are equal and they fall in the same
/// event-time window; each pair is emitted when the watermark passes the window's end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinSpec {
    /// The step whose records are the right side; it must be a `key_by`, like the left input.
    pub with: String,
    /// The windows records pair in (tumbling or sliding). Without one it is a regular join
    /// (Flink's): every record of either side is kept, and pairs with every record of the
    /// other side of its key as soon as both have arrived.
    #[serde(default)]
    pub window: Option<WindowSpec>,
    /// Output field of the left record (default `left`).
    #[serde(default, rename = "left_as")]
    pub left_as: Option<String>,
    /// Output field of the right record (default `right`).
    #[serde(default, rename = "right_as")]
    pub right_as: Option<String>,
    /// Names a side output of the records of either input too late for any window: later
    /// steps read it with `input: NAME`. Unset, late records go to the dead-letter sink.
    #[serde(default)]
    pub late_output: Option<String>,
    /// Each side's fields at the top level of a pair, as `<left_as>$<field>` and
    /// `<right_as>$<field>` (what a SQL window join projects from), instead of one nested
    /// object per side. A side that is not a JSON object stays under its name.
    #[serde(default)]
    pub flatten: bool,
    /// A regular join's inputs may be updating results: a record whose `op` is `-U` or `-D`
    /// takes its row back out, and every pair is written with its kind, `"op": "+I"` or
    /// `"op": "-D"` (the pairs the taken-back row had made).
    #[serde(default)]
    pub changelog: bool,
    /// Which sides of a regular join keep their records without a match (SQL's outer joins):
    /// such a record pairs with nothing (`null`, or no fields when flattened) until a match
    /// arrives, which takes that pair back (`-D`). Implies `changelog`'s row kinds.
    #[serde(default)]
    pub outer: JoinOuter,
}

/// The sides of a regular join whose records are kept without a match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinOuter {
    /// Neither: an inner join.
    #[default]
    Inner,
    /// The left side's (`LEFT JOIN`).
    Left,
    /// The right side's (`RIGHT JOIN`).
    Right,
    /// Both (`FULL JOIN`).
    Full,
}

impl JoinOuter {
    /// Whether `side` (0 left, 1 right) keeps its records without a match.
    pub fn keeps(self, side: usize) -> bool {
        matches!(
            (self, side),
            (JoinOuter::Full, _) | (JoinOuter::Left, 0) | (JoinOuter::Right, 1)
        )
    }
}

/// The first `n` records of each key by a numeric field (Flink's Top-N, SQL's
/// `ROW_NUMBER() OVER (PARTITION BY … ORDER BY …) <= n`), as an updating result: after each
/// batch, every key whose first `n` changed emits `"op": "-D"` for each row that left its place
/// and `"op": "+I"` for each row now in a place, with its place (1 for the first) in
/// `number_as`. Records tied on the field keep their order by their text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopNSpec {
    /// The numeric field records are ranked by.
    pub order_by: String,
    /// Largest first (`ORDER BY … DESC`); smallest first otherwise.
    #[serde(default)]
    pub descending: bool,
    /// How many records of each key are kept and emitted.
    pub n: u32,
    /// The output field holding a row's place; none when unset.
    #[serde(default)]
    pub number_as: Option<String>,
}

/// A native projection and filter by SQL expressions over each record's JSON fields: what
/// `weir sql` compiles `SELECT … FROM … WHERE …` into, usable in job specs as well
/// (`select: { columns: ["auction", "price * 908 / 1000 AS price_eur"], where: "price > 500" }`).
/// Expressions are evaluated natively, a batch at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectSpec {
    /// The output object's fields, in order: each a SQL expression over the input's fields,
    /// `expression [AS name]`.
    pub columns: Vec<String>,
    /// Keeps only the records for which this SQL condition is true.
    #[serde(default, rename = "where")]
    pub condition: Option<String>,
    /// A column name that reads each record's event time as a TIMESTAMP(3) (a table's
    /// time attribute that the source keeps as the record's timestamp, not in its fields).
    #[serde(default)]
    pub rowtime: Option<String>,
    /// Modules (by their name under `modules:`) the expressions call as scalar functions:
    /// each exports `weir:udf/transform` as a map from a JSON array of arguments to a JSON
    /// value (`#[weir_sdk::scalar]`, `@weir_udf.scalar`).
    #[serde(default)]
    pub functions: Vec<String>,
    /// A table function joined to each record before the columns are computed (Flink's
    /// `LATERAL TABLE(f(…)) AS t(a, b)`): the columns and the condition then read its output
    /// columns like input fields, once per row it returns.
    #[serde(default)]
    pub lateral: Option<LateralSpec>,
    /// How each output row is written: a JSON object (the default), a JSON array of its
    /// columns in order (the argument list SQL hands an aggregate function from a module), or
    /// SQL's binary row (for a next step that reads those: another `select`, or a sink that
    /// writes nothing).
    #[serde(default)]
    pub output: SelectOutput,
    /// The columns, in order, of the binary rows the input carries (SQL's, from a `select`
    /// writing them or a generator): a record that is such a row is read by column instead of
    /// as JSON. Empty: records are JSON objects.
    #[serde(default)]
    pub input_rows: Vec<String>,
}

/// How a `select` step writes its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectOutput {
    /// `{"column": value, …}`.
    #[default]
    Object,
    /// `[value, …]`.
    Array,
    /// SQL's binary row (weir-sql's `rows`).
    Rows,
}

/// A table function of a `select` step: a module exporting `weir:udf/transform` as a flat_map
/// from a JSON array of arguments to any number of rows (`#[weir_sdk::table_function]`,
/// `@weir_udf.table_function`, `tableFunction` in JavaScript). A row is a JSON array (its
/// columns in order), an object (columns by name) or, for one column, any JSON value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LateralSpec {
    /// The module, by its name under `modules:`.
    pub function: String,
    /// Its arguments: SQL expressions over the input's fields.
    #[serde(default)]
    pub args: Vec<String>,
    /// The names of the columns of its rows.
    pub columns: Vec<String>,
    /// Keeps a record for which it returns no row, its columns NULL (`LEFT JOIN LATERAL …
    /// ON TRUE`); otherwise such a record has no output (`CROSS JOIN LATERAL`).
    #[serde(default)]
    pub outer: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_in_every_cumulating_window_of_its_period_that_ends_after_it() {
        // Period 1000, step 250: a record at 1600 is in [1000, 1750) and [1000, 2000).
        let ids: Vec<i64> = cumulate_windows(1000, 250, 1600).collect();
        assert_eq!(ids, [750, 1000]);
        let bounds: Vec<(i64, i64)> = ids.iter().map(|&id| cumulate_bounds(1000, id)).collect();
        assert_eq!(bounds, [(1000, 1750), (1000, 2000)]);
        // The first millisecond of a period is in all of its windows; the last only in the last.
        assert_eq!(cumulate_windows(1000, 250, 2000).count(), 4);
        let last: Vec<(i64, i64)> = cumulate_windows(1000, 250, 2999)
            .map(|id| cumulate_bounds(1000, id))
            .collect();
        assert_eq!(last, [(2000, 3000)]);
    }
}
