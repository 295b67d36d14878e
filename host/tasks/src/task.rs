//! One subtask: its thread, its mailbox loop, and how it ends.

use super::channel::{Control, InputChannel, StreamElement};
use super::final_state::{FinalState, final_state};
use super::in_flight::InFlightRecords;
use super::metrics::{TaskActivity, TaskMetrics};
use super::outputs::Outputs;
use super::writer::RecordWriter;
use crossbeam_channel::{Receiver, Select, Sender};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::barriers::BarrierAligner;
use weir_core::watermarks::InputWatermarks;
use weir_proto::RecordBatch;
use weir_runtime::error::TaskError;
use weir_runtime::operators::{Chain, Operator, RejectSink, Rejection, SourceProgress};
use weir_state::checkpoint::{CheckpointStorage, SubtaskState};

mod checkpointing;
mod unaligned;

/// Everything one subtask needs to run.
pub struct TaskDeployment {
    /// `vertex-name[subtask/parallelism]`, for messages.
    pub name: String,
    /// Index of the vertex in the JobGraph.
    pub vertex: usize,
    /// Which subtask.
    pub subtask: u32,
    /// Its source (if a source vertex) and operators.
    pub chain: Chain,
    /// Input channels (none for a source vertex).
    pub inputs: Vec<InputChannel>,
    /// One writer per downstream vertex.
    pub outputs: Vec<RecordWriter>,
    /// Where rejected records go; `None` makes a rejected record fail the task.
    pub dead_letters: Option<RecordWriter>,
    /// The late outputs read downstream: the step whose late records each writer takes.
    pub late_outputs: Vec<(String, RecordWriter)>,
    /// How long a partly filled output batch may wait.
    pub buffer_timeout: Duration,
    /// Its counters.
    pub metrics: Arc<TaskMetrics>,
    /// The step names of its chain, head first (the source's included): state in a
    /// checkpoint is filed under them.
    pub operator_names: Vec<String>,
    /// Its vertex's parallelism.
    pub parallelism: u32,
    /// When the job checkpoints: the coordinator's mail to it, where it acknowledges, and
    /// where it writes its state.
    pub checkpoints: Option<TaskCheckpoints>,
    /// Records an unaligned checkpoint it resumes from held in flight to it: they run
    /// through the chain before anything is read from the inputs.
    pub in_flight: InFlightRecords,
}

/// A task's wires to the checkpoint coordinator.
pub struct TaskCheckpoints {
    /// Triggers (to a source subtask) and completions (to every subtask).
    pub mail: Receiver<CheckpointMail>,
    /// Where it acknowledges.
    pub acks: Sender<CheckpointAck>,
    /// Where its state goes.
    pub storage: CheckpointStorage,
    /// How long after a checkpoint started a task with inputs waits for its barriers before
    /// it takes the checkpoint unaligned; `None`: always aligned.
    pub aligned_timeout: Option<Duration>,
    /// Key groups of the job, for the in-flight records of unaligned checkpoints.
    pub max_parallelism: u32,
}

/// What the coordinator tells a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CheckpointMail {
    /// Checkpoint `id` started: a source takes its part and sends the barrier after its last
    /// batch; a task with inputs waits for the barriers (at most the aligned timeout).
    Trigger(u64),
    /// Checkpoint `id` completed on every task.
    Complete(u64),
}

/// A subtask's part of a checkpoint is in storage (or could not be written).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointAck {
    /// The checkpoint.
    pub id: u64,
    /// Index of the vertex.
    pub vertex: usize,
    /// Which subtask.
    pub subtask: u32,
    /// Its state's handles, or why it could not take part.
    pub state: Result<SubtaskState, String>,
}

/// A task's final report to the JobManager.
#[derive(Debug)]
pub struct TaskEvent {
    /// Index of the vertex.
    pub vertex: usize,
    /// Which subtask.
    pub subtask: u32,
    /// `Ok` when it ran to the end of its input.
    pub result: Result<(), TaskError>,
    /// Its part of later checkpoints, when it ran to its end in a checkpointing job.
    pub final_state: Option<FinalState>,
    /// It ran to its end but holds output that a checkpoint with its final state must commit:
    /// it waits for one, and another event follows when it ends.
    pub awaiting_commit: bool,
}

/// Starts `deployment` on its own named thread; it reports to `events` when it ends.
pub fn spawn_task(
    deployment: TaskDeployment,
    control: Receiver<Control>,
    events: Sender<TaskEvent>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let thread_name = format!("weir-task-{}.{}", deployment.vertex, deployment.subtask);
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || {
            let (vertex, subtask) = (deployment.vertex, deployment.subtask);
            let metrics = deployment.metrics.clone();
            let finished = |final_state: FinalState| {
                let _ = events.send(TaskEvent {
                    vertex,
                    subtask,
                    result: Ok(()),
                    final_state: Some(final_state),
                    awaiting_commit: true,
                });
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Task::new(deployment, control).run(&finished)
            }))
            .unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(TaskError::Internal(format!("task panicked: {message}")))
            });
            let (result, final_state) = match outcome {
                Ok(final_state) => (Ok(()), final_state),
                Err(error) => (Err(error), None),
            };
            metrics.set_activity(TaskActivity::Finished);
            // The JobManager may already be gone (it stops listening after a failure): nothing to do.
            let _ = events.send(TaskEvent {
                vertex,
                subtask,
                result,
                final_state,
                awaiting_commit: false,
            });
        })
}

/// Rejected and late records of the batch in progress, or the error when the job has no
/// dead-letter sink.
pub(super) struct Rejects {
    route: bool,
    pub(super) pending: Vec<Rejection>,
    /// Steps of the chain whose late records have an output of their own…
    late_routes: Vec<String>,
    /// …and those records.
    pub(super) late: Vec<Rejection>,
}

impl RejectSink for Rejects {
    fn reject(&mut self, rejection: Rejection) -> Result<(), TaskError> {
        if !self.route {
            return Err(TaskError::Rejected(Box::new(rejection)));
        }
        self.pending.push(rejection);
        Ok(())
    }

    fn late(&mut self, rejection: Rejection) -> Result<(), TaskError> {
        if !self.late_routes.contains(&rejection.operator) {
            return self.reject(rejection);
        }
        self.late.push(rejection);
        Ok(())
    }
}

struct Task {
    name: String,
    chain: Chain,
    inputs: Vec<InputChannel>,
    outputs: Outputs,
    rejects: Rejects,
    buffer_timeout: Duration,
    control: Receiver<Control>,
    metrics: Arc<TaskMetrics>,
    /// When the operators' state size was last read into the metrics.
    state_polled: Instant,
    vertex: usize,
    subtask: u32,
    parallelism: u32,
    operator_names: Vec<String>,
    checkpoints: Option<TaskCheckpoints>,
    /// Asynchronous phases still writing.
    uploads: Vec<std::thread::JoinHandle<()>>,
    /// The highest checkpoint whose barrier or trigger reached it.
    last_barrier: u64,
    /// Records of a restored unaligned checkpoint, to run before reading the inputs.
    in_flight: InFlightRecords,
    /// A checkpoint that started whose barriers have not all come, and when it goes unaligned.
    announced: Option<(u64, Instant)>,
    /// Elements read from the inputs ahead of their turn (while an unaligned checkpoint read up
    /// to its barriers), with their channel: handled before anything more is read.
    queued: VecDeque<(usize, StreamElement)>,
}

/// What a task with inputs knows of them: which are open, their watermarks, their barriers.
pub(super) struct InputState {
    pub(super) open: Vec<bool>,
    pub(super) watermarks: InputWatermarks,
    pub(super) barriers: BarrierAligner,
}

/// How often a task reads its operators' state size (reading RocksDB's properties or walking a
/// heap map costs too much for every watermark).
const STATE_POLL_INTERVAL: Duration = Duration::from_millis(200);

impl Task {
    fn new(deployment: TaskDeployment, control: Receiver<Control>) -> Self {
        let route = deployment.dead_letters.is_some();
        let mut late_routes: Vec<String> = Vec::new();
        for (step, _) in &deployment.late_outputs {
            if !late_routes.contains(step) {
                late_routes.push(step.clone());
            }
        }
        Task {
            name: deployment.name,
            chain: deployment.chain,
            inputs: deployment.inputs,
            outputs: Outputs {
                writers: deployment.outputs,
                dead_letters: deployment.dead_letters,
                late: deployment.late_outputs,
                control: control.clone(),
                metrics: deployment.metrics.clone(),
            },
            rejects: Rejects {
                route,
                pending: Vec::new(),
                late_routes,
                late: Vec::new(),
            },
            buffer_timeout: deployment.buffer_timeout,
            control,
            metrics: deployment.metrics,
            state_polled: Instant::now(),
            vertex: deployment.vertex,
            subtask: deployment.subtask,
            parallelism: deployment.parallelism,
            operator_names: deployment.operator_names,
            checkpoints: deployment.checkpoints,
            uploads: Vec::new(),
            last_barrier: 0,
            in_flight: deployment.in_flight,
            announced: None,
            queued: VecDeque::new(),
        }
    }

    /// Reads the operators' state size into the metrics, if it is time (or `now_anyway`).
    fn poll_state(&mut self, now_anyway: bool) {
        if now_anyway || self.state_polled.elapsed() >= STATE_POLL_INTERVAL {
            let bytes = self.chain.1.iter().map(|o| o.state_bytes()).sum();
            self.metrics.set_state_bytes(bytes);
            if let Some(source) = &self.chain.0 {
                self.metrics.set_partitions(source.partitions());
            }
            self.state_polled = Instant::now();
        }
    }

    /// Runs the task to its end; its final state when it ran to the end of its input in a
    /// checkpointing job. A task holding output to commit reports that state to `finished`
    /// first and ends once a checkpoint holding it completes.
    fn run(mut self, finished: &dyn Fn(FinalState)) -> Result<Option<FinalState>, TaskError> {
        tracing::debug!(task = %self.name, "task started");
        let result = match self.chain.0.is_some() {
            true => self.run_source(),
            false => self.run_inputs(),
        };
        let result = result.and_then(|()| self.finish()).and_then(|()| {
            if self.checkpoints.is_none() {
                return Ok(None);
            }
            let at = (self.subtask, self.parallelism);
            final_state(&mut self.chain, &self.operator_names, at, self.last_barrier).map(Some)
        });
        // A finished task ends only once its uploads have: nothing of it writes to storage
        // after the job ends. A failed or cancelled one does not wait (storage may be what
        // hangs); ids are never reused, so a late upload lands only in an abandoned checkpoint.
        if result.is_ok() {
            for upload in self.uploads.drain(..) {
                let _ = upload.join();
            }
        }
        let result = match result {
            Ok(state) if self.awaits_commit() => match state {
                Some(state) => {
                    finished(state.clone());
                    self.await_final_commit(state.last_barrier)
                        .map(|()| Some(state))
                }
                None => self.final_commit().map(|()| None),
            },
            other => other,
        };
        tracing::debug!(task = %self.name, ok = result.is_ok(), "task ended");
        result
    }

    /// A source task: pull batches until the source ends, checking mail between batches.
    fn run_source(&mut self) -> Result<(), TaskError> {
        loop {
            if self.control.try_recv().is_ok() {
                return Err(TaskError::Cancelled);
            }
            // A source starts a checkpoint between two batches: its barrier goes after them.
            self.take_mail()?;
            self.metrics.set_activity(TaskActivity::Busy);
            let started = Instant::now();
            let Some(source) = self.chain.0.as_mut() else {
                return Ok(());
            };
            let next = source.next_batch(&mut self.rejects)?;
            // Waiting for its rate or its input is idle time, not work.
            let waited = source.take_waited();
            self.outputs.route_rejects(&mut self.rejects)?;
            let Some(batch) = next else { return Ok(()) };
            TaskMetrics::add(&self.metrics.records_in, batch.len() as u64);
            self.process(batch, 0)?;
            self.poll_state(false);
            match self.chain.0.as_mut().and_then(|source| source.progress()) {
                Some(SourceProgress::Watermark(watermark)) => {
                    self.advance_watermark(0, watermark)?
                }
                Some(SourceProgress::Idle) => self.outputs.idle()?,
                None => {}
            }
            let busy = started.elapsed().saturating_sub(waited);
            TaskMetrics::add(&self.metrics.busy_ns, busy.as_nanos() as u64);
            self.outputs.flush_expired(self.buffer_timeout)?;
            self.on_processing_time()?;
        }
    }

    /// The earliest wall-clock deadline: a partly filled output batch's, or an operator's timer.
    fn next_deadline(&self) -> Option<Instant> {
        let operators = self.chain.1.iter().filter_map(|o| o.processing_deadline());
        operators
            .chain(self.outputs.next_deadline(self.buffer_timeout))
            .min()
    }

    /// Runs the operators' wall-clock timers that are due; an operator whose output became idle
    /// makes this subtask tell downstream.
    fn on_processing_time(&mut self) -> Result<(), TaskError> {
        let now = Instant::now();
        let mut idle = false;
        let operators = &mut self.chain.1;
        for i in 0..operators.len() {
            if operators[i]
                .processing_deadline()
                .is_none_or(|due| due > now)
            {
                continue;
            }
            let (head, tail) = operators.split_at_mut(i + 1);
            let (rejects, outputs, metrics) = (&mut self.rejects, &mut self.outputs, &self.metrics);
            idle |= head[i].on_processing_time(now, &mut |batch| {
                let result = run_operators(tail, batch, 0, rejects, metrics);
                outputs.route_rejects(rejects)?;
                outputs.emit(result?)
            })?;
        }
        if idle {
            self.outputs.idle()?;
        }
        Ok(())
    }

    /// A task with inputs: the mailbox loop over input channels, control mail and flush
    /// deadlines. A channel that delivered a checkpoint barrier is not read until the barrier
    /// has come on every open channel (alignment), so its later records stay behind it — or,
    /// past the aligned timeout, the checkpoint is taken unaligned.
    fn run_inputs(&mut self) -> Result<(), TaskError> {
        let receivers: Vec<Receiver<StreamElement>> =
            self.inputs.iter().map(|i| i.receiver.clone()).collect();
        let control = self.control.clone();
        let mut inputs = InputState {
            open: vec![true; receivers.len()],
            watermarks: InputWatermarks::new(receivers.len()),
            barriers: BarrierAligner::new(receivers.len()),
        };
        for (side, batch) in std::mem::take(&mut self.in_flight) {
            TaskMetrics::add(&self.metrics.records_in, batch.len() as u64);
            self.process(batch, side)?;
        }
        while inputs.open.iter().any(|&o| o) {
            // Mail first, and the aligned timeout checked here, not only when the select times
            // out: a backpressured input is always ready, so its select never does.
            self.take_mail()?;
            if self.announced.is_some_and(|(_, at)| at <= Instant::now()) {
                self.take_unaligned(&receivers, &mut inputs)?;
                continue;
            }
            if let Some((index, element)) = self.queued.pop_front() {
                self.on_element(index, element, &mut inputs)?;
                continue;
            }
            self.metrics.set_activity(TaskActivity::WaitingForInput);
            // The channels to read now: open and not waiting for an alignment.
            let mut select = Select::new();
            let mut readable = Vec::with_capacity(receivers.len());
            for (channel, receiver) in receivers.iter().enumerate() {
                if inputs.open[channel] && !inputs.barriers.is_blocked(channel) {
                    select.recv(receiver);
                    readable.push(channel);
                }
            }
            let control_index = select.recv(&control);
            let mail = self.checkpoints.as_ref().map(|c| c.mail.clone());
            let mail_index = mail.as_ref().map(|mail| select.recv(mail));
            let unaligned_at = self.announced.map(|(_, at)| at);
            let operation = match self.next_deadline().into_iter().chain(unaligned_at).min() {
                Some(deadline) => match select.select_deadline(deadline) {
                    Ok(operation) => operation,
                    Err(_) => {
                        self.outputs.flush_expired(self.buffer_timeout)?;
                        self.on_processing_time()?;
                        continue;
                    }
                },
                None => select.select(),
            };
            if operation.index() == control_index {
                let _ = operation.recv(&control);
                return Err(TaskError::Cancelled);
            }
            if let (Some(index), Some(mail)) = (mail_index, &mail)
                && operation.index() == index
            {
                // The coordinator's end goes away only with the job: nothing more to hear.
                if let Ok(mail) = operation.recv(mail) {
                    self.on_checkpoint_mail(mail)?;
                }
                continue;
            }
            let index = readable[operation.index()];
            let element =
                operation
                    .recv(&receivers[index])
                    .map_err(|_| TaskError::UpstreamLost {
                        upstream: self.inputs[index].upstream.clone(),
                    })?;
            self.on_element(index, element, &mut inputs)?;
        }
        Ok(())
    }

    /// Handles `element` from input channel `index`.
    fn on_element(
        &mut self,
        index: usize,
        element: StreamElement,
        inputs: &mut InputState,
    ) -> Result<(), TaskError> {
        match element {
            StreamElement::Records(batch) => {
                inputs.watermarks.on_records(index);
                self.metrics.set_activity(TaskActivity::Busy);
                let started = Instant::now();
                TaskMetrics::add(&self.metrics.records_in, batch.len() as u64);
                self.process(batch, self.inputs[index].side)?;
                TaskMetrics::add(&self.metrics.busy_ns, started.elapsed().as_nanos() as u64);
                self.outputs.flush_expired(self.buffer_timeout)?;
            }
            StreamElement::Watermark(watermark) => {
                if let Some(watermark) = inputs.watermarks.on_watermark(index, watermark) {
                    self.advance_watermark(0, watermark)?;
                }
            }
            StreamElement::Idle => {
                let (advanced, all_idle) = inputs.watermarks.on_idle(index);
                if let Some(watermark) = advanced {
                    self.advance_watermark(0, watermark)?;
                }
                if all_idle {
                    self.outputs.idle()?;
                }
            }
            StreamElement::Barrier(id) => {
                self.last_barrier = self.last_barrier.max(id);
                let alignment = inputs.barriers.on_barrier(index, id);
                self.on_alignment(alignment)?;
            }
            StreamElement::EndOfStream => {
                inputs.open[index] = false;
                if let Some(watermark) = inputs.watermarks.on_end(index) {
                    self.advance_watermark(0, watermark)?;
                }
                let alignment = inputs.barriers.on_end(index);
                self.on_alignment(alignment)?;
            }
            StreamElement::Broken { detail, peer_lost } => {
                return Err(TaskError::Network {
                    upstream: self.inputs[index].upstream.clone(),
                    detail,
                    peer_lost,
                });
            }
        }
        Ok(())
    }

    /// Runs `batch` from input `side` (1: a join's right side) through the chain.
    fn process(&mut self, batch: RecordBatch, side: u8) -> Result<(), TaskError> {
        let operators = &mut self.chain.1;
        let result = run_operators(operators, batch, side, &mut self.rejects, &self.metrics);
        self.outputs.route_rejects(&mut self.rejects)?;
        self.outputs.emit(result?)?;
        // A watermark assigner in the chain may have moved event time on.
        for i in 0..self.chain.1.len() {
            if let Some(watermark) = self.chain.1[i].generated_watermark() {
                self.advance_watermark(i + 1, watermark)?;
            }
        }
        Ok(())
    }

    /// Event time reached `watermark` for operators `from..` of the chain: each emits what that
    /// completes (through the operators after it), then the watermark goes downstream.
    fn advance_watermark(&mut self, from: usize, watermark: i64) -> Result<(), TaskError> {
        let operators = &mut self.chain.1;
        for i in from..operators.len() {
            let (head, tail) = operators.split_at_mut(i + 1);
            let (rejects, outputs, metrics) = (&mut self.rejects, &mut self.outputs, &self.metrics);
            head[i].on_watermark(watermark, &mut |batch| {
                let result = run_operators(tail, batch, 0, rejects, metrics);
                outputs.route_rejects(rejects)?;
                outputs.emit(result?)
            })?;
        }
        self.poll_state(false);
        self.metrics.set_watermark(watermark);
        self.outputs.watermark(watermark)
    }

    /// End of input: each operator emits what it holds, through the operators after it.
    fn finish(&mut self) -> Result<(), TaskError> {
        self.metrics.set_activity(TaskActivity::Busy);
        self.poll_state(true);
        let operators = &mut self.chain.1;
        for i in 0..operators.len() {
            let (head, tail) = operators.split_at_mut(i + 1);
            let (rejects, outputs, metrics) = (&mut self.rejects, &mut self.outputs, &self.metrics);
            head[i].finish(&mut |batch| {
                let result = run_operators(tail, batch, 0, rejects, metrics);
                outputs.route_rejects(rejects)?;
                outputs.emit(result?)
            })?;
        }
        self.outputs.finish()
    }
}

/// Passes `batch`, from input `side` of the first operator, through `operators` in order,
/// counting what reaches the last one.
fn run_operators(
    operators: &mut [Box<dyn Operator>],
    mut batch: RecordBatch,
    side: u8,
    rejects: &mut Rejects,
    metrics: &TaskMetrics,
) -> Result<RecordBatch, TaskError> {
    let last = operators.len().saturating_sub(1);
    for (i, operator) in operators.iter_mut().enumerate() {
        if batch.is_empty() {
            break;
        }
        if i == last {
            TaskMetrics::add(&metrics.records_to_last, batch.len() as u64);
        }
        batch = match (i, side) {
            (0, 1) => operator.process_second(batch, rejects)?,
            _ => operator.process(batch, rejects)?,
        };
    }
    Ok(batch)
}
