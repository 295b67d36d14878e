//! The JobManager: schedules a JobGraph onto a TaskManager's task threads and supervises the
//! job to its end. The embedded mini-cluster (`weir run`) runs it in-process with one
//! TaskManager, through the same deployment path a cluster uses.

mod blob_store;
pub mod checkpoint;
pub mod cluster;
pub(crate) mod deploy;
mod heartbeat;
pub(crate) mod job_checkpoints;
mod job_status;
mod minicluster;
mod progress;
pub mod restart;
mod scheduler;
#[cfg(test)]
mod test_graphs;

pub use blob_store::{BlobError, BlobStore};
pub use deploy::{CHANNEL_CAPACITY, ChannelFactory, LocalChannels, LocalEnds};
pub use heartbeat::FailureDetector;
pub use job_status::{IllegalTransition, JobStatus};
pub use minicluster::{CheckpointWires, JobError, JobOutcome, Mailboxes, MiniCluster, StopRequest};
pub use progress::{JobProgress, RateWindow, TaskCounters, VertexProgress};
pub use scheduler::{NotEnoughSlots, Placement, Slot, SlotOffer, schedule};
