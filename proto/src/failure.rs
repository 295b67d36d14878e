//! A failure as data: what went wrong in a job, classified once where it happened, with the
//! culprit as fields. It crosses the control plane as it is, and everything that decides on a
//! failure — whether a job restarts, which failure is the root cause, the REST status code,
//! `weir exceptions`, the dashboard — reads its class and fields, never its message text.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of failure this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// A record or the user's code: a UDF trapped or returned garbage, a record was rejected
    /// and the job has no dead-letter sink.
    UserCode,
    /// The job's configuration: its spec, a module that does not load, a step that cannot
    /// start, a checkpoint that does not fit the job. A restart meets it again.
    Configuration,
    /// A limit was reached: a UDF's memory or time per call, no free slots.
    ResourceLimit,
    /// A file, a disk or the state backend failed.
    Storage,
    /// The network: a channel broke, a peer sent bad data.
    Network,
    /// A task or a TaskManager went away (it failed, was cancelled, or its process died).
    LostPeer,
    /// Weir itself: an invariant broke.
    Internal,
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureClass::UserCode => "user code",
            FailureClass::Configuration => "configuration",
            FailureClass::ResourceLimit => "resource limit",
            FailureClass::Storage => "storage",
            FailureClass::Network => "network",
            FailureClass::LostPeer => "lost peer",
            FailureClass::Internal => "internal",
        })
    }
}

/// One failure, with its class and whatever is known of its culprit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What kind of failure.
    pub class: FailureClass,
    /// Whether a restart may get past it (a trap on one record may not recur; a spec error
    /// will).
    pub retryable: bool,
    /// Whether it only echoes another failure (an upstream that stopped, a cancellation): the
    /// root cause of a job's failure is its first failure that is not an echo.
    pub secondary: bool,
    /// What happened, for people: the primary line, then detail and a hint.
    pub message: String,
    /// The subtask, `vertex[subtask/parallelism]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The TaskManager it ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taskmanager: Option<String>,
    /// The Wasm module involved, `name (sha256 …)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The export called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<String>,
    /// The record that caused it, when it could be isolated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

impl Failure {
    /// A failure of `class` with nothing known but its message.
    pub fn new(class: FailureClass, retryable: bool, message: impl Into<String>) -> Self {
        Failure {
            class,
            retryable,
            secondary: false,
            message: message.into(),
            task: None,
            taskmanager: None,
            module: None,
            export: None,
            record: None,
        }
    }

    /// The same, as an echo of another failure.
    pub fn echo(mut self) -> Self {
        self.secondary = true;
        self
    }

    /// The same, failed in subtask `task`.
    pub fn in_task(mut self, task: impl Into<String>) -> Self {
        self.task = Some(task.into());
        self
    }

    /// The same, on TaskManager `name`.
    pub fn on(mut self, taskmanager: impl Into<String>) -> Self {
        self.taskmanager = Some(taskmanager.into());
        self
    }

    /// Whether `self` is a better root cause than `other`: a root cause beats an echo; else
    /// the first one stays.
    pub fn outranks(&self, other: &Failure) -> bool {
        other.secondary && !self.secondary
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.task, &self.taskmanager) {
            (Some(task), Some(tm)) => write!(f, "task {task} on `{tm}` failed: ")?,
            (Some(task), None) => write!(f, "task {task} failed: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_cause_outranks_an_echo_and_nothing_else() {
        let root = Failure::new(FailureClass::UserCode, false, "trap");
        let echo = Failure::new(FailureClass::LostPeer, true, "upstream stopped").echo();
        assert!(root.outranks(&echo));
        assert!(!echo.outranks(&root));
        assert!(!root.outranks(&root.clone()));
    }

    #[test]
    fn crosses_the_wire_as_data() {
        let failure = Failure::new(FailureClass::UserCode, false, "trap")
            .in_task("map[0/2]")
            .on("tm-1");
        let json = serde_json::to_string(&failure).expect("serialises");
        assert!(json.contains("\"class\":\"user_code\""), "{json}");
        let back: Failure = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, failure);
        assert_eq!(back.to_string(), "task map[0/2] on `tm-1` failed: trap");
    }
}
