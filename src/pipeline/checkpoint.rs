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
use crate::ingest::wall_ms;
use crate::state::file::CheckpointFiles;
use crate::state::{CheckpointRef, PartitionOffset};

use super::tally::Tally;

/// Why no checkpoint was written.
#[derive(Debug, thiserror::Error)]
pub enum Skipped {
    #[error("{0}")]
    NotConsistent(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where the dead-letter topic ended, read before `read_by` (`None`: no dead-letter topic).
#[derive(Debug, Clone, Default)]
pub struct DeadLetterEnds {
    pub ends: Vec<PartitionOffset>,
    pub read_by: Option<Instant>,
}

/// Writes the tally as a checkpoint; returns where, and the offsets it covers.
pub fn write(
    config: &Config,
    files: &mut CheckpointFiles,
    tally: &Mutex<Tally>,
    dead_letters: &DeadLetterEnds,
) -> Result<(PathBuf, Vec<PartitionOffset>), Skipped> {
    let (bytes, mut offsets) = {
        let t = tally.lock().unwrap_or_else(|e| e.into_inner());
        t.is_checkpointable(dead_letters.read_by).map_err(Skipped::NotConsistent)?;
        let at = CheckpointRef {
            created_ms: wall_ms(),
            offsets: &t.offsets,
            dead_letters: &dead_letters.ends,
            counters: &t.counters,
            store: &t.store,
        };
        (at.encode(config), t.offsets.clone())
    };
    offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let path = files.write(&bytes)?;
    Ok((path, offsets))
}
