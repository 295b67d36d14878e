//! The data plane between TaskManagers: QUIC connections with mutual TLS under a cluster CA,
//! one stream per logical channel carrying rkyv frames, sent against credits. The credit
//! protocol is a sans-IO core ([`GateCredits`], [`CreditSender`]) that never reads a clock or a
//! socket; [`DataSender`] and [`DataReceiver`] drive it over QUIC.
#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]

mod bridge;
mod channel;
mod gate;
mod split;
mod tls;

#[cfg(test)]
mod tests;

pub use bridge::{forward_inbound, forward_outbound, spawn_inbound, spawn_outbound};
pub use channel::{ChannelError, DataReceiver, DataSender, MAX_FRAME_BYTES, read_header};
pub use weir_core::credit::{CreditError, CreditSender, GateCredits};
pub mod rpc;
pub use gate::InputGate;
pub use split::SplitChannels;
pub use tls::{
    ALPN, ClusterCa, NodeIdentity, TlsError, bind_endpoint, client_config, identity_paths,
    is_certificate_refusal, load_ca, server_config, transport,
};
