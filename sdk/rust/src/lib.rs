//! Weir's Rust SDK: write a UDF as a plain function with one attribute line.
//!
//! ```text
//! use weir_sdk::Record;
//!
//! #[weir_sdk::map]
//! fn shout(record: Record) -> Result<String, String> {
//!     Ok(record.value_str().map_err(|e| e.to_string())?.to_uppercase())
//! }
//! ```
//!
//! Weir calls a UDF once per batch of records, the batch as a few flat lists (the
//! `weir:udf@0.1.0` WIT interface in `proto/wit/`); this crate hides that layout: your function
//! sees one [`Record`] at a time, and what it returns is written into the output batch. Returning
//! `Err` rejects one record (it goes to the job's dead-letter sink); a panic traps the instance,
//! and the host isolates the record that caused it.
//!
//! Attributes: [`map`], [`filter`], [`flat_map`], [`key_selector`] on functions, [`scalar`] and
//! [`table_function`] on a typed function SQL calls (`CREATE FUNCTION … LANGUAGE WASM`),
//! [`aggregate_function`] on a type implementing [`AggregateFunction`] (SQL's, typed),
//! [`aggregate`] on a type implementing [`Aggregate`], [`process`] on one implementing
//! [`Process`] (keyed state and timers), [`window`] on a function over a whole window's records.
//!
//! JSON records: [`json::fields`] reads the members a UDF uses in one validating pass over the
//! record, borrowing their text (no document, no copies), [`json::int`] their integers:
//!
//! ```text
//! #[weir_sdk::filter]
//! fn selected(bid: Record) -> Result<bool, String> {
//!     let [auction, price] = weir_sdk::json::fields(bid.value(), ["auction", "price"])
//!         .map_err(|e| e.to_string())?;
//!     let int = |raw: Option<&str>| raw.and_then(weir_sdk::json::int).ok_or("not a bid");
//!     Ok(int(auction)? % 123 == 0 || int(price)? > 500)
//! }
//! ```

mod aggregate;
mod batch;
pub mod json;
mod output;
mod process;
mod state;

#[cfg(test)]
mod tests;

pub use aggregate::{AccCodec, Aggregate, AggregateFunction, SqlAggregate};
pub use batch::{Builder as OutputBatch, Record};
pub use output::{FilterResult, FlatMapResult, IntoRecord, KeyResult, MapResult, Out};
pub use process::Process;
pub use weir_sdk_macros::{
    aggregate, aggregate_function, filter, flat_map, key_selector, map, process, scalar,
    table_function, window,
};

/// Bindings generated from `proto/wit`, one module per world. UDF authors never touch these: the
/// attribute macros do.
#[doc(hidden)]
#[allow(missing_docs, unreachable_pub, unused_qualifications, clippy::all)]
pub mod bindings {
    pub mod transform {
        wit_bindgen::generate!({
            path: "../../proto/wit",
            world: "transform-udf",
            pub_export_macro: true,
            export_macro_name: "export_transform",
            default_bindings_module: "weir_sdk::bindings::transform",
        });
    }
    pub mod process {
        wit_bindgen::generate!({
            path: "../../proto/wit",
            world: "process-udf",
            pub_export_macro: true,
            export_macro_name: "export_process",
            default_bindings_module: "weir_sdk::bindings::process",
            with: {
                "weir:udf/types@0.1.0": crate::bindings::transform::weir::udf::types,
                "weir:udf/keyed-state@0.1.0": crate::bindings::transform::weir::udf::keyed_state,
            },
        });
    }
    pub mod key {
        wit_bindgen::generate!({
            path: "../../proto/wit",
            world: "key-udf",
            pub_export_macro: true,
            export_macro_name: "export_key_selector",
            default_bindings_module: "weir_sdk::bindings::key",
        });
    }
    pub mod aggregate {
        wit_bindgen::generate!({
            path: "../../proto/wit",
            world: "aggregate-udf",
            pub_export_macro: true,
            export_macro_name: "export_aggregate",
            default_bindings_module: "weir_sdk::bindings::aggregate",
        });
    }
}

/// What the attribute macros expand to call; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::aggregate::glue::{add, create_accumulator, get_result, merge};
    pub use crate::batch::glue::{run_filter, run_flat_map, run_key_selector, run_map, run_window};
    pub use crate::bindings::aggregate::exports::weir::udf::aggregate::{
        AddOutput, Guest as AggregateGuest,
    };
    pub use crate::bindings::aggregate::weir::udf::types::{
        Batch as AggregateBatch, Blobs as AggregateBlobs,
    };
    pub use crate::bindings::key::exports::weir::udf::key_selector::{
        Guest as KeyGuest, KeysOutput,
    };
    pub use crate::bindings::key::weir::udf::types::Batch as KeyBatch;
    pub use crate::bindings::process::exports::weir::udf::process::{
        Guest as ProcessGuest, ProcessOutput,
    };
    pub use crate::bindings::transform::exports::weir::udf::transform::{
        Guest as TransformGuest, TransformOutput,
    };
    pub use crate::bindings::transform::weir::udf::types::Batch as TransformBatch;
    pub use crate::process::glue::{run_on_timer, run_process};
}
