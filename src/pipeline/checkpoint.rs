//! Checkpointing: collect every worker's snapshot, merge them into one cut, write it durably,
//! then mirror the offsets to the consumer group for lag tools.
//!
//! Workers own disjoint partitions and each snapshot is consistent with its own offsets, so the
//! union of snapshots taken a few milliseconds apart is still a consistent cut.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::time::Duration;

use crate::config::Config;
use crate::ingest::wall_ms;
use crate::ingest::worker::{Command, Snapshot};
use crate::state::file::CheckpointFiles;
use crate::state::{Checkpoint, Counters, PartitionOffset};
use crate::window::WindowStore;

/// Longest wait for a worker's snapshot; a worker answers at its next gap in traffic or within
/// 256 messages, and its blocking poll lasts at most 100 ms.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks every worker for a snapshot and waits for all of them (blocking).
pub fn collect(workers: &[SyncSender<Command>]) -> Result<Vec<Snapshot>, String> {
    let (tx, rx) = sync_channel(workers.len());
    for (i, w) in workers.iter().enumerate() {
        w.try_send(Command::Snapshot(tx.clone()))
            .map_err(|e| format!("worker {i} cannot take a snapshot request: {e}"))?;
    }
    drop(tx);
    (0..workers.len())
        .map(|_| {
            rx.recv_timeout(SNAPSHOT_TIMEOUT)
                .map_err(|e| format!("a worker did not answer the snapshot request: {e}"))?
        })
        .collect()
}

/// Merges snapshots into one checkpoint and writes it; returns where, and the offsets it covers.
pub fn write(
    config: &Config,
    files: &mut CheckpointFiles,
    snapshots: &[Snapshot],
    dead_letters: &[PartitionOffset],
) -> std::io::Result<(PathBuf, Vec<PartitionOffset>)> {
    let mut store = WindowStore::new(config.slis.len(), config.max_period_secs() * 1000, config.events.max_future_ms);
    let mut counters = Counters::new(config.slis.len());
    let mut offsets = Vec::new();
    for s in snapshots {
        store.merge_from(&s.store);
        counters.add(&s.counters);
        offsets.extend(s.offsets.iter().cloned());
    }
    offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let checkpoint =
        Checkpoint { created_ms: wall_ms(), offsets, dead_letters: dead_letters.to_vec(), counters, store };
    let path = files.write(&checkpoint.encode(config))?;
    Ok((path, checkpoint.offsets))
}
