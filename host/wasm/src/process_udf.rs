//! A keyed process function instance (`weir:udf/process`): records and fired timers in, records
//! out, with the subtask's keyed state and the timer calls the guest made.

use super::bindings::{process, transform};
use super::engine::{LoadedModule, SandboxLimits, WasmEngine};
use super::error::{ModuleError, ModuleIdentity, UdfError};
use super::sandbox::{
    KeyedScope, KeyedState, Sandbox, StoreState, TimerRequest, TimerScope, World,
};
use super::udf::{RecordError, check_errors};
use std::sync::{Arc, Mutex};
use wasmtime::Store;
use wasmtime::component::InstancePre;
use weir_proto::RecordBatch;

pub(crate) struct ProcessWorld;

impl World for ProcessWorld {
    type Pre = process::ProcessUdfPre<StoreState>;
    type Bindings = process::ProcessUdf;
    const INTERFACE: &'static str = "weir:udf/process";

    fn pre(instance_pre: InstancePre<StoreState>) -> wasmtime::Result<Self::Pre> {
        process::ProcessUdfPre::new(instance_pre)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Self::Bindings> {
        pre.instantiate(store)
    }
}

/// What one call produced.
pub struct ProcessOutput {
    /// The records it emitted.
    pub records: RecordBatch,
    /// Input records it reported as bad.
    pub errors: Vec<RecordError>,
    /// The timers it set and removed, in order.
    pub timers: Vec<TimerRequest>,
}

/// A keyed process function instance.
pub struct ProcessUdf {
    sandbox: Sandbox<ProcessWorld>,
    state: Arc<Mutex<KeyedState>>,
}

impl ProcessUdf {
    /// Checks `module`'s exports and prepares an instance keeping its state in `state`.
    pub fn new(
        engine: &WasmEngine,
        module: &LoadedModule,
        limits: SandboxLimits,
        state: KeyedState,
    ) -> Result<Self, ModuleError> {
        Ok(ProcessUdf {
            sandbox: Sandbox::new(engine, module, "process", limits)?,
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// The module it runs.
    pub fn module(&self) -> &ModuleIdentity {
        self.sandbox.module()
    }

    /// Bytes of keyed state it holds.
    pub fn state_bytes(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).size()
    }

    /// Runs `f` on its keyed state (between calls: for timers, snapshots and restores).
    pub fn with_state<T>(&self, f: impl FnOnce(&mut KeyedState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Processes records (`timers` false) or fired timers (`timers` true) at `watermark`.
    pub fn call(
        &mut self,
        input: &mut RecordBatch,
        watermark: i64,
        timers: bool,
    ) -> Result<ProcessOutput, UdfError> {
        let export = if timers { "on-timer" } else { "process" };
        let scope = KeyedScope::of(input, &self.state);
        let batch = transform::weir::udf::types::Batch::from(std::mem::take(input));
        let result = self.sandbox.call(export, |b, store| {
            store.data_mut().keyed = Some(scope);
            store.data_mut().timers = Some(TimerScope {
                watermark,
                requests: Vec::new(),
            });
            let process = b.weir_udf_process();
            let result = match timers {
                true => process.call_on_timer(&mut *store, &batch),
                false => process.call_process(&mut *store, &batch),
            };
            store.data_mut().keyed = None;
            let requests = store.data_mut().timers.take().unwrap_or_default().requests;
            result.map(|output| (output, requests))
        });
        *input = batch.into();
        let (output, requests) = result?;
        let errors: Vec<RecordError> = output.errors.into_iter().map(Into::into).collect();
        let records = RecordBatch::from(output.output);
        if let Err(detail) = records
            .validate()
            .map_err(|e| e.to_string())
            .and_then(|()| check_errors(&errors, input.len()))
        {
            return Err(self.sandbox.bad_output(export, detail));
        }
        Ok(ProcessOutput {
            records,
            errors,
            timers: requests,
        })
    }
}
