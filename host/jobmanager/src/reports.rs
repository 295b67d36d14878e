//! What a TaskManager reports, handed to the JobManager's state: one dispatch for the control
//! plane's messages, used by the JobManager process for TaskManagers over QUIC and by the
//! embedded mini-cluster for its in-process TaskManager.

use crate::{ClusterState, Outgoing, TaskEnd};
use std::time::Instant;
use weir_net::rpc::ToJobManager;

impl ClusterState {
    /// `message` from TaskManager `from` (its session `session`); returns the messages for
    /// TaskManagers that it makes.
    pub fn on_report(
        &mut self,
        from: &str,
        session: u64,
        message: ToJobManager,
        now: Instant,
    ) -> Vec<Outgoing> {
        match message {
            ToJobManager::Heartbeat { resident_bytes } => {
                self.heartbeat(from, session, now);
                self.memory(from, session, resident_bytes);
                Vec::new()
            }
            ToJobManager::Progress { job, tasks } => {
                self.progress(&job, tasks, now);
                Vec::new()
            }
            ToJobManager::TaskEnded {
                job,
                vertex,
                subtask,
                counters,
                result,
                final_state,
                awaiting_commit,
            } => {
                let end = TaskEnd {
                    task: (vertex, subtask),
                    counters,
                    result,
                    final_state,
                    awaiting_commit,
                };
                self.task_ended(from, &job, end, now)
            }
            ToJobManager::CheckpointAck { job, ack } => self.checkpoint_ack(&job, ack, now),
            ToJobManager::DeployFailed { job, failure } => {
                self.deploy_failed(from, &job, failure, now)
            }
            ToJobManager::Register { .. } => {
                tracing::warn!(
                    taskmanager = from,
                    "ignored a second registration on one session"
                );
                Vec::new()
            }
        }
    }
}
