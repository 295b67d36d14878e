//! Wall-clock time as ms since the Unix epoch — the unit of event, ingestion and processing
//! time — and the way from such a time to an `Instant` a task can wait for.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The wall clock now, ms since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// An instant and the wall-clock ms it was: turns wall-clock times into deadlines.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    instant: Instant,
    ms: i64,
}

impl Default for WallClock {
    /// The clock as of now.
    fn default() -> Self {
        Self::new()
    }
}

impl WallClock {
    /// The clock as of now.
    pub fn new() -> Self {
        WallClock {
            instant: Instant::now(),
            ms: now_ms(),
        }
    }

    /// The instant at wall-clock time `ms` (at the earliest, the clock's own instant).
    pub fn instant_at(&self, ms: i64) -> Instant {
        let after = ms.saturating_sub(self.ms).max(0) as u64;
        self.instant + Duration::from_millis(after)
    }
}
