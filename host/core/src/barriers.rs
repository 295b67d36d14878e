//! Barrier alignment at a task with several inputs (exactly-once checkpoints): once barrier `n`
//! came on a channel, what follows on that channel belongs after the snapshot, so the channel is
//! not read until barrier `n` has come on every open channel; then the task snapshots and
//! forwards the barrier. Sans-IO: the task feeds it what arrives and does what it returns.

/// What the task does after telling the aligner something.
#[derive(Debug, PartialEq, Eq)]
pub enum Alignment {
    /// Keep reading.
    Pending,
    /// Barrier `n` has come on every open channel: snapshot and forward it.
    Aligned(u64),
    /// Checkpoint `n` was abandoned for a newer one before it aligned (its barrier came late
    /// on some channel); the newer one is being aligned now.
    Abandoned(u64),
}

/// The barrier state of a task's input channels.
#[derive(Debug)]
pub struct BarrierAligner {
    open: Vec<bool>,
    /// Channels that delivered the current barrier (their later elements are held).
    arrived: Vec<bool>,
    /// The checkpoint being aligned.
    current: Option<u64>,
    /// The highest checkpoint aligned or abandoned: its barriers still in flight are stale.
    done: u64,
}

impl BarrierAligner {
    /// `channels` open inputs.
    pub fn new(channels: usize) -> Self {
        BarrierAligner {
            open: vec![true; channels],
            arrived: vec![false; channels],
            current: None,
            done: 0,
        }
    }

    /// Whether `channel` must not be read (it delivered the barrier being aligned).
    pub fn is_blocked(&self, channel: usize) -> bool {
        self.current.is_some() && self.arrived.get(channel).copied().unwrap_or(false)
    }

    /// Barrier `id` came on `channel`.
    pub fn on_barrier(&mut self, channel: usize, id: u64) -> Alignment {
        if id <= self.done {
            return Alignment::Pending;
        }
        let mut outcome = Alignment::Pending;
        match self.current {
            Some(current) if id < current => return Alignment::Pending,
            Some(current) if id > current => {
                // A newer checkpoint overtook this one on some channel: this one cannot align.
                self.done = current;
                self.arrived.iter_mut().for_each(|a| *a = false);
                self.current = Some(id);
                outcome = Alignment::Abandoned(current);
            }
            Some(_) => {}
            None => self.current = Some(id),
        }
        if let Some(arrived) = self.arrived.get_mut(channel) {
            *arrived = true;
        }
        match self.check() {
            Alignment::Pending => outcome,
            aligned => aligned,
        }
    }

    /// `channel` ended: it holds no barrier back any more.
    pub fn on_end(&mut self, channel: usize) -> Alignment {
        if let Some(open) = self.open.get_mut(channel) {
            *open = false;
        }
        self.check()
    }

    /// Whether checkpoint `id` is settled here: aligned, abandoned, or taken unaligned.
    pub fn is_done(&self, id: u64) -> bool {
        id <= self.done
    }

    /// Whether `channel` has delivered barrier `id` (the one being aligned).
    pub fn has_arrived(&self, channel: usize, id: u64) -> bool {
        self.current == Some(id) && self.arrived.get(channel).copied().unwrap_or(false)
    }

    /// Checkpoint `id` was taken unaligned: the task read each channel up to its barrier `id`
    /// itself, so the channels held back for it are free again and its barriers are stale.
    pub fn taken_unaligned(&mut self, id: u64) {
        if self.current.is_some_and(|current| current <= id) {
            self.current = None;
            self.arrived.iter_mut().for_each(|a| *a = false);
        }
        self.done = self.done.max(id);
    }

    fn check(&mut self) -> Alignment {
        let Some(current) = self.current else {
            return Alignment::Pending;
        };
        let aligned = self
            .open
            .iter()
            .zip(&self.arrived)
            .all(|(&open, &arrived)| !open || arrived);
        if !aligned {
            return Alignment::Pending;
        }
        self.current = None;
        self.done = current;
        self.arrived.iter_mut().for_each(|a| *a = false);
        Alignment::Aligned(current)
    }
}

#[cfg(test)]
mod tests {
    use super::{Alignment, BarrierAligner};

    #[test]
    fn a_channel_that_delivered_the_barrier_waits_for_the_others() {
        let mut aligner = BarrierAligner::new(3);
        assert_eq!(aligner.on_barrier(0, 1), Alignment::Pending);
        assert!(aligner.is_blocked(0) && !aligner.is_blocked(1));
        assert_eq!(aligner.on_barrier(2, 1), Alignment::Pending);
        assert!(aligner.is_blocked(2));
        assert_eq!(aligner.on_barrier(1, 1), Alignment::Aligned(1));
        assert!(
            (0..3).all(|c| !aligner.is_blocked(c)),
            "every channel is read again after alignment"
        );
        assert_eq!(
            aligner.on_barrier(0, 1),
            Alignment::Pending,
            "a stale barrier"
        );
        assert!(!aligner.is_blocked(0));
    }

    #[test]
    fn an_ended_channel_holds_nothing_back() {
        let mut aligner = BarrierAligner::new(2);
        assert_eq!(aligner.on_barrier(1, 4), Alignment::Pending);
        assert_eq!(aligner.on_end(0), Alignment::Aligned(4));
        assert_eq!(
            aligner.on_barrier(1, 5),
            Alignment::Aligned(5),
            "one open channel left"
        );
    }

    #[test]
    fn a_checkpoint_taken_unaligned_frees_the_held_channels_and_its_barriers_go_stale() {
        let mut aligner = BarrierAligner::new(2);
        assert_eq!(aligner.on_barrier(0, 3), Alignment::Pending);
        assert!(aligner.has_arrived(0, 3) && !aligner.has_arrived(1, 3));
        aligner.taken_unaligned(3);
        assert!(aligner.is_done(3) && !aligner.is_blocked(0));
        assert_eq!(aligner.on_barrier(1, 3), Alignment::Pending, "stale now");
        assert_eq!(aligner.on_barrier(1, 4), Alignment::Pending);
        assert_eq!(
            aligner.on_barrier(0, 4),
            Alignment::Aligned(4),
            "the next one aligns"
        );
    }

    #[test]
    fn a_newer_barrier_abandons_the_checkpoint_being_aligned() {
        let mut aligner = BarrierAligner::new(2);
        assert_eq!(aligner.on_barrier(0, 1), Alignment::Pending);
        assert_eq!(aligner.on_barrier(0, 2), Alignment::Abandoned(1));
        assert!(
            aligner.is_blocked(0),
            "now waiting for 2 on the other channel"
        );
        assert_eq!(aligner.on_barrier(1, 1), Alignment::Pending, "1 is gone");
        assert_eq!(aligner.on_barrier(1, 2), Alignment::Aligned(2));
    }
}
