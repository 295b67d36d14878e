//! The file source: a file or a directory of files, as lines, JSON lines or CSV.
//!
//! Line formats are split by byte range: subtask `i` of `p` reads the lines that start in the
//! `i`-th `p`-th of each file, so one large file is read in parallel. CSV may quote newlines, so
//! whole CSV files are dealt out to subtasks instead. A line number for an error message is
//! counted only when an error needs one.

use super::SeekError;
use super::lines::{LineDecoder, trim_newline};
use crate::error::TaskError;
use crate::operators::{OwnedRecord, RejectSink, Rejection, Source};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use weir_proto::RecordBatch;
use weir_proto::spec::FileFormat;
use weir_state::checkpoint::OperatorRestore;

/// The files a path names: itself, or the visible files of a directory in name order.
pub(super) fn list_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        File::open(path)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// What this subtask reads of one file: the lines that start in `start..end`, or (CSV) the
/// rows after the first `skip_records`. Also its place in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
struct Split {
    path: PathBuf,
    start: u64,
    end: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    skip_records: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

enum Reader {
    Lines {
        reader: BufReader<File>,
        position: u64,
        split: Split,
    },
    Csv {
        reader: csv::Reader<File>,
        headers: Vec<String>,
        path: PathBuf,
        /// Rows read so far (the skipped ones included).
        records: u64,
    },
}

/// This subtask's share of a file source.
pub struct FileSource {
    decoder: LineDecoder,
    splits: std::collections::VecDeque<Split>,
    current: Option<Reader>,
    batch_size: usize,
}

impl FileSource {
    /// A source reading its share of the files, decoding lines with `decoder`.
    pub fn new(
        decoder: LineDecoder,
        path: &Path,
        subtask: u32,
        parallelism: u32,
        batch_size: usize,
    ) -> Result<Self, TaskError> {
        let io_error = |source| TaskError::Io {
            operator: decoder.operator.clone(),
            path: path.display().to_string(),
            source,
        };
        let files = list_files(path).map_err(io_error)?;
        let (i, p) = (subtask as u64, parallelism as u64);
        let mut splits = Vec::new();
        for (n, file) in files.into_iter().enumerate() {
            if decoder.format == FileFormat::Csv {
                if n as u64 % p == i {
                    splits.push(Split {
                        path: file,
                        start: 0,
                        end: u64::MAX,
                        skip_records: 0,
                    });
                }
                continue;
            }
            let len = std::fs::metadata(&file).map_err(io_error)?.len();
            splits.push(Split {
                path: file,
                start: len * i / p,
                end: len * (i + 1) / p,
                skip_records: 0,
            });
        }
        Ok(FileSource {
            decoder,
            splits: splits.into(),
            current: None,
            batch_size: batch_size.max(1),
        })
    }

    fn io_error(&self, path: &Path, source: std::io::Error) -> TaskError {
        TaskError::Io {
            operator: self.decoder.operator.clone(),
            path: path.display().to_string(),
            source,
        }
    }

    fn open(&self, split: Split) -> Result<Reader, TaskError> {
        let file = File::open(&split.path).map_err(|e| self.io_error(&split.path, e))?;
        if self.decoder.format == FileFormat::Csv {
            let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(file);
            let headers = reader
                .headers()
                .map_err(|e| self.io_error(&split.path, std::io::Error::other(e)))?
                .iter()
                .map(str::to_string)
                .collect();
            let mut row = csv::StringRecord::new();
            for _ in 0..split.skip_records {
                // A bad row was rejected the first time round; skipping it again is right.
                if let Ok(false) = reader.read_record(&mut row) {
                    break;
                }
            }
            return Ok(Reader::Csv {
                reader,
                headers,
                path: split.path,
                records: split.skip_records,
            });
        }
        let mut reader = BufReader::with_capacity(256 << 10, file);
        let mut position = split.start;
        if split.start > 0 {
            // Start at the first line that begins inside this split.
            reader
                .seek(SeekFrom::Start(split.start - 1))
                .map_err(|e| self.io_error(&split.path, e))?;
            let mut skipped = Vec::new();
            let n = reader
                .read_until(b'\n', &mut skipped)
                .map_err(|e| self.io_error(&split.path, e))?;
            position = split.start - 1 + n as u64;
        }
        Ok(Reader::Lines {
            reader,
            position,
            split,
        })
    }
}

impl Source for FileSource {
    fn next_batch(
        &mut self,
        rejects: &mut dyn RejectSink,
    ) -> Result<Option<RecordBatch>, TaskError> {
        let mut batch = RecordBatch::with_capacity(self.batch_size, 64);
        let mut line = Vec::new();
        while batch.len() < self.batch_size {
            let Some(reader) = &mut self.current else {
                match self.splits.pop_front() {
                    Some(split) => {
                        self.current = Some(self.open(split)?);
                        continue;
                    }
                    None => break,
                }
            };
            let finished = match reader {
                Reader::Lines {
                    reader,
                    position,
                    split,
                } => {
                    if *position >= split.end {
                        true
                    } else {
                        line.clear();
                        let n = reader.read_until(b'\n', &mut line).map_err(|source| {
                            TaskError::Io {
                                operator: self.decoder.operator.clone(),
                                path: split.path.display().to_string(),
                                source,
                            }
                        })?;
                        let line_start = *position;
                        *position += n as u64;
                        if n > 0 {
                            let path = &split.path;
                            self.decoder.decode(
                                trim_newline(&line),
                                || line_origin(path, line_start),
                                &mut batch,
                                rejects,
                            )?;
                        }
                        n == 0
                    }
                }
                Reader::Csv {
                    reader,
                    headers,
                    path,
                    records,
                } => {
                    let mut row = csv::StringRecord::new();
                    *records += 1;
                    match reader.read_record(&mut row) {
                        Ok(false) => true,
                        Ok(true) => {
                            let object: serde_json::Map<String, serde_json::Value> = headers
                                .iter()
                                .cloned()
                                .zip(row.iter().map(|v| v.into()))
                                .collect();
                            batch.push(
                                None,
                                serde_json::Value::Object(object).to_string().as_bytes(),
                                0,
                            );
                            false
                        }
                        Err(error) => {
                            let line = error.position().map_or(0, csv::Position::line);
                            rejects.reject(Rejection {
                                operator: self.decoder.operator.clone(),
                                module: None,
                                export: None,
                                error: format!("bad CSV row: {error}"),
                                origin: Some(format!("{}:{line}", path.display())),
                                record: OwnedRecord {
                                    key: None,
                                    value: row.as_slice().as_bytes().to_vec(),
                                    timestamp: 0,
                                },
                            })?;
                            false
                        }
                    }
                }
            };
            if finished {
                self.current = None;
            }
        }
        if batch.is_empty() && self.current.is_none() && self.splits.is_empty() {
            return Ok(None);
        }
        Ok(Some(batch))
    }

    fn position(&mut self) -> Result<serde_json::Value, TaskError> {
        let current = self.current.as_ref().map(|reader| match reader {
            Reader::Lines {
                position, split, ..
            } => Split {
                start: *position,
                ..split.clone()
            },
            Reader::Csv { path, records, .. } => Split {
                path: path.clone(),
                start: 0,
                end: u64::MAX,
                skip_records: *records,
            },
        });
        let remaining: Vec<&Split> = current.iter().chain(self.splits.iter()).collect();
        Ok(serde_json::json!({ "splits": remaining }))
    }

    fn seek(&mut self, state: &OperatorRestore) -> Result<(), SeekError> {
        let parse = |value: &serde_json::Value| {
            serde_json::from_value::<Vec<Split>>(value["splits"].clone()).map_err(|e| {
                SeekError::Malformed {
                    what: "file",
                    detail: e.to_string(),
                }
            })
        };
        self.current = None;
        if let Some(own) = state.own_meta() {
            self.splits = parse(own)?.into();
            return Ok(());
        }
        // Every old subtask's remaining splits, dealt out anew.
        let mut all = Vec::new();
        for (_, _, value) in state.all_meta() {
            all.extend(parse(value)?);
        }
        all.sort();
        let (subtask, parallelism) = state.subtask();
        self.splits = all
            .into_iter()
            .enumerate()
            .filter(|(n, _)| *n as u32 % parallelism.max(1) == subtask)
            .map(|(_, split)| split)
            .collect();
        Ok(())
    }
}

/// `path:line` for the line starting at byte `offset`, counting newlines before it.
fn line_origin(path: &Path, offset: u64) -> String {
    let count = File::open(path).and_then(|file| {
        let mut newlines = 0u64;
        let mut reader = BufReader::new(file.take(offset));
        loop {
            let buffer = reader.fill_buf()?;
            if buffer.is_empty() {
                return Ok(newlines);
            }
            newlines += buffer.iter().filter(|&&b| b == b'\n').count() as u64;
            let consumed = buffer.len();
            reader.consume(consumed);
        }
    });
    match count {
        Ok(newlines) => format!("{}:{}", path.display(), newlines + 1),
        Err(_) => format!("{} at byte {offset}", path.display()),
    }
}
