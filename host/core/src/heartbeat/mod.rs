//! The heartbeat failure detector, sans-IO: peers report in, time passes, and the detector says
//! which peers have been silent longer than the timeout. The caller supplies `now`, so tests are
//! exact and a cluster can run it against any clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Watches peers of type `P` for silence.
#[derive(Debug)]
pub struct FailureDetector<P> {
    timeout: Duration,
    last_seen: HashMap<P, Instant>,
}

impl<P: Eq + Hash + Clone> FailureDetector<P> {
    /// A detector declaring a peer lost after `timeout` without a heartbeat.
    pub fn new(timeout: Duration) -> Self {
        FailureDetector {
            timeout,
            last_seen: HashMap::new(),
        }
    }

    /// `peer` joined or sent a heartbeat at `now`.
    pub fn on_heartbeat(&mut self, peer: P, now: Instant) {
        self.last_seen.insert(peer, now);
    }

    /// `peer` left cleanly: stop watching it.
    pub fn remove(&mut self, peer: &P) {
        self.last_seen.remove(peer);
    }

    /// The peers silent for longer than the timeout at `now`; they are no longer watched.
    pub fn poll_lost(&mut self, now: Instant) -> Vec<P> {
        let timeout = self.timeout;
        let lost: Vec<P> = self
            .last_seen
            .iter()
            .filter(|(_, seen)| now.saturating_duration_since(**seen) > timeout)
            .map(|(peer, _)| peer.clone())
            .collect();
        for peer in &lost {
            self.last_seen.remove(peer);
        }
        lost
    }

    /// When the next peer would be declared lost, if none reports before: the caller's wake-up.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.last_seen
            .values()
            .min()
            .map(|seen| *seen + self.timeout)
    }
}

#[cfg(test)]
mod tests;
