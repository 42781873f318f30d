//! Checkpointing: write the tally durably, then mirror its offsets to the consumer group for lag
//! tools.
//!
//! The tally is a consistent cut at every moment (workers move counts and offsets together under
//! its lock), so a checkpoint is the tally encoded under that lock: no worker is asked or waited
//! for. Encoding reads the store in place; only the encoded bytes are written after the lock is
//! released.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::Config;
use crate::count::{lock_tally, NotCheckpointable, Tally};
use crate::state::file::CheckpointFiles;
use crate::state::PartitionOffset;

/// Why no checkpoint was written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Skipped {
    /// The tally is not a cut a restart could resume from yet.
    #[error(transparent)]
    NotConsistent(#[from] NotCheckpointable),
    /// Writing the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where the dead-letter topic ended, read before `read_by` (`None`: no dead-letter topic).
#[derive(Debug, Clone, Default)]
pub(crate) struct DeadLetterEnds {
    pub(crate) ends: Vec<PartitionOffset>,
    pub(crate) read_by: Option<Instant>,
}

/// Writes the tally as a checkpoint created at `now_ms`; returns where, and the offsets it
/// covers.
pub(crate) fn write(
    config: &Config,
    files: &mut CheckpointFiles,
    tally: &Mutex<Tally>,
    dead_letters: &DeadLetterEnds,
    now_ms: i64,
) -> Result<(PathBuf, Vec<PartitionOffset>), Skipped> {
    let (bytes, mut offsets) = {
        let t = lock_tally(tally);
        t.is_checkpointable(dead_letters.read_by)?;
        let slices = t.slices.saved();
        (t.checkpoint_at(now_ms, &dead_letters.ends, &slices).encode(config), t.offsets.clone())
    };
    offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let path = files.write(&bytes)?;
    Ok((path, offsets))
}
