//! Per-key aggregates: over the whole (bounded) input — state per key until the end of input,
//! then one output record per key, in key order (so output is the same at any parallelism) — or
//! per event-time window, emitted as the watermark passes each window.

mod acc_codec;
mod builtin;
mod count_window;
mod key_cache;
mod key_field;
mod session;
mod wasm;
mod wasm_window;
mod window;
mod window_cache;
mod window_store;

pub(super) use builtin::{BuiltinAggregate, BuiltinFunction, key_json};
pub(super) use count_window::CountAggregate;
pub(super) use key_cache::{KeyCache, PerKey, Plain};
pub(crate) use key_field::KeyField;
pub(super) use session::{SessionAggregate, SessionTimers};
pub(super) use wasm::WasmAggregate;
pub(super) use wasm_window::{WasmWindowAggregate, WasmWindowStore};
pub(super) use window::{WindowAggregate, late};
pub(super) use window_store::WindowStore;

use super::{RejectSink, Rejection};
use crate::error::TaskError;
use weir_proto::RecordRef;

/// The key of a record reaching a keyed operator, or its rejection when it has none.
pub(super) fn key_of<'a>(
    record: RecordRef<'a>,
    operator: &str,
    rejects: &mut dyn RejectSink,
) -> Result<Option<&'a [u8]>, TaskError> {
    match record.key {
        Some(key) => Ok(Some(key)),
        None => {
            rejects.reject(Rejection {
                operator: operator.to_string(),
                module: None,
                export: None,
                error: "record has no key: this step needs a key_by step before it".to_string(),
                origin: None,
                record: record.into(),
            })?;
            Ok(None)
        }
    }
}
