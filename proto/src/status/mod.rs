//! A job's lifecycle as typed states, with every legal transition in one place.

use std::fmt;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Accepted, not yet scheduled.
    Created,
    /// Waiting for slots and deploying tasks.
    Scheduling,
    /// Every task deployed.
    Running,
    /// Input ended; tasks are draining and flushing.
    Finishing,
    /// Done, all output written.
    Finished,
    /// A task failed; the others are being stopped.
    Failing,
    /// Stopped by a failure.
    Failed,
    /// A user asked to cancel; tasks are being stopped.
    Cancelling,
    /// Stopped by a user.
    Cancelled,
}

/// A transition the lifecycle does not allow: a bug in the caller, reported, never applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a job cannot go from {from} to {to}")]
pub struct IllegalTransition {
    /// The current state.
    pub from: JobStatus,
    /// The state asked for.
    pub to: JobStatus,
}

impl JobStatus {
    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Finished | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    /// Whether `self -> to` is legal.
    pub fn can_become(self, to: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, to),
            (Created, Scheduling)
                | (Scheduling, Running)
                | (Running, Finishing)
                | (Finishing, Finished)
                | (Created | Scheduling | Running | Finishing, Failing)
                | (Failing, Failed)
                | (Created | Scheduling | Running | Finishing, Cancelling)
                | (Cancelling, Cancelled)
                // A restart strategy brings a failing job back to scheduling (issue 6).
                | (Failing, Scheduling)
        )
    }

    /// Moves to `to` if legal.
    pub fn become_(self, to: JobStatus) -> Result<JobStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            JobStatus::Created => "created",
            JobStatus::Scheduling => "scheduling",
            JobStatus::Running => "running",
            JobStatus::Finishing => "finishing",
            JobStatus::Finished => "finished",
            JobStatus::Failing => "failing",
            JobStatus::Failed => "failed",
            JobStatus::Cancelling => "cancelling",
            JobStatus::Cancelled => "cancelled",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests;
