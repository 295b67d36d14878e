//! Fault injection for the exactly-once tests: `WEIR_FAULT=<action>@<point>:<checkpoint>[:<subtask>]`
//! makes a process pause (to be killed there) at checkpoint `<checkpoint>`, or fail once at the
//! first checkpoint from `<checkpoint>` on, at a named point of the checkpoint protocol, in
//! every subtask or only `<subtask>`. Unset — always, outside tests — it costs one lookup per
//! checkpoint.
//!
//! Points: `snapshot` (a task's synchronous phase), `upload` (its asynchronous phase, before
//! anything is written), `commit` (a sink heard that the checkpoint completed, before it
//! commits). Actions: `pause` (prints `weir fault: paused at …` on stderr and blocks the
//! thread for good) and `fail` (the task fails, once per process).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

struct Fault {
    pause: bool,
    point: String,
    from_checkpoint: u64,
    subtask: Option<u32>,
}

fn configured() -> Option<&'static Fault> {
    static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
    FAULT
        .get_or_init(|| {
            let text = std::env::var("WEIR_FAULT").ok()?;
            let (action, rest) = text.split_once('@')?;
            let mut parts = rest.split(':');
            let point = parts.next()?.to_string();
            let from_checkpoint = parts.next()?.parse().ok()?;
            let subtask = parts.next().and_then(|s| s.parse().ok());
            Some(Fault {
                pause: action == "pause",
                point,
                from_checkpoint,
                subtask,
            })
        })
        .as_ref()
}

/// A failure `WEIR_FAULT` injected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("injected fault (WEIR_FAULT) at {point} of checkpoint {checkpoint} in subtask {subtask}")]
pub struct InjectedFault {
    /// The point of the checkpoint protocol.
    pub point: String,
    /// The checkpoint.
    pub checkpoint: u64,
    /// The subtask.
    pub subtask: u32,
}

impl From<InjectedFault> for crate::error::TaskError {
    fn from(fault: InjectedFault) -> Self {
        crate::error::TaskError::Internal(fault.to_string())
    }
}

/// Passes `point` of checkpoint `checkpoint` in `subtask`: pauses for good or fails (once) if
/// `WEIR_FAULT` says so.
pub fn at(point: &str, checkpoint: u64, subtask: u32) -> Result<(), InjectedFault> {
    let Some(fault) = configured() else {
        return Ok(());
    };
    // A pause holds at its checkpoint only: a run restored past it goes on.
    let reached = match fault.pause {
        true => checkpoint == fault.from_checkpoint,
        false => checkpoint >= fault.from_checkpoint,
    };
    let hit = fault.point == point && reached && fault.subtask.is_none_or(|s| s == subtask);
    if !hit {
        return Ok(());
    }
    if fault.pause {
        eprintln!("weir fault: paused at {point} of checkpoint {checkpoint} in subtask {subtask}");
        loop {
            std::thread::park();
        }
    }
    static FAILED: AtomicBool = AtomicBool::new(false);
    if FAILED.swap(true, Ordering::Relaxed) {
        return Ok(());
    }
    Err(InjectedFault {
        point: point.to_string(),
        checkpoint,
        subtask,
    })
}
