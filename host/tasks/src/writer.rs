//! Record writers: partition a task's output over the subtasks of one downstream vertex and
//! batch it per channel, flushing full batches at once and partial ones at the buffer timeout.

use super::channel::{Control, StreamElement, send_or_cancel};
use crossbeam_channel::{Receiver, Sender};
use std::time::{Duration, Instant};
use weir_proto::RecordBatch;
use weir_proto::graph::Partitioning;
use weir_proto::keygroup;
use weir_runtime::error::TaskError;

/// The output of one task to one downstream vertex.
pub struct RecordWriter {
    downstream: String,
    partitioning: Partitioning,
    /// One sender per downstream subtask (just this subtask's partner for forward edges).
    channels: Vec<Sender<StreamElement>>,
    pending: Vec<RecordBatch>,
    pending_since: Vec<Option<Instant>>,
    batch_size: usize,
    max_parallelism: u32,
    next_round_robin: usize,
}

impl RecordWriter {
    /// A writer to `downstream` over `channels` (indexed by downstream subtask).
    pub fn new(
        downstream: String,
        partitioning: Partitioning,
        channels: Vec<Sender<StreamElement>>,
        batch_size: usize,
        max_parallelism: u32,
    ) -> Self {
        let n = channels.len();
        RecordWriter {
            downstream,
            partitioning,
            channels,
            pending: (0..n).map(|_| RecordBatch::default()).collect(),
            pending_since: vec![None; n],
            batch_size: batch_size.max(1),
            max_parallelism,
            next_round_robin: 0,
        }
    }

    /// Partitions `batch` into the per-channel buffers, sending every buffer that fills up.
    /// Returns nanoseconds spent blocked on full channels.
    pub fn write(
        &mut self,
        batch: RecordBatch,
        control: &Receiver<Control>,
    ) -> Result<u64, TaskError> {
        let n = self.channels.len();
        let mut blocked = 0;
        match self.partitioning {
            Partitioning::Forward
                if self.pending[0].is_empty() && batch.len() * 2 >= self.batch_size =>
            {
                // Big enough to send as is: no copy.
                blocked += self.send(0, StreamElement::Records(batch), control)?;
            }
            Partitioning::Forward => blocked += self.buffer(0, &batch, 0..batch.len(), control)?,
            Partitioning::Broadcast => {
                for channel in 0..n {
                    blocked += self.buffer(channel, &batch, 0..batch.len(), control)?;
                }
            }
            Partitioning::Rebalance => {
                for i in 0..batch.len() {
                    let channel = self.next_round_robin;
                    self.next_round_robin = (self.next_round_robin + 1) % n;
                    blocked += self.buffer(channel, &batch, i..i + 1, control)?;
                }
            }
            Partitioning::Hash => {
                for (i, record) in batch.iter().enumerate() {
                    let key = record.key.unwrap_or_default();
                    let channel =
                        keygroup::subtask_for_key(key, self.max_parallelism, n as u32) as usize;
                    blocked += self.buffer(channel, &batch, i..i + 1, control)?;
                }
            }
        }
        Ok(blocked)
    }

    fn buffer(
        &mut self,
        channel: usize,
        batch: &RecordBatch,
        records: std::ops::Range<usize>,
        control: &Receiver<Control>,
    ) -> Result<u64, TaskError> {
        let pending = &mut self.pending[channel];
        if pending.is_empty() {
            self.pending_since[channel] = Some(Instant::now());
        }
        for i in records {
            pending.push_ref(batch.get(i));
        }
        if pending.len() >= self.batch_size {
            return self.flush(channel, control);
        }
        Ok(0)
    }

    fn flush(&mut self, channel: usize, control: &Receiver<Control>) -> Result<u64, TaskError> {
        if self.pending[channel].is_empty() {
            return Ok(0);
        }
        let batch = std::mem::replace(
            &mut self.pending[channel],
            RecordBatch::with_capacity(self.batch_size, 32),
        );
        self.pending_since[channel] = None;
        self.send(channel, StreamElement::Records(batch), control)
    }

    fn send(
        &self,
        channel: usize,
        element: StreamElement,
        control: &Receiver<Control>,
    ) -> Result<u64, TaskError> {
        send_or_cancel(&self.channels[channel], element, control, &self.downstream)
    }

    /// Sends buffers older than `timeout`.
    pub fn flush_expired(
        &mut self,
        now: Instant,
        timeout: Duration,
        control: &Receiver<Control>,
    ) -> Result<u64, TaskError> {
        let mut blocked = 0;
        for channel in 0..self.channels.len() {
            if self.pending_since[channel].is_some_and(|since| now.duration_since(since) >= timeout)
            {
                blocked += self.flush(channel, control)?;
            }
        }
        Ok(blocked)
    }

    /// When the oldest buffered record must be sent, if any is buffered.
    pub fn next_deadline(&self, timeout: Duration) -> Option<Instant> {
        self.pending_since
            .iter()
            .flatten()
            .min()
            .map(|since| *since + timeout)
    }

    /// Sends everything buffered, then `watermark` on every channel (records before a watermark
    /// stay before it).
    pub fn watermark(
        &mut self,
        watermark: i64,
        control: &Receiver<Control>,
    ) -> Result<u64, TaskError> {
        let mut blocked = 0;
        for channel in 0..self.channels.len() {
            blocked += self.flush(channel, control)?;
            blocked += self.send(channel, StreamElement::Watermark(watermark), control)?;
        }
        Ok(blocked)
    }

    /// Sends everything buffered, then the news that this producer is idle, on every channel.
    pub fn idle(&mut self, control: &Receiver<Control>) -> Result<u64, TaskError> {
        let mut blocked = 0;
        for channel in 0..self.channels.len() {
            blocked += self.flush(channel, control)?;
            blocked += self.send(channel, StreamElement::Idle, control)?;
        }
        Ok(blocked)
    }

    /// Sends everything buffered, then checkpoint barrier `id`, on every channel (records before
    /// the barrier stay before it).
    pub fn barrier(&mut self, id: u64, control: &Receiver<Control>) -> Result<u64, TaskError> {
        let mut blocked = 0;
        for channel in 0..self.channels.len() {
            blocked += self.flush(channel, control)?;
            blocked += self.send(channel, StreamElement::Barrier(id), control)?;
        }
        Ok(blocked)
    }

    /// Sends everything buffered, then end-of-stream on every channel.
    pub fn finish(&mut self, control: &Receiver<Control>) -> Result<u64, TaskError> {
        let mut blocked = 0;
        for channel in 0..self.channels.len() {
            blocked += self.flush(channel, control)?;
            blocked += self.send(channel, StreamElement::EndOfStream, control)?;
        }
        Ok(blocked)
    }
}
