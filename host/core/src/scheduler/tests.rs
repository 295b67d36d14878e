use super::*;
use crate::fixtures::graph;

fn offers(slots: &[u32]) -> Vec<SlotOffer> {
    slots
        .iter()
        .enumerate()
        .map(|(i, &s)| SlotOffer {
            taskmanager: format!("taskmanager-{}", i + 1),
            slots: s,
        })
        .collect()
}

#[test]
fn slot_sharing_needs_only_the_largest_parallelism() {
    let placement =
        schedule(&graph(&[1, 4, 2]), &offers(&[2, 2])).expect("4 slots suffice for parallelism 4");
    assert_eq!(placement.slots.len(), 4);
    // Subtask k of every vertex shares slot k; slots alternate between the two TaskManagers.
    assert_eq!(
        (0..4)
            .map(|s| placement.taskmanager(1, s))
            .collect::<Vec<_>>(),
        vec![0, 1, 0, 1]
    );
    assert_eq!(placement.taskmanager(0, 0), placement.taskmanager(1, 0));
    assert_eq!(placement.taskmanager(2, 1), placement.taskmanager(1, 1));
}

#[test]
fn uneven_offers_are_used_fully_before_failing() {
    let placement = schedule(&graph(&[5]), &offers(&[1, 4])).expect("5 slots in all");
    let mut per_taskmanager = [0; 2];
    for slot in &placement.slots {
        per_taskmanager[slot.taskmanager] += 1;
    }
    assert_eq!(per_taskmanager, [1, 4]);
    assert_eq!(
        schedule(&graph(&[6]), &offers(&[1, 4])),
        Err(NotEnoughSlots {
            needed: 6,
            available: 5
        })
    );
}
