//! One deployed share of a job on a TaskManager, from its start to its last task's end: the
//! tasks the deployment places here, their checkpoint wires, and what to tell the JobManager
//! (every task's end, acknowledgements, live counters). The TaskManager process drives it on a
//! thread of its own with channels bridged over QUIC; the embedded mini-cluster drives it in
//! its own loop with local channels. Both report the same [`ToJobManager`] messages.

use crate::executor::{CheckpointWires, JobError, TaskExecutor};
use std::time::{Duration, Instant};
use weir_net::rpc::{Deployment, ToJobManager};
use weir_proto::progress::TaskCounters;
use weir_state::checkpoint::{CheckpointStorage, Restore};
use weir_tasks::deploy::ChannelFactory;
use weir_tasks::{CheckpointMail, RunningTasks};

/// A running share of a job.
pub struct Share {
    job: String,
    tasks: RunningTasks,
    wires: Option<CheckpointWires>,
    /// A task of the share failed (the rest were cancelled).
    failed: bool,
    progress_every: Duration,
    last_progress: Instant,
}

impl Share {
    /// Starts the subtasks `deployment` places where `channels` say, restoring state from the
    /// deployment's checkpoint; counters are reported every `progress_every`.
    pub fn start(
        executor: &TaskExecutor,
        deployment: &Deployment,
        channels: &mut dyn ChannelFactory,
        progress_every: Duration,
    ) -> Result<Share, JobError> {
        let (tasks, wires) = match &deployment.checkpoint_storage {
            None => (executor.start(&deployment.graph, channels)?, None),
            Some(root) => {
                let restore = match &deployment.restore {
                    Some(path) => Some(Restore::open(std::path::Path::new(path))?),
                    None => None,
                };
                let incremental = deployment
                    .graph
                    .config
                    .checkpointing
                    .is_some_and(|c| c.incremental);
                let storage = CheckpointStorage::new(root.into(), incremental);
                let (tasks, wires) = executor.start_checkpointed(
                    &deployment.graph,
                    channels,
                    restore.as_ref(),
                    storage,
                )?;
                (tasks, Some(wires))
            }
        };
        Ok(Share {
            job: deployment.job.clone(),
            tasks,
            wires,
            failed: false,
            progress_every,
            last_progress: Instant::now(),
        })
    }

    /// The share's tasks.
    pub fn tasks(&self) -> &RunningTasks {
        &self.tasks
    }

    /// Cancels every task of the share.
    pub fn cancel(&self) {
        self.tasks.cancel();
    }

    /// Hands the checkpoint coordinator's mail to the tasks.
    pub fn deliver(&self, mail: impl IntoIterator<Item = CheckpointMail>) {
        if let Some(wires) = &self.wires {
            wires.mailboxes.deliver(mail);
        }
    }

    /// Waits up to `wait` for a task to end, reporting it, the tasks' acknowledgements and (now
    /// and then) their counters; `false` once every task has ended.
    pub fn poll(&mut self, wait: Duration, report: &mut dyn FnMut(ToJobManager)) -> bool {
        if self.tasks.remaining() == 0 {
            return false;
        }
        let event = self.tasks.next_event(wait);
        // Acknowledgements go before a task's end: a task joins its uploads (which acknowledge)
        // before it ends, so reported first, the JobManager never counts a task finished in a
        // checkpoint it took.
        if let Some(wires) = &self.wires {
            for ack in wires.acks.try_iter() {
                report(ToJobManager::CheckpointAck {
                    job: self.job.clone(),
                    ack,
                });
            }
        }
        if let Some(event) = event {
            let counters = self
                .tasks
                .counters()
                .into_iter()
                .find(|c| c.vertex == event.vertex && c.subtask == event.subtask)
                .unwrap_or_else(|| TaskCounters {
                    vertex: event.vertex,
                    subtask: event.subtask,
                    ..TaskCounters::default()
                });
            let task = self.tasks.task_name(event.vertex, event.subtask);
            let result = event.result.map_err(|error| {
                if !self.failed {
                    // The rest of this share cannot finish either; the JobManager cancels the
                    // other TaskManagers' shares.
                    self.failed = true;
                    self.tasks.cancel();
                }
                error.failure(&task)
            });
            report(ToJobManager::TaskEnded {
                job: self.job.clone(),
                vertex: event.vertex,
                subtask: event.subtask,
                counters,
                result,
                final_state: event.final_state,
                awaiting_commit: event.awaiting_commit,
            });
        }
        if self.last_progress.elapsed() >= self.progress_every {
            report(ToJobManager::Progress {
                job: self.job.clone(),
                tasks: self.tasks.counters(),
            });
            self.last_progress = Instant::now();
        }
        self.tasks.remaining() > 0
    }

    /// Waits for the task threads to exit.
    pub fn join(mut self) {
        self.tasks.join();
    }
}
