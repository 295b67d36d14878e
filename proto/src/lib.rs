//! Weir's leaf crate: the types every part of Weir shares.
//!
//! It owns the WIT package (`proto/wit/`), the job-spec types a user writes in YAML, the JobGraph
//! the client hands to the JobManager, the JobManager's REST views and job statuses, the
//! counters TaskManagers report, the record batch that flows between tasks, and key-group
//! arithmetic. It must not depend on tokio, wasmtime, quinn or RocksDB, so that tests, the client
//! and tools can use these types without compiling the engine.
#![deny(missing_docs)]

pub mod batch;
pub mod failure;
pub mod graph;
pub mod keygroup;
pub mod progress;
pub mod rest;
pub mod spec;
pub mod status;
pub mod wire;

pub use batch::{Blobs, RecordBatch, RecordRef};

/// The WIT package version this crate's types describe; it is also the UDF ABI version.
pub const UDF_ABI_VERSION: &str = "0.1.0";

/// The WIT source of the UDF interface, so tools can show or check it without the files.
pub const UDF_WIT: &str = include_str!("../wit/udf.wit");
