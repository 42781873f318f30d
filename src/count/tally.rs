//! The tally: every worker's counts added together, once, with the offsets they cover.
//!
//! Workers hand their [`Batch`]es over a few times a second; each hand-over adds the batch's
//! events and counters and moves the worker's partitions' next offsets, under one lock, so the
//! tally is always a consistent cut: every count in it came from a message before its
//! partition's recorded offset, and none after. A checkpoint is therefore just the tally written
//! out, and the exporter reads its windows straight from here. One store for all workers keeps
//! window memory at one copy per SLI, whatever the number of workers.

use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Instant;

use crate::config::Config;
use crate::report::Reports;
use crate::state::coverage::InputCoverage;
use crate::state::delta_record::DeltaRecord;
use crate::state::rebuild::{Rebuild, RebuildPartition};
use crate::state::{Checkpoint, CheckpointRef, Counters, DecodeError, PartitionOffset};
use crate::window::batch::Batch;
use crate::window::breakdown::Breakdowns;
use crate::window::delta::Delta;
use crate::window::latency::LatencyWindows;
use crate::window::slices::{SavedSlices, Slices};
use crate::window::WindowStore;

/// Why the tally may not be checkpointed now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCheckpointable {
    /// The worker's last hand-over covered rejects whose dead letters were not acknowledged.
    #[error("worker {0} has dead letters the broker has not acknowledged yet")]
    DeadLettersUnacknowledged(usize),
    /// The worker's part of the cut is older than the dead-letter topic ends the checkpoint
    /// would record.
    #[error("worker {0} has not handed over since the dead-letter topic's ends were read")]
    StaleHandOver(usize),
}

/// Every worker's counts added together, with the offsets they cover.
#[derive(Debug)]
pub struct Tally {
    /// Good/total per SLI over event time.
    pub store: WindowStore,
    /// Latency bins per SLI over the last minutes of event time.
    pub latency: LatencyWindows,
    /// Windows per value combination of the SLIs with a `breakdown:`.
    pub breakdowns: Breakdowns,
    /// Every time-slice SLO's frozen slices.
    pub slices: Slices,
    /// Consumed, rejected, unmatched and dead-lettered messages, and per-SLI totals since start.
    pub counters: Counters,
    /// Next offset of every partition read so far (as of each worker's last hand-over).
    pub offsets: Vec<PartitionOffset>,
    /// Each SLO's period report: hours folded as they leave the store's coarse ring, in the
    /// same hand-over, and closed rows; checkpointed with the rest, so always in the same cut.
    pub reports: Reports,
    /// Per worker: its last hand-over covered dead letters the broker had not acknowledged yet,
    /// so the tally may not be checkpointed until a later hand-over of that worker is safe.
    unacknowledged: Vec<bool>,
    /// Per worker: when it last handed over (its part of the cut was taken then).
    handed_at: Vec<Option<Instant>>,
    /// The longest SLO period: a breakdown combination quiet this long frees its slot.
    period_ms: i64,
    /// The history rebuild in progress (or the last one done), with how far it has read: its
    /// counts are in the store, so it is part of the same cut.
    pub rebuild: Option<Rebuild>,
    /// Per rebuilt SLI, the event time from which its history is complete.
    pub history: Vec<(String, i64)>,
    /// A merge member's input offsets counted: a record covering any of them again is refused.
    pub coverage: InputCoverage,
}

impl Tally {
    /// An empty tally, or a restored checkpoint's counts; `offsets` are where reading starts.
    pub fn new(config: &Config, workers: usize, restored: Option<Checkpoint>, offsets: Vec<PartitionOffset>) -> Tally {
        let n = config.slis.len();
        let (mut store, counters, breakdowns, saved, mut reports, rebuild, history, coverage) = match restored {
            Some(c) => (c.store, c.counters, c.breakdowns, c.slices, c.reports, c.rebuild, c.history, c.coverage),
            None => (
                WindowStore::new(n, config.max_period_secs() * 1000, config.events.max_future_ms),
                Counters::for_config(config),
                Breakdowns::new(config),
                Vec::new(),
                Reports::new(config),
                None,
                Vec::new(),
                InputCoverage::default(),
            ),
        };
        store.keep_evicted();
        // A restored store is rebuilt with evictions kept: buckets a shorter ring no longer
        // holds were never folded, so they are now.
        reports.fold_evicted(&mut store);
        let mut slices = Slices::new(config, &store);
        slices.restore(&saved);
        Tally {
            slices,
            reports,
            store,
            breakdowns,
            latency: LatencyWindows::new(n),
            counters,
            offsets,
            unacknowledged: vec![false; workers],
            handed_at: vec![None; workers],
            period_ms: config.max_period_secs() * 1000,
            rebuild,
            history,
            coverage,
        }
    }

    /// Adds one worker's batch and counters (both left empty) and records its partitions' next
    /// offsets. `acknowledged`: every dead letter of the messages covered was acknowledged;
    /// `now`: when the hand-over happens (the caller's clock, so tests can drive it).
    pub fn hand_over(&mut self, worker: usize, batch: &mut Batch, counters: &mut Counters, cut: Cut<'_>) {
        let Cut { positions, acknowledged, now } = cut;
        batch.drain_into(&mut self.store, &mut self.latency, &mut self.counters.totals, &mut self.slices);
        self.reports.fold_evicted(&mut self.store);
        self.counters.add(counters);
        counters.clear();
        self.advance(positions);
        if let Some(flag) = self.unacknowledged.get_mut(worker) {
            *flag = !acknowledged;
        }
        if let Some(at) = self.handed_at.get_mut(worker) {
            *at = Some(now);
        }
    }

    /// Adds one member's delta record and records the positions it was read up to: how a merge
    /// member counts (a two-stage deployment). Windows, latency, totals, time slices, reports
    /// and counters end as if the record's events had been handed over in time order.
    pub fn fold(&mut self, record: &DeltaRecord, positions: &[PartitionOffset]) {
        let Tally { store, latency, counters, slices, breakdowns, .. } = self;
        record.delta.fold_into(store, latency, &mut counters.totals, slices, breakdowns, self.period_ms);
        self.reports.fold_evicted(&mut self.store);
        self.counters.add(&record.counters);
        if let Some(rebuild) = &mut self.rebuild {
            rebuild.learn_ends(&record.ranges);
        }
        self.advance(positions);
    }

    /// Adds what a history rebuild read (only the rebuilt SLIs' counts: the process-wide
    /// counters already hold those messages, read live the first time) and records how far it
    /// has read.
    pub fn fold_rebuilt(&mut self, delta: &Delta, read: &[RebuildPartition]) {
        let Tally { store, latency, counters, slices, breakdowns, .. } = self;
        delta.fold_into(store, latency, &mut counters.totals, slices, breakdowns, self.period_ms);
        self.reports.fold_evicted(&mut self.store);
        if let Some(rebuild) = &mut self.rebuild {
            for p in read {
                if let Some(q) =
                    rebuild.partitions.iter_mut().find(|q| q.partition == p.partition && q.topic == p.topic)
                {
                    q.next = q.next.max(p.next);
                }
            }
        }
    }

    /// The tally as a checkpoint created at `created_ms`, borrowed: with the dead-letter ends
    /// read before it and the time slices as [`Slices::saved`] gives them (owned by the caller).
    pub(crate) fn checkpoint_at<'a>(
        &'a self,
        created_ms: i64,
        dead_letters: &'a [PartitionOffset],
        slices: &'a [SavedSlices],
    ) -> CheckpointRef<'a> {
        CheckpointRef {
            created_ms,
            offsets: &self.offsets,
            dead_letters,
            counters: &self.counters,
            store: &self.store,
            breakdowns: &self.breakdowns,
            slices,
            reports: &self.reports,
            rebuild: self.rebuild.as_ref(),
            history: &self.history,
            coverage: &self.coverage,
        }
    }

    /// Leaves out the counts of `slis` (their history is to be rebuilt) exactly as a restart
    /// whose checkpoint forgot them would: through the checkpoint's encoding, so what is kept is
    /// what a restart keeps. The latency windows (never checkpointed) and each worker's
    /// hand-over state carry over.
    pub fn forget(&mut self, config: &Config, slis: &[String], now_ms: i64) -> Result<(), DecodeError> {
        let slices = self.slices.saved();
        let bytes = self.checkpoint_at(now_ms, &[], &slices).encode(config);
        let restored = Checkpoint::decode_forgetting(&bytes, config, slis)?;
        let mut fresh = Tally::new(config, self.unacknowledged.len(), Some(restored), self.offsets.clone());
        fresh.latency = std::mem::replace(&mut self.latency, LatencyWindows::new(0));
        fresh.unacknowledged = std::mem::take(&mut self.unacknowledged);
        fresh.handed_at = std::mem::take(&mut self.handed_at);
        *self = fresh;
        Ok(())
    }

    /// Records the next offset of each partition in `positions`.
    fn advance(&mut self, positions: &[PartitionOffset]) {
        for p in positions {
            match self.offsets.iter_mut().find(|q| q.partition == p.partition && q.topic == p.topic) {
                Some(q) => q.next = p.next,
                None => self.offsets.push(p.clone()),
            }
        }
    }

    /// Whether the tally may be checkpointed: no dead letter it covers is unacknowledged, and,
    /// when `after` is given, every worker's part of the cut was taken after it. (Dead letters of
    /// messages past the cut are produced after the cut, so dead-letter topic ends read before
    /// `after` are a lower bound for all of them: a restart looks for them from there.)
    pub fn is_checkpointable(&self, after: Option<Instant>) -> Result<(), NotCheckpointable> {
        if let Some(w) = self.unacknowledged.iter().position(|&u| u) {
            return Err(NotCheckpointable::DeadLettersUnacknowledged(w));
        }
        if let Some(after) = after {
            if let Some(w) = self.handed_at.iter().position(|at| at.is_none_or(|at| at < after)) {
                return Err(NotCheckpointable::StaleHandOver(w));
            }
        }
        Ok(())
    }
}

/// What a hand-over's counts cover: a worker's part of the tally's consistent cut.
#[derive(Debug, Clone, Copy)]
pub struct Cut<'a> {
    /// The next offset of each of the worker's partitions: every count handed over came from a
    /// message before it.
    pub positions: &'a [PartitionOffset],
    /// Every dead letter of the messages covered was acknowledged by the broker.
    pub acknowledged: bool,
    /// When the hand-over happens.
    pub now: Instant,
}

/// Exit code when the tally's lock was poisoned: the process ends rather than go on.
pub const POISONED_EXIT_CODE: i32 = 70;

/// Locks the shared tally, waiting for it.
///
/// A poisoned lock means a thread panicked while it held the tally, perhaps halfway through a
/// hand-over: the tally may no longer be a consistent cut, and a checkpoint of it could count
/// events twice or lose them for good. So the process ends here (exit code
/// [`POISONED_EXIT_CODE`]), and the last good checkpoint, written before the panic, is what the
/// next start resumes from.
pub fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(|_| poisoned())
}

/// Locks the shared tally if no one holds it; `None` if someone does. Ends the process on a
/// poisoned lock, as [`lock`] does.
pub fn try_lock(tally: &Mutex<Tally>) -> Option<MutexGuard<'_, Tally>> {
    match tally.try_lock() {
        Ok(t) => Some(t),
        Err(TryLockError::WouldBlock) => None,
        Err(TryLockError::Poisoned(_)) => poisoned(),
    }
}

fn poisoned() -> ! {
    tracing::error!(
        "a thread panicked while it held the tally: ending the process without another checkpoint; the last one written stands"
    );
    eprintln!("slostream: the tally's lock is poisoned (a thread panicked holding it); exiting");
    std::process::exit(POISONED_EXIT_CODE)
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::Arc;

    use super::*;

    /// Set in the child process the test starts: which lock to take on the poisoned tally.
    const CHILD: &str = "SLOSTREAM_POISONED_TALLY_CHILD";
    const NAME: &str = "count::tally::tests::a_poisoned_tally_ends_the_process";

    /// In the child: poisons the tally as a panicking hand-over would, then takes the lock.
    fn poison_then_lock(how: &str) -> ! {
        let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
        let tally = Arc::new(Mutex::new(Tally::new(&config, 1, None, Vec::new())));
        let held = tally.clone();
        let _ = std::thread::spawn(move || {
            let _guard = held.lock().unwrap();
            panic!("a worker panicked halfway through a hand-over");
        })
        .join();
        assert!(tally.is_poisoned());
        match how {
            "lock" => drop(lock(&tally)),
            _ => drop(try_lock(&tally)),
        }
        // Only reached if a poisoned tally was used: what a checkpoint would then have written.
        std::process::exit(0)
    }

    #[test]
    fn a_poisoned_tally_ends_the_process() {
        if let Some(how) = std::env::var_os(CHILD) {
            poison_then_lock(how.to_str().unwrap());
        }
        for how in ["lock", "try_lock"] {
            let out = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", NAME, "--test-threads=1", "--nocapture"])
                .env(CHILD, how)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(POISONED_EXIT_CODE), "{how} on a poisoned tally: {stderr}");
            assert!(stderr.contains("the tally's lock is poisoned"), "{stderr}");
        }
    }
}
