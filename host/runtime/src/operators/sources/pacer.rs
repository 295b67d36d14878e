//! Rate limiting of generated sources, against wall-clock time.

use std::time::{Duration, Instant};

/// Holds a source to at most `per_second` records per second.
pub(crate) struct Pacer {
    started: Instant,
    per_second: f64,
    emitted: u64,
    /// Time spent waiting since [`Pacer::take_waited`] last read it.
    waited: Duration,
}

impl Pacer {
    pub(crate) fn new(per_second: u64) -> Self {
        Pacer {
            started: Instant::now(),
            per_second: per_second.max(1) as f64,
            emitted: 0,
            waited: Duration::ZERO,
        }
    }

    /// Records per batch that keep latency near 10 ms at this rate.
    pub(super) fn batch_size(&self, max: usize) -> usize {
        ((self.per_second / 100.0) as usize).clamp(1, max.max(1))
    }

    /// Waits until `records` more may be emitted.
    pub(crate) fn admit(&mut self, records: u64) {
        let due = self.started + Duration::from_secs_f64(self.emitted as f64 / self.per_second);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
            self.waited += due - now;
        }
        self.emitted += records;
    }

    /// Time spent holding the source back since the last call: idle, not busy.
    pub(super) fn take_waited(&mut self) -> Duration {
        std::mem::take(&mut self.waited)
    }
}
