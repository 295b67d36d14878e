//! A TaskManager's metrics: its tasks' counters and its Wasm modules' calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use weir_runtime::exposition::{Exposition, Kind};
use weir_tasks::{RunningTasks, TaskMetrics};

/// (job, vertex, subtask) → (the task's name, its counters).
type Tasks = BTreeMap<(String, usize, u32), (String, Arc<TaskMetrics>)>;

/// The tasks running in this process, for `/metrics`: a job's share registers when deployed
/// and leaves when its tasks have ended.
#[derive(Debug, Default, Clone)]
pub struct TaskRegistry(Arc<Mutex<Tasks>>);

impl TaskRegistry {
    fn tasks(&self) -> std::sync::MutexGuard<'_, Tasks> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `job`'s tasks.
    pub fn register(&self, job: &str, tasks: &RunningTasks) {
        let mut registered = self.tasks();
        for (vertex, subtask, name, metrics) in tasks.metrics() {
            registered.insert((job.to_string(), vertex, subtask), (name, metrics));
        }
    }

    /// Removes `job`'s tasks.
    pub fn forget(&self, job: &str) {
        self.tasks().retain(|(j, _, _), _| j != job);
    }
}

/// A counter's value now, as a sample.
fn read(counter: &AtomicU64) -> f64 {
    counter.load(Ordering::Relaxed) as f64
}

/// TaskManager `name`'s exposition now.
pub fn taskmanager_metrics(name: &str, registry: &TaskRegistry) -> String {
    let mut metrics = Exposition::default();
    let (counter, gauge) = (Kind::Counter, Kind::Gauge);
    for ((job, _, subtask), (task, counters)) in registry.tasks().iter() {
        let subtask = subtask.to_string();
        let labels = [
            ("taskmanager", name),
            ("job", job.as_str()),
            ("task", task.as_str()),
            ("subtask", subtask.as_str()),
        ];
        let samples = [
            (
                "weir_task_records_in_total",
                counter,
                "Records a task received (read, for a source).",
                read(&counters.records_in),
            ),
            (
                "weir_task_records_out_total",
                counter,
                "Records a task emitted.",
                read(&counters.records_out),
            ),
            (
                "weir_task_records_rejected_total",
                counter,
                "Records a task rejected to the dead-letter sink.",
                read(&counters.records_rejected),
            ),
            (
                "weir_task_busy_seconds_total",
                counter,
                "Time a task spent processing.",
                read(&counters.busy_ns) / 1e9,
            ),
            (
                "weir_task_backpressured_seconds_total",
                counter,
                "Time a task waited for downstream room.",
                read(&counters.backpressured_ns) / 1e9,
            ),
            (
                "weir_task_state_bytes",
                gauge,
                "Keyed state a task's operators hold.",
                read(&counters.state_bytes),
            ),
            (
                "weir_task_bytes_out_total",
                counter,
                "Bytes of records a task emitted.",
                read(&counters.bytes_out),
            ),
        ];
        for (family, kind, help, value) in samples {
            metrics.add((family, kind, help), &labels, value);
        }
        for lag in counters.partitions() {
            weir_runtime::exposition::add_partition_lag(&mut metrics, &labels, &lag);
        }
        if let Some(watermark) = counters.watermark() {
            let help = "Wall-clock time minus the watermark a task last passed on.";
            metrics.add(
                ("weir_task_watermark_lag_seconds", gauge, help),
                &labels,
                weir_runtime::exposition::watermark_lag_seconds(watermark),
            );
        }
    }
    for ((module, sha256), stats) in weir_wasm::stats::all() {
        let labels = [
            ("taskmanager", name),
            ("module", module.as_str()),
            ("sha256", sha256.as_str()),
        ];
        metrics.add(
            (
                "weir_wasm_calls_total",
                counter,
                "Calls into a Wasm module (one per batch).",
            ),
            &labels,
            read(&stats.calls),
        );
        metrics.add(
            (
                "weir_wasm_call_seconds_total",
                counter,
                "Time spent in calls into a Wasm module.",
            ),
            &labels,
            read(&stats.call_ns) / 1e9,
        );
        metrics.add(
            (
                "weir_wasm_traps_total",
                counter,
                "Calls into a Wasm module that trapped or hit a limit.",
            ),
            &labels,
            read(&stats.traps),
        );
    }
    weir_runtime::exposition::add_process_memory(&mut metrics, &[("process", name)]);
    metrics.render()
}
