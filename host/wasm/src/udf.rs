//! Typed handles on a UDF instance, one per kind of export. Each checks what the guest returns
//! against the ABI before anything downstream trusts it.

use super::bindings::{aggregate, key, transform};
use super::engine::{LoadedModule, SandboxLimits, WasmEngine};
use super::error::{ModuleError, ModuleIdentity, UdfError};
use super::sandbox::{KeyedScope, KeyedState, Sandbox, StoreState, World};
use std::sync::{Arc, Mutex};
use wasmtime::Store;
use wasmtime::component::InstancePre;
use weir_proto::{Blobs, RecordBatch};

/// A guest's verdict that one input record is bad (not a trap: the UDF is fine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Index of the record in the input batch.
    pub index: u32,
    /// The guest's explanation.
    pub message: String,
}

pub(crate) struct TransformWorld;

impl World for TransformWorld {
    type Pre = transform::TransformUdfPre<StoreState>;
    type Bindings = transform::TransformUdf;
    const INTERFACE: &'static str = "weir:udf/transform";

    fn pre(instance_pre: InstancePre<StoreState>) -> wasmtime::Result<Self::Pre> {
        transform::TransformUdfPre::new(instance_pre)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Self::Bindings> {
        pre.instantiate(store)
    }
}

pub(crate) struct KeyWorld;

impl World for KeyWorld {
    type Pre = key::KeyUdfPre<StoreState>;
    type Bindings = key::KeyUdf;
    const INTERFACE: &'static str = "weir:udf/key-selector";

    fn pre(instance_pre: InstancePre<StoreState>) -> wasmtime::Result<Self::Pre> {
        key::KeyUdfPre::new(instance_pre)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Self::Bindings> {
        pre.instantiate(store)
    }
}

pub(crate) struct AggregateWorld;

impl World for AggregateWorld {
    type Pre = aggregate::AggregateUdfPre<StoreState>;
    type Bindings = aggregate::AggregateUdf;
    const INTERFACE: &'static str = "weir:udf/aggregate";

    fn pre(instance_pre: InstancePre<StoreState>) -> wasmtime::Result<Self::Pre> {
        aggregate::AggregateUdfPre::new(instance_pre)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Self::Bindings> {
        pre.instantiate(store)
    }
}

/// Checks that every record error names a record of the input.
pub(crate) fn check_errors(errors: &[RecordError], input_len: usize) -> Result<(), String> {
    match errors.iter().find(|e| e.index as usize >= input_len) {
        Some(e) => Err(format!(
            "a record error names record {} of a {input_len}-record batch",
            e.index
        )),
        None => Ok(()),
    }
}

/// A map, filter or flat_map instance.
pub struct TransformUdf {
    sandbox: Sandbox<TransformWorld>,
    /// The subtask's keyed state, when the component imports `weir:udf/keyed-state`.
    keyed: Option<Arc<Mutex<KeyedState>>>,
    uses_state: bool,
}

impl TransformUdf {
    /// Checks `module`'s exports and prepares an instance; `step_kind` names the step in errors.
    pub fn new(
        engine: &WasmEngine,
        module: &LoadedModule,
        step_kind: &'static str,
        limits: SandboxLimits,
    ) -> Result<Self, ModuleError> {
        let uses_state = module
            .component
            .component_type()
            .imports(engine.engine())
            .any(|(name, _)| name.starts_with("weir:udf/keyed-state"));
        Ok(TransformUdf {
            sandbox: Sandbox::new(engine, module, step_kind, limits)?,
            // Memory until the task gives it the job's backend.
            keyed: uses_state.then(|| Arc::new(Mutex::new(KeyedState::default()))),
            uses_state,
        })
    }

    /// Whether the component imports `weir:udf/keyed-state` (and so needs [`Self::keep_state_in`]).
    pub fn uses_keyed_state(&self) -> bool {
        self.uses_state
    }

    /// Bytes of keyed state it holds.
    pub fn state_bytes(&self) -> u64 {
        self.keyed.as_ref().map_or(0, |state| {
            state.lock().unwrap_or_else(|p| p.into_inner()).size()
        })
    }

    /// Runs `f` on its keyed state, if it keeps any.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut KeyedState) -> T) -> Option<T> {
        let state = self.keyed.as_ref()?;
        Some(f(&mut state.lock().unwrap_or_else(|p| p.into_inner())))
    }

    /// Without keyed state: a SQL function is stateless, so it is called as a pure function
    /// (a record it rejects is rejected alone, with no state to roll back) and a state call
    /// traps. Components whose language imports the state interface anyway (JavaScript,
    /// Python) are then called like any other.
    pub fn stateless(mut self) -> Self {
        self.keyed = None;
        self
    }

    /// Gives the instance its subtask's keyed state, in the job's backend.
    pub fn keep_state_in(&mut self, state: KeyedState) {
        self.keyed = Some(Arc::new(Mutex::new(state)));
    }

    /// The module it runs.
    pub fn module(&self) -> &ModuleIdentity {
        self.sandbox.module()
    }

    /// Processes `input` (left intact for the caller, e.g. to isolate a poison record). The
    /// call's keyed-state writes are kept only if it succeeds without reporting a bad record: a
    /// batch that trapped or reported one is then replayed record by record on the state as it
    /// was before the batch (the caller does it on the error), and a record that traps or is
    /// reported bad on its own leaves no state behind.
    pub fn process(
        &mut self,
        input: &mut RecordBatch,
    ) -> Result<(RecordBatch, Vec<RecordError>), UdfError> {
        let Some(state) = self.keyed.clone() else {
            return self.call_process(input);
        };
        lock(&state).begin();
        let result = self.call_process(input);
        let mut state = lock(&state);
        match result {
            Ok(done) if !done.1.is_empty() => {
                state.rollback();
                match input.len() {
                    // The bad record's writes are gone; nothing else was in the call.
                    1 => Ok(done),
                    _ => Err(self.sandbox.rejected_records("process", done.1.len())),
                }
            }
            Ok(done) => match state.commit() {
                Ok(()) => Ok(done),
                Err(error) => {
                    state.rollback();
                    Err(self.sandbox.state_failed("process", &error))
                }
            },
            Err(error) => {
                state.rollback();
                Err(error)
            }
        }
    }

    /// One call of the guest's `process` on `input`, its output checked against the ABI.
    fn call_process(
        &mut self,
        input: &mut RecordBatch,
    ) -> Result<(RecordBatch, Vec<RecordError>), UdfError> {
        // Only a component using keyed state pays for a copy of the batch's keys.
        let scope = self
            .keyed
            .as_ref()
            .map(|state| KeyedScope::of(input, state));
        let batch = transform::weir::udf::types::Batch::from(std::mem::take(input));
        let result = self.sandbox.call("process", |b, store| {
            store.data_mut().keyed = scope;
            let result = b.weir_udf_transform().call_process(&mut *store, &batch);
            store.data_mut().keyed = None;
            result
        });
        *input = batch.into();
        let output = result?;
        let errors: Vec<RecordError> = output.errors.into_iter().map(Into::into).collect();
        let batch = RecordBatch::from(output.output);
        if let Err(detail) = batch
            .validate()
            .map_err(|e| e.to_string())
            .and_then(|()| check_errors(&errors, input.len()))
        {
            return Err(self.sandbox.bad_output("process", detail));
        }
        Ok((batch, errors))
    }
}

/// `state`, locked: a poisoned lock still holds consistent state, since every write to it
/// completes under the lock or is dropped with the call's overlay.
fn lock(state: &Mutex<KeyedState>) -> std::sync::MutexGuard<'_, KeyedState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A key selector instance.
pub struct KeyUdf {
    sandbox: Sandbox<KeyWorld>,
}

impl KeyUdf {
    /// Checks `module`'s exports and prepares an instance.
    pub fn new(
        engine: &WasmEngine,
        module: &LoadedModule,
        limits: SandboxLimits,
    ) -> Result<Self, ModuleError> {
        Ok(KeyUdf {
            sandbox: Sandbox::new(engine, module, "key_by", limits)?,
        })
    }

    /// The module it runs.
    pub fn module(&self) -> &ModuleIdentity {
        self.sandbox.module()
    }

    /// The keys of `input`'s records, in order, skipping records named in the errors.
    pub fn select_keys(
        &mut self,
        input: &mut RecordBatch,
    ) -> Result<(Blobs, Vec<RecordError>), UdfError> {
        let batch = key::weir::udf::types::Batch::from(std::mem::take(input));
        let result = self.sandbox.call("select-keys", |b, store| {
            b.weir_udf_key_selector().call_select_keys(store, &batch)
        });
        *input = batch.into();
        let output = result?;
        let errors: Vec<RecordError> = output.errors.into_iter().map(Into::into).collect();
        let keys = Blobs::from(output.keys);
        let checked = keys
            .validate()
            .map_err(|e| e.to_string())
            .and_then(|()| check_errors(&errors, input.len()));
        let checked = checked.and_then(|()| {
            if keys.len() + errors.len() == input.len() {
                Ok(())
            } else {
                Err(format!(
                    "{} keys and {} errors for {} records",
                    keys.len(),
                    errors.len(),
                    input.len()
                ))
            }
        });
        if let Err(detail) = checked {
            return Err(self.sandbox.bad_output("select-keys", detail));
        }
        Ok((keys, errors))
    }
}

/// An aggregate function instance.
pub struct AggregateUdf {
    sandbox: Sandbox<AggregateWorld>,
    /// The empty accumulator, once asked for (`create-accumulator` must be pure).
    initial: Option<Vec<u8>>,
}

impl AggregateUdf {
    /// Checks `module`'s exports and prepares an instance.
    pub fn new(
        engine: &WasmEngine,
        module: &LoadedModule,
        limits: SandboxLimits,
    ) -> Result<Self, ModuleError> {
        Ok(AggregateUdf {
            sandbox: Sandbox::new(engine, module, "aggregate", limits)?,
            initial: None,
        })
    }

    /// The module it runs.
    pub fn module(&self) -> &ModuleIdentity {
        self.sandbox.module()
    }

    /// A new, empty accumulator (the guest is asked once; its answer is reused).
    pub fn create_accumulator(&mut self) -> Result<Vec<u8>, UdfError> {
        if let Some(initial) = &self.initial {
            return Ok(initial.clone());
        }
        let initial = self.sandbox.call("create-accumulator", |b, store| {
            b.weir_udf_aggregate().call_create_accumulator(store)
        })?;
        self.initial = Some(initial.clone());
        Ok(initial)
    }

    /// Adds `input`'s records to `accumulators` (record i to accumulator `groups[i]`).
    pub fn add(
        &mut self,
        accumulators: &mut Blobs,
        groups: &[u32],
        input: &mut RecordBatch,
    ) -> Result<Vec<RecordError>, UdfError> {
        let expected = accumulators.len();
        let accs = aggregate::weir::udf::types::Blobs::from(std::mem::take(accumulators));
        let batch = aggregate::weir::udf::types::Batch::from(std::mem::take(input));
        let result = self.sandbox.call("add", |b, store| {
            b.weir_udf_aggregate()
                .call_add(store, &accs, groups, &batch)
        });
        *input = batch.into();
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                *accumulators = accs.into();
                return Err(error);
            }
        };
        let errors: Vec<RecordError> = output.errors.into_iter().map(Into::into).collect();
        let updated = Blobs::from(output.accumulators);
        let checked = updated
            .validate()
            .map_err(|e| e.to_string())
            .and_then(|()| check_errors(&errors, input.len()));
        let checked = checked.and_then(|()| {
            if updated.len() == expected {
                Ok(())
            } else {
                Err(format!(
                    "{} accumulators returned for {expected}",
                    updated.len()
                ))
            }
        });
        if let Err(detail) = checked {
            *accumulators = accs.into();
            return Err(self.sandbox.bad_output("add", detail));
        }
        *accumulators = updated;
        Ok(errors)
    }

    /// Pairwise merge of two equally long lists of accumulators.
    pub fn merge(&mut self, left: Blobs, right: Blobs) -> Result<Blobs, UdfError> {
        let expected = left.len();
        let (left, right) = (left.into(), right.into());
        let merged = Blobs::from(self.sandbox.call("merge", |b, store| {
            b.weir_udf_aggregate().call_merge(store, &left, &right)
        })?);
        if merged.len() != expected || merged.validate().is_err() {
            return Err(self.sandbox.bad_output(
                "merge",
                format!("{} merged accumulators for {expected}", merged.len()),
            ));
        }
        Ok(merged)
    }

    /// The output value of each accumulator.
    pub fn get_result(&mut self, accumulators: Blobs) -> Result<Blobs, UdfError> {
        let expected = accumulators.len();
        let accs = accumulators.into();
        let results = Blobs::from(self.sandbox.call("get-result", |b, store| {
            b.weir_udf_aggregate().call_get_result(store, &accs)
        })?);
        if results.len() != expected || results.validate().is_err() {
            return Err(self.sandbox.bad_output(
                "get-result",
                format!("{} results for {expected} accumulators", results.len()),
            ));
        }
        Ok(results)
    }
}

impl TransformUdf {
    /// The export `process` calls, as errors name it.
    pub fn export(&self) -> String {
        format!(
            "{}@{}#process",
            TransformWorld::INTERFACE,
            weir_proto::UDF_ABI_VERSION
        )
    }
}

impl KeyUdf {
    /// The export `select_keys` calls, as errors name it.
    pub fn export(&self) -> String {
        format!(
            "{}@{}#select-keys",
            KeyWorld::INTERFACE,
            weir_proto::UDF_ABI_VERSION
        )
    }
}

impl AggregateUdf {
    /// The export `add` calls, as errors name it.
    pub fn export(&self) -> String {
        format!(
            "{}@{}#add",
            AggregateWorld::INTERFACE,
            weir_proto::UDF_ABI_VERSION
        )
    }
}
