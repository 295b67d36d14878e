//! Weir's operators: what a job's steps become (sources, transforms, keyed and windowed
//! aggregates, joins, process functions, sinks) and the chains they form; `weir-tasks` runs
//! each chain on a task thread.
//!
//! Must not touch: sockets (QUIC lives in `weir-net`), the JobManager, the command line.
#![deny(missing_docs)]

pub mod changelog;
pub mod error;
pub mod exposition;
pub mod fault;
pub mod json;
pub mod operators;
