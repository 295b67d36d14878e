//! The data plane between TaskManagers. This part is the sans-IO protocol core: credit-based
//! flow control as state machines that take events and return what to announce or send. The
//! QUIC transport (issue 3) drives them; they never read a clock or a socket.
#![deny(clippy::unwrap_used)]

mod credit;

#[cfg(test)]
mod tests;

pub use credit::{CreditError, CreditSender, GateCredits};
