//! The exactly-once file sink: two-phase commit over part files in a directory.
//!
//! Each subtask writes a hidden in-progress part (`.part-<subtask>-<n>.inprogress`). At a
//! checkpoint barrier it closes the part (flushed and synced: the pre-commit) and starts the
//! next; when the checkpoint completes everywhere it renames the parts up to it to
//! `part-<subtask>-<n>` (the commit). A restore commits the parts its checkpoint lists — it
//! completed, even if the commit never happened — and deletes every other in-progress part, so
//! what readers see is each record exactly once. At the end of bounded input everything left
//! is committed.

use super::LineFormatter;
use crate::error::TaskError;
use crate::operators::{Operator, RejectSink};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use weir_proto::RecordBatch;
use weir_state::checkpoint::{OperatorRestore, OperatorSnapshot};

/// A part file awaiting its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct PendingPart {
    /// The checkpoint whose completion commits it.
    checkpoint: u64,
    /// Its subtask and number: `.part-<subtask>-<number>.inprogress`.
    subtask: u32,
    number: u64,
}

/// The sink's place in a checkpoint.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SinkState {
    pending: Vec<PendingPart>,
    next_part: u64,
}

/// Writes records to part files, committed by checkpoints.
pub struct PartFileSink {
    operator: String,
    dir: PathBuf,
    subtask: u32,
    parallelism: u32,
    formatter: LineFormatter,
    buffer: Vec<u8>,
    /// The open part: its number and writer (opened at the first record after a barrier).
    current: Option<(u64, BufWriter<File>)>,
    state: SinkState,
    /// Whether parts of earlier runs were cleared (or restored).
    started: bool,
}

fn in_progress(subtask: u32, number: u64) -> String {
    format!(".part-{subtask}-{number}.inprogress")
}

fn committed(subtask: u32, number: u64) -> String {
    format!("part-{subtask}-{number}")
}

/// The subtask index in a part file's name (committed or in progress), if it is one.
fn part_subtask(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix("part-")
        .or_else(|| name.strip_prefix(".part-"))?;
    rest.split('-').next()?.parse().ok()
}

impl PartFileSink {
    /// Parts of `subtask` of `parallelism` in directory `dir`.
    pub fn open(
        operator: String,
        dir: &Path,
        (subtask, parallelism): (u32, u32),
        formatter: LineFormatter,
    ) -> Result<Self, TaskError> {
        std::fs::create_dir_all(dir).map_err(|source| TaskError::Io {
            operator: operator.clone(),
            path: dir.display().to_string(),
            source,
        })?;
        Ok(PartFileSink {
            operator,
            dir: dir.to_path_buf(),
            subtask,
            parallelism: parallelism.max(1),
            formatter,
            buffer: Vec::new(),
            current: None,
            state: SinkState::default(),
            started: false,
        })
    }

    fn io_error(&self, path: &Path, source: std::io::Error) -> TaskError {
        TaskError::Io {
            operator: self.operator.clone(),
            path: path.display().to_string(),
            source,
        }
    }

    /// Whether this subtask looks after part files of old subtask `old` (each old index has
    /// exactly one owner at the new parallelism).
    fn owns(&self, old: u32) -> bool {
        old % self.parallelism == self.subtask
    }

    /// Deletes the part files this subtask owns: in-progress ones always, committed ones too
    /// on a fresh start (the job writes its output anew, as the plain file sink truncates).
    fn clear(&self, committed_too: bool) -> Result<(), TaskError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| self.io_error(&self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| self.io_error(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(old) = part_subtask(&name) else {
                continue;
            };
            let hidden = name.starts_with('.');
            if self.owns(old) && (hidden || committed_too) {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| self.io_error(&path, e))?;
            }
        }
        Ok(())
    }

    fn start(&mut self) -> Result<(), TaskError> {
        if !self.started {
            self.clear(true)?;
            self.started = true;
        }
        Ok(())
    }

    /// Closes the open part (flushed and synced) as pending for `checkpoint`.
    fn close_part(&mut self, checkpoint: u64) -> Result<(), TaskError> {
        let Some((number, writer)) = self.current.take() else {
            return Ok(());
        };
        let path = self.dir.join(in_progress(self.subtask, number));
        let file = writer
            .into_inner()
            .map_err(|e| self.io_error(&path, e.into_error()))?;
        file.sync_all().map_err(|e| self.io_error(&path, e))?;
        self.state.pending.push(PendingPart {
            checkpoint,
            subtask: self.subtask,
            number,
        });
        Ok(())
    }

    /// Commits the pending parts of checkpoints up to `checkpoint`.
    fn commit(&mut self, checkpoint: u64) -> Result<(), TaskError> {
        let (due, later): (Vec<PendingPart>, Vec<PendingPart>) =
            std::mem::take(&mut self.state.pending)
                .into_iter()
                .partition(|p| p.checkpoint <= checkpoint);
        self.state.pending = later;
        for part in &due {
            self.commit_part(part)?;
        }
        if !due.is_empty() {
            self.sync_dir()?;
        }
        Ok(())
    }

    /// Makes the renames in the sink's directory durable: a crash after a commit must not
    /// bring a committed part back to its in-progress name (which a restore deletes).
    fn sync_dir(&self) -> Result<(), TaskError> {
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| self.io_error(&self.dir, e))
    }

    /// Deletes the committed parts this subtask owns that an old subtask numbered at or past
    /// what the restored checkpoint says it had reached (`next_of`): they were committed after
    /// the checkpoint (at the end of the old run's input), and the replay writes them again.
    fn forget_after(&self, next_of: &std::collections::HashMap<u32, u64>) -> Result<(), TaskError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| self.io_error(&self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| self.io_error(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((old, number)) = name.strip_prefix("part-").and_then(|rest| {
                let (old, number) = rest.split_once('-')?;
                Some((old.parse::<u32>().ok()?, number.parse::<u64>().ok()?))
            }) else {
                continue;
            };
            let after = next_of.get(&old).is_some_and(|&next| number >= next);
            if self.owns(old) && after {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| self.io_error(&path, e))?;
            }
        }
        Ok(())
    }

    /// Renames a pending part to its committed name; one already renamed is left as it is
    /// (a restore may commit again what a crash cut short).
    fn commit_part(&self, part: &PendingPart) -> Result<(), TaskError> {
        let from = self.dir.join(in_progress(part.subtask, part.number));
        let to = self.dir.join(committed(part.subtask, part.number));
        if !from.exists() && to.exists() {
            return Ok(());
        }
        std::fs::rename(&from, &to).map_err(|e| self.io_error(&from, e))
    }
}

impl Operator for PartFileSink {
    fn process(
        &mut self,
        batch: RecordBatch,
        rejects: &mut dyn RejectSink,
    ) -> Result<RecordBatch, TaskError> {
        self.start()?;
        self.buffer.clear();
        for record in batch.iter() {
            self.formatter.write(record, &mut self.buffer, rejects)?;
        }
        if self.buffer.is_empty() {
            return Ok(RecordBatch::default());
        }
        if self.current.is_none() {
            let number = self.state.next_part;
            self.state.next_part += 1;
            let path = self.dir.join(in_progress(self.subtask, number));
            let file = File::create(&path).map_err(|e| self.io_error(&path, e))?;
            self.current = Some((number, BufWriter::with_capacity(256 << 10, file)));
        }
        let error = match &mut self.current {
            Some((number, writer)) => writer
                .write_all(&self.buffer)
                .err()
                .map(|e| (in_progress(self.subtask, *number), e)),
            None => None,
        };
        match error {
            Some((name, e)) => Err(self.io_error(&self.dir.join(name), e)),
            None => Ok(RecordBatch::default()),
        }
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<OperatorSnapshot>, TaskError> {
        self.start()?;
        self.close_part(id)?;
        Ok(Some(OperatorSnapshot {
            meta: serde_json::to_value(&self.state).ok(),
            keyed: None,
        }))
    }

    fn checkpoint_complete(&mut self, id: u64) -> Result<(), TaskError> {
        crate::fault::at("commit", id, self.subtask)?;
        self.commit(id)
    }

    fn restore(&mut self, restored: &OperatorRestore) -> Result<(), TaskError> {
        let mut parts = Vec::new();
        let mut next_part = 0;
        let mut next_of = std::collections::HashMap::new();
        for (old, _, meta) in restored.all_meta() {
            let state: SinkState =
                serde_json::from_value(meta.clone()).map_err(|e| TaskError::State {
                    operator: self.operator.clone(),
                    detail: format!("the checkpoint's sink state is malformed: {e}"),
                })?;
            next_part = next_part.max(state.next_part);
            next_of.insert(old, state.next_part);
            parts.extend(state.pending.into_iter().filter(|p| self.owns(p.subtask)));
        }
        // The checkpoint completed: its pending parts are committed, whoever crashed when.
        for part in &parts {
            self.commit_part(part)?;
        }
        self.sync_dir()?;
        self.clear(false)?;
        self.forget_after(&next_of)?;
        self.state.next_part = next_part;
        self.started = true;
        Ok(())
    }

    fn final_state(&mut self) -> Result<Option<serde_json::Value>, TaskError> {
        // `finish` committed every part: a restore keeps them and numbers new parts past them.
        Ok(serde_json::to_value(&self.state).ok())
    }

    fn finish(
        &mut self,
        _emit: &mut dyn FnMut(RecordBatch) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        // The end of bounded input: the output is complete, so all of it is committed.
        self.start()?;
        self.close_part(u64::MAX)?;
        self.commit(u64::MAX)
    }
}
