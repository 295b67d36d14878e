//! Restart strategies (Flink's): after a task failure, whether the job restarts and after how
//! long. Sans-IO: every failure carries `now`, so each rule is tested without a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};
use weir_proto::spec::RestartStrategy;

/// The restarts a job has had, judged by its strategy.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    strategy: RestartStrategy,
    restarts: u32,
    /// Failures within the failure-rate interval.
    recent: VecDeque<Instant>,
    /// The exponential strategy's current delay, and when the last failure was.
    delay: Option<Duration>,
    last_failure: Option<Instant>,
}

impl RestartTracker {
    /// A job with no failures yet.
    pub fn new(strategy: RestartStrategy) -> Self {
        RestartTracker {
            strategy,
            restarts: 0,
            recent: VecDeque::new(),
            delay: None,
            last_failure: None,
        }
    }

    /// Restarts granted so far.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// A task failed at `now`: how long to wait before restarting, or `None` to fail the job.
    pub fn on_failure(&mut self, now: Instant) -> Option<Duration> {
        let last = self.last_failure.replace(now);
        let delay = match self.strategy {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay_ms } => {
                (self.restarts < attempts).then(|| Duration::from_millis(delay_ms))
            }
            RestartStrategy::ExponentialDelay {
                initial_delay_ms,
                max_delay_ms,
                multiplier,
                reset_after_ms,
            } => {
                let initial = Duration::from_millis(initial_delay_ms);
                let calm = last.is_some_and(|last| {
                    now.saturating_duration_since(last) >= Duration::from_millis(reset_after_ms)
                });
                let delay = match self.delay {
                    Some(previous) if !calm => previous
                        .mul_f64(multiplier.max(1.0))
                        .min(Duration::from_millis(max_delay_ms)),
                    _ => initial,
                };
                self.delay = Some(delay);
                Some(delay)
            }
            RestartStrategy::FailureRate {
                max_failures,
                interval_ms,
                delay_ms,
            } => {
                let interval = Duration::from_millis(interval_ms);
                self.recent.push_back(now);
                while self
                    .recent
                    .front()
                    .is_some_and(|&t| now.saturating_duration_since(t) > interval)
                {
                    self.recent.pop_front();
                }
                (self.recent.len() <= max_failures as usize)
                    .then(|| Duration::from_millis(delay_ms))
            }
        };
        if delay.is_some() {
            self.restarts += 1;
        }
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn none_never_restarts_and_fixed_delay_restarts_its_attempts() {
        let now = Instant::now();
        assert_eq!(
            RestartTracker::new(RestartStrategy::None).on_failure(now),
            None
        );
        let mut fixed = RestartTracker::new(RestartStrategy::FixedDelay {
            attempts: 2,
            delay_ms: 50,
        });
        assert_eq!(fixed.on_failure(now), Some(50 * MS));
        assert_eq!(fixed.on_failure(now + 100 * MS), Some(50 * MS));
        assert_eq!(
            fixed.on_failure(now + 200 * MS),
            None,
            "a third failure fails the job"
        );
        assert_eq!(fixed.restarts(), 2);
    }

    #[test]
    fn exponential_delay_grows_to_its_cap_and_resets_after_a_calm_run() {
        let now = Instant::now();
        let mut tracker = RestartTracker::new(RestartStrategy::ExponentialDelay {
            initial_delay_ms: 10,
            max_delay_ms: 35,
            multiplier: 2.0,
            reset_after_ms: 1_000,
        });
        let delays: Vec<_> = (0..4).map(|i| tracker.on_failure(now + i * MS)).collect();
        assert_eq!(
            delays,
            [Some(10 * MS), Some(20 * MS), Some(35 * MS), Some(35 * MS)]
        );
        assert_eq!(
            tracker.on_failure(now + 2_000 * MS),
            Some(10 * MS),
            "a second of calm starts over"
        );
    }

    #[test]
    fn failure_rate_fails_the_job_only_when_failures_crowd_an_interval() {
        let now = Instant::now();
        let mut tracker = RestartTracker::new(RestartStrategy::FailureRate {
            max_failures: 2,
            interval_ms: 1_000,
            delay_ms: 5,
        });
        assert_eq!(tracker.on_failure(now), Some(5 * MS));
        assert_eq!(tracker.on_failure(now + 100 * MS), Some(5 * MS));
        // The first failure has left the interval: still two in it.
        assert_eq!(tracker.on_failure(now + 1_050 * MS), Some(5 * MS));
        assert_eq!(
            tracker.on_failure(now + 1_060 * MS),
            None,
            "three within a second"
        );
    }
}
