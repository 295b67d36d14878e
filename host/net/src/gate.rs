//! An input gate shared by the remote channels of one consumer subtask: each channel keeps a few
//! exclusive buffers, and one floating pool serves whichever channels have a backlog.
//!
//! Lending a floating buffer to channel B can happen while B's receiver is blocked reading, so
//! credits are written by a small task per channel that wakes whenever its channel has credit
//! to announce; readers never have to be interrupted.

use quinn::SendStream;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use weir_core::credit::{CreditError, GateCredits};

struct GateState {
    credits: GateCredits,
    wake: Vec<Arc<Notify>>,
}

/// The buffers and credits of one input gate.
pub struct InputGate {
    state: Mutex<GateState>,
    exclusive: u32,
}

impl InputGate {
    /// A gate whose channels get `exclusive` buffers each, sharing a pool of `floating`.
    pub fn new(exclusive: u32, floating: u32) -> Arc<Self> {
        Arc::new(InputGate {
            state: Mutex::new(GateState {
                credits: GateCredits::new(0, exclusive, floating),
                wake: Vec::new(),
            }),
            exclusive,
        })
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `change` and wakes the credit writers of every channel that now has credit to
    /// announce.
    pub fn update<R>(&self, change: impl FnOnce(&mut GateCredits) -> R) -> R {
        let mut state = self.lock();
        let result = change(&mut state.credits);
        for channel in state.credits.pending() {
            state.wake[channel].notify_one();
        }
        result
    }

    /// Adds a channel; returns its index and starts its credit writer on `credits`.
    pub fn add_channel(self: &Arc<Self>, credits: SendStream) -> usize {
        let wake = Arc::new(Notify::new());
        let channel = {
            let mut state = self.lock();
            let channel = state.credits.add_channel(self.exclusive);
            state.wake.push(wake.clone());
            channel
        };
        wake.notify_one();
        tokio::spawn(write_credits(self.clone(), channel, wake, credits));
        channel
    }

    /// Buffers held by the gate's channels and left in its pool: their sum never changes.
    pub fn buffers(&self) -> (u32, u32) {
        self.lock().credits.buffers()
    }

    /// The buffer of `channel` the consumer held is free again.
    pub fn consumed(&self, channel: usize) -> Result<(), CreditError> {
        self.update(|credits| credits.on_buffer_consumed(channel))
    }

    /// A buffer arrived on `channel` with its sender's `backlog`.
    pub fn received(&self, channel: usize, backlog: u32) -> Result<(), CreditError> {
        self.update(|credits| credits.on_buffer_received(channel, backlog))
    }
}

/// Writes `channel`'s credits whenever it has some; ends when the sender stops reading them.
async fn write_credits(
    gate: Arc<InputGate>,
    channel: usize,
    wake: Arc<Notify>,
    mut stream: SendStream,
) {
    loop {
        wake.notified().await;
        // Let credits freed by the reader's next few steps join this announcement.
        tokio::task::yield_now().await;
        let credits = gate.update(|c| c.take_announcement(channel));
        if credits > 0 && stream.write_all(&credits.to_le_bytes()).await.is_err() {
            // The sender finished (it stops reading credits after end-of-stream) or went away;
            // the data stream reports real failures.
            return;
        }
    }
}
