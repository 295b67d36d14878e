//! Weir's protocol cores, sans-IO: each takes `(event, now)` and returns what to do, never reading
//! a clock, a socket or a file. The JobManager, the TaskManagers and the embedded mini-cluster
//! drive the same cores, so each rule is written and tested once.
//!
//! Must not touch: wasmtime, RocksDB, quinn, tokio or the file system (`cargo tree -p weir-core`
//! shows only `weir-proto` and its serialisation crates).
#![deny(missing_docs)]

pub mod barriers;
pub mod coordinator;
pub mod credit;
pub mod fixtures;
pub mod heartbeat;
pub mod restart;
pub mod scheduler;
pub mod watermarks;

pub use barriers::{Alignment, BarrierAligner};
pub use coordinator::{
    CheckpointAction, CheckpointConfig, CheckpointCoordinator, CompletedCheckpoint, StateHandle,
};
pub use credit::{CreditError, CreditSender, GateCredits};
pub use heartbeat::FailureDetector;
pub use restart::RestartTracker;
pub use scheduler::{NotEnoughSlots, Placement, Slot, SlotOffer, schedule};
pub use watermarks::InputWatermarks;
