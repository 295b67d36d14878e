//! Which subtask reads which partition, and the event time of each partition.
//!
//! Ownership follows Flink's Kafka source: a topic's partitions go round the subtasks starting
//! at a place fixed by the topic's name, so topics spread evenly and a given parallelism always
//! gives the same assignment (a restore at another parallelism reassigns by the same rule).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use weir_proto::spec::PartitionWatermarks;

/// A partition of a topic.
pub(super) type Partition = (String, i32);

/// The subtask (of `parallelism`) that reads `partition` of `topic`.
pub(super) fn owner(topic: &str, partition: i32, parallelism: u32) -> u32 {
    let parallelism = u64::from(parallelism.max(1));
    // FNV-1a: stable across processes and versions, unlike std's hasher.
    let hash = topic.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let start = hash % parallelism;
    ((start + u64::from(partition.max(0) as u32)) % parallelism) as u32
}

/// Per-partition watermarks: each partition's highest timestamp less the allowed lateness;
/// the subtask's watermark is the lowest over partitions that had data within the idle
/// timeout.
pub(super) struct PartitionClocks {
    delay: i64,
    idle_timeout: Option<Duration>,
    clocks: BTreeMap<Partition, Clock>,
    emitted: i64,
    idle: bool,
}

struct Clock {
    max_timestamp: i64,
    last_record: Instant,
}

impl PartitionClocks {
    /// Clocks with the spec's out-of-orderness and idle timeout.
    pub(super) fn new(spec: &PartitionWatermarks) -> Self {
        PartitionClocks {
            delay: i64::try_from(spec.out_of_orderness_ms).unwrap_or(i64::MAX),
            idle_timeout: spec.idle_timeout_ms.map(Duration::from_millis),
            clocks: BTreeMap::new(),
            emitted: i64::MIN,
            idle: false,
        }
    }

    /// A partition this subtask reads from now on (it holds event time back until it has data
    /// or goes idle).
    pub(super) fn track(&mut self, partition: Partition, now: Instant) {
        self.clocks.entry(partition).or_insert(Clock {
            max_timestamp: i64::MIN,
            last_record: now,
        });
    }

    /// A partition this subtask no longer reads (its bounded end was reached).
    pub(super) fn forget(&mut self, partition: &Partition) {
        self.clocks.remove(partition);
    }

    /// A record of `partition` at `timestamp` came at `now`.
    pub(super) fn observe(&mut self, partition: &Partition, timestamp: i64, now: Instant) {
        if let Some(clock) = self.clocks.get_mut(partition) {
            clock.max_timestamp = clock.max_timestamp.max(timestamp);
            clock.last_record = now;
        }
    }

    /// The watermark if it moved on since the last call, or `Idle` once every partition has
    /// been quiet for the idle timeout (said once until a record comes).
    pub(super) fn progress(
        &mut self,
        now: Instant,
    ) -> Option<weir_runtime::operators::SourceProgress> {
        use weir_runtime::operators::SourceProgress;
        let active = |clock: &&Clock| {
            self.idle_timeout
                .is_none_or(|timeout| now.duration_since(clock.last_record) < timeout)
        };
        let lowest = self
            .clocks
            .values()
            .filter(active)
            .map(|clock| clock.max_timestamp)
            .min();
        let Some(lowest) = lowest else {
            if self.idle || self.idle_timeout.is_none() {
                return None;
            }
            self.idle = true;
            return Some(SourceProgress::Idle);
        };
        self.idle = false;
        let watermark = lowest.saturating_sub(self.delay).saturating_sub(1);
        if lowest == i64::MIN || watermark <= self.emitted {
            return None;
        }
        self.emitted = watermark;
        Some(SourceProgress::Watermark(watermark))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_runtime::operators::SourceProgress;

    #[test]
    fn every_partition_has_one_owner_and_topics_start_apart() {
        for parallelism in 1..6 {
            for partition in 0..12 {
                assert!(owner("bids", partition, parallelism) < parallelism);
            }
            let counts = (0..parallelism)
                .map(|s| {
                    (0..12)
                        .filter(|&p| owner("bids", p, parallelism) == s)
                        .count()
                })
                .collect::<Vec<_>>();
            let (min, max) = (counts.iter().min(), counts.iter().max());
            assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{counts:?}");
        }
        // Consecutive partitions go to consecutive subtasks.
        assert_eq!(
            (owner("t", 1, 4) + 4 - owner("t", 0, 4)) % 4,
            1,
            "round robin from the topic's start"
        );
    }

    #[test]
    fn the_watermark_is_the_lowest_active_partition_and_idle_ones_stop_holding_it_back() {
        let spec = PartitionWatermarks {
            out_of_orderness_ms: 10,
            idle_timeout_ms: Some(1_000),
            timestamp_field: None,
        };
        let mut clocks = PartitionClocks::new(&spec);
        let t0 = Instant::now();
        let (a, b) = (("t".to_string(), 0), ("t".to_string(), 1));
        clocks.track(a.clone(), t0);
        clocks.track(b.clone(), t0);
        clocks.observe(&a, 500, t0);
        assert_eq!(clocks.progress(t0), None, "b has no data yet");
        clocks.observe(&b, 300, t0);
        assert_eq!(clocks.progress(t0), Some(SourceProgress::Watermark(289)));
        let later = t0 + Duration::from_millis(1_500);
        clocks.observe(&a, 900, later);
        assert_eq!(
            clocks.progress(later),
            Some(SourceProgress::Watermark(889)),
            "b went idle"
        );
        let quiet = later + Duration::from_millis(2_000);
        assert_eq!(clocks.progress(quiet), Some(SourceProgress::Idle));
        assert_eq!(clocks.progress(quiet), None, "idle is said once");
    }
}
