//! Typed Rust closures as native operators: each record's JSON value is read as the closure's
//! argument type with serde and its results written back as JSON. A record that does not read
//! as that type, a result that does not serialize, and a panic in the closure reject the
//! record (dead letters, or the job's failure) naming the step and the reason; the job never
//! crashes on one.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::type_name;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use weir_proto::{RecordBatch, RecordRef};
use weir_runtime::error::TaskError;
use weir_runtime::operators::{NativeFactory, Operator, RejectSink, Rejection};

/// Rejects `record` at step `step` for `error`.
fn reject(
    rejects: &mut dyn RejectSink,
    step: &str,
    record: RecordRef<'_>,
    error: String,
) -> Result<(), TaskError> {
    rejects.reject(Rejection {
        operator: step.to_string(),
        module: None,
        export: None,
        error,
        origin: None,
        record: record.into(),
    })
}

/// `record`'s value as a `T`, or why not.
fn read<T: DeserializeOwned>(record: RecordRef<'_>) -> Result<T, String> {
    serde_json::from_slice(record.value)
        .map_err(|e| format!("the record is not a `{}`: {e}", type_name::<T>()))
}

/// What a panic said.
fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into());
    format!("the closure panicked: {text}")
}

struct FlatMap<T, F> {
    step: String,
    f: F,
    input: PhantomData<fn(T)>,
}

impl<T, U, I, F> Operator for FlatMap<T, F>
where
    T: DeserializeOwned,
    U: Serialize,
    I: IntoIterator<Item = U>,
    F: Fn(T) -> I + Send,
{
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let mut out = RecordBatch::with_capacity(batch.len(), 64);
        let mut encoded = Vec::new();
        for record in batch.iter() {
            let results = read::<T>(record).and_then(|input| {
                catch_unwind(AssertUnwindSafe(|| {
                    (self.f)(input)
                        .into_iter()
                        .map(|u| serde_json::to_vec(&u))
                        .collect::<Result<Vec<_>, _>>()
                }))
                .map_err(panic_text)?
                .map_err(|e| format!("a result does not serialize as JSON: {e}"))
            });
            match results {
                Ok(results) => encoded.extend(results),
                Err(error) => reject(rejects, &self.step, record, error)?,
            }
            for value in encoded.drain(..) {
                out.push(record.key, &value, record.timestamp);
            }
        }
        Ok(out)
    }
}

struct Filter<T, F> {
    step: String,
    f: F,
    input: PhantomData<fn(T)>,
}

impl<T, F> Operator for Filter<T, F>
where
    T: DeserializeOwned,
    F: Fn(&T) -> bool + Send,
{
    fn process(
        &mut self,
        mut batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        let mut keep = Vec::with_capacity(batch.len());
        for record in batch.iter() {
            let verdict = read::<T>(record).and_then(|input| {
                catch_unwind(AssertUnwindSafe(|| (self.f)(&input))).map_err(panic_text)
            });
            match verdict {
                Ok(kept) => keep.push(kept),
                Err(error) => {
                    keep.push(false);
                    reject(rejects, &self.step, record, error)?;
                }
            }
        }
        batch.retain_mask(&keep);
        Ok(batch)
    }
}

/// A factory of flat_map operators calling `f` at step `step`.
pub(crate) fn flat_map<T, U, I, F>(step: &str, f: F) -> NativeFactory
where
    T: DeserializeOwned + 'static,
    U: Serialize + 'static,
    I: IntoIterator<Item = U>,
    F: Fn(T) -> I + Clone + Send + Sync + 'static,
{
    let step = step.to_string();
    Arc::new(move |_, _| {
        Box::new(FlatMap {
            step: step.clone(),
            f: f.clone(),
            input: PhantomData,
        })
    })
}

/// A factory of filters calling `f` at step `step`.
pub(crate) fn filter<T, F>(step: &str, f: F) -> NativeFactory
where
    T: DeserializeOwned + 'static,
    F: Fn(&T) -> bool + Clone + Send + Sync + 'static,
{
    let step = step.to_string();
    Arc::new(move |_, _| {
        Box::new(Filter {
            step: step.clone(),
            f: f.clone(),
            input: PhantomData,
        })
    })
}
