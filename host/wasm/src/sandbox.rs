//! One sandboxed instance of a module: its store, limits and log, and the rule that a store
//! which trapped is thrown away.

use super::engine::{EPOCH_TICK, LoadedModule, SandboxLimits, WasmEngine};
use super::error::{ModuleError, ModuleIdentity, UdfError, UdfFailure};
use super::guest_log::GuestLog;
use wasmtime::component::{InstancePre, ResourceTable, types::ComponentItem};
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// What a UDF's store holds: its WASI context (stdio only) and its memory accounting.
pub struct StoreState {
    /// The keys of the batch being processed and the operator's keyed state, while a keyed
    /// step's call runs.
    pub keyed: Option<KeyedScope>,
    /// The timer calls of a keyed process function's call, while it runs.
    pub timers: Option<TimerScope>,
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    stderr: GuestLog,
    stdout: GuestLog,
}

/// Values per key and name, for one subtask of one operator, in the job's state backend.
pub(crate) type KeyedState = weir_state::KeyedValues;

/// What the keyed-state imports see during one call.
pub struct KeyedScope {
    /// The key of each record of the input batch, back to back (one copy per batch, not one
    /// allocation per record)…
    pub keys: weir_proto::Blobs,
    /// …and whether each record has one (a record without a key has an empty entry).
    pub has_key: Vec<bool>,
    /// The operator's state; shared so it outlives an instance thrown away after a trap.
    pub state: std::sync::Arc<std::sync::Mutex<KeyedState>>,
}

impl KeyedScope {
    /// The scope of a call on `batch`: its keys, copied once into one buffer.
    pub fn of(
        batch: &weir_proto::RecordBatch,
        state: &std::sync::Arc<std::sync::Mutex<KeyedState>>,
    ) -> Self {
        let mut keys = weir_proto::Blobs::default();
        let mut has_key = Vec::with_capacity(batch.len());
        for record in batch.iter() {
            keys.push(record.key.unwrap_or_default());
            has_key.push(record.key.is_some());
        }
        KeyedScope {
            keys,
            has_key,
            state: state.clone(),
        }
    }
}

impl StoreState {
    fn key(&self, index: u32) -> wasmtime::Result<&[u8]> {
        let Some(scope) = &self.keyed else {
            return Err(wasmtime::Error::msg(
                "keyed state used outside a keyed step: put a `key_by` step before this one",
            ));
        };
        match scope.has_key.get(index as usize) {
            Some(true) => Ok(scope.keys.get(index as usize)),
            Some(false) => Err(wasmtime::Error::msg(format!(
                "keyed state used for record {index}, which has no key: put a `key_by` step before this one"
            ))),
            None => Err(wasmtime::Error::msg(format!(
                "keyed state used for record {index} of a {}-record batch",
                scope.has_key.len()
            ))),
        }
    }

    /// Runs `f` on the state of record `index`'s key; a backend failure traps the call with
    /// the backend's message.
    fn with_state<R>(
        &self,
        index: u32,
        f: impl FnOnce(&mut KeyedState, &[u8]) -> Result<R, weir_state::StateError>,
    ) -> wasmtime::Result<R> {
        let key = self.key(index)?;
        let Some(scope) = &self.keyed else {
            return Err(wasmtime::Error::msg(
                "keyed state used outside a keyed step",
            ));
        };
        let mut state = scope.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state, key).map_err(|e| wasmtime::Error::msg(format!("state backend: {e}")))
    }
}

impl super::bindings::transform::weir::udf::keyed_state::Host for StoreState {
    fn get(&mut self, index: u32, name: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.with_state(index, |state, key| state.get(key, &name))
    }

    fn set(&mut self, index: u32, name: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.with_state(index, |state, key| state.set(key, &name, &value))
    }

    fn clear(&mut self, index: u32, name: String) -> wasmtime::Result<()> {
        self.with_state(index, |state, key| state.clear(key, &name))
    }

    fn list_append(&mut self, index: u32, name: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.with_state(index, |state, key| state.list_append(key, &name, &value))
    }

    fn list_get(&mut self, index: u32, name: String) -> wasmtime::Result<Vec<Vec<u8>>> {
        self.with_state(index, |state, key| state.list_get(key, &name))
    }

    fn map_put(
        &mut self,
        index: u32,
        name: String,
        map_key: Vec<u8>,
        value: Vec<u8>,
    ) -> wasmtime::Result<()> {
        self.with_state(index, |state, key| {
            state.map_put(key, &name, &map_key, &value)
        })
    }

    fn map_get(
        &mut self,
        index: u32,
        name: String,
        map_key: Vec<u8>,
    ) -> wasmtime::Result<Option<Vec<u8>>> {
        self.with_state(index, |state, key| state.map_get(key, &name, &map_key))
    }

    fn reduce(
        &mut self,
        index: u32,
        name: String,
        op: super::bindings::transform::weir::udf::keyed_state::ReduceOp,
        value: i64,
    ) -> wasmtime::Result<()> {
        use super::bindings::transform::weir::udf::keyed_state::ReduceOp;
        let op = match op {
            ReduceOp::Sum => 0,
            ReduceOp::Min => 1,
            ReduceOp::Max => 2,
        };
        self.with_state(index, |state, key| state.reduce(key, &name, op, value))
    }

    fn reduced(&mut self, index: u32, name: String) -> wasmtime::Result<Option<i64>> {
        self.with_state(index, |state, key| state.reduced(key, &name))
    }

    fn map_remove(&mut self, index: u32, name: String, map_key: Vec<u8>) -> wasmtime::Result<()> {
        self.with_state(index, |state, key| state.map_remove(key, &name, &map_key))
    }

    fn map_entries(
        &mut self,
        index: u32,
        name: String,
    ) -> wasmtime::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.with_state(index, |state, key| state.map_entries(key, &name))
    }
}

/// What the timer imports see during one call of a keyed process function.
#[derive(Debug, Default)]
pub struct TimerScope {
    /// The operator's watermark.
    pub watermark: i64,
    /// The calls made, in order, for the operator to apply after the call.
    pub requests: Vec<TimerRequest>,
}

/// One timer call of a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerRequest {
    /// The key the record named.
    pub key: Vec<u8>,
    /// When.
    pub time: i64,
    /// Event time (else processing time).
    pub event_time: bool,
    /// Register (else delete).
    pub register: bool,
}

impl StoreState {
    fn timer(
        &mut self,
        index: u32,
        time: i64,
        event_time: bool,
        register: bool,
    ) -> wasmtime::Result<()> {
        let key = self.key(index)?.to_vec();
        let Some(timers) = &mut self.timers else {
            return Err(wasmtime::Error::msg(
                "timers used outside a keyed process step",
            ));
        };
        timers.requests.push(TimerRequest {
            key,
            time,
            event_time,
            register,
        });
        Ok(())
    }
}

impl super::bindings::process::weir::udf::timers::Host for StoreState {
    fn register_event_time(&mut self, index: u32, time: i64) -> wasmtime::Result<()> {
        self.timer(index, time, true, true)
    }

    fn delete_event_time(&mut self, index: u32, time: i64) -> wasmtime::Result<()> {
        self.timer(index, time, true, false)
    }

    fn register_processing_time(&mut self, index: u32, time: i64) -> wasmtime::Result<()> {
        self.timer(index, time, false, true)
    }

    fn delete_processing_time(&mut self, index: u32, time: i64) -> wasmtime::Result<()> {
        self.timer(index, time, false, false)
    }

    fn current_watermark(&mut self) -> wasmtime::Result<i64> {
        Ok(self.timers.as_ref().map_or(i64::MIN, |t| t.watermark))
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps linear memory and remembers a refused growth, so an out-of-memory trap can be reported
/// as the memory limit rather than as a bare `unreachable`.
struct MemoryLimiter {
    limit: usize,
    refused: Option<usize>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// A world of the UDF interface, as the host calls it.
pub(crate) trait World {
    /// Pre-instantiated, type-checked bindings.
    type Pre;
    /// Bindings of one live instance.
    type Bindings;
    /// The exported interface, e.g. `weir:udf/transform`.
    const INTERFACE: &'static str;
    fn pre(instance_pre: InstancePre<StoreState>) -> wasmtime::Result<Self::Pre>;
    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Self::Bindings>;
}

/// A module's sandbox for one operator instance; re-instantiates after a trap.
pub(crate) struct Sandbox<W: World> {
    engine: WasmEngine,
    module: ModuleIdentity,
    pre: W::Pre,
    limits: SandboxLimits,
    live: Option<(Store<StoreState>, W::Bindings)>,
    stats: std::sync::Arc<super::stats::ModuleStats>,
}

impl<W: World> Sandbox<W> {
    /// Checks that `module` exports `W`'s interface at a supported version and links it.
    /// `step_kind` (`map`, `key_by`, ...) names the step in messages.
    pub(crate) fn new(
        engine: &WasmEngine,
        module: &LoadedModule,
        step_kind: &'static str,
        limits: SandboxLimits,
    ) -> Result<Self, ModuleError> {
        check_exports::<W>(engine, module, step_kind)?;
        let link_error = |e: wasmtime::Error| ModuleError::Link {
            module: module.identity.clone(),
            detail: format!("{e:#}"),
        };
        let instance_pre = engine
            .linker()
            .instantiate_pre(&module.component)
            .map_err(link_error)?;
        let pre = W::pre(instance_pre).map_err(|e| ModuleError::WrongInterface {
            module: module.identity.clone(),
            expected: versioned(W::INTERFACE),
            step_kind,
            attribute: sdk_attribute(step_kind),
            found: format!("(types do not match: {e:#})"),
        })?;
        Ok(Sandbox {
            engine: engine.clone(),
            stats: super::stats::for_module(&module.identity.name, &module.identity.sha256),
            module: module.identity.clone(),
            pre,
            limits,
            live: None,
        })
    }

    /// The module this sandbox runs.
    pub(crate) fn module(&self) -> &ModuleIdentity {
        &self.module
    }

    /// Calls `function` through `call` on a live instance (instantiating one if needed), under
    /// the time limit. Any failure discards the instance.
    pub(crate) fn call<R>(
        &mut self,
        function: &str,
        call: impl FnOnce(&W::Bindings, &mut Store<StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, UdfError> {
        let deadline_ticks = self
            .limits
            .call_timeout
            .as_millis()
            .div_ceil(EPOCH_TICK.as_millis()) as u64
            + 1;
        let (mut store, bindings) = match self.live.take() {
            Some(live) => live,
            None => self.instantiate(function, deadline_ticks)?,
        };
        store.set_epoch_deadline(deadline_ticks);
        store.data().stderr.begin_call();
        store.data().stdout.begin_call();
        let started = std::time::Instant::now();
        let result = call(&bindings, &mut store);
        self.stats
            .record(started.elapsed().as_nanos() as u64, result.is_err());
        match result {
            Ok(result) => {
                self.live = Some((store, bindings));
                Ok(result)
            }
            Err(error) => {
                // The instance is dropped here: a store that trapped is never used again.
                let failure = classify(&self.limits, &error, store.data());
                Err(self.error(function, failure))
            }
        }
    }

    /// Checks a guest's output and turns an ABI violation into a call failure.
    pub(crate) fn bad_output(&mut self, function: &str, detail: String) -> UdfError {
        self.live = None;
        self.error(function, UdfFailure::BadOutput { detail })
    }

    /// The keyed-state backend could not keep a successful call's writes: the task fails (a
    /// storage fault, not the records' fault, so nothing is dead-lettered).
    pub(crate) fn state_failed(&self, function: &str, error: &weir_state::StateError) -> UdfError {
        self.error(
            function,
            UdfFailure::State {
                detail: error.to_string(),
            },
        )
    }

    /// A call with keyed state that reported `count` bad records (its writes are discarded).
    pub(crate) fn rejected_records(&self, function: &str, count: usize) -> UdfError {
        self.error(function, UdfFailure::RejectedRecords { count })
    }

    fn error(&self, function: &str, failure: UdfFailure) -> UdfError {
        UdfError {
            module: self.module.clone(),
            export: format!("{}#{function}", versioned(W::INTERFACE)),
            failure,
        }
    }

    fn instantiate(
        &self,
        function: &str,
        deadline_ticks: u64,
    ) -> Result<(Store<StoreState>, W::Bindings), UdfError> {
        let stdout = GuestLog::new(&self.module.name, "stdout");
        let stderr = GuestLog::new(&self.module.name, "stderr");
        // No preopened directories, no environment, no arguments, no network: stdio only.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = StoreState {
            keyed: None,
            timers: None,
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: self.limits.memory_bytes as usize,
                refused: None,
            },
            stderr,
            stdout,
        };
        let mut store = Store::new(self.engine.engine(), state);
        store.limiter(|state| &mut state.limiter);
        // The deadline must be set before instantiation, or start-up code traps at once.
        store.set_epoch_deadline(deadline_ticks);
        match W::instantiate(&self.pre, &mut store) {
            Ok(bindings) => Ok((store, bindings)),
            Err(error) => {
                let failure = match classify(&self.limits, &error, store.data()) {
                    UdfFailure::Trap {
                        trap,
                        guest_message,
                    } => UdfFailure::Instantiate {
                        detail: if guest_message.is_empty() {
                            trap
                        } else {
                            format!("{trap}; the guest said: {guest_message}")
                        },
                    },
                    other => other,
                };
                Err(self.error(function, failure))
            }
        }
    }
}

/// Names a failed call's cause: the memory limit, the time limit, or a trap with the guest's words.
fn classify(limits: &SandboxLimits, error: &wasmtime::Error, state: &StoreState) -> UdfFailure {
    if let Some(requested) = state.limiter.refused {
        return UdfFailure::MemoryLimit {
            limit_bytes: limits.memory_bytes,
            requested_bytes: requested as u64,
        };
    }
    if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
        return UdfFailure::Timeout {
            limit_ms: limits.call_timeout.as_millis() as u64,
        };
    }
    let trap = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    };
    let mut guest_message = state.stderr.call_output();
    let stdout = state.stdout.call_output();
    if guest_message.trim().is_empty() {
        guest_message = stdout;
    }
    UdfFailure::Trap {
        trap,
        guest_message: guest_message.trim().to_string(),
    }
}

fn versioned(interface: &str) -> String {
    format!("{interface}@{}", weir_proto::UDF_ABI_VERSION)
}

/// Names the problem when a module lacks the export: another ABI version, or another interface.
fn check_exports<W: World>(
    engine: &WasmEngine,
    module: &LoadedModule,
    step_kind: &'static str,
) -> Result<(), ModuleError> {
    let component_type = module.component.component_type();
    let exports: Vec<String> = component_type
        .exports(engine.engine())
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
        .map(|(name, _)| name.to_string())
        .collect();
    let expected = versioned(W::INTERFACE);
    if exports.contains(&expected) {
        return Ok(());
    }
    if let Some(found) = exports
        .iter()
        .find(|name| name.split('@').next() == Some(W::INTERFACE))
    {
        return Err(ModuleError::UnsupportedVersion {
            module: module.identity.clone(),
            found: found.clone(),
            supported: weir_proto::UDF_ABI_VERSION.to_string(),
        });
    }
    Err(ModuleError::WrongInterface {
        module: module.identity.clone(),
        expected,
        step_kind,
        attribute: sdk_attribute(step_kind),
        found: if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports.join(", ")
        },
    })
}

/// The Rust SDK attribute that exports what a step of `step_kind` calls.
fn sdk_attribute(step_kind: &str) -> &'static str {
    match step_kind {
        "map" => "map",
        "filter" => "filter",
        "flat_map" => "flat_map",
        "key_by" => "key_selector",
        _ => "aggregate",
    }
}
