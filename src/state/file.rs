//! Checkpoint files in `state.dir`: atomic, checksummed, two generations, one owner.
//!
//! Each checkpoint is written to a temporary file, fsynced, renamed to
//! `checkpoint-<generation>.bin` and the directory fsynced, so a crash leaves either the old or
//! the new file, never half of one. A header holds a magic, the length and a CRC-32 of the body:
//! a torn or corrupted file is detected and the previous generation is used instead. An
//! exclusive lock on `lock` makes a second instance on the same directory fail fast.
//!
//! Pruning keeps the generation last known to read back whole (restored by `load` or written
//! since) until a newer one is durable: after falling back past a corrupt newest file, the
//! next write replaces the corrupt file, not the good one, so a second corruption still leaves
//! a checkpoint to resume from.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Checkpoint, DecodeError, Malformed};
use crate::config::Config;

const MAGIC: &[u8; 8] = b"SLOSTRM1";
const HEADER: usize = 8 + 8 + 4;
/// Generations kept when none is known to be good: the newest and the one before it.
const KEEP: usize = 2;
/// No generation is known to read back whole (generations count from 1).
const NONE_GOOD: u64 = 0;

/// Why the state directory cannot be used: slostream does not start.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file-system call on it or on its lock file failed.
    #[error("state directory {dir}: {source}")]
    Io {
        /// The configured `state.dir`.
        dir: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// Another instance holds its lock.
    #[error(
        "state directory {dir} is locked by another slostream instance{holder}; one consumer group and state \
         directory are served by one instance (running two would count every event twice)"
    )]
    Locked {
        /// The configured `state.dir`.
        dir: PathBuf,
        /// ` (pid N)` when the lock file names the holder, else empty.
        holder: String,
    },
}

/// Why a checkpoint file could not be read back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("not a slostream checkpoint (bad magic or too short)")]
    NotACheckpoint,
    #[error("truncated: header says {header} bytes, file holds {body}")]
    Truncated { header: usize, body: usize },
    #[error("checksum mismatch")]
    Checksum,
    #[error(transparent)]
    Malformed(#[from] Malformed),
    /// Whole and checksummed, but in a format version newer than this build reads: not
    /// corruption. Starting without it would drop the windows it holds, and falling back to an
    /// older generation would roll back what the newer build counted.
    #[error(
        "written by a newer slostream: format version {found}, this build reads up to {supported}; run a build \
         that reads it (moving the state directory aside starts with empty windows)"
    )]
    NewerVersion { found: u32, supported: u32 },
}

impl ReadError {
    /// Whether the file was written by a newer slostream, whose checkpoint this build cannot
    /// read: the start must be refused, not continued with empty windows, since that would lose
    /// the history (and a later write would prune the file that holds it).
    pub(crate) fn is_from_a_newer_version(&self) -> bool {
        matches!(self, ReadError::NewerVersion { .. })
    }
}

impl From<DecodeError> for ReadError {
    fn from(e: DecodeError) -> ReadError {
        match e {
            DecodeError::Malformed(m) => ReadError::Malformed(m),
            DecodeError::NewerVersion { found, supported } => ReadError::NewerVersion { found, supported },
        }
    }
}

/// Why a checkpoint file was not used.
#[derive(Debug)]
pub(crate) struct Unusable {
    pub(crate) path: PathBuf,
    pub(crate) reason: ReadError,
}

/// The checkpoint files of one state directory, whose lock it holds while it lives.
pub struct CheckpointFiles {
    dir: PathBuf,
    _lock: File,
    generation: u64,
    /// The generation `load` restored or this instance last wrote, else [`NONE_GOOD`]: the one
    /// pruning must keep. Atomic because `load` takes `&self`.
    good: AtomicU64,
}

impl CheckpointFiles {
    /// Creates the directory if needed and takes its lock.
    pub fn open(dir: &Path) -> Result<CheckpointFiles, StateError> {
        let io_err = |source| StateError::Io { dir: dir.to_path_buf(), source };
        fs::create_dir_all(dir).map_err(io_err)?;
        let lock_path = dir.join("lock");
        let mut lock =
            OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&lock_path).map_err(io_err)?;
        if lock.try_lock().is_err() {
            let holder = fs::read_to_string(&lock_path).map(|p| format!(" (pid {})", p.trim())).unwrap_or_default();
            return Err(StateError::Locked { dir: dir.to_path_buf(), holder });
        }
        lock.set_len(0).map_err(io_err)?;
        write!(lock, "{}", std::process::id()).map_err(io_err)?;
        let generation = generations(dir).map_err(io_err)?.first().map(|(g, _)| *g).unwrap_or(0);
        Ok(CheckpointFiles { dir: dir.to_path_buf(), _lock: lock, generation, good: AtomicU64::new(NONE_GOOD) })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves every checkpoint file into `discarded-<stamp>/` inside the directory, so that the
    /// next load finds none; returns that directory, or `None` when there was nothing to move.
    /// Kept, not deleted: a reset is a decision an operator may want to take back.
    pub fn discard_all(&self, stamp: &str) -> Result<Option<PathBuf>, StateError> {
        let io_err = |source| StateError::Io { dir: self.dir.clone(), source };
        let files = generations(&self.dir).map_err(io_err)?;
        if files.is_empty() {
            return Ok(None);
        }
        let to = self.dir.join(format!("discarded-{stamp}"));
        fs::create_dir_all(&to).map_err(io_err)?;
        for (_, path) in files {
            let name = path.file_name().expect("a checkpoint file name");
            fs::rename(&path, to.join(name)).map_err(io_err)?;
        }
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io_err)?;
        Ok(Some(to))
    }

    /// Writes a new generation durably, then removes every other generation but the last good
    /// one (or, when none is known, the newest before it).
    ///
    /// Pruning by position alone would keep a corrupt newest file that `load` fell back past
    /// and delete the good one it fell back to.
    pub fn write(&mut self, body: &[u8]) -> io::Result<PathBuf> {
        let generation = self.generation + 1;
        let path = self.dir.join(format!("checkpoint-{generation:020}.bin"));
        let tmp = self.dir.join(format!(".checkpoint-{generation:020}.tmp"));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(&(body.len() as u64).to_le_bytes())?;
            f.write_all(&crc32fast::hash(body).to_le_bytes())?;
            f.write_all(body)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        File::open(&self.dir)?.sync_all()?;
        self.generation = generation;
        let good = self.good.swap(generation, Ordering::Relaxed);
        let older = generations(&self.dir)?.into_iter().filter(|(g, _)| *g != generation);
        let stale: Vec<PathBuf> = if good == NONE_GOOD {
            older.skip(KEEP - 1).map(|(_, p)| p).collect()
        } else {
            older.filter(|(g, _)| *g != good).map(|(_, p)| p).collect()
        };
        for old in stale {
            let _ = fs::remove_file(old);
        }
        Ok(path)
    }

    /// The newest checkpoint that reads back whole, and every newer one that did not.
    ///
    /// Stops at a file from a newer slostream (the last unusable one, with nothing loaded)
    /// rather than restore an older generation behind it: it is not damaged, only unreadable
    /// here, and whether to start without it is the operator's call.
    #[cfg(test)]
    pub(crate) fn load(&self, config: &Config) -> (Option<(PathBuf, Checkpoint)>, Vec<Unusable>) {
        self.load_forgetting(config, &[])
    }

    /// [`Self::load`], leaving out the counts of the SLIs in `forget` (to be rebuilt).
    pub(crate) fn load_forgetting(
        &self,
        config: &Config,
        forget: &[String],
    ) -> (Option<(PathBuf, Checkpoint)>, Vec<Unusable>) {
        let mut unusable = Vec::new();
        let files = match generations(&self.dir) {
            Ok(f) => f,
            Err(e) => {
                unusable.push(Unusable { path: self.dir.clone(), reason: e.into() });
                return (None, unusable);
            }
        };
        for (generation, path) in files {
            match read(&path, config, forget) {
                Ok(c) => {
                    self.good.store(generation, Ordering::Relaxed);
                    return (Some((path, c)), unusable);
                }
                Err(reason) => {
                    let newer = reason.is_from_a_newer_version();
                    unusable.push(Unusable { path, reason });
                    if newer {
                        break;
                    }
                }
            }
        }
        (None, unusable)
    }
}

fn read(path: &Path, config: &Config, forget: &[String]) -> Result<Checkpoint, ReadError> {
    let bytes = fs::read(path)?;
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(ReadError::NotACheckpoint);
    }
    let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let body = &bytes[HEADER..];
    if body.len() != len {
        return Err(ReadError::Truncated { header: len, body: body.len() });
    }
    if crc32fast::hash(body) != crc {
        return Err(ReadError::Checksum);
    }
    Ok(Checkpoint::decode_forgetting(body, config, forget)?)
}

/// Checkpoint files, newest generation first.
fn generations(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(g) = name.strip_prefix("checkpoint-").and_then(|n| n.strip_suffix(".bin")) {
            if let Ok(g) = g.parse::<u64>() {
                out.push((g, path));
            }
        }
    }
    out.sort_by_key(|g| std::cmp::Reverse(g.0));
    Ok(out)
}
