//! Sources: where records enter a job. Each subtask of a source reads its own share.

mod datagen;
mod file;
mod lines;
mod nexmark;
mod numbered;
mod pacer;
mod stdin;

pub use datagen::Datagen;
pub use datagen::bid_row;
pub use file::FileSource;
pub use lines::LineDecoder;
pub use nexmark::NexmarkGenerator;
pub use nexmark::NexmarkSource;
pub(crate) use pacer::Pacer;
pub use stdin::StdinSource;

/// 2026-01-01T00:00:00Z in ms: the event-time origin of generated data (as in PROBES.md).
pub const GENERATOR_EPOCH_MS: i64 = 1_767_225_600_000;

/// Why a source cannot resume where a checkpoint says.
#[derive(Debug, thiserror::Error)]
pub enum SeekError {
    /// The position the checkpoint holds is not one this kind of source writes.
    #[error("a {what} position in the checkpoint is malformed: {detail}")]
    Malformed {
        /// The kind of position (generator, file).
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The source's input cannot be read again.
    #[error(
        "{0} cannot be read again, so this job cannot resume from a checkpoint: read from a file or a generator for exactly-once restarts"
    )]
    NotReplayable(&'static str),
}

/// The share of a subtask: indices `subtask, subtask + parallelism, ...` below `count`.
#[derive(Debug, Clone, Copy)]
pub struct Share {
    /// This subtask's index.
    pub subtask: u64,
    /// How many subtasks share the input.
    pub parallelism: u64,
}

impl Share {
    /// The `k`-th index of this share.
    pub fn index(&self, k: u64) -> u64 {
        self.subtask + k * self.parallelism
    }
}

/// splitmix64: the generators' source of pseudo-randomness (PROBES.md's definition).
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
