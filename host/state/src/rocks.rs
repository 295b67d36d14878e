//! One RocksDB instance: the keyed state and timers of one stateful operator subtask.
//!
//! Writes skip RocksDB's write-ahead log: the store is a working copy that lives and dies with
//! its task (its directory is removed when the store is dropped); durability is the job of
//! checkpoints, which copy state out. Memory is bounded for the whole process by the shared
//! [`RocksMemory`]: one block cache that memtables are charged to as well.

use super::layout::{self, Timer};
use rocksdb::{
    BlockBasedOptions, Cache, DB, DBCompressionType, Direction, IteratorMode, MergeOperands,
    Options, ReadOptions, WriteBatch, WriteBufferManager, WriteOptions,
};
use std::path::{Path, PathBuf};

/// Why a store operation failed, naming the store.
#[derive(Debug, thiserror::Error)]
#[error("RocksDB at {dir}: {detail}")]
pub struct StateError {
    dir: String,
    detail: String,
}

impl StateError {
    /// An error of state kept on the heap (the memory backend).
    pub fn memory(detail: &str) -> Self {
        StateError {
            dir: "(memory)".into(),
            detail: detail.to_string(),
        }
    }

    fn new(dir: &Path, detail: impl std::fmt::Display) -> Self {
        StateError {
            dir: dir.display().to_string(),
            detail: detail.to_string(),
        }
    }
}

/// Memory shared by every RocksDB instance of a process: one LRU block cache, to which
/// memtables are charged too, so block cache plus write buffers stay within `budget`.
#[derive(Clone)]
pub struct RocksMemory {
    cache: Cache,
    write_buffers: WriteBufferManager,
    budget: usize,
}

impl RocksMemory {
    /// A budget of `bytes` for all instances together.
    pub fn new(bytes: usize) -> Self {
        let cache = Cache::new_lru_cache(bytes);
        // Memtables may take up to half of the budget before RocksDB flushes them early.
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            bytes / 2,
            false,
            cache.clone(),
        );
        RocksMemory {
            cache,
            write_buffers,
            budget: bytes,
        }
    }

    /// The budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }
}

impl std::fmt::Debug for RocksMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksMemory")
            .field("budget", &self.budget)
            .finish()
    }
}

/// An associative merge of values (accumulators): RocksDB folds the operands written with
/// [`RocksStore::merge`] into the stored value when it is read or compacted, so an update needs
/// no read.
pub type MergeFn = fn(&[u8], Option<&[u8]>, &MergeOperands) -> Option<Vec<u8>>;

/// A RocksDB instance holding one operator subtask's keyed state and timers.
pub struct RocksStore {
    /// `None` only while dropping, so the database closes before its directory is removed.
    db: Option<DB>,
    dir: PathBuf,
    write: WriteOptions,
    max_parallelism: u32,
    scratch: Vec<u8>,
    /// Writes not yet in RocksDB; every read commits them first.
    pending: WriteBatch,
    /// Every timer that sorts before this RocksDB key has been taken: scans start here, not
    /// among the tombstones of the timers taken before (a window of a million keys would
    /// otherwise be read quadratically).
    timers_seek: Vec<u8>,
    /// Every timer before this time has been taken…
    timers_from: i64,
    /// …and nothing is due before this one.
    next_due: i64,
    /// Times the caller marked as due for what it keeps outside the store (a window in its
    /// write cache): taking the store's timers must not forget them.
    noted: std::collections::BTreeSet<i64>,
    /// Names this instance's files in checkpoint storage: unique across processes and runs.
    instance: String,
}

/// One namespace's entries over every key, read a chunk at a time in one sequential pass over
/// the store, each chunk deleted as it is read if asked: how a window that ends is fired (and
/// dropped) without a timer per key, where timers cost a write, a delete and a random read for
/// each key of each window.
pub struct NamespaceScan {
    namespace: Vec<u8>,
    chunk: usize,
    delete: bool,
    /// Where the next chunk starts; `None` before the first.
    from: Option<Vec<u8>>,
    done: bool,
}

impl NamespaceScan {
    /// A scan of `namespace` in chunks of `chunk` entries, deleting what it reads if `delete`.
    pub fn new(namespace: &[u8], chunk: usize, delete: bool) -> Self {
        NamespaceScan {
            namespace: namespace.to_vec(),
            chunk: chunk.max(1),
            delete,
            from: None,
            done: false,
        }
    }

    /// The next chunk of (key, value) entries in `store`; empty once the scan is over.
    pub fn next_chunk(
        &mut self,
        store: &mut RocksStore,
    ) -> Result<super::OrderedEntries, StateError> {
        if self.done {
            return Ok(Vec::new());
        }
        let (entries, next) =
            store.namespace_chunk(&self.namespace, self.from.as_deref(), self.chunk)?;
        if self.delete {
            for (key, _) in &entries {
                store.delete(key, &self.namespace)?;
            }
        }
        self.done = next.is_none();
        self.from = next;
        Ok(entries)
    }
}

/// What [`RocksStore::each_entry`] calls with each (key, namespace, value).
pub type EachStateEntry<'a> = dyn FnMut(&[u8], &[u8], &[u8]) + 'a;

/// Pending writes are committed at this many…
const MAX_PENDING_WRITES: usize = 16 * 1024;
/// …or this many bytes.
const MAX_PENDING_BYTES: usize = 4 << 20;

impl RocksStore {
    /// Opens a fresh store in `dir` (anything left there by an earlier run is removed first).
    pub fn open(
        memory: &RocksMemory,
        dir: PathBuf,
        max_parallelism: u32,
        merge: Option<(&str, MergeFn)>,
    ) -> Result<Self, StateError> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| StateError::new(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| StateError::new(&dir, e))?;
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&memory.cache);
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        table.set_bloom_filter(10.0, false);
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_block_based_table_factory(&table);
        options.set_write_buffer_manager(&memory.write_buffers);
        // Small memtables: inserting into a large skiplist of merge operands dominated W3. Level 1
        // and its files sized to match (RocksDB's rule of thumb: level 1 ≈ what level 0 holds
        // when it compacts), or every small flush rewrites a default 256 MiB level 1.
        let write_buffer = (memory.budget / 64).clamp(1 << 20, 8 << 20);
        options.set_write_buffer_size(write_buffer);
        options.set_target_file_size_base(write_buffer as u64);
        options.set_max_bytes_for_level_base(4 * write_buffer as u64);
        options.set_max_write_buffer_number(2);
        options.set_compression_type(DBCompressionType::None);
        options.set_max_background_jobs(2);
        options.set_max_open_files(256);
        if let Some((name, merge)) = merge {
            options.set_merge_operator_associative(name, merge);
        }
        let db = DB::open(&options, &dir).map_err(|e| StateError::new(&dir, e))?;
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        Ok(RocksStore {
            db: Some(db),
            instance: instance_name(&dir),
            dir,
            write,
            max_parallelism,
            scratch: Vec::with_capacity(64),
            pending: WriteBatch::default(),
            timers_seek: Vec::new(),
            timers_from: i64::MIN,
            next_due: i64::MAX,
            noted: Default::default(),
        })
    }

    fn db(&self) -> Result<&DB, StateError> {
        self.db
            .as_ref()
            .ok_or_else(|| StateError::new(&self.dir, "the store is closed"))
    }

    fn error(&self, error: impl std::fmt::Display) -> StateError {
        StateError::new(&self.dir, error)
    }

    /// The error for state this store holds that does not decode: a bug or a damaged disk.
    pub fn corrupt(&self, what: &str) -> StateError {
        self.error(format!("{what} (corrupt store?)"))
    }

    /// The key group of `key`: state sorts by key group, then key length, then key bytes
    /// (callers writing many keys at once sort them so, which RocksDB inserts faster).
    pub fn key_group(&self, key: &[u8]) -> u32 {
        weir_proto::keygroup::key_group(key, self.max_parallelism)
    }

    /// Writes what is pending in one RocksDB write (one write per update would cost a
    /// write-group round each).
    pub fn commit(&mut self) -> Result<(), StateError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let done = self.db()?.write_opt(batch, &self.write);
        done.map_err(|e| self.error(e))
    }

    /// Commits once the pending batch is large, so it stays bounded.
    fn commit_if_large(&mut self) -> Result<(), StateError> {
        if self.pending.len() >= MAX_PENDING_WRITES
            || self.pending.size_in_bytes() >= MAX_PENDING_BYTES
        {
            self.commit()?;
        }
        Ok(())
    }

    /// The value of `namespace` for `key` (pending writes first go to the store).
    pub fn get(&mut self, key: &[u8], namespace: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.commit()?;
        let key_group = self.key_group(key);
        layout::state_key(&mut self.scratch, key_group, key, namespace);
        let value = self.db()?.get_pinned(&self.scratch);
        value
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| self.error(e))
    }

    /// Sets `namespace` of `key` to `value`.
    pub fn put(&mut self, key: &[u8], namespace: &[u8], value: &[u8]) -> Result<(), StateError> {
        let key_group = self.key_group(key);
        layout::state_key(&mut self.scratch, key_group, key, namespace);
        self.pending.put(&self.scratch, value);
        self.commit_if_large()
    }

    /// Folds `operand` into `namespace` of `key` with the store's merge function.
    pub fn merge(
        &mut self,
        key: &[u8],
        namespace: &[u8],
        operand: &[u8],
    ) -> Result<(), StateError> {
        let key_group = self.key_group(key);
        layout::state_key(&mut self.scratch, key_group, key, namespace);
        self.pending.merge(&self.scratch, operand);
        self.commit_if_large()
    }

    /// Removes `namespace` of `key`.
    pub fn delete(&mut self, key: &[u8], namespace: &[u8]) -> Result<(), StateError> {
        let key_group = self.key_group(key);
        layout::state_key(&mut self.scratch, key_group, key, namespace);
        self.pending.delete(&self.scratch);
        self.commit_if_large()
    }

    /// Registers a timer (registering one twice keeps one).
    pub fn put_timer(&mut self, time: i64, key: &[u8], namespace: &[u8]) -> Result<(), StateError> {
        let key_group = self.key_group(key);
        layout::timer_key(&mut self.scratch, time, key_group, key, namespace);
        self.pending.put(&self.scratch, []);
        self.note_due(time);
        self.commit_if_large()
    }

    /// Removes a timer.
    pub fn delete_timer(
        &mut self,
        time: i64,
        key: &[u8],
        namespace: &[u8],
    ) -> Result<(), StateError> {
        let key_group = self.key_group(key);
        layout::timer_key(&mut self.scratch, time, key_group, key, namespace);
        self.pending.delete(&self.scratch);
        self.commit_if_large()
    }

    /// An iterator over the timers from RocksDB key `start` on.
    fn timers_after(
        &self,
        start: &[u8],
    ) -> Result<rocksdb::DBIteratorWithThreadMode<'_, DB>, StateError> {
        let mut read = ReadOptions::default();
        read.set_iterate_upper_bound(layout::timers_end());
        Ok(self
            .db()?
            .iterator_opt(IteratorMode::From(start, Direction::Forward), read))
    }

    /// Whether no timer can be due at `up_to` (nor anything the caller marked with
    /// [`Self::note_due`]): then a watermark needs no look at the store.
    pub fn nothing_due(&self, up_to: i64) -> bool {
        up_to < self.next_due
    }

    /// When the next timer (or what the caller marked) falls due, if ever.
    pub fn next_due(&self) -> Option<i64> {
        (self.next_due != i64::MAX).then_some(self.next_due)
    }

    /// Marks `time` as when something of the caller's (kept outside the store) falls due.
    pub fn note_due(&mut self, time: i64) {
        self.next_due = self.next_due.min(time);
        self.noted.insert(time);
    }

    /// Removes and returns up to `max` timers due at `up_to`, earliest first. Call it until it
    /// returns none, then [`Self::timers_taken`].
    pub fn take_timers(&mut self, up_to: i64, max: usize) -> Result<Vec<Timer>, StateError> {
        self.commit()?;
        // Start after every timer taken before, not among their tombstones.
        let start = layout::timers_from(self.timers_from).max(self.timers_seek.clone());
        let mut due = Vec::new();
        let mut taken = WriteBatch::default();
        let mut last: Option<Box<[u8]>> = None;
        for entry in self.timers_after(&start)? {
            let (key, _) = entry.map_err(|e| self.error(e))?;
            let timer = layout::parse_timer(&key)
                .ok_or_else(|| self.corrupt("a timer entry is malformed"))?;
            if timer.time > up_to || due.len() >= max {
                break;
            }
            taken.delete(&key);
            due.push(timer);
            last = Some(key);
        }
        if let Some(last) = last {
            // The smallest key after the last one taken.
            self.timers_seek = last.into_vec();
            self.timers_seek.push(0);
        }
        self.pending = taken;
        Ok(due)
    }

    /// Records that every timer due at `up_to` has been taken, and finds the next one due.
    pub fn timers_taken(&mut self, up_to: i64) -> Result<(), StateError> {
        self.timers_from = self.timers_from.max(up_to.saturating_add(1));
        self.commit()?;
        let first = match self
            .timers_after(&layout::timers_from(self.timers_from))?
            .next()
        {
            None => None,
            Some(entry) => {
                let (key, _) = entry.map_err(|e| self.error(e))?;
                Some(
                    layout::parse_timer(&key)
                        .ok_or_else(|| self.corrupt("a timer entry is malformed"))?,
                )
            }
        };
        // What the caller marked up to now was fired with the store's timers; later marks stay.
        self.noted = self.noted.split_off(&up_to.saturating_add(1));
        let stored = first.map_or(i64::MAX, |timer| timer.time);
        self.next_due = stored.min(self.noted.first().copied().unwrap_or(i64::MAX));
        Ok(())
    }

    /// Every (namespace after `prefix`, value) of `key` whose namespace starts with `prefix`,
    /// in namespace order.
    pub fn scan(&mut self, key: &[u8], prefix: &[u8]) -> Result<super::OrderedEntries, StateError> {
        self.commit()?;
        let key_group = self.key_group(key);
        layout::state_key(&mut self.scratch, key_group, key, prefix);
        let start = self.scratch.clone();
        let db = self.db()?;
        let mut found = Vec::new();
        for entry in db.iterator(IteratorMode::From(&start, Direction::Forward)) {
            let (stored, value) = entry.map_err(|e| self.error(e))?;
            if !stored.starts_with(&start) {
                break;
            }
            found.push((stored[start.len()..].to_vec(), value.into_vec()));
        }
        Ok(found)
    }

    /// Every (key, value) whose namespace is `namespace`, over all keys (for the end of input:
    /// this reads the whole store).
    pub fn all_entries(&mut self, namespace: &[u8]) -> Result<super::OrderedEntries, StateError> {
        let mut found = Vec::new();
        self.each_entry(namespace, &mut |key, held, value| {
            if held == namespace {
                found.push((key.to_vec(), value.to_vec()));
            }
        })?;
        Ok(found)
    }

    /// Up to `max` (key, value) entries whose namespace is `namespace`, from RocksDB key `from`
    /// on (`None`: the first), in key-group order, and the RocksDB key to go on from if more may
    /// follow (what [`NamespaceScan`] walks).
    fn namespace_chunk(
        &mut self,
        namespace: &[u8],
        from: Option<&[u8]>,
        max: usize,
    ) -> Result<(super::OrderedEntries, Option<Vec<u8>>), StateError> {
        self.commit()?;
        let db = self.db()?;
        let mut read = ReadOptions::default();
        read.set_iterate_upper_bound(layout::timers_from(i64::MIN));
        let start = from.map_or_else(layout::states_start, <[u8]>::to_vec);
        let mut found = Vec::new();
        for entry in db.iterator_opt(IteratorMode::From(&start, Direction::Forward), read) {
            let (stored, value) = entry.map_err(|e| self.error(e))?;
            let (key, held) = layout::parse_state(&stored)
                .ok_or_else(|| self.corrupt("a state entry is malformed"))?;
            if held != namespace {
                continue;
            }
            found.push((key.to_vec(), value.into_vec()));
            if found.len() >= max.max(1) {
                // The smallest RocksDB key after this one.
                let mut next = stored.into_vec();
                next.push(0);
                return Ok((found, Some(next)));
            }
        }
        Ok((found, None))
    }

    /// Calls `each` with every (key, namespace, value) whose namespace starts with `prefix`,
    /// over all keys (this reads the whole store).
    pub fn each_entry(
        &mut self,
        prefix: &[u8],
        each: &mut EachStateEntry<'_>,
    ) -> Result<(), StateError> {
        self.commit()?;
        let db = self.db()?;
        let mut read = ReadOptions::default();
        read.set_iterate_upper_bound(layout::timers_from(i64::MIN));
        let start = layout::states_start();
        for entry in db.iterator_opt(IteratorMode::From(&start, Direction::Forward), read) {
            let (stored, value) = entry.map_err(|e| self.error(e))?;
            let (key, namespace) = layout::parse_state(&stored)
                .ok_or_else(|| self.corrupt("a state entry is malformed"))?;
            if namespace.starts_with(prefix) {
                each(key, namespace, &value);
            }
        }
        Ok(())
    }

    /// A RocksDB native checkpoint for checkpoint `id`: the memtables flushed, the immutable
    /// SST files hard-linked into a directory beside the store (no copy).
    pub fn native_checkpoint(
        &mut self,
        id: u64,
    ) -> Result<crate::checkpoint::KeyedSnapshot, StateError> {
        self.commit()?;
        let mut name = self.dir.as_os_str().to_owned();
        name.push(format!("-chk-{id}"));
        let dir = PathBuf::from(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| self.error(e))?;
        }
        let db = self.db()?;
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(db).map_err(|e| self.error(e))?;
        checkpoint
            .create_checkpoint(&dir)
            .map_err(|e| self.error(e))?;
        Ok(crate::checkpoint::KeyedSnapshot::Rocks {
            dir,
            instance: self.instance.clone(),
        })
    }

    /// Writes an entry restored from a checkpoint, as it was stored (layout key and value).
    pub fn put_raw(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        if let Some(timer) = layout::parse_timer(key) {
            self.note_due(timer.time);
        }
        self.pending.put(key, value);
        self.commit_if_large()
    }

    /// Whether RocksDB is idle: no flush or compaction running or pending (a measurement of
    /// what one change costs waits for this).
    pub fn background_idle(&self) -> bool {
        let Ok(db) = self.db() else {
            return true;
        };
        [
            "rocksdb.compaction-pending",
            "rocksdb.num-running-compactions",
            "rocksdb.num-running-flushes",
        ]
        .iter()
        .all(|property| db.property_int_value(*property).ok().flatten() == Some(0))
    }

    /// Bytes of state on disk plus in memtables: the size of this subtask's state.
    pub fn size(&self) -> u64 {
        let Ok(db) = self.db() else {
            return 0;
        };
        [
            "rocksdb.total-sst-files-size",
            "rocksdb.cur-size-all-mem-tables",
        ]
        .iter()
        .filter_map(|property| db.property_int_value(*property).ok().flatten())
        .sum()
    }
}

/// A name for a store's files that no other store, in any process or run, shares: its
/// directory's name, this process, and the time.
fn instance_name(dir: &Path) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    format!(
        "{}-{}-{nanos:x}",
        name.unwrap_or_default(),
        std::process::id()
    )
}

impl Drop for RocksStore {
    fn drop(&mut self) {
        drop(self.db.take());
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), %error, "cannot remove a task's state directory");
        }
        // The job's directory goes with its last store.
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}
