//! Keyed process functions: a flat_map after a `key_by` that also has timers. Records come to
//! [`Process::process`]; a fired timer comes to [`Process::on_timer`] as a record whose key is
//! the timer's key, whose timestamp is its time and whose value is `event` or `processing` —
//! state and timer calls on it work as on a record of that key.
//!
//! ```text
//! #[weir_sdk::process]
//! struct Sessions;
//! impl weir_sdk::Process for Sessions {
//!     fn process(record: Record) -> Vec<String> {
//!         record.register_event_timer(record.timestamp() + 10_000);
//!         Vec::new()
//!     }
//!     fn on_timer(timer: Record) -> Vec<String> {
//!         vec![format!("{{\"fired\":{}}}", timer.timestamp())]
//!     }
//! }
//! ```

use crate::Record;
use crate::bindings::process::weir::udf::timers;

/// A keyed process function.
pub trait Process {
    /// The outputs for one record.
    fn process(record: Record<'_>) -> Vec<String>;
    /// The outputs when one of this key's timers fires.
    fn on_timer(timer: Record<'_>) -> Vec<String>;
}

impl Record<'_> {
    /// Sets an event-time timer for this record's key: it fires once the watermark reaches
    /// `time`.
    pub fn register_event_timer(&self, time: i64) {
        timers::register_event_time(self.index, time);
    }

    /// Removes an event-time timer of this record's key.
    pub fn delete_event_timer(&self, time: i64) {
        timers::delete_event_time(self.index, time);
    }

    /// Sets a processing-time timer (ms since the Unix epoch) for this record's key.
    pub fn register_processing_timer(&self, time: i64) {
        timers::register_processing_time(self.index, time);
    }

    /// Removes a processing-time timer of this record's key.
    pub fn delete_processing_timer(&self, time: i64) {
        timers::delete_processing_time(self.index, time);
    }

    /// The operator's event time now.
    pub fn watermark(&self) -> i64 {
        timers::current_watermark()
    }
}

/// What the `process` attribute expands to call.
pub(crate) mod glue {
    use super::Process;
    use crate::__private::{ProcessOutput, TransformBatch};
    use crate::batch::glue::run_flat_map;

    fn output(out: crate::__private::TransformOutput) -> ProcessOutput {
        ProcessOutput {
            output: out.output,
            errors: out.errors,
        }
    }

    /// Runs `P::process` over a batch of records.
    pub fn run_process<P: Process>(input: TransformBatch) -> ProcessOutput {
        output(run_flat_map(input, P::process))
    }

    /// Runs `P::on_timer` over a batch of fired timers.
    pub fn run_on_timer<P: Process>(input: TransformBatch) -> ProcessOutput {
        output(run_flat_map(input, P::on_timer))
    }
}
