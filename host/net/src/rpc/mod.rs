//! The control plane between the JobManager and its TaskManagers: typed messages as
//! length-prefixed JSON frames on QUIC streams (mutual TLS under the cluster CA), and the check
//! that a peer's certificate names the identity it claims. Control traffic is a few messages a
//! second, so it favours readability over the data plane's zero-copy rkyv.
#![deny(clippy::unwrap_used)]

mod frame;
mod identity;
mod messages;

#[cfg(test)]
mod tests;

pub use frame::{FrameError, MAX_CONTROL_FRAME, read_frame, write_frame};
pub use identity::{peer_certificates, peer_is};
pub use messages::{Deployment, ModuleReply, ModuleRequest, PeerInfo, ToJobManager, ToTaskManager};
