//! What a task that ran to the end of its input leaves in the checkpoints taken after it
//! (Flink's checkpoints after tasks finished, FLIP-147): the job goes on checkpointing while
//! some of its tasks have ended, and a restore must not redo what they did.

use serde::{Deserialize, Serialize};
use weir_runtime::error::TaskError;
use weir_runtime::operators::Chain;
use weir_state::checkpoint::{OperatorState, SubtaskState};

/// A finished task's part of every later checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalState {
    /// The highest checkpoint whose barrier (or trigger) reached it: a checkpoint in progress
    /// above it counts the task with this state; one at or below it was abandoned there.
    pub last_barrier: u64,
    /// Its source's position at the end (a restore reads nothing again) and its operators'
    /// final inline state. No keyed state: no record can reach a finished task again.
    pub state: SubtaskState,
}

/// The final state of a chain whose operators are named `names` (the source first).
pub(super) fn final_state(
    chain: &mut Chain,
    names: &[String],
    (subtask, parallelism): (u32, u32),
    last_barrier: u64,
) -> Result<FinalState, TaskError> {
    let state = |operator: &str, meta| OperatorState {
        operator: operator.to_string(),
        subtask,
        parallelism,
        meta: Some(meta),
        keyed: None,
        bytes: 0,
    };
    let mut operators = Vec::new();
    let mut names = names.iter();
    if let Some(source) = &mut chain.0 {
        let name = names.next().map_or("", String::as_str);
        operators.push(state(name, source.position()?));
    }
    for (operator, name) in chain.1.iter_mut().zip(names) {
        if let Some(meta) = operator.final_state()? {
            operators.push(state(name, meta));
        }
    }
    Ok(FinalState {
        last_barrier,
        state: SubtaskState { operators },
    })
}
