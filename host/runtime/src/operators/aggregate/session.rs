//! Built-in functions per key and event-time session: records of a key closer than the gap to
//! each other form one session, which ends `gap` after its last record. A record that bridges
//! two sessions merges them. A session's result is emitted when the watermark passes its end.
//! With allowed lateness a session is kept that much longer: a late record that joins it (or
//! opens a session still within it) emits the session's updated result at once. A record that
//! could only open a session past its allowed lateness is late (the late output, or dead
//! letters).

use super::KeyField;
use super::acc_codec;
use super::builtin::{Acc, BuiltinFunction, Functions, heap_bytes};
use super::key_cache::{KeyCache, PerKey, Writer};
use super::key_of;
use super::window::{late, window_line};
use crate::error::TaskError;
use crate::error::task_error;
use crate::operators::Batches;
use crate::operators::keyed_snapshot::{self, EventTime};
use crate::operators::{Operator, RejectSink};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use weir_proto::RecordBatch;
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};
use weir_state::{RocksStore, StateError, layout};

#[derive(Clone)]
struct Session {
    start: i64,
    /// Exclusive: the last record's time plus the gap.
    end: i64,
    accs: Vec<Acc>,
}

/// A key's open sessions, disjoint and ordered by start.
#[derive(Default)]
pub(crate) struct Sessions(Vec<Session>);

impl PerKey for Sessions {
    const NAMESPACE: &'static [u8] = b"sessions";
    const WHAT: &'static str = "key's sessions";

    /// Per session, start and end (i64 LE), the accumulators' length (u32 LE) and the
    /// accumulators.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut accs = Vec::new();
        for session in &self.0 {
            out.extend_from_slice(&session.start.to_le_bytes());
            out.extend_from_slice(&session.end.to_le_bytes());
            accs.clear();
            acc_codec::encode(&session.accs, &mut accs);
            out.extend_from_slice(&(accs.len() as u32).to_le_bytes());
            out.extend_from_slice(&accs);
        }
        out
    }

    fn decode(mut bytes: &[u8]) -> Option<Self> {
        let mut sessions = Vec::new();
        while !bytes.is_empty() {
            let start = i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
            let end = i64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
            let len = u32::from_le_bytes(bytes.get(16..20)?.try_into().ok()?) as usize;
            let accs = acc_codec::decode(bytes.get(20..20 + len)?)?;
            sessions.push(Session { start, end, accs });
            bytes = &bytes[20 + len..];
        }
        Some(Sessions(sessions))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How far sessions have emitted their results: those whose last millisecond is at or before
/// it have. One value shared by the aggregate, which moves it, and its store's timers, which
/// follow it, so the two never disagree.
#[derive(Debug, Clone)]
pub(crate) struct FiredUpTo(Arc<AtomicI64>);

impl FiredUpTo {
    fn new() -> Self {
        FiredUpTo(Arc::new(AtomicI64::new(i64::MIN)))
    }

    fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Sessions up to `up_to` have emitted.
    fn advance(&self, up_to: i64) {
        self.0.fetch_max(up_to, Ordering::Relaxed);
    }
}

/// Sessions on the RocksDB backend: beside a key's sessions, each session has a timer when it
/// is next due — its last millisecond, or once emitted, the end of its allowed lateness.
pub(crate) struct SessionTimers {
    /// For each cached key, its sessions' (start, due time) as the store has them.
    stored: HashMap<Vec<u8>, Vec<(i64, i64)>>,
    fired: FiredUpTo,
    lateness: i64,
}

impl SessionTimers {
    /// Timers of sessions kept `lateness` ms after they end.
    pub(crate) fn new(lateness: i64) -> Self {
        SessionTimers {
            stored: HashMap::new(),
            fired: FiredUpTo::new(),
            lateness,
        }
    }
}

impl Writer<Sessions> for SessionTimers {
    fn loaded(&mut self, key: &[u8], sessions: &Sessions) {
        let (fired, lateness) = (self.fired.get(), self.lateness);
        let timers = sessions
            .0
            .iter()
            .map(|s| (s.start, due(s, fired, lateness)));
        self.stored.insert(key.to_vec(), timers.collect());
    }

    /// Writes `sessions` of `key` back, moving the timers of sessions whose due time changed.
    fn write(
        &mut self,
        store: &mut RocksStore,
        key: &[u8],
        sessions: &Sessions,
    ) -> Result<(), StateError> {
        let (fired, lateness) = (self.fired.get(), self.lateness);
        let due = |s: &Session| due(s, fired, lateness);
        let before = self.stored.remove(key).unwrap_or_default();
        for &(start, time) in &before {
            if !sessions
                .0
                .iter()
                .any(|s| (s.start, due(s)) == (start, time))
            {
                store.delete_timer(time, key, &layout::ordered_i64(start))?;
            }
        }
        for session in &sessions.0 {
            if !before.contains(&(session.start, due(session))) {
                let namespace = layout::ordered_i64(session.start);
                store.put_timer(due(session), key, &namespace)?;
            }
        }
        match sessions.is_empty() {
            true => store.delete(key, Sessions::NAMESPACE),
            false => store.put(key, Sessions::NAMESPACE, &sessions.encode()),
        }
    }
}

/// Sessions per key: on the heap, or in a store behind a write cache.
pub(crate) type SessionCache = KeyCache<Sessions, SessionTimers>;

/// When `session` is next due, sessions up to `fired` having emitted: its last millisecond, or
/// once emitted, the end of its allowed `lateness` (then it is dropped).
fn due(session: &Session, fired: i64, lateness: i64) -> i64 {
    let last = session.end - 1;
    match last <= fired {
        true => last.saturating_add(lateness),
        false => last,
    }
}

/// Session-windowed built-in aggregates of one subtask.
pub(crate) struct SessionAggregate {
    operator: String,
    key_field: Option<KeyField>,
    gap: i64,
    /// How long after its end a session is kept for late records.
    lateness: i64,
    functions: Functions,
    /// Each key's open sessions.
    sessions: SessionCache,
    watermark: i64,
    /// The store's own when it has one.
    fired: FiredUpTo,
    batch_size: usize,
}

impl SessionAggregate {
    pub(crate) fn new(
        operator: String,
        key_field: Option<KeyField>,
        (gap, lateness): (i64, i64),
        functions: Vec<BuiltinFunction>,
        batch_size: usize,
        mut sessions: SessionCache,
    ) -> Self {
        let fired = match sessions.stored() {
            Some(stored) => stored.writer.fired.clone(),
            None => FiredUpTo::new(),
        };
        SessionAggregate {
            functions: Functions::new(operator.clone(), functions),
            operator,
            key_field,
            gap,
            lateness,
            sessions,
            watermark: i64::MIN,
            fired,
            batch_size: batch_size.max(1),
        }
    }

    /// Sessions up to `up_to` have emitted (the store's timers follow).
    fn fired_up_to(&mut self, up_to: i64) {
        self.fired.advance(up_to);
    }

    /// When `session` is next due: at its last millisecond, or once that has fired, when its
    /// allowed lateness ends (then it is dropped).
    fn due(&self, session: &Session) -> i64 {
        due(session, self.fired.get(), self.lateness)
    }

    /// [`Self::fire`] on the RocksDB backend: takes the due session timers in time order.
    fn fire_stored(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        if self
            .sessions
            .stored()
            .is_some_and(|stored| stored.store.nothing_due(up_to))
        {
            return Ok(());
        }
        self.sessions.flush()?;
        let operator = self.operator.clone();
        let failed = |e: StateError| task_error(&operator, e);
        let Some(stored) = self.sessions.stored() else {
            return Ok(());
        };
        let store = &mut stored.store;
        let mut out = Batches::new(self.batch_size, emit);
        let mut line = String::new();
        loop {
            let timers = store.take_timers(up_to, self.batch_size).map_err(failed)?;
            if timers.is_empty() {
                break;
            }
            for timer in timers {
                let start = timer
                    .start()
                    .ok_or_else(|| failed(store.corrupt("a session timer is malformed")))?;
                let held = store.get(&timer.key, Sessions::NAMESPACE).map_err(failed)?;
                let malformed = || failed(store.corrupt("a key's sessions are malformed"));
                let held = held.as_deref().map(Sessions::decode);
                let Sessions(mut sessions) = held.unwrap_or_default().ok_or_else(malformed)?;
                let Some(at) = sessions.iter().position(|s| s.start == start) else {
                    continue;
                };
                let session = &sessions[at];
                let last = session.end - 1;
                let (fire, cleanup) = (
                    timer.time == last,
                    timer.time == last.saturating_add(self.lateness),
                );
                if fire {
                    let window = (session.start, session.end);
                    let key_field = self.key_field.as_ref();
                    window_line(
                        &mut line,
                        key_field,
                        &timer.key,
                        window,
                        &self.functions,
                        &session.accs,
                    );
                    out.push(Some(&timer.key), line.as_bytes(), last)?;
                }
                match (fire, cleanup) {
                    (_, true) => {
                        sessions.remove(at);
                    }
                    // Kept for late records until its allowed lateness has passed.
                    (true, false) => {
                        let kept = last.saturating_add(self.lateness);
                        let namespace = layout::ordered_i64(start);
                        store
                            .put_timer(kept, &timer.key, &namespace)
                            .map_err(failed)?;
                        continue;
                    }
                    // A timer the session has moved past.
                    (false, false) => continue,
                }
                let saved = match sessions.is_empty() {
                    true => store.delete(&timer.key, Sessions::NAMESPACE),
                    false => store.put(
                        &timer.key,
                        Sessions::NAMESPACE,
                        &Sessions(sessions).encode(),
                    ),
                };
                saved.map_err(failed)?;
            }
        }
        store.timers_taken(up_to).map_err(failed)?;
        out.finish()?;
        self.fired_up_to(up_to);
        Ok(())
    }

    /// Emits and drops every session whose last millisecond is at or before `up_to`, in key and
    /// start order.
    fn fire(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        if self.sessions.stored().is_some() {
            return self.fire_stored(up_to, emit);
        }
        let (from, lateness) = (self.fired.get(), self.lateness);
        self.fired_up_to(up_to);
        let mut closed: Vec<(Vec<u8>, Session)> = Vec::new();
        self.sessions.values().retain(|key, Sessions(sessions)| {
            let newly_due = sessions
                .iter()
                .filter(|s| from < s.end - 1 && s.end - 1 <= up_to);
            closed.extend(newly_due.map(|s| (key.clone(), s.clone())));
            sessions.retain(|s| (s.end - 1).saturating_add(lateness) > up_to);
            !sessions.is_empty()
        });
        closed.sort_unstable_by(|a, b| (&a.0, a.1.start).cmp(&(&b.0, b.1.start)));
        let mut out = Batches::new(self.batch_size, emit);
        let mut line = String::new();
        for (key, session) in closed {
            let window = (session.start, session.end);
            window_line(
                &mut line,
                self.key_field.as_ref(),
                &key,
                window,
                &self.functions,
                &session.accs,
            );
            out.push(Some(&key), line.as_bytes(), session.end - 1)?;
        }
        out.finish()?;
        Ok(())
    }
}

impl Operator for SessionAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        // Updated results of sessions that had fired, for records within the allowed lateness.
        let mut updates = RecordBatch::default();
        let mut line = String::new();
        for record in batch.iter() {
            let Some(key) = key_of(record, &self.operator, rejects)? else {
                continue;
            };
            let (start, end) = (record.timestamp, record.timestamp.saturating_add(self.gap));
            let watermark = self.watermark;
            let overlapping = |s: &Session| s.start < end && start < s.end;
            let past_lateness = (end - 1).saturating_add(self.lateness) <= watermark;
            let open = self.sessions.get_mut(key, Sessions::default)?;
            if past_lateness && !open.0.iter().any(overlapping) {
                rejects.late(late(&self.operator, record, watermark))?;
                continue;
            }
            if !self.functions.read(record, rejects)? {
                continue;
            }
            let Sessions(sessions) = std::mem::take(self.sessions.get_mut(key, Sessions::default)?);
            let mut merged = Session {
                start,
                end,
                accs: self.functions.accumulators(),
            };
            self.functions.add(&mut merged.accs);
            let mut kept = Vec::with_capacity(sessions.len() + 1);
            for session in sessions {
                if overlapping(&session) {
                    merged.start = merged.start.min(session.start);
                    merged.end = merged.end.max(session.end);
                    self.functions.merge(&mut merged.accs, &session.accs);
                } else {
                    kept.push(session);
                }
            }
            let merged_due = self.due(&merged);
            if let Some(stored) = self.sessions.stored() {
                // Due with the cached session, so a watermark past it fires.
                stored.store.note_due(merged_due);
            }
            if merged.end - 1 <= self.fired.get() {
                let window = (merged.start, merged.end);
                let key_field = self.key_field.as_ref();
                window_line(
                    &mut line,
                    key_field,
                    key,
                    window,
                    &self.functions,
                    &merged.accs,
                );
                updates.push(Some(key), line.as_bytes(), merged.end - 1);
            }
            let at = kept.partition_point(|s| s.start < merged.start);
            kept.insert(at, merged);
            *self.sessions.get_mut(key, Sessions::default)? = Sessions(kept);
        }
        Ok(updates)
    }

    fn state_bytes(&self) -> u64 {
        self.sessions.state_bytes(|key, sessions| {
            let held = sessions.0.iter().map(|s| heap_bytes(key, &s.accs) + 16);
            held.sum()
        })
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        let watermark = self.watermark;
        self.sessions
            .snapshot(id, EventTime { watermark })
            .map(Some)
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        if let Some(watermark) = keyed_snapshot::restored_watermark(restored, &self.operator)? {
            self.watermark = watermark;
            self.fired_up_to(watermark);
        }
        self.sessions.restore(restored)
    }

    fires_on_event_time!();
}
