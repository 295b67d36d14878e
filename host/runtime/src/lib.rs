//! Weir's task runtime: the operators a job's steps become, the chains they form, and the tasks
//! that run a chain on its own named thread in a mailbox loop, meeting other tasks at bounded
//! channels. A TaskManager deploys tasks with [`deploy`]; the network crate carries their
//! [`tasks::StreamElement`]s between processes.
//!
//! Must not touch: sockets (QUIC lives in `weir-net`), the JobManager, the command line.
#![deny(missing_docs)]

pub mod deploy;
pub mod error;
pub mod exposition;
pub mod fault;
pub mod json;
pub mod operators;
pub mod tasks;
