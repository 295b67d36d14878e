//! Values that a UDF keeps per key and name (the `weir:udf/keyed-state` imports), in either
//! backend.

use super::{RocksStore, StateError};
use std::collections::HashMap;

/// One operator subtask's keyed values.
pub(crate) enum KeyedValues {
    /// Key → name → value, on the heap.
    Memory(HashMap<Vec<u8>, HashMap<String, Vec<u8>>>),
    /// In the subtask's RocksDB store, the name as the namespace.
    Rocks(RocksStore),
}

impl Default for KeyedValues {
    fn default() -> Self {
        KeyedValues::Memory(HashMap::new())
    }
}

impl KeyedValues {
    /// The value of `name` for `key`.
    pub(crate) fn get(&mut self, key: &[u8], name: &str) -> Result<Option<Vec<u8>>, StateError> {
        match self {
            KeyedValues::Memory(map) => Ok(map.get(key).and_then(|names| names.get(name)).cloned()),
            KeyedValues::Rocks(store) => store.get(key, name.as_bytes()),
        }
    }

    /// Sets `name` for `key`.
    pub(crate) fn set(
        &mut self,
        key: &[u8],
        name: String,
        value: Vec<u8>,
    ) -> Result<(), StateError> {
        match self {
            KeyedValues::Memory(map) => {
                map.entry(key.to_vec()).or_default().insert(name, value);
                Ok(())
            }
            KeyedValues::Rocks(store) => store.put(key, name.as_bytes(), &value),
        }
    }

    /// Bytes held: RocksDB's files and memtables, or an estimate of the heap maps.
    pub(crate) fn size(&self) -> u64 {
        match self {
            KeyedValues::Memory(map) => map
                .iter()
                .map(|(key, names)| {
                    let values: usize = names.iter().map(|(n, v)| n.len() + v.len() + 64).sum();
                    (key.len() + values + 64) as u64
                })
                .sum(),
            KeyedValues::Rocks(store) => store.size(),
        }
    }

    /// Removes `name` for `key`.
    pub(crate) fn clear(&mut self, key: &[u8], name: &str) -> Result<(), StateError> {
        match self {
            KeyedValues::Memory(map) => {
                if let Some(names) = map.get_mut(key) {
                    names.remove(name);
                    if names.is_empty() {
                        map.remove(key);
                    }
                }
                Ok(())
            }
            KeyedValues::Rocks(store) => store.delete(key, name.as_bytes()),
        }
    }
}
