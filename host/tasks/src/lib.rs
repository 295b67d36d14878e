//! Weir's tasks: subtasks, each a chain of operators on its own named OS thread. A TaskManager
//! deploys a job's share of them with [`deploy`]; the network crate carries their
//! [`StreamElement`]s between processes.
//!
//! A task's thread runs a mailbox loop (Flink's model): it takes input batches, control mail and
//! flush deadlines one at a time, and owns its operators, Wasm instances and state, so nothing in
//! it needs a lock. Tasks meet at bounded channels: a full channel blocks its producer
//! (backpressure), and nothing is dropped. Wasm never runs on an I/O runtime's threads.

#![deny(missing_docs)]

mod channel;
pub mod deploy;
mod final_state;
pub(crate) mod in_flight;
mod metrics;
mod outputs;
mod running;
mod task;
mod writer;

#[cfg(test)]
mod tests;

pub use channel::{Control, InputChannel, StreamElement, send_or_cancel};
pub use final_state::FinalState;
pub use in_flight::{IN_FLIGHT_SUFFIX, InFlightRecords};
pub use metrics::{TaskActivity, TaskMetrics};
pub use running::{RunningTasks, SpawnError};
pub use task::{
    CheckpointAck, CheckpointMail, TaskCheckpoints, TaskDeployment, TaskEvent, spawn_task,
};
pub use writer::RecordWriter;
