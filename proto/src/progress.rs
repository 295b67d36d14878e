//! Snapshots of a running job's counters, for progress lines, the REST API and the final
//! summary. A TaskManager reads its tasks' counters into [`TaskCounters`]; whoever sees every
//! task (the mini-cluster, or the JobManager from TaskManagers' reports) sums them per vertex.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One subtask's counters at one moment, as they travel from a TaskManager to the JobManager.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounters {
    /// Index of the vertex.
    pub vertex: usize,
    /// Which subtask.
    pub subtask: u32,
    /// Records in (read, for a source).
    pub records_in: u64,
    /// Records out.
    pub records_out: u64,
    /// Records that reached the last operator of the chain.
    pub records_to_last: u64,
    /// Records rejected to the dead-letter sink.
    pub records_rejected: u64,
    /// Nanoseconds spent processing.
    pub busy_ns: u64,
    /// Nanoseconds spent waiting for downstream room.
    pub backpressured_ns: u64,
    /// Whether it is blocked on a full output right now.
    pub backpressured_now: bool,
    /// Bytes of keyed state now.
    #[serde(default)]
    pub state_bytes: u64,
    /// The most bytes of keyed state so far.
    #[serde(default)]
    pub state_bytes_peak: u64,
    /// Bytes of records emitted.
    #[serde(default)]
    pub bytes_out: u64,
    /// The watermark it last passed on (ms), if any.
    #[serde(default)]
    pub watermark: Option<i64>,
    /// For a source reading partitioned input (Kafka): where it is in each of its partitions
    /// and how far behind their ends, so a falling-behind consumer shows before it hurts.
    #[serde(default)]
    pub partitions: Vec<PartitionLag>,
}

/// A source's place in one partition of its input.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartitionLag {
    /// The topic (or stream) the partition belongs to.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset the source reads.
    pub offset: i64,
    /// Messages after `offset` up to the partition's end as the broker last reported it (its
    /// high watermark, or last stable offset under `read_committed`).
    pub lag: i64,
}

/// Counters of one vertex, summed over its subtasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VertexProgress {
    /// The vertex's name.
    pub name: String,
    /// Its parallelism.
    pub parallelism: u32,
    /// Records in (read, for a source).
    pub records_in: u64,
    /// Records out.
    pub records_out: u64,
    /// Records that reached the last operator of the vertex's chain.
    pub records_to_last: u64,
    /// Records rejected to the dead-letter sink.
    pub records_rejected: u64,
    /// Share of wall time its subtasks spent processing (0..1, averaged).
    pub busy_ratio: f64,
    /// Share of wall time its subtasks spent waiting for downstream room (0..1, averaged).
    pub backpressured_ratio: f64,
    /// How many subtasks are blocked on a full output right now.
    pub backpressured_now: u32,
    /// Bytes of keyed state its subtasks hold now.
    #[serde(default)]
    pub state_bytes: u64,
    /// The sum of its subtasks' peak state sizes.
    #[serde(default)]
    pub state_bytes_peak: u64,
    /// Bytes of records its subtasks emitted.
    #[serde(default)]
    pub bytes_out: u64,
    /// Its event time: the lowest watermark its subtasks passed on (ms), once all have one.
    #[serde(default)]
    pub watermark: Option<i64>,
    /// Records in per second over the last few seconds (0 until two reports are in).
    #[serde(default)]
    pub records_in_per_second: f64,
    /// Records out per second over the last few seconds.
    #[serde(default)]
    pub records_out_per_second: f64,
    /// A source's lag per partition, over all its subtasks, by topic and partition.
    #[serde(default)]
    pub partitions: Vec<PartitionLag>,
}

/// A snapshot of the whole job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    /// Time since the job started.
    pub elapsed: Duration,
    /// Per vertex.
    pub vertices: Vec<VertexProgress>,
}

impl JobProgress {
    /// The sum over vertices of their subtasks' peak state sizes: the job's state at its
    /// largest (an upper bound, as subtasks peak at different times).
    pub fn state_bytes_peak(&self) -> u64 {
        self.vertices.iter().map(|v| v.state_bytes_peak).sum()
    }

    /// Sums `tasks` per vertex; `vertices` gives each vertex's name and parallelism.
    pub fn aggregate<'a>(
        elapsed: Duration,
        vertices: &[(String, u32)],
        tasks: impl IntoIterator<Item = &'a TaskCounters>,
    ) -> Self {
        let mut summed: Vec<VertexProgress> = vertices
            .iter()
            .map(|(name, parallelism)| VertexProgress {
                name: name.clone(),
                parallelism: *parallelism,
                records_in: 0,
                records_out: 0,
                records_to_last: 0,
                records_rejected: 0,
                busy_ratio: 0.0,
                backpressured_ratio: 0.0,
                backpressured_now: 0,
                state_bytes: 0,
                state_bytes_peak: 0,
                bytes_out: 0,
                watermark: None,
                records_in_per_second: 0.0,
                records_out_per_second: 0.0,
                partitions: Vec::new(),
            })
            .collect();
        let mut watermarks: Vec<Vec<Option<i64>>> = vertices.iter().map(|_| Vec::new()).collect();
        let wall = elapsed.as_nanos().max(1) as f64;
        for task in tasks {
            let Some(vertex) = summed.get_mut(task.vertex) else {
                continue;
            };
            let n = f64::from(vertex.parallelism.max(1));
            vertex.records_in += task.records_in;
            vertex.records_out += task.records_out;
            vertex.records_to_last += task.records_to_last;
            vertex.records_rejected += task.records_rejected;
            vertex.busy_ratio += task.busy_ns as f64 / wall / n;
            vertex.backpressured_ratio += task.backpressured_ns as f64 / wall / n;
            vertex.backpressured_now += u32::from(task.backpressured_now);
            vertex.state_bytes += task.state_bytes;
            vertex.state_bytes_peak += task.state_bytes_peak;
            vertex.bytes_out += task.bytes_out;
            vertex.partitions.extend(task.partitions.iter().cloned());
            if let Some(seen) = watermarks.get_mut(task.vertex) {
                seen.push(task.watermark);
            }
        }
        for (vertex, seen) in summed.iter_mut().zip(watermarks) {
            vertex.partitions.sort();
            let all = seen.len() == vertex.parallelism as usize && seen.iter().all(Option::is_some);
            vertex.watermark = all.then(|| seen.iter().flatten().copied().min()).flatten();
        }
        JobProgress {
            elapsed,
            vertices: summed,
        }
    }
}

/// Recent per-vertex totals of a job, to tell its live rates: each report adds a sample; the
/// rate is the change from the oldest sample of the last few seconds to the newest.
#[derive(Debug, Default, Clone)]
pub struct RateWindow {
    samples: std::collections::VecDeque<(std::time::Instant, Vec<(u64, u64)>)>,
}

/// How far back rates look.
const RATE_WINDOW: Duration = Duration::from_secs(5);

impl RateWindow {
    /// Adds the totals of `progress` seen at `now`.
    pub fn record(&mut self, now: std::time::Instant, progress: &JobProgress) {
        let totals = progress
            .vertices
            .iter()
            .map(|v| (v.records_in, v.records_out))
            .collect();
        self.samples.push_back((now, totals));
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Fills in `progress`'s per-vertex rates.
    pub fn apply(&self, progress: &mut JobProgress) {
        let (Some((first, old)), Some((last, new))) = (self.samples.front(), self.samples.back())
        else {
            return;
        };
        let seconds = last.saturating_duration_since(*first).as_secs_f64();
        if seconds <= 0.0 {
            return;
        }
        for (vertex, ((in0, out0), (in1, out1))) in
            progress.vertices.iter_mut().zip(old.iter().zip(new))
        {
            vertex.records_in_per_second = in1.saturating_sub(*in0) as f64 / seconds;
            vertex.records_out_per_second = out1.saturating_sub(*out0) as f64 / seconds;
        }
    }

    /// Forgets every sample (a restarted job counts from zero again).
    pub fn clear(&mut self) {
        self.samples.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn totals(records_in: u64, records_out: u64) -> JobProgress {
        let counters = TaskCounters {
            records_in,
            records_out,
            ..TaskCounters::default()
        };
        JobProgress::aggregate(Duration::ZERO, &[("v".into(), 1)], [&counters])
    }

    #[test]
    fn rates_are_the_change_over_the_last_seconds() {
        let start = Instant::now();
        let mut window = RateWindow::default();
        window.record(start, &totals(0, 0));
        window.record(start + Duration::from_secs(2), &totals(4_000, 1_000));
        let mut now = totals(4_000, 1_000);
        window.apply(&mut now);
        assert_eq!(now.vertices[0].records_in_per_second, 2_000.0);
        assert_eq!(now.vertices[0].records_out_per_second, 500.0);
        // Samples older than the window drop out: only the last two count.
        window.record(start + Duration::from_secs(8), &totals(4_600, 1_000));
        window.record(start + Duration::from_secs(9), &totals(5_000, 1_000));
        window.apply(&mut now);
        assert_eq!(now.vertices[0].records_in_per_second, 400.0);
        assert_eq!(now.vertices[0].records_out_per_second, 0.0);
    }
}
