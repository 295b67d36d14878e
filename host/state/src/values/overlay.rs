//! A UDF call's keyed-state writes, held apart until the call succeeds: reads see them, a
//! commit writes them to the backend (RocksDB merges stay merges), a rollback drops them — so
//! a call that trapped leaves no state and its records replay on the state as it was.

use super::{KeyedValues, fold};
use crate::StateError;
use std::collections::btree_map::Entry as Slot;
use std::collections::{BTreeMap, HashMap};

/// What the call in progress left at one (key, namespace), not yet in the backend.
pub(super) enum Pending {
    /// Replaced with these stored bytes.
    Put(Vec<u8>),
    /// Removed.
    Deleted,
    /// These encoded list items appended to what the backend holds.
    Appended(Vec<u8>),
    /// These reduce operands folded into what the backend holds (RocksDB merges).
    Merged(Vec<[u8; 9]>),
}

impl Pending {
    /// What a read sees: this write laid over `held`, the backend's stored bytes.
    fn over(&self, held: Option<Vec<u8>>) -> Result<Option<Vec<u8>>, StateError> {
        Ok(match self {
            Pending::Put(value) => Some(value.clone()),
            Pending::Deleted => None,
            Pending::Appended(items) => {
                let mut list = held.unwrap_or_default();
                list.extend_from_slice(items);
                Some(list)
            }
            Pending::Merged(operands) => {
                let mut folded = held;
                for operand in operands {
                    folded = Some(match folded {
                        None => operand.to_vec(),
                        Some(held) => fold(&held, operand)
                            .ok_or_else(|| StateError::memory("a reduced value is malformed"))?,
                    });
                }
                folded
            }
        })
    }
}

/// A call's writes: key → namespace → what it left there.
pub(super) type Overlay = HashMap<Vec<u8>, BTreeMap<Vec<u8>, Pending>>;

/// One write, as the public methods make it.
pub(super) enum Write<'a> {
    Put(Vec<u8>),
    Delete,
    Append(&'a [u8]),
    Merge([u8; 9]),
}

impl KeyedValues {
    /// Starts a UDF call: its writes stay apart, seen by its own reads, until [`Self::commit`];
    /// [`Self::rollback`] drops them. So a call that trapped leaves no state, and its records
    /// can be replayed one by one on the state as it was before it.
    pub fn begin(&mut self) {
        self.overlay = Some(Overlay::new());
    }

    /// The call succeeded: its writes go to the backend (a no-op without [`Self::begin`]).
    pub fn commit(&mut self) -> Result<(), StateError> {
        let Some(overlay) = self.overlay.take() else {
            return Ok(());
        };
        for (key, writes) in overlay {
            for (namespace, write) in writes {
                match write {
                    Pending::Put(value) => self.entries.put(&key, &namespace, value)?,
                    Pending::Deleted => self.entries.delete(&key, &namespace)?,
                    Pending::Appended(items) => self.entries.append(&key, &namespace, &items)?,
                    Pending::Merged(operands) => {
                        for operand in operands {
                            self.entries.merge(&key, &namespace, &operand)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The call failed: its writes vanish, and the state is as it was at [`Self::begin`].
    pub fn rollback(&mut self) {
        self.overlay = None;
    }

    /// The stored bytes at (key, namespace), as the call in progress sees them.
    pub(super) fn read(
        &mut self,
        key: &[u8],
        namespace: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        let pending = self
            .overlay
            .as_ref()
            .and_then(|overlay| overlay.get(key)?.get(namespace));
        match pending {
            None => self.entries.get(key, namespace),
            Some(Pending::Put(value)) => Ok(Some(value.clone())),
            Some(Pending::Deleted) => Ok(None),
            Some(write) => write.over(self.entries.get(key, namespace)?),
        }
    }

    /// A write: into the call's overlay while one is open, else straight to the backend.
    pub(super) fn write(
        &mut self,
        key: &[u8],
        namespace: &[u8],
        write: Write<'_>,
    ) -> Result<(), StateError> {
        let Some(overlay) = &mut self.overlay else {
            return match write {
                Write::Put(value) => self.entries.put(key, namespace, value),
                Write::Delete => self.entries.delete(key, namespace),
                Write::Append(item) => self.entries.append(key, namespace, item),
                Write::Merge(operand) => self.entries.merge(key, namespace, &operand),
            };
        };
        let slot = overlay
            .entry(key.to_vec())
            .or_default()
            .entry(namespace.to_vec());
        let pending = match slot {
            Slot::Vacant(slot) => {
                slot.insert(match write {
                    Write::Put(value) => Pending::Put(value),
                    Write::Delete => Pending::Deleted,
                    Write::Append(item) => Pending::Appended(item.to_vec()),
                    Write::Merge(operand) => Pending::Merged(vec![operand]),
                });
                return Ok(());
            }
            Slot::Occupied(slot) => slot.into_mut(),
        };
        match (write, pending) {
            (Write::Put(value), pending) => *pending = Pending::Put(value),
            (Write::Delete, pending) => *pending = Pending::Deleted,
            (Write::Append(item), Pending::Put(list) | Pending::Appended(list)) => {
                list.extend_from_slice(item)
            }
            (Write::Append(item), pending) => {
                // Removed in this call: the list starts anew.
                let mut list = pending.over(None)?.unwrap_or_default();
                list.extend_from_slice(item);
                *pending = Pending::Put(list);
            }
            (Write::Merge(operand), Pending::Merged(operands)) => operands.push(operand),
            (Write::Merge(operand), pending) => {
                // Set or removed in this call: fold onto what it left.
                let folded = match pending.over(None)? {
                    None => operand.to_vec(),
                    Some(held) => fold(&held, &operand)
                        .ok_or_else(|| StateError::memory("a reduced value is malformed"))?,
                };
                *pending = Pending::Put(folded);
            }
        }
        Ok(())
    }

    /// `entries.scan` with the call's writes under `prefix` laid over it.
    pub(super) fn scan(
        &mut self,
        key: &[u8],
        prefix: &[u8],
    ) -> Result<crate::OrderedEntries, StateError> {
        let base = self.entries.scan(key, prefix)?;
        let Some(writes) = self.overlay.as_ref().and_then(|overlay| overlay.get(key)) else {
            return Ok(base);
        };
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = base.into_iter().collect();
        let under = writes
            .range(prefix.to_vec()..)
            .take_while(|(namespace, _)| namespace.starts_with(prefix));
        for (namespace, write) in under {
            let suffix = namespace[prefix.len()..].to_vec();
            if let Some(value) = write.over(merged.remove(&suffix))? {
                merged.insert(suffix, value);
            }
        }
        Ok(merged.into_iter().collect())
    }
}
