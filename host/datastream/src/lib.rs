//! The DataStream API: a Weir job written as Rust code, as in Flink — sources, watermarks,
//! `key_by`, windows, window joins, process functions, side outputs, sinks, per-step
//! parallelism and checkpointing. It compiles to the same [`JobSpec`](weir_proto::spec::JobSpec)
//! a YAML file gives, so one validation, one graph builder and one runtime serve both.
//!
//! Steps are Wasm modules (in any language, running anywhere), built-in operators, or typed
//! Rust closures (`map_fn`, `filter_fn`, `flat_map_fn`) over serde types: those run natively in
//! this process, on the embedded mini-cluster that [`StreamEnvironment::execute`] starts.
//!
//! ```no_run
//! use weir_datastream::{StreamEnvironment, aggregates, windows};
//! use weir_datastream::spec::{DatagenMode, DatagenSpec, PayloadFormat, SinkSpec, SourceSpec};
//!
//! #[derive(serde::Deserialize, serde::Serialize)]
//! struct Bid { auction: u64, price: u64 }
//!
//! let env = StreamEnvironment::new("expensive-bids");
//! let bids = env.from_source("bids", SourceSpec::Datagen(DatagenSpec {
//!     mode: DatagenMode::Bids, count: Some(10_000), rate: None, seed: 0,
//!     payload: PayloadFormat::Json, keys: None,
//! }));
//! bids.filter_fn("expensive", |bid: &Bid| bid.price > 500)
//!     .key_by("auction")
//!     .window(windows::tumbling(10_000))
//!     .aggregate(vec![aggregates::count(), aggregates::max("price")])
//!     .sink(SinkSpec::Stdout(Default::default()));
//! env.execute().expect("the job runs");
//! ```

mod env;
mod stream;
mod typed;

pub use env::{ExecuteError, StreamEnvironment};
pub use stream::{DataStream, KeyedStream, WindowedStream};
pub use weir_minicluster::JobOutcome;
/// The job spec's types, for sources, sinks, watermarks and settings.
pub use weir_proto::spec;

/// Window assigners, as in Flink's `TumblingEventTimeWindows.of(…)` and the like (times in ms).
pub mod windows {
    use weir_proto::spec::WindowSpec;

    /// Fixed windows of `size_ms`, aligned to the epoch.
    pub fn tumbling(size_ms: u64) -> WindowSpec {
        WindowSpec::Tumbling { size_ms }
    }

    /// Windows of `size_ms` starting every `slide_ms`.
    pub fn sliding(size_ms: u64, slide_ms: u64) -> WindowSpec {
        WindowSpec::Sliding { size_ms, slide_ms }
    }

    /// Per key, sessions closed by `gap_ms` of inactivity.
    pub fn session(gap_ms: u64) -> WindowSpec {
        WindowSpec::Session { gap_ms }
    }

    /// Per key, every `size` records.
    pub fn count(size: u64) -> WindowSpec {
        WindowSpec::Count { size }
    }

    /// Within each `size_ms` period, a window from its start to the end of every `step_ms`
    /// (Flink's `CUMULATE`): running results every step.
    pub fn cumulate(step_ms: u64, size_ms: u64) -> WindowSpec {
        WindowSpec::Cumulate { step_ms, size_ms }
    }
}

/// Built-in aggregate functions over a JSON field (the result field is named after the
/// function and the field, e.g. `max_price`, unless `.output` is set).
pub mod aggregates {
    use weir_proto::spec::{AggregateFn, BuiltinAggregate};

    fn over(function: AggregateFn, field: Option<&str>) -> BuiltinAggregate {
        BuiltinAggregate {
            function,
            field: field.map(str::to_string),
            output: None,
        }
    }

    /// Records per key (and window).
    pub fn count() -> BuiltinAggregate {
        over(AggregateFn::Count, None)
    }

    /// Sum of `field`.
    pub fn sum(field: &str) -> BuiltinAggregate {
        over(AggregateFn::Sum, Some(field))
    }

    /// Least `field`.
    pub fn min(field: &str) -> BuiltinAggregate {
        over(AggregateFn::Min, Some(field))
    }

    /// Greatest `field`.
    pub fn max(field: &str) -> BuiltinAggregate {
        over(AggregateFn::Max, Some(field))
    }

    /// Mean of `field`.
    pub fn avg(field: &str) -> BuiltinAggregate {
        over(AggregateFn::Avg, Some(field))
    }
}
