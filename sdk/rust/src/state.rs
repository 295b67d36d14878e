//! Keyed state: values, lists and maps Weir keeps per key (and name) for a map, filter or flat_map that runs
//! after a `key_by`, across records and batches. The host holds the values; each call crosses
//! the boundary once, naming the record, never copying its key.
//!
//! ```text
//! #[weir_sdk::map]
//! fn running_count(record: Record) -> String {
//!     let n = record.state("count").map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default())) + 1;
//!     record.set_state("count", &n.to_le_bytes());
//!     n.to_string()
//! }
//! ```
//!
//! Using state in a step without a `key_by` before it, or for a record without a key, traps with
//! a message saying so.

use crate::Record;
use crate::bindings::transform::weir::udf::keyed_state;

impl Record<'_> {
    /// The value of state `name` for this record's key, if set.
    pub fn state(&self, name: &str) -> Option<Vec<u8>> {
        keyed_state::get(self.index, name)
    }

    /// Sets state `name` for this record's key.
    pub fn set_state(&self, name: &str, value: &[u8]) {
        keyed_state::set(self.index, name, value);
    }

    /// Removes state `name` (value, list or map) for this record's key.
    pub fn clear_state(&self, name: &str) {
        keyed_state::clear(self.index, name);
    }

    /// Appends `item` to list state `name` of this record's key (the host appends in place).
    pub fn list_append(&self, name: &str, item: &[u8]) {
        keyed_state::list_append(self.index, name, item);
    }

    /// The items of list state `name` of this record's key, oldest first.
    pub fn list(&self, name: &str) -> Vec<Vec<u8>> {
        keyed_state::list_get(self.index, name)
    }

    /// Sets entry `map_key` of map state `name` of this record's key.
    pub fn map_put(&self, name: &str, map_key: &[u8], value: &[u8]) {
        keyed_state::map_put(self.index, name, map_key, value);
    }

    /// Entry `map_key` of map state `name` of this record's key, if any.
    pub fn map_get(&self, name: &str, map_key: &[u8]) -> Option<Vec<u8>> {
        keyed_state::map_get(self.index, name, map_key)
    }

    /// Removes entry `map_key` of map state `name` of this record's key.
    pub fn map_remove(&self, name: &str, map_key: &[u8]) {
        keyed_state::map_remove(self.index, name, map_key);
    }

    /// Adds `value` to reducing state `name` of this record's key (the host folds it: no read).
    pub fn reduce_sum(&self, name: &str, value: i64) {
        keyed_state::reduce(self.index, name, keyed_state::ReduceOp::Sum, value);
    }

    /// Folds `value` into reducing state `name` of this record's key as a minimum.
    pub fn reduce_min(&self, name: &str, value: i64) {
        keyed_state::reduce(self.index, name, keyed_state::ReduceOp::Min, value);
    }

    /// Folds `value` into reducing state `name` of this record's key as a maximum.
    pub fn reduce_max(&self, name: &str, value: i64) {
        keyed_state::reduce(self.index, name, keyed_state::ReduceOp::Max, value);
    }

    /// The folded value of reducing state `name` of this record's key.
    pub fn reduced(&self, name: &str) -> Option<i64> {
        keyed_state::reduced(self.index, name)
    }

    /// Every entry of map state `name` of this record's key, ordered by map key.
    pub fn map_entries(&self, name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        keyed_state::map_entries(self.index, name)
    }
}
