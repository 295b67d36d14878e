//! Weir: a distributed stream processor whose operators are WebAssembly components.
//!
//! This crate is the runtime, organised by Flink's roles: the [`client`] turns a job spec into a
//! JobGraph, the [`jobmanager`] schedules it, the [`taskmanager`] runs its tasks, whose
//! [`operators`] call Wasm UDFs through [`wasm`]. Between processes, [`rpc`] is the control
//! plane and [`net`] the data plane.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod cli;
pub mod client;
mod clock;
pub mod error;
mod fault;
pub mod graph;
pub mod jobmanager;
pub mod json;
pub mod metrics;
pub mod net;
pub mod operators;
pub mod paths;
pub mod rpc;
pub mod state;
pub mod taskmanager;
pub mod wasm;
