//! Scheduling: placing every subtask of a JobGraph into a TaskManager slot, with Flink's slot
//! sharing — slot `k` holds subtask `k` of every vertex, so a job needs as many slots as its
//! largest parallelism, and a pipeline's subtasks share a slot (and a host) with their partners.
//! Slots are taken round-robin over TaskManagers, spreading load evenly. Pure: no I/O.

use std::fmt;
use weir_proto::graph::JobGraph;

/// Free slots a TaskManager offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotOffer {
    /// The TaskManager's identity.
    pub taskmanager: String,
    /// Free slots.
    pub slots: u32,
}

/// Where one slot is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Index of the TaskManager in the offers.
    pub taskmanager: usize,
    /// The slot's number on that TaskManager.
    pub index: u32,
}

/// The slots a job uses and where each subtask runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Slot `k` of the job.
    pub slots: Vec<Slot>,
    /// `subtasks[vertex][subtask]`: the job slot running that subtask.
    pub subtasks: Vec<Vec<usize>>,
}

impl Placement {
    /// The TaskManager (index into the offers) running `subtask` of `vertex`.
    pub fn taskmanager(&self, vertex: usize, subtask: u32) -> usize {
        self.slots[self.subtasks[vertex][subtask as usize]].taskmanager
    }
}

/// The cluster has too few free slots for the job (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NotEnoughSlots {
    /// Slots the job needs (its largest parallelism).
    pub needed: u32,
    /// Free slots offered.
    pub available: u32,
}

impl fmt::Display for NotEnoughSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the job needs {} slots (its largest parallelism) but the cluster offers {}\n  hint: start more TaskManagers, give them more --slots, or lower the job's parallelism",
            self.needed, self.available
        )
    }
}

/// Places `graph` into the `offers`.
pub fn schedule(graph: &JobGraph, offers: &[SlotOffer]) -> Result<Placement, NotEnoughSlots> {
    let needed = graph
        .vertices
        .iter()
        .map(|v| v.parallelism)
        .max()
        .unwrap_or(0);
    let available: u32 = offers.iter().map(|o| o.slots).sum();
    if needed > available {
        return Err(NotEnoughSlots { needed, available });
    }
    // Round-robin over TaskManagers: slot 0 of each, then slot 1 of each, ...
    let mut slots = Vec::with_capacity(needed as usize);
    let deepest = offers.iter().map(|o| o.slots).max().unwrap_or(0);
    'fill: for index in 0..deepest {
        for (taskmanager, offer) in offers.iter().enumerate() {
            if slots.len() == needed as usize {
                break 'fill;
            }
            if index < offer.slots {
                slots.push(Slot { taskmanager, index });
            }
        }
    }
    let subtasks = graph
        .vertices
        .iter()
        .map(|v| (0..v.parallelism as usize).collect())
        .collect();
    Ok(Placement { slots, subtasks })
}

#[cfg(test)]
mod tests;
