//! The Wasm runtime: compiles, caches, sandboxes and calls UDF components.
//!
//! One wasmtime [`Engine`](wasmtime::Engine) per process (per TaskManager); a component is
//! compiled once per sha256 and kept precompiled on disk; instances are created from an
//! `InstancePre` on a pooling allocator, each in its own store with a memory limit and a per-call
//! time limit. Guests get no WASI capability but stdout and stderr, which go to the log. A store
//! that trapped is discarded and the next call gets a fresh instance.
//!
//! This module must not know about tasks, channels or dead letters: it turns a batch into a
//! result or a [`UdfError`] that names the module and export, and the operators decide what
//! a failure means for the job.
#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]

mod bindings;
mod cache;
mod engine;
mod error;
mod guest_log;
mod process_udf;
mod sandbox;
pub mod stats;
mod udf;

pub use engine::{EngineConfig, LoadedModule, SandboxLimits, WasmEngine};
pub use error::{ModuleError, ModuleIdentity, UdfError, UdfFailure};
pub use process_udf::{ProcessOutput, ProcessUdf};
pub use sandbox::TimerRequest;
pub use udf::{AggregateUdf, KeyUdf, RecordError, TransformUdf};
