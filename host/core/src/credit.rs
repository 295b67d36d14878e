//! Credit-based flow control (Flink's): a receiver owns a few exclusive buffers per input channel
//! and a floating pool per input gate; it announces one credit per free buffer; a sender sends a
//! buffer only against a credit and reports its backlog with it, which lets the receiver lend it
//! floating buffers. A slow consumer therefore stalls only its own producers, memory stays
//! bounded by the buffers configured, and nothing is ever dropped.

use std::collections::VecDeque;

/// A protocol violation by the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    /// The sender sent a buffer it had no credit for.
    #[error("channel {channel}: a buffer arrived without credit")]
    NoCredit {
        /// The input channel.
        channel: usize,
    },
    /// The receiver released a buffer it did not hold.
    #[error("channel {channel}: released a buffer that was not in use")]
    NotInUse {
        /// The input channel.
        channel: usize,
    },
}

/// The sending end of one channel: buffers wait here until the receiver grants credit.
#[derive(Debug)]
pub struct CreditSender<T> {
    credit: u32,
    queue: VecDeque<T>,
}

impl<T> Default for CreditSender<T> {
    fn default() -> Self {
        CreditSender {
            credit: 0,
            queue: VecDeque::new(),
        }
    }
}

impl<T> CreditSender<T> {
    /// Queues a full buffer for sending.
    pub fn enqueue(&mut self, buffer: T) {
        self.queue.push_back(buffer);
    }

    /// The receiver granted `credits` more buffers.
    pub fn on_credit(&mut self, credits: u32) {
        self.credit += credits;
    }

    /// The next buffer that may be sent now, with the backlog to report alongside it.
    pub fn poll_send(&mut self) -> Option<(T, u32)> {
        if self.credit == 0 {
            return None;
        }
        let buffer = self.queue.pop_front()?;
        self.credit -= 1;
        Some((buffer, self.queue.len() as u32))
    }

    /// Buffers waiting for credit: when this grows, the channel is backpressured.
    pub fn backlog(&self) -> usize {
        self.queue.len()
    }
}

#[derive(Debug, Clone, Default)]
struct Channel {
    /// Free buffers reserved for this channel whose credit the sender has or will get.
    credited: u32,
    /// Buffers holding received data not yet consumed by the task.
    in_use: u32,
    /// How many of this channel's buffers (credited or in use) are borrowed from the pool.
    floating: u32,
    /// The sender's backlog as last reported.
    backlog: u32,
    /// Credits granted but not yet announced to the sender.
    unannounced: u32,
    /// Waiting for a floating buffer.
    waiting: bool,
}

/// The receiving side of one input gate: buffer ownership and the credits to announce.
#[derive(Debug, Clone)]
pub struct GateCredits {
    channels: Vec<Channel>,
    pool: u32,
    waiting: VecDeque<usize>,
}

impl GateCredits {
    /// A gate of `channels` input channels with `exclusive` buffers each and a floating pool of
    /// `floating` buffers. Every exclusive buffer starts as an unannounced credit.
    pub fn new(channels: usize, exclusive: u32, floating: u32) -> Self {
        let channel = Channel {
            credited: exclusive,
            unannounced: exclusive,
            ..Channel::default()
        };
        GateCredits {
            channels: vec![channel; channels],
            pool: floating,
            waiting: VecDeque::new(),
        }
    }

    /// A buffer arrived on `channel`, its sender reporting `backlog` more queued.
    pub fn on_buffer_received(&mut self, channel: usize, backlog: u32) -> Result<(), CreditError> {
        let state = self
            .channels
            .get_mut(channel)
            .ok_or(CreditError::NoCredit { channel })?;
        if state.credited == 0 {
            return Err(CreditError::NoCredit { channel });
        }
        state.credited -= 1;
        state.in_use += 1;
        state.backlog = backlog;
        self.lend(channel);
        Ok(())
    }

    /// The task finished with one buffer of `channel`: it becomes a credit again, or, if it was
    /// borrowed and the channel has enough, returns to the pool for a channel that needs it.
    pub fn on_buffer_consumed(&mut self, channel: usize) -> Result<(), CreditError> {
        let state = self
            .channels
            .get_mut(channel)
            .ok_or(CreditError::NotInUse { channel })?;
        if state.in_use == 0 {
            return Err(CreditError::NotInUse { channel });
        }
        state.in_use -= 1;
        if state.floating > 0 && state.credited >= state.backlog {
            state.floating -= 1;
            self.pool += 1;
            self.serve_waiting();
        } else {
            state.credited += 1;
            state.unannounced += 1;
        }
        Ok(())
    }

    /// Adds a channel with `exclusive` buffers of its own (all unannounced credit); returns its index.
    pub fn add_channel(&mut self, exclusive: u32) -> usize {
        self.channels.push(Channel {
            credited: exclusive,
            unannounced: exclusive,
            ..Channel::default()
        });
        self.channels.len() - 1
    }

    /// Credits to announce on `channel` since the last call.
    pub fn take_announcement(&mut self, channel: usize) -> u32 {
        self.channels
            .get_mut(channel)
            .map_or(0, |c| std::mem::take(&mut c.unannounced))
    }

    /// The channels with credits to announce.
    pub fn pending(&self) -> Vec<usize> {
        self.channels
            .iter()
            .enumerate()
            .filter(|(_, c)| c.unannounced > 0)
            .map(|(i, _)| i)
            .collect()
    }

    /// Credits to announce, per channel, since the last call.
    pub fn take_announcements(&mut self) -> Vec<(usize, u32)> {
        let mut announcements = Vec::new();
        for (channel, state) in self.channels.iter_mut().enumerate() {
            if state.unannounced > 0 {
                announcements.push((channel, std::mem::take(&mut state.unannounced)));
            }
        }
        announcements
    }

    /// Buffers of this gate in use or reserved, and the pool: their sum never changes.
    pub fn buffers(&self) -> (u32, u32) {
        let held = self.channels.iter().map(|c| c.credited + c.in_use).sum();
        (held, self.pool)
    }

    /// Lends floating buffers to `channel` while its backlog exceeds its credit.
    fn lend(&mut self, channel: usize) {
        let state = &mut self.channels[channel];
        while state.backlog > state.credited && self.pool > 0 {
            self.pool -= 1;
            state.floating += 1;
            state.credited += 1;
            state.unannounced += 1;
        }
        if state.backlog > state.credited && !state.waiting {
            state.waiting = true;
            self.waiting.push_back(channel);
        }
    }

    fn serve_waiting(&mut self) {
        while self.pool > 0 {
            let Some(channel) = self.waiting.pop_front() else {
                return;
            };
            self.channels[channel].waiting = false;
            self.lend(channel);
        }
    }
}
