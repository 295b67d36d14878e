//! The JobManager's metrics: the cluster (TaskManagers, slots, jobs by status) and, per job,
//! its vertices' counters, its restarts and its checkpoints.

use crate::ClusterState;
use std::time::Instant;
use weir_proto::status::JobStatus;
use weir_runtime::exposition::{Exposition, Kind};

/// The JobManager's exposition now.
pub fn jobmanager_metrics(state: &ClusterState, now: Instant) -> String {
    let mut metrics = Exposition::default();
    let overview = state.overview();
    let gauge = Kind::Gauge;
    let counter = Kind::Counter;
    metrics.add(
        ("weir_taskmanagers", gauge, "TaskManagers registered."),
        &[],
        overview.taskmanagers as f64,
    );
    metrics.add(
        (
            "weir_slots",
            gauge,
            "Task slots of the registered TaskManagers.",
        ),
        &[],
        f64::from(overview.slots),
    );
    metrics.add(
        ("weir_slots_free", gauge, "Task slots no job holds."),
        &[],
        f64::from(overview.free_slots),
    );
    let jobs = state.jobs(now);
    for status in [
        JobStatus::Scheduling,
        JobStatus::Running,
        JobStatus::Finished,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ] {
        let count = jobs.iter().filter(|j| j.status == status).count();
        metrics.add(
            ("weir_jobs", gauge, "Jobs by status."),
            &[("status", &status.to_string())],
            count as f64,
        );
    }
    for summary in &jobs {
        let Some(view) = state.job(&summary.id, now) else {
            continue;
        };
        let job = [
            ("job", summary.id.as_str()),
            ("name", summary.name.as_str()),
        ];
        metrics.add(
            (
                "weir_job_uptime_seconds",
                gauge,
                "Time since the job started running.",
            ),
            &job,
            summary.duration_ms as f64 / 1e3,
        );
        metrics.add(
            (
                "weir_job_restarts_total",
                counter,
                "Restarts after failures.",
            ),
            &job,
            f64::from(view.restarts),
        );
        metrics.add(
            (
                "weir_job_checkpoints_completed_total",
                counter,
                "Checkpoints completed in the job's current run.",
            ),
            &job,
            view.checkpoints as f64,
        );
        if let Some(ms) = view.last_checkpoint_ms {
            metrics.add(
                (
                    "weir_job_last_checkpoint_duration_seconds",
                    gauge,
                    "From trigger to the last acknowledgement, of the newest checkpoint.",
                ),
                &job,
                ms as f64 / 1e3,
            );
        }
        if let Some(bytes) = view.last_checkpoint_bytes {
            metrics.add(
                (
                    "weir_job_last_checkpoint_bytes",
                    gauge,
                    "State written for the newest checkpoint.",
                ),
                &job,
                bytes as f64,
            );
        }
        for vertex in &view.progress.vertices {
            let labels = [job[0], job[1], ("vertex", vertex.name.as_str())];
            let samples = [
                (
                    "weir_vertex_records_in_total",
                    counter,
                    "Records a vertex's subtasks received (read, for a source).",
                    vertex.records_in as f64,
                ),
                (
                    "weir_vertex_records_out_total",
                    counter,
                    "Records a vertex's subtasks emitted.",
                    vertex.records_out as f64,
                ),
                (
                    "weir_vertex_records_rejected_total",
                    counter,
                    "Records a vertex rejected to the dead-letter sink.",
                    vertex.records_rejected as f64,
                ),
                (
                    "weir_vertex_busy_ratio",
                    gauge,
                    "Share of time a vertex's subtasks spent processing.",
                    vertex.busy_ratio,
                ),
                (
                    "weir_vertex_backpressured_ratio",
                    gauge,
                    "Share of time a vertex's subtasks waited for downstream room.",
                    vertex.backpressured_ratio,
                ),
                (
                    "weir_vertex_state_bytes",
                    gauge,
                    "Keyed state a vertex's subtasks hold.",
                    vertex.state_bytes as f64,
                ),
                (
                    "weir_vertex_parallelism",
                    gauge,
                    "Subtasks of a vertex.",
                    f64::from(vertex.parallelism),
                ),
                (
                    "weir_vertex_bytes_out_total",
                    counter,
                    "Bytes of records a vertex's subtasks emitted.",
                    vertex.bytes_out as f64,
                ),
            ];
            for (name, kind, help, value) in samples {
                metrics.add((name, kind, help), &labels, value);
            }
            for lag in &vertex.partitions {
                weir_runtime::exposition::add_partition_lag(&mut metrics, &labels, lag);
            }
            if let Some(watermark) = vertex.watermark {
                let help =
                    "Wall-clock time minus a vertex's event time (its lowest subtask watermark).";
                metrics.add(
                    ("weir_vertex_watermark_lag_seconds", gauge, help),
                    &labels,
                    weir_runtime::exposition::watermark_lag_seconds(watermark),
                );
            }
        }
    }
    weir_runtime::exposition::add_process_memory(&mut metrics, &[("process", "jobmanager")]);
    metrics.render()
}
