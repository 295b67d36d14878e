//! Built-in functions per key and event-time session: records of a key closer than the gap to
//! each other form one session, which ends `gap` after its last record. A record that bridges
//! two sessions merges them. A session's result is emitted when the watermark passes its end.
//! With allowed lateness a session is kept that much longer: a late record that joins it (or
//! opens a session still within it) emits the session's updated result at once. A record that
//! could only open a session past its allowed lateness is late (the late output, or dead
//! letters).

use super::acc_codec;
use super::builtin::{Acc, BuiltinFunction, Functions, heap_bytes};
use super::key_of;
use super::window::{late, window_line};
use crate::error::TaskError;
use crate::error::task_error;
use crate::operators::Batches;
use crate::operators::keyed_snapshot::{self, EventTime};
use crate::operators::{Operator, RejectSink};
use std::collections::HashMap;
use weir_proto::RecordBatch;
use weir_state::checkpoint::{HeapEntries, OperatorRestore, OperatorSnapshot};
use weir_state::{RocksStore, StateError, layout};

#[derive(Clone)]
struct Session {
    start: i64,
    /// Exclusive: the last record's time plus the gap.
    end: i64,
    accs: Vec<Acc>,
}

/// The namespace of a key's sessions in the store.
const SESSIONS: &[u8] = b"sessions";

/// Sessions on the RocksDB backend: a key's open sessions are one value, read into the
/// operator's map when the key's records arrive and written back when the map reaches its bound
/// and before any session fires; each stored session has a timer when it is next due: its last
/// millisecond, or once emitted, the end of its allowed lateness.
pub(crate) struct SessionStore {
    store: RocksStore,
    cache_limit: usize,
    /// For each cached key, its sessions' (start, due time) as the store has them (their
    /// timers).
    stored: HashMap<Vec<u8>, Vec<(i64, i64)>>,
}

impl SessionStore {
    /// Sessions in `store`, with at most `cache_limit` keys in memory.
    pub(crate) fn new(store: RocksStore, cache_limit: usize) -> Self {
        SessionStore {
            store,
            cache_limit: cache_limit.max(1),
            stored: HashMap::new(),
        }
    }

    fn load(&mut self, key: &[u8]) -> Result<Vec<Session>, StateError> {
        let Some(bytes) = self.store.get(key, SESSIONS)? else {
            return Ok(Vec::new());
        };
        decode_sessions(&bytes).ok_or_else(|| self.store.corrupt("a key's sessions are malformed"))
    }

    /// Writes `sessions` of `key` back, moving timers for sessions whose time `due` changed.
    fn save(
        &mut self,
        key: &[u8],
        sessions: &[Session],
        due: impl Fn(&Session) -> i64,
    ) -> Result<(), StateError> {
        let before = self.stored.remove(key).unwrap_or_default();
        for &(start, time) in &before {
            if !sessions.iter().any(|s| (s.start, due(s)) == (start, time)) {
                self.store
                    .delete_timer(time, key, &layout::ordered_i64(start))?;
            }
        }
        for session in sessions {
            if !before.contains(&(session.start, due(session))) {
                let namespace = layout::ordered_i64(session.start);
                self.store.put_timer(due(session), key, &namespace)?;
            }
        }
        if sessions.is_empty() {
            self.store.delete(key, SESSIONS)
        } else {
            self.store.put(key, SESSIONS, &encode_sessions(sessions))
        }
    }
}

/// Sessions as bytes: per session, start and end (i64 LE), the accumulators' length (u32 LE)
/// and the accumulators.
fn encode_sessions(sessions: &[Session]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut accs = Vec::new();
    for session in sessions {
        out.extend_from_slice(&session.start.to_le_bytes());
        out.extend_from_slice(&session.end.to_le_bytes());
        accs.clear();
        acc_codec::encode(&session.accs, &mut accs);
        out.extend_from_slice(&(accs.len() as u32).to_le_bytes());
        out.extend_from_slice(&accs);
    }
    out
}

fn decode_sessions(mut bytes: &[u8]) -> Option<Vec<Session>> {
    let mut sessions = Vec::new();
    while !bytes.is_empty() {
        let start = i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
        let end = i64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
        let len = u32::from_le_bytes(bytes.get(16..20)?.try_into().ok()?) as usize;
        let accs = acc_codec::decode(bytes.get(20..20 + len)?)?;
        sessions.push(Session { start, end, accs });
        bytes = &bytes[20 + len..];
    }
    Some(sessions)
}

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
    key_field: Option<String>,
    gap: i64,
    /// How long after its end a session is kept for late records.
    lateness: i64,
    functions: Functions,
    /// Key → its open sessions, disjoint and ordered by start.
    /// With a [`SessionStore`], only the keys read from it since it was last written.
    sessions: HashMap<Vec<u8>, Vec<Session>>,
    store: Option<SessionStore>,
    watermark: i64,
    /// Sessions whose last millisecond is at or before this have emitted their result.
    fired: i64,
    batch_size: usize,
    /// Key groups of the job, for heap snapshots.
    max_parallelism: u32,
}

impl SessionAggregate {
    pub(crate) fn new(
        operator: String,
        key_as: Option<&str>,
        (gap, lateness): (i64, i64),
        functions: Vec<BuiltinFunction>,
        (batch_size, max_parallelism): (usize, u32),
        store: Option<SessionStore>,
    ) -> Self {
        SessionAggregate {
            store,
            functions: Functions::new(operator.clone(), functions),
            operator,
            key_field: key_as.map(|k| serde_json::Value::from(k).to_string()),
            gap,
            lateness,
            sessions: HashMap::new(),
            watermark: i64::MIN,
            fired: i64::MIN,
            batch_size: batch_size.max(1),
            max_parallelism,
        }
    }

    /// When `session` is next due: at its last millisecond, or once that has fired, when its
    /// allowed lateness ends (then it is dropped).
    fn due(&self, session: &Session) -> i64 {
        due(session, self.fired, self.lateness)
    }

    /// Takes back restored `sessions` of `key`: into the cache, which writes them (and their
    /// timers) to the store when it is next written out.
    fn restore_sessions(&mut self, key: &[u8], sessions: Vec<Session>) -> Result<(), TaskError> {
        if let Some(store) = &mut self.store {
            for session in &sessions {
                store
                    .store
                    .note_due(due(session, self.fired, self.lateness));
            }
        }
        self.sessions_of(key)?.extend(sessions);
        Ok(())
    }

    /// Writes every cached key's sessions to the store (nothing to do on the memory backend).
    fn flush(&mut self) -> Result<(), TaskError> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let (fired, lateness) = (self.fired, self.lateness);
        for (key, sessions) in self.sessions.drain() {
            store
                .save(&key, &sessions, |s| due(s, fired, lateness))
                .map_err(|e| task_error(&self.operator, e))?;
        }
        Ok(())
    }

    /// The open sessions of `key`, read from the store on the RocksDB backend.
    fn sessions_of(&mut self, key: &[u8]) -> Result<&mut Vec<Session>, TaskError> {
        if !self.sessions.contains_key(key)
            && let Some(store) = &mut self.store
        {
            if self.sessions.len() >= store.cache_limit {
                self.flush()?;
            }
            let Some(store) = &mut self.store else {
                return Err(TaskError::Internal("a session store vanished".into()));
            };
            let loaded = store.load(key).map_err(|e| task_error(&self.operator, e))?;
            let (fired, lateness) = (self.fired, self.lateness);
            store.stored.insert(
                key.to_vec(),
                loaded
                    .iter()
                    .map(|s| (s.start, due(s, fired, lateness)))
                    .collect(),
            );
            self.sessions.insert(key.to_vec(), loaded);
        }
        if !self.sessions.contains_key(key) {
            self.sessions.insert(key.to_vec(), Vec::new());
        }
        self.sessions
            .get_mut(key)
            .ok_or_else(|| TaskError::Internal("a key's sessions vanished".into()))
    }

    /// [`Self::fire`] on the RocksDB backend: takes the due session timers in time order.
    fn fire_stored(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        if self
            .store
            .as_ref()
            .is_some_and(|store| store.store.nothing_due(up_to))
        {
            return Ok(());
        }
        self.flush()?;
        let operator = self.operator.clone();
        let failed = |e: StateError| task_error(&operator, e);
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let mut out = Batches::new(self.batch_size, emit);
        let mut line = String::new();
        loop {
            let timers = store
                .store
                .take_timers(up_to, self.batch_size)
                .map_err(failed)?;
            if timers.is_empty() {
                break;
            }
            for timer in timers {
                let start = timer
                    .start()
                    .ok_or_else(|| failed(store.store.corrupt("a session timer is malformed")))?;
                let mut sessions = store.load(&timer.key).map_err(failed)?;
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
                    let key_field = self.key_field.as_deref();
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
                            .store
                            .put_timer(kept, &timer.key, &namespace)
                            .map_err(failed)?;
                        continue;
                    }
                    // A timer the session has moved past.
                    (false, false) => continue,
                }
                let saved = match sessions.is_empty() {
                    true => store.store.delete(&timer.key, SESSIONS),
                    false => store
                        .store
                        .put(&timer.key, SESSIONS, &encode_sessions(&sessions)),
                };
                saved.map_err(failed)?;
            }
        }
        store.store.timers_taken(up_to).map_err(failed)?;
        out.finish()?;
        self.fired = self.fired.max(up_to);
        Ok(())
    }

    /// Emits and drops every session whose last millisecond is at or before `up_to`, in key and
    /// start order.
    fn fire(
        &mut self,
        up_to: i64,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        if self.store.is_some() {
            return self.fire_stored(up_to, emit);
        }
        let (from, lateness) = (self.fired, self.lateness);
        self.fired = self.fired.max(up_to);
        let mut closed: Vec<(Vec<u8>, Session)> = Vec::new();
        self.sessions.retain(|key, sessions| {
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
                self.key_field.as_deref(),
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
            if past_lateness && !self.sessions_of(key)?.iter().any(overlapping) {
                rejects.late(late(&self.operator, record, watermark))?;
                continue;
            }
            if !self.functions.read(record, rejects)? {
                continue;
            }
            let sessions = std::mem::take(self.sessions_of(key)?);
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
            if let Some(store) = &mut self.store {
                // Due with the cached session, so a watermark past it fires.
                store.store.note_due(merged_due);
            }
            if merged.end - 1 <= self.fired {
                let window = (merged.start, merged.end);
                let key_field = self.key_field.as_deref();
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
            match self.sessions.get_mut(key) {
                Some(slot) => *slot = kept,
                None => {
                    self.sessions.insert(key.to_vec(), kept);
                }
            }
        }
        Ok(updates)
    }

    fn state_bytes(&self) -> u64 {
        let cached: u64 = self
            .sessions
            .iter()
            .flat_map(|(key, sessions)| sessions.iter().map(|s| heap_bytes(key, &s.accs) + 16))
            .sum();
        cached + self.store.as_ref().map_or(0, |s| s.store.size())
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        self.flush()?;
        let sessions = &self.sessions;
        let mut heap = |entries: &mut HeapEntries| {
            for (key, sessions) in sessions.iter().filter(|(_, s)| !s.is_empty()) {
                entries.push(key, SESSIONS, encode_sessions(sessions));
            }
        };
        let store = self.store.as_mut().map(|s| &mut s.store);
        let heap = (
            self.max_parallelism,
            &mut heap as &mut dyn FnMut(&mut HeapEntries),
        );
        let watermark = self.watermark;
        keyed_snapshot::take(&self.operator, id, store, heap, EventTime { watermark }).map(Some)
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let operator = self.operator.clone();
        if let Some(watermark) = keyed_snapshot::restored_watermark(restored, &operator)? {
            self.watermark = watermark;
            self.fired = watermark;
        }
        keyed_snapshot::entries(
            restored,
            &operator,
            None,
            &mut |key, namespace, value| match (namespace == SESSIONS, decode_sessions(value)) {
                (true, Some(sessions)) => self.restore_sessions(key, sessions),
                _ => Err(keyed_snapshot::malformed(&operator, "session entry")),
            },
        )?;
        self.flush()
    }

    fires_on_event_time!();
}
