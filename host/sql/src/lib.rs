//! Streaming SQL in Flink's dialect, compiled to the same job specs (and so JobGraphs) that
//! YAML and the Rust builder make: `CREATE TABLE … WITH ('connector' = …)` over Weir's sources
//! and sinks, `WATERMARK FOR`, `SELECT` with scalar expressions and `WHERE`, and `GROUP BY` over
//! the windowing table-valued functions `TUMBLE` and `HOP` or the group windows `TUMBLE`, `HOP`
//! and `SESSION`, and functions from modules in any language: scalar, table (`LATERAL TABLE`) and
//! aggregate. Parsing is sqlparser's (the parser
//! DataFusion and Arroyo use); planning is this crate's own, small and tested (docs/sql.md says
//! why not DataFusion's). Expressions run natively, a batch at a time ([`Projection`]).

mod binary_rows;
mod catalog;
mod columns;
mod error;
mod expr;
mod group;
mod group_window;
mod join;
mod lateral;
mod plan;
mod projection;
mod query;
mod regular_join;
mod relation;
mod row_ops;
pub mod rows;
mod table_function;
mod text;
mod top_n;
mod value;

pub use error::SqlError;
pub use expr::Signatures;
pub use plan::{SqlPlan, plan, plan_with};
pub use projection::{CallResults, NoFunctions, Projection, Refused, ScalarCalls, TableResults};
pub use value::{SqlType, timestamp_text};
