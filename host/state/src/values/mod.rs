//! What a UDF keeps per key (the `weir:udf/keyed-state` imports) — values, lists and maps,
//! with an optional time to live — in either backend.
//!
//! Both backends hold the same entries: per key, a namespace → bytes map. A value is at
//! `v<name>`, a list at `l<name>` (items appended in place: a RocksDB merge, no read), entry
//! `k` of a map at `m<len(name)><name><k>`, so one map is one ordered range, and reducing state
//! at `r<name>` (an op byte and an i64, folded in place by the same merge); a process
//! function's timers are entries at `t`. With a TTL, every
//! value, list item, map entry and reduced value starts with the time it was written (i64 LE,
//! ms since the epoch) and reads as absent once older than the TTL; reducing then reads first.

use super::{RocksStore, StateError, layout, lists};
use crate::checkpoint::{HeapEntries, KeyedSnapshot, OperatorRestore};
use crate::clock::now_ms;
use rocksdb::MergeOperands;
use std::collections::{BTreeMap, HashMap};

mod overlay;

use overlay::{Overlay, Write};

/// Where the entries live.
enum Entries {
    /// Key → namespace → bytes, on the heap.
    Memory(HashMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>>),
    /// In the subtask's RocksDB store (opened with the list-append merge).
    Rocks(RocksStore),
}

impl Entries {
    fn get(&mut self, key: &[u8], namespace: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self {
            Entries::Memory(map) => Ok(map.get(key).and_then(|n| n.get(namespace)).cloned()),
            Entries::Rocks(store) => store.get(key, namespace),
        }
    }

    fn put(&mut self, key: &[u8], namespace: &[u8], value: Vec<u8>) -> Result<(), StateError> {
        match self {
            Entries::Memory(map) => {
                map.entry(key.to_vec())
                    .or_default()
                    .insert(namespace.to_vec(), value);
                Ok(())
            }
            Entries::Rocks(store) => store.put(key, namespace, &value),
        }
    }

    /// Appends an encoded list item.
    fn append(&mut self, key: &[u8], namespace: &[u8], item: &[u8]) -> Result<(), StateError> {
        match self {
            Entries::Memory(map) => {
                let entries = map.entry(key.to_vec()).or_default();
                entries
                    .entry(namespace.to_vec())
                    .or_default()
                    .extend_from_slice(item);
                Ok(())
            }
            Entries::Rocks(store) => store.merge(key, namespace, item),
        }
    }

    fn delete(&mut self, key: &[u8], namespace: &[u8]) -> Result<(), StateError> {
        match self {
            Entries::Memory(map) => {
                if let Some(entries) = map.get_mut(key) {
                    entries.remove(namespace);
                    if entries.is_empty() {
                        map.remove(key);
                    }
                }
                Ok(())
            }
            Entries::Rocks(store) => store.delete(key, namespace),
        }
    }

    /// Folds a reduce operand in with RocksDB's merge (reached only for RocksDB without a TTL).
    fn merge(&mut self, key: &[u8], namespace: &[u8], operand: &[u8]) -> Result<(), StateError> {
        match self {
            Entries::Rocks(store) => store.merge(key, namespace, operand),
            Entries::Memory(_) => Err(StateError::memory("a merge reached the heap backend")),
        }
    }

    /// Every (namespace after `prefix`, bytes) whose namespace starts with `prefix`, in order.
    fn scan(&mut self, key: &[u8], prefix: &[u8]) -> Result<super::OrderedEntries, StateError> {
        match self {
            Entries::Memory(map) => Ok(map
                .get(key)
                .map(|entries| {
                    entries
                        .range(prefix.to_vec()..)
                        .take_while(|(namespace, _)| namespace.starts_with(prefix))
                        .map(|(namespace, value)| {
                            (namespace[prefix.len()..].to_vec(), value.clone())
                        })
                        .collect()
                })
                .unwrap_or_default()),
            Entries::Rocks(store) => store.scan(key, prefix),
        }
    }
}

/// One operator subtask's keyed UDF state.
pub struct KeyedValues {
    entries: Entries,
    /// The writes of the call in progress, between [`KeyedValues::begin`] and its commit or
    /// rollback; `None`: writes go straight to the backend.
    overlay: Option<Overlay>,
    /// Time to live in ms, if state expires.
    ttl: Option<i64>,
    /// Key groups of the job, for heap snapshots.
    max_parallelism: u32,
}

impl Default for KeyedValues {
    fn default() -> Self {
        KeyedValues::memory(None)
    }
}

fn namespace(kind: u8, name: &str) -> Vec<u8> {
    let mut namespace = Vec::with_capacity(name.len() + 5);
    namespace.push(kind);
    if kind == b'm' {
        namespace.extend_from_slice(&(name.len() as u32).to_be_bytes());
    }
    namespace.extend_from_slice(name.as_bytes());
    namespace
}

/// Where a process function's timers are among a key's entries: `t`, then `e` (event time) or
/// `p` (processing time), then the time in order-preserving bytes.
const TIMERS: &[u8] = b"t";

fn timer_namespace(event_time: bool, time: i64) -> [u8; 10] {
    let mut namespace = [0; 10];
    namespace[0] = TIMERS[0];
    namespace[1] = if event_time { b'e' } else { b'p' };
    namespace[2..].copy_from_slice(&layout::ordered_i64(time));
    namespace
}

impl KeyedValues {
    /// State on the heap, expiring after `ttl_ms` if given.
    pub fn memory(ttl_ms: Option<u64>) -> Self {
        KeyedValues {
            entries: Entries::Memory(HashMap::new()),
            overlay: None,
            ttl: ttl_ms.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
            max_parallelism: 128,
        }
    }

    /// State in `store`, which must have been opened with [`lists::append`] as its merge.
    pub fn rocks(store: RocksStore, ttl_ms: Option<u64>) -> Self {
        KeyedValues {
            entries: Entries::Rocks(store),
            ..KeyedValues::memory(ttl_ms)
        }
    }

    /// `value` as stored: behind its write time when state expires.
    fn stamped(&self, value: &[u8]) -> Vec<u8> {
        match self.ttl {
            None => value.to_vec(),
            Some(_) => {
                let mut out = Vec::with_capacity(value.len() + 8);
                out.extend_from_slice(&now_ms().to_le_bytes());
                out.extend_from_slice(value);
                out
            }
        }
    }

    /// The value in `stored`, or `None` when it has expired.
    fn live<'v>(&self, stored: &'v [u8], now: i64) -> Option<&'v [u8]> {
        let Some(ttl) = self.ttl else {
            return Some(stored);
        };
        let written = i64::from_le_bytes(stored.get(..8)?.try_into().ok()?);
        (now.saturating_sub(written) <= ttl).then(|| &stored[8..])
    }

    fn get_live(&mut self, key: &[u8], namespace: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let Some(stored) = self.read(key, namespace)? else {
            return Ok(None);
        };
        match self.live(&stored, now_ms()) {
            Some(value) => Ok(Some(value.to_vec())),
            None => {
                self.write(key, namespace, Write::Delete)?;
                Ok(None)
            }
        }
    }

    /// The value of `name` for `key`.
    pub fn get(&mut self, key: &[u8], name: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.get_live(key, &namespace(b'v', name))
    }

    /// Sets `name` for `key`.
    pub fn set(&mut self, key: &[u8], name: &str, value: &[u8]) -> Result<(), StateError> {
        let stored = self.stamped(value);
        self.write(key, &namespace(b'v', name), Write::Put(stored))
    }

    /// Removes `name` (value, list and map) for `key`.
    pub fn clear(&mut self, key: &[u8], name: &str) -> Result<(), StateError> {
        self.write(key, &namespace(b'v', name), Write::Delete)?;
        self.write(key, &namespace(b'l', name), Write::Delete)?;
        let map = namespace(b'm', name);
        for (entry, _) in self.scan(key, &map)? {
            let mut full = map.clone();
            full.extend_from_slice(&entry);
            self.write(key, &full, Write::Delete)?;
        }
        Ok(())
    }

    /// Appends `value` to list `name` of `key`.
    pub fn list_append(&mut self, key: &[u8], name: &str, value: &[u8]) -> Result<(), StateError> {
        let mut item = Vec::new();
        lists::item(&self.stamped(value), &mut item);
        self.write(key, &namespace(b'l', name), Write::Append(&item))
    }

    /// The live items of list `name` of `key`, oldest first (expired ones are dropped from the
    /// store as they are found).
    pub fn list_get(&mut self, key: &[u8], name: &str) -> Result<Vec<Vec<u8>>, StateError> {
        let namespace = namespace(b'l', name);
        let Some(stored) = self.read(key, &namespace)? else {
            return Ok(Vec::new());
        };
        let items = lists::items(&stored).ok_or_else(|| self.corrupt("a list is malformed"))?;
        let now = now_ms();
        let live: Vec<Vec<u8>> = items
            .iter()
            .filter_map(|item| self.live(item, now).map(<[u8]>::to_vec))
            .collect();
        if live.len() < items.len() {
            // Rewrite what is left, still stamped.
            let mut kept = Vec::new();
            let mut encoded = Vec::new();
            for item in items.iter().filter(|item| self.live(item, now).is_some()) {
                lists::item(item, &mut encoded);
                kept.extend_from_slice(&encoded);
            }
            match kept.is_empty() {
                true => self.write(key, &namespace, Write::Delete)?,
                false => self.write(key, &namespace, Write::Put(kept))?,
            }
        }
        Ok(live)
    }

    fn map_namespace(name: &str, map_key: &[u8]) -> Vec<u8> {
        let mut full = namespace(b'm', name);
        full.extend_from_slice(map_key);
        full
    }

    /// Sets entry `map_key` of map `name` of `key`.
    pub fn map_put(
        &mut self,
        key: &[u8],
        name: &str,
        map_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        let stored = self.stamped(value);
        self.write(key, &Self::map_namespace(name, map_key), Write::Put(stored))
    }

    /// Entry `map_key` of map `name` of `key`.
    pub fn map_get(
        &mut self,
        key: &[u8],
        name: &str,
        map_key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        self.get_live(key, &Self::map_namespace(name, map_key))
    }

    /// Removes entry `map_key` of map `name` of `key`.
    pub fn map_remove(&mut self, key: &[u8], name: &str, map_key: &[u8]) -> Result<(), StateError> {
        self.write(key, &Self::map_namespace(name, map_key), Write::Delete)
    }

    /// The live entries of map `name` of `key`, by map key.
    pub fn map_entries(
        &mut self,
        key: &[u8],
        name: &str,
    ) -> Result<super::OrderedEntries, StateError> {
        let now = now_ms();
        let entries = self.scan(key, &namespace(b'm', name))?;
        Ok(entries
            .into_iter()
            .filter_map(|(map_key, stored)| Some((map_key, self.live(&stored, now)?.to_vec())))
            .collect())
    }

    /// Folds `value` into reducing state `name` of `key` with `op` (0 sum, 1 min, 2 max).
    pub fn reduce(&mut self, key: &[u8], name: &str, op: u8, value: i64) -> Result<(), StateError> {
        let namespace = namespace(b'r', name);
        let operand = reduced_bytes(op, value);
        if matches!(self.entries, Entries::Rocks(_)) && self.ttl.is_none() {
            // A merge: no read, as without a call in progress.
            return self.write(key, &namespace, Write::Merge(operand));
        }
        let folded = match self.get_live(key, &namespace)? {
            Some(held) => {
                fold(&held, &operand).ok_or_else(|| self.corrupt("a reduced value is malformed"))?
            }
            None => operand.to_vec(),
        };
        let stored = self.stamped(&folded);
        self.write(key, &namespace, Write::Put(stored))
    }

    /// The folded value of reducing state `name` of `key`.
    pub fn reduced(&mut self, key: &[u8], name: &str) -> Result<Option<i64>, StateError> {
        let Some(held) = self.get_live(key, &namespace(b'r', name))? else {
            return Ok(None);
        };
        let bytes: [u8; 8] = held
            .get(1..9)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| self.corrupt("a reduced value is malformed"))?;
        Ok(Some(i64::from_le_bytes(bytes)))
    }

    fn corrupt(&self, what: &str) -> StateError {
        match &self.entries {
            Entries::Rocks(store) => store.corrupt(what),
            Entries::Memory(_) => StateError::memory(what),
        }
    }

    /// Registers a timer of a process function's `key` at `time` (event time or processing
    /// time) beside its state: a checkpoint then holds it, and on RocksDB it lives on disk.
    pub fn put_timer(&mut self, key: &[u8], event_time: bool, time: i64) -> Result<(), StateError> {
        self.entries
            .put(key, &timer_namespace(event_time, time), Vec::new())
    }

    /// Removes a timer [`KeyedValues::put_timer`] registered (or that fired).
    pub fn delete_timer(
        &mut self,
        key: &[u8],
        event_time: bool,
        time: i64,
    ) -> Result<(), StateError> {
        self.entries.delete(key, &timer_namespace(event_time, time))
    }

    /// Every registered timer as (event time?, time, key): what a restored process function
    /// schedules again.
    pub fn timers(&mut self) -> Result<Vec<(bool, i64, Vec<u8>)>, StateError> {
        let mut timers = Vec::new();
        let mut each = |key: &[u8], namespace: &[u8], _: &[u8]| {
            let time = namespace.get(2..10).and_then(|b| b.try_into().ok());
            if let (Some(&kind), Some(time)) = (namespace.get(1), time) {
                timers.push((kind == b'e', layout::read_ordered_i64(time), key.to_vec()));
            }
        };
        match &mut self.entries {
            Entries::Rocks(store) => store.each_entry(TIMERS, &mut each)?,
            Entries::Memory(map) => {
                for (key, entries) in map.iter() {
                    for (namespace, value) in entries.range(TIMERS.to_vec()..) {
                        if !namespace.starts_with(TIMERS) {
                            break;
                        }
                        each(key, namespace, value);
                    }
                }
            }
        }
        Ok(timers)
    }

    /// The same, for a job of `max_parallelism` key groups.
    pub fn with_key_groups(mut self, max_parallelism: u32) -> Self {
        self.max_parallelism = max_parallelism;
        self
    }

    /// Every entry, for checkpoint `id`: a copy of the heap maps, or a RocksDB checkpoint.
    pub fn snapshot(&mut self, id: u64) -> Result<KeyedSnapshot, StateError> {
        debug_assert!(self.overlay.is_none(), "a snapshot in the middle of a call");
        match &mut self.entries {
            Entries::Rocks(store) => store.native_checkpoint(id),
            Entries::Memory(map) => {
                let mut entries = HeapEntries::new(self.max_parallelism);
                for (key, values) in map.iter() {
                    for (namespace, value) in values {
                        entries.push(key, namespace, value.clone());
                    }
                }
                Ok(entries.finish())
            }
        }
    }

    /// Takes back this subtask's entries from a checkpoint (written by either backend).
    pub fn restore(&mut self, state: &OperatorRestore) -> Result<(), StateError> {
        let merge = Some(("weir-udf-state-v1", merge as super::MergeFn));
        let mut failed = None;
        let read = state.entries(merge, &mut |stored, value| {
            let result = match &mut self.entries {
                Entries::Rocks(store) => store.put_raw(stored, value),
                Entries::Memory(map) => match layout::parse_state(stored) {
                    Some((key, namespace)) => {
                        map.entry(key.to_vec())
                            .or_default()
                            .insert(namespace.to_vec(), value.to_vec());
                        Ok(())
                    }
                    None => Err(StateError::memory("a checkpointed entry is malformed")),
                },
            };
            result.map_err(|e| {
                let detail = e.to_string();
                failed = Some(e);
                std::io::Error::other(detail)
            })
        });
        if let Some(error) = failed {
            return Err(error);
        }
        read.map_err(|e| StateError::memory(&format!("restoring UDF state: {e}")))?;
        if let Entries::Rocks(store) = &mut self.entries {
            store.commit()?;
        }
        Ok(())
    }

    /// Commits what is pending and tells whether RocksDB's flushes and compactions are done
    /// (always, on the heap).
    pub fn settled(&mut self) -> Result<bool, StateError> {
        match &mut self.entries {
            Entries::Memory(_) => Ok(true),
            Entries::Rocks(store) => {
                store.commit()?;
                Ok(store.background_idle())
            }
        }
    }

    /// Bytes held: RocksDB's files and memtables, or an estimate of the heap maps.
    pub fn size(&self) -> u64 {
        match &self.entries {
            Entries::Memory(map) => map
                .iter()
                .map(|(key, entries)| {
                    let held: usize = entries.iter().map(|(n, v)| n.len() + v.len() + 64).sum();
                    (key.len() + held + 64) as u64
                })
                .sum(),
            Entries::Rocks(store) => store.size(),
        }
    }
}

/// A reduced value as stored: the op and the value.
fn reduced_bytes(op: u8, value: i64) -> [u8; 9] {
    let mut bytes = [0; 9];
    bytes[0] = op;
    bytes[1..].copy_from_slice(&value.to_le_bytes());
    bytes
}

/// `held` with `operand` folded in, by `held`'s op; `None` if either is malformed.
fn fold(held: &[u8], operand: &[u8]) -> Option<Vec<u8>> {
    let read = |bytes: &[u8]| -> Option<(u8, i64)> {
        Some((
            *bytes.first()?,
            i64::from_le_bytes(bytes.get(1..9)?.try_into().ok()?),
        ))
    };
    let ((op, a), (_, b)) = (read(held)?, read(operand)?);
    let folded = match op {
        0 => a.saturating_add(b),
        1 => a.min(b),
        _ => a.max(b),
    };
    Some(reduced_bytes(op, folded).to_vec())
}

/// RocksDB's merge for UDF state: reducing state (`r` namespaces) folds, lists append.
pub(crate) fn merge(
    key: &[u8],
    existing: Option<&[u8]>,
    operands: &MergeOperands,
) -> Option<Vec<u8>> {
    let reducing =
        layout::parse_state(key).is_some_and(|(_, namespace)| namespace.first() == Some(&b'r'));
    if !reducing {
        return lists::append(key, existing, operands);
    }
    let mut folded: Option<Vec<u8>> = existing.map(<[u8]>::to_vec);
    for operand in operands {
        folded = Some(match folded {
            None => operand.to_vec(),
            Some(held) => fold(&held, operand)?,
        });
    }
    folded
}
