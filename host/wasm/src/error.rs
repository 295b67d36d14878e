//! Errors of the Wasm runtime, each naming the module it concerns.

use std::fmt;

/// A module as errors and logs name it: the job's name for it and its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModuleIdentity {
    /// The name the job spec gave the module.
    pub name: String,
    /// Hex sha256 of the component bytes.
    pub sha256: String,
}

impl fmt::Display for ModuleIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = self.sha256.get(..12).unwrap_or(&self.sha256);
        write!(f, "module `{}` (sha256 {short})", self.name)
    }
}

/// A module that cannot be used at all: the job cannot start with it.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// Its file cannot be read.
    #[error("{module}: cannot read {path}: {source}")]
    Read {
        /// The module.
        module: ModuleIdentity,
        /// Where it was looked for.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// It is larger than the TaskManager accepts.
    #[error(
        "{module} is {size} bytes, over the {limit}-byte module size limit\n  hint: raise `max_module_bytes` in the engine configuration, or make the module smaller"
    )]
    TooLarge {
        /// The module.
        module: ModuleIdentity,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Its bytes are not WebAssembly.
    #[error(
        "{module} is not a WebAssembly file (it does not start with \\0asm)\n  hint: point the job spec at a .wasm component or at a UDF source directory"
    )]
    NotWasm {
        /// The module.
        module: ModuleIdentity,
    },
    /// It is a core module, not a component.
    #[error(
        "{module} is a core WebAssembly module, not a component\n  hint: build it for wasm32-wasip2 (`weir udf build`), or wrap it with `wasm-tools component new`"
    )]
    CoreModule {
        /// The module.
        module: ModuleIdentity,
    },
    /// Wasmtime rejected it.
    #[error("{module} failed to compile: {detail}")]
    Compile {
        /// The module.
        module: ModuleIdentity,
        /// Wasmtime's explanation.
        detail: String,
    },
    /// It does not export the interface its step needs.
    #[error(
        "{module} does not export `{expected}`, which a {step_kind} step needs; it exports: {found}\n  hint: build the UDF with the matching weir-sdk attribute (#[weir_sdk::{attribute}])"
    )]
    WrongInterface {
        /// The module.
        module: ModuleIdentity,
        /// The interface the step calls.
        expected: String,
        /// What the step is (map, key_by, ...).
        step_kind: &'static str,
        /// The SDK attribute that would have produced the right export.
        attribute: &'static str,
        /// The module's exports, comma-separated.
        found: String,
    },
    /// It exports the interface at an ABI version this host does not know.
    #[error(
        "{module} exports `{found}`, an ABI version this host does not support (supported: {supported})\n  hint: rebuild the UDF against this Weir's SDK"
    )]
    UnsupportedVersion {
        /// The module.
        module: ModuleIdentity,
        /// The export found.
        found: String,
        /// Versions this host supports.
        supported: String,
    },
    /// It imports something the sandbox does not provide.
    #[error(
        "{module} cannot be linked: {detail}\n  hint: UDFs may import only WASI 0.2 interfaces; filesystem, network and environment are not granted"
    )]
    Link {
        /// The module.
        module: ModuleIdentity,
        /// Wasmtime's explanation.
        detail: String,
    },
    /// The engine could not be set up.
    #[error("cannot set up the Wasm engine: {0}")]
    Engine(String),
    /// The precompiled-module cache failed.
    #[error("module cache at {path}: {source}")]
    Cache {
        /// The cache path involved.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

impl ModuleError {
    /// The module concerned, when the error is about one.
    pub fn module(&self) -> Option<&ModuleIdentity> {
        match self {
            ModuleError::Read { module, .. }
            | ModuleError::TooLarge { module, .. }
            | ModuleError::NotWasm { module }
            | ModuleError::CoreModule { module }
            | ModuleError::Compile { module, .. }
            | ModuleError::WrongInterface { module, .. }
            | ModuleError::UnsupportedVersion { module, .. }
            | ModuleError::Link { module, .. } => Some(module),
            ModuleError::Engine(_) | ModuleError::Cache { .. } => None,
        }
    }
}

/// A failed UDF call: which module and export, and how it failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{module}, export `{export}`: {failure}")]
pub struct UdfError {
    /// The module called.
    pub module: ModuleIdentity,
    /// The export called, as `interface#function`.
    pub export: String,
    /// What went wrong.
    pub failure: UdfFailure,
}

/// How a UDF call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdfFailure {
    /// The guest trapped (a Rust panic, an abort, an exception, a bad memory access).
    Trap {
        /// The trap as wasmtime reports it.
        trap: String,
        /// What the guest wrote to stderr during the call (a panic message, a traceback).
        guest_message: String,
    },
    /// The call ran past its time limit and was interrupted.
    Timeout {
        /// The limit, in ms.
        limit_ms: u64,
    },
    /// The guest tried to grow its memory past the limit.
    MemoryLimit {
        /// The limit, in bytes.
        limit_bytes: u64,
        /// The size it asked for, in bytes.
        requested_bytes: u64,
    },
    /// The guest returned something that breaks the ABI (bad offsets, wrong counts).
    BadOutput {
        /// What is wrong with it.
        detail: String,
    },
    /// A fresh instance could not be created.
    Instantiate {
        /// Wasmtime's explanation.
        detail: String,
    },
    /// The call succeeded but the keyed-state backend failed to keep its writes.
    State {
        /// The backend's message.
        detail: String,
    },
    /// A call with keyed state reported records as bad: its writes were discarded, since a bad
    /// record must leave no state behind, and the batch is to be replayed one record at a time.
    RejectedRecords {
        /// How many it reported.
        count: usize,
    },
}

impl UdfFailure {
    /// Whether the failure is a property of the input (the same record fails again): such a
    /// record may be isolated and routed to the dead-letter sink. A timeout is not: it may come
    /// from load, and isolating records one by one would cost a timeout each.
    pub fn is_deterministic(&self) -> bool {
        matches!(
            self,
            UdfFailure::Trap { .. } | UdfFailure::MemoryLimit { .. }
        )
    }
}

impl fmt::Display for UdfFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UdfFailure::Trap {
                trap,
                guest_message,
            } if guest_message.is_empty() => {
                write!(f, "trapped: {trap}")
            }
            UdfFailure::Trap {
                trap,
                guest_message,
            } => {
                write!(
                    f,
                    "trapped: {trap}; the guest said: {}",
                    guest_message.trim_end()
                )
            }
            UdfFailure::Timeout { limit_ms } => write!(
                f,
                "exceeded its time limit of {limit_ms} ms per call and was stopped\n  hint: raise `limits.call_timeout_ms` in the job spec if the UDF is just slow"
            ),
            UdfFailure::MemoryLimit {
                limit_bytes,
                requested_bytes,
            } => write!(
                f,
                "exceeded its memory limit of {} MiB (asked to grow to {} MiB) and was stopped\n  hint: raise `limits.memory_mb` in the job spec if the UDF needs more",
                limit_bytes >> 20,
                requested_bytes >> 20
            ),
            UdfFailure::BadOutput { detail } => {
                write!(f, "returned output that breaks the UDF ABI: {detail}")
            }
            UdfFailure::Instantiate { detail } => write!(f, "could not be instantiated: {detail}"),
            UdfFailure::State { detail } => {
                write!(f, "its keyed state could not be written: {detail}")
            }
            UdfFailure::RejectedRecords { count } => write!(
                f,
                "reported {count} bad record(s) in a batch; its keyed-state writes were discarded for a replay record by record"
            ),
        }
    }
}
