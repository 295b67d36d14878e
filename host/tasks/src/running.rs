//! The subtasks of one job that run in this process: started together, cancelled together,
//! reporting one by one. The mini-cluster drives one of these for a whole job; a cluster
//! TaskManager drives one for its share of each job and forwards what happens to the JobManager.

use super::channel::Control;
use super::metrics::TaskMetrics;
use super::task::{TaskDeployment, TaskEvent, spawn_task};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use weir_proto::progress::TaskCounters;

/// A task thread that could not be started (the ones started before it are cancelled).
#[derive(Debug, thiserror::Error)]
#[error("cannot start task {task}: {source}")]
pub struct SpawnError {
    /// The task.
    pub task: String,
    /// Why.
    pub source: std::io::Error,
}

struct Running {
    vertex: usize,
    subtask: u32,
    name: String,
    metrics: Arc<TaskMetrics>,
    control: Sender<Control>,
}

/// Running subtasks and the events they will report.
pub struct RunningTasks {
    tasks: Vec<Running>,
    threads: Vec<JoinHandle<()>>,
    events: Receiver<TaskEvent>,
    remaining: usize,
}

impl RunningTasks {
    /// Starts every deployment on its own thread.
    pub fn spawn(deployments: Vec<TaskDeployment>) -> Result<Self, SpawnError> {
        // A task may report twice: finished (awaiting a commit), then ended.
        let (events_sender, events) = crossbeam_channel::bounded(2 * deployments.len().max(1));
        let mut running = RunningTasks {
            tasks: Vec::with_capacity(deployments.len()),
            threads: Vec::with_capacity(deployments.len()),
            events,
            remaining: 0,
        };
        for deployment in deployments {
            let (control, control_receiver) = crossbeam_channel::bounded(1);
            let task = Running {
                vertex: deployment.vertex,
                subtask: deployment.subtask,
                name: deployment.name.clone(),
                metrics: deployment.metrics.clone(),
                control,
            };
            match spawn_task(deployment, control_receiver, events_sender.clone()) {
                Ok(thread) => {
                    running.tasks.push(task);
                    running.threads.push(thread);
                    running.remaining += 1;
                }
                Err(source) => {
                    running.cancel();
                    running.join();
                    return Err(SpawnError {
                        task: task.name,
                        source,
                    });
                }
            }
        }
        Ok(running)
    }

    /// Asks every task to stop; each still reports its end.
    pub fn cancel(&self) {
        for task in &self.tasks {
            let _ = task.control.try_send(Control::Cancel);
        }
    }

    /// How many tasks have not reported their end yet.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// The next task that ended (or finished its input and awaits a commit), waiting at most
    /// `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<TaskEvent> {
        if self.remaining == 0 {
            return None;
        }
        match self.events.recv_timeout(timeout) {
            Ok(event) => {
                if !event.awaiting_commit {
                    self.remaining -= 1;
                }
                Some(event)
            }
            Err(RecvTimeoutError::Timeout) => None,
            // Every task thread is gone: none can report any more.
            Err(RecvTimeoutError::Disconnected) => {
                self.remaining = 0;
                None
            }
        }
    }

    /// The `vertex[subtask/parallelism]` name of a task.
    pub fn task_name(&self, vertex: usize, subtask: u32) -> String {
        self.tasks
            .iter()
            .find(|t| t.vertex == vertex && t.subtask == subtask)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| format!("vertex {vertex} subtask {subtask}"))
    }

    /// Every task's (vertex, subtask, name, counters), for a metrics registry.
    pub fn metrics(&self) -> Vec<(usize, u32, String, Arc<TaskMetrics>)> {
        self.tasks
            .iter()
            .map(|t| (t.vertex, t.subtask, t.name.clone(), t.metrics.clone()))
            .collect()
    }

    /// Every task's counters now.
    pub fn counters(&self) -> Vec<TaskCounters> {
        self.tasks
            .iter()
            .map(|t| t.metrics.counters(t.vertex, t.subtask))
            .collect()
    }

    /// Waits for every task thread to end.
    pub fn join(&mut self) {
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
