//! Native Rust operators, registered by name in the process: the Rust builder API's escape hatch
//! and the benchmark's baseline against which Wasm UDFs are measured.

use super::{Operator, RejectSink};
use crate::error::TaskError;
use std::collections::HashMap;
use std::sync::Arc;
use weir_proto::RecordBatch;

/// Makes one operator instance for subtask `(index, parallelism)`.
pub type NativeFactory = Arc<dyn Fn(u32, u32) -> Box<dyn Operator> + Send + Sync>;

/// Native operators by name.
#[derive(Clone, Default)]
pub struct NativeRegistry {
    factories: HashMap<String, NativeFactory>,
}

impl NativeRegistry {
    /// Registers `factory` under `name`.
    pub fn register(&mut self, name: &str, factory: NativeFactory) {
        self.factories.insert(name.to_string(), factory);
    }

    /// Registers a batch function (map, filter or flat_map on whole batches) under `name`.
    pub fn register_fn<F>(&mut self, name: &str, function: F)
    where
        F: Fn(RecordBatch) -> RecordBatch + Clone + Send + Sync + 'static,
    {
        self.register(
            name,
            Arc::new(move |_, _| Box::new(NativeOperator(function.clone()))),
        );
    }

    /// An instance of the operator named `name`.
    pub fn create(&self, name: &str, subtask: u32, parallelism: u32) -> Option<Box<dyn Operator>> {
        self.factories
            .get(name)
            .map(|factory| factory(subtask, parallelism))
    }

    /// The registered names, for messages.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.factories.keys().cloned().collect();
        names.sort();
        names
    }
}

/// An operator made of a batch function.
pub struct NativeOperator<F>(pub F);

impl<F> Operator for NativeOperator<F>
where
    F: Fn(RecordBatch) -> RecordBatch + Send,
{
    fn process(
        &mut self,
        batch: RecordBatch,
        _rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        Ok((self.0)(batch))
    }
}
