//! State: window counts and the per-partition next offsets, checkpointed together.
//!
//! A [`Checkpoint`] is one consistent cut: every count in it came from a message before the
//! recorded next offset of its partition, and none after. Restoring it and seeking every
//! partition to its offset therefore neither loses nor re-counts an event. `file` writes it
//! atomically (temp file, fsync, rename, checksum) and keeps the previous good generation.
//!
//! SLIs are stored by name, with their definition's fingerprint, and buckets by absolute index,
//! so a checkpoint survives config changes: a renamed or removed SLI's history is dropped, one
//! whose definition changed is left out (never mixed), a new SLI starts empty, and a longer
//! period keeps every bucket the old one held.
//!
//! The body starts with its format version. Every earlier version is still read, so an upgrade
//! resumes from the windows it had (up to the longest SLO period of history) instead of starting
//! empty; a version newer than this build's is a [`DecodeError::NewerVersion`], told apart from
//! corruption, so that a downgrade refuses to start rather than silently discard that history.

mod codec;
pub mod coverage;
pub mod delta_record;
pub mod file;
pub mod rebuild;
mod reports;

use std::collections::HashMap;

use crate::config::Config;
use crate::decode::Reject;
use crate::report::Reports;
use crate::window::breakdown::{Breakdowns, Tracked};
use crate::window::slices::{Hour, SavedSlices};
use crate::window::{Counts, WindowStore};
pub use codec::Malformed;
use codec::{Reader, Writer};
use coverage::InputCoverage;
use rebuild::Rebuild;

/// Next offset to read for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionOffset {
    /// The topic.
    pub topic: String,
    /// The partition number within the topic.
    pub partition: i32,
    /// The offset of the first message not counted yet; -1 before anything was read from it.
    pub next: i64,
}

/// Process-wide counters carried across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages read, whatever became of them.
    pub consumed: u64,
    /// Valid events that belonged to no SLI.
    pub unmatched: u64,
    /// Messages not counted, per reject reason, in the order [`Reject`] declares them.
    pub rejected: [u64; Reject::COUNT],
    /// Rejected messages delivered to the dead-letter topic.
    pub(crate) dead_letters: u64,
    /// Events counted without a latency: the latency field held no non-negative number.
    pub latency_invalid: u64,
    /// Events whose field held a value of a kind no test on it compares with, per field
    /// (indexed like [`Config::condition_fields`]).
    pub type_mismatches: Vec<u64>,
    /// Events left out of every SLI because a maintenance window claimed them, per window
    /// (indexed like [`Config::maintenance`]).
    pub in_maintenance: Vec<u64>,
    /// Per SLI since the first start (indexed by the current config's SLI ids).
    pub totals: Vec<Counts>,
}

impl Counters {
    /// All zero, with a total for each of `slis` SLIs, a mismatch count for each of `fields`
    /// condition fields and a count for each of `maintenance` windows.
    pub fn new(slis: usize, fields: usize, maintenance: usize) -> Counters {
        Counters {
            totals: vec![Counts::default(); slis],
            type_mismatches: vec![0; fields],
            in_maintenance: vec![0; maintenance],
            ..Counters::default()
        }
    }

    /// [`Counters::new`] for every SLI, condition field and maintenance window of `config`.
    pub fn for_config(config: &Config) -> Counters {
        Counters::new(config.slis.len(), config.condition_fields().len(), config.maintenance.len())
    }

    /// Zeroes every count, keeping the number of SLIs and fields.
    pub(crate) fn clear(&mut self) {
        let Counters {
            consumed,
            unmatched,
            rejected,
            dead_letters,
            latency_invalid,
            type_mismatches,
            in_maintenance,
            totals,
        } = self;
        (*consumed, *unmatched, *dead_letters, *latency_invalid) = (0, 0, 0, 0);
        rejected.fill(0);
        type_mismatches.fill(0);
        in_maintenance.fill(0);
        totals.fill(Counts::default());
    }

    /// Adds `other` in, count by count.
    pub(crate) fn add(&mut self, other: &Counters) {
        self.consumed += other.consumed;
        self.unmatched += other.unmatched;
        self.dead_letters += other.dead_letters;
        self.latency_invalid += other.latency_invalid;
        for (a, b) in self.rejected.iter_mut().zip(other.rejected) {
            *a += b;
        }
        for (a, b) in self.type_mismatches.iter_mut().zip(&other.type_mismatches) {
            *a += b;
        }
        for (a, b) in self.in_maintenance.iter_mut().zip(&other.in_maintenance) {
            *a += b;
        }
        for (a, b) in self.totals.iter_mut().zip(&other.totals) {
            a.add(*b);
        }
    }
}

/// Everything needed to resume exactly.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Wall-clock time of the cut, epoch milliseconds.
    pub created_ms: i64,
    /// Next offset of each source partition: the counts hold every message before it, none after.
    pub offsets: Vec<PartitionOffset>,
    /// Where the dead-letter topic's partitions ended just before this cut.
    pub dead_letters: Vec<PartitionOffset>,
    /// The process-wide counters at the cut.
    pub counters: Counters,
    /// The window counts at the cut.
    pub store: WindowStore,
    /// The windows per value combination of SLIs with a `breakdown:`, at the cut.
    pub breakdowns: Breakdowns,
    /// Every time-slice SLO's frozen slices at the cut.
    pub slices: Vec<SavedSlices>,
    /// The period reports at the cut (empty from a format older than version 6).
    pub reports: Reports,
    /// The deployment it was written for; `None` when read from a format older than version 3,
    /// which did not record it.
    pub owner: Option<Owner>,
    /// SLIs whose definition changed since the checkpoint was written (by name): their counts
    /// were left out, never mixed with counts under the new definition. Also the SLIs a rebuild
    /// was asked for ([`Checkpoint::decode_forgetting`]).
    pub changed_slis: Vec<String>,
    /// SLIs of the config the checkpoint does not know (added since): they start empty.
    pub new_slis: Vec<String>,
    /// Maintenance windows of the config the checkpoint does not know (added since; from a
    /// format older than version 8, which did not record them, none). One that covers time the
    /// checkpoint had counted leaves every SLI's counts out (to be rebuilt).
    pub new_maintenance: Vec<String>,
    /// The history rebuild at the cut, if one was in progress or is the last one done (empty
    /// from a format older than version 9).
    pub rebuild: Option<Rebuild>,
    /// Per rebuilt SLI, the event time from which its history is complete.
    pub history: Vec<(String, i64)>,
    /// A merge member's input offsets counted (empty from a format older than version 10, and
    /// for `--role all`).
    pub coverage: InputCoverage,
}

/// Which deployment a checkpoint belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The consumer group it was written for: another group's checkpoint is never restored.
    pub group_id: String,
    /// The topics it read.
    pub topics: Vec<String>,
}

/// The format [`Checkpoint::encode`] writes. Version 1, from before the dead-letter topic, has
/// neither the dead-letter ends nor the dead-letter count; [`Checkpoint::decode`] reads it with
/// none (the dead-letter topic is then read back from its beginning, as for a partition never
/// recorded). Version 3 adds the owner (group id and topics) and each SLI's definition
/// fingerprint; earlier versions are read with no owner and every SLI's counts kept, as before.
/// Version 4 adds the invalid-latency count and the type mismatches by field name (earlier
/// versions are read with none: those events were rejects then, and their reject counts by the
/// retired reasons `wrong_field_type` and `invalid_latency` are dropped). Version 5 adds the
/// windows of every `breakdown:` combination (earlier versions are read with none). Version 6
/// adds every time-slice SLO's frozen slices (earlier versions are read with none: those SLOs'
/// slices begin afresh, from what the window store still holds).
/// Version 7 adds the period reports (`reports.rs`; earlier versions are read with none:
/// reports start at the current period).
/// Version 8 adds the maintenance counts by window name, at the end (earlier versions are
/// read with none).
/// Version 9 adds the history rebuild and the rebuilt SLIs' history starts, at the end
/// (`rebuild.rs`; earlier versions are read with none).
/// Version 10 adds a merge member's input coverage, at the end (`coverage.rs`; earlier versions
/// are read with none).
const VERSION: u32 = 10;
/// The oldest format [`Checkpoint::decode`] reads.
const OLDEST_VERSION: u32 = 1;

/// Why a checkpoint body does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Damaged, or not a checkpoint body.
    #[error(transparent)]
    Malformed(#[from] Malformed),
    /// Written by a newer slostream in a format this build does not know.
    #[error("checkpoint format version {found} is newer than this build reads (up to {supported})")]
    NewerVersion {
        /// The version the body claims.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
}

/// A checkpoint's parts, borrowed: what the tally encodes in place, without a copy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckpointRef<'a> {
    pub(crate) created_ms: i64,
    pub(crate) offsets: &'a [PartitionOffset],
    pub(crate) dead_letters: &'a [PartitionOffset],
    pub(crate) counters: &'a Counters,
    pub(crate) store: &'a WindowStore,
    pub(crate) breakdowns: &'a Breakdowns,
    pub(crate) slices: &'a [SavedSlices],
    pub(crate) reports: &'a Reports,
    pub(crate) rebuild: Option<&'a Rebuild>,
    pub(crate) history: &'a [(String, i64)],
    pub(crate) coverage: &'a InputCoverage,
}

impl Checkpoint {
    /// The binary form [`Checkpoint::decode`] reads, SLIs by name (a checkpoint file's body).
    pub fn encode(&self, config: &Config) -> Vec<u8> {
        let Checkpoint {
            created_ms,
            offsets,
            dead_letters,
            counters,
            store,
            breakdowns,
            slices,
            reports,
            rebuild,
            history,
            coverage,
            ..
        } = self;
        CheckpointRef {
            created_ms: *created_ms,
            offsets,
            dead_letters,
            counters,
            store,
            breakdowns,
            slices,
            reports,
            rebuild: rebuild.as_ref(),
            history,
            coverage,
        }
        .encode(config)
    }
}

impl CheckpointRef<'_> {
    /// [`Checkpoint::encode`] of the borrowed parts.
    pub(crate) fn encode(&self, config: &Config) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(VERSION);
        w.i64(self.created_ms);
        w.str(&config.kafka.group_id);
        w.u32(config.kafka.topics.len() as u32);
        for t in &config.kafka.topics {
            w.str(t);
        }
        for list in [self.offsets, self.dead_letters] {
            w.u32(list.len() as u32);
            for p in list {
                w.str(&p.topic);
                w.i32(p.partition);
                w.i64(p.next);
            }
        }
        write_counters(&mut w, self.counters, config);
        w.u32(config.slis.len() as u32);
        for (sli, s) in config.slis.iter().enumerate() {
            w.str(&s.name);
            w.u64(s.fingerprint);
            let t = self.counters.totals.get(sli).copied().unwrap_or_default();
            w.u64(t.good);
            w.u64(t.total);
            write_buckets(&mut w, self.store, sli);
        }
        w.u32(self.breakdowns.sets.len() as u32);
        for set in &self.breakdowns.sets {
            w.str(&config.slis[set.sli].name);
            w.u32(set.fields.len() as u32);
            for f in &set.fields {
                w.str(f);
            }
            let tracked: Vec<_> = set.tracked().collect();
            w.u32(tracked.len() as u32 + 1);
            for (row, t) in &tracked {
                w.u32(1);
                w.u64(t.hash);
                w.i64(t.last_ms);
                w.u32(t.values.len() as u32);
                for v in t.values.iter() {
                    w.str(v);
                }
                write_buckets(&mut w, set.store(), *row);
            }
            w.u32(0);
            write_buckets(&mut w, set.store(), set.other_row());
        }
        write_slices(&mut w, self.slices);
        reports::write(&mut w, self.reports, config);
        // Version 8: events in maintenance, per window by name.
        w.u32(config.maintenance.len() as u32);
        for (i, m) in config.maintenance.iter().enumerate() {
            w.str(&m.name);
            w.u64(self.counters.in_maintenance.get(i).copied().unwrap_or_default());
        }
        rebuild::write(&mut w, self.rebuild, self.history);
        self.coverage.write(&mut w);
        w.buf
    }
}

/// The process-wide counters (not the per-SLI totals), reject reasons and fields by name.
fn write_counters(w: &mut Writer, counters: &Counters, config: &Config) {
    w.u64(counters.consumed);
    w.u64(counters.unmatched);
    w.u64(counters.dead_letters);
    w.u32(Reject::COUNT as u32);
    for r in Reject::ALL {
        w.str(r.as_str());
        w.u64(counters.rejected[r.index()]);
    }
    w.u64(counters.latency_invalid);
    let fields = config.condition_fields();
    w.u32(fields.len() as u32);
    for (i, field) in fields.into_iter().enumerate() {
        w.str(field);
        w.u64(counters.type_mismatches.get(i).copied().unwrap_or_default());
    }
}

/// What [`write_counters`] wrote (without the parts formats before them lack): reasons and
/// fields this config does not have are dropped.
fn read_counters(
    r: &mut Reader,
    config: &Config,
    has_dead_letters: bool,
    has_field_counts: bool,
) -> Result<Counters, Malformed> {
    let mut counters = Counters::for_config(config);
    counters.consumed = r.u64()?;
    counters.unmatched = r.u64()?;
    if has_dead_letters {
        counters.dead_letters = r.u64()?;
    }
    for _ in 0..r.count(12)? {
        let (name, value) = (r.str()?, r.u64()?);
        if let Some(reason) = Reject::ALL.iter().find(|x| x.as_str() == name) {
            counters.rejected[reason.index()] = value;
        }
    }
    if has_field_counts {
        counters.latency_invalid = r.u64()?;
        let fields = config.condition_fields();
        for _ in 0..r.count(12)? {
            let (name, value) = (r.str()?, r.u64()?);
            if let Some(i) = fields.iter().position(|f| *f == name) {
                counters.type_mismatches[i] = value;
            }
        }
    }
    Ok(counters)
}

/// Each time-slice SLO's frozen slices, by SLO name and fingerprint.
fn write_slices(w: &mut Writer, slices: &[SavedSlices]) {
    w.u32(slices.len() as u32);
    for s in slices {
        w.str(&s.name);
        w.u64(s.fingerprint);
        w.u32(u32::from(s.frozen_until.is_some()));
        w.i64(s.frozen_until.unwrap_or_default());
        w.u64(s.late);
        w.u32(s.hours.len() as u32);
        for (index, hour) in &s.hours {
            w.i64(*index);
            w.u32(hour.counted);
            w.u64(hour.good.to_bits());
        }
    }
}

/// What [`write_slices`] wrote.
fn read_slices(r: &mut Reader) -> Result<Vec<SavedSlices>, Malformed> {
    let mut out = Vec::new();
    for _ in 0..r.count(32)? {
        let (name, fingerprint) = (r.str()?.to_string(), r.u64()?);
        let frozen = r.u32()?;
        let until = r.i64()?;
        let late = r.u64()?;
        let mut hours = Vec::new();
        for _ in 0..r.count(20)? {
            let index = r.i64()?;
            hours.push((index, Hour { counted: r.u32()?, good: f64::from_bits(r.u64()?) }));
        }
        out.push(SavedSlices { name, fingerprint, frozen_until: (frozen != 0).then_some(until), late, hours });
    }
    Ok(out)
}

/// One row's non-empty buckets, tier by tier, each tier headed by its bucket width.
fn write_buckets(w: &mut Writer, store: &WindowStore, row: usize) {
    for (tier, res) in store.resolutions().into_iter().enumerate() {
        w.i64(res);
        let buckets: Vec<(i64, Counts)> = store.buckets(tier, row).collect();
        w.u32(buckets.len() as u32);
        for (k, c) in buckets {
            w.i64(k);
            w.u64(c.good);
            w.u64(c.total);
        }
    }
}

/// What [`write_buckets`] wrote, as `(tier, bucket index, counts)`, tiers matched by bucket width
/// to `resolutions` (buckets of a width this build does not have are skipped).
fn read_buckets(r: &mut Reader, resolutions: &[i64; 3]) -> Result<Vec<(usize, i64, Counts)>, Malformed> {
    let mut out = Vec::new();
    for _ in 0..resolutions.len() {
        let res = r.i64()?;
        let tier = resolutions.iter().position(|&x| x == res);
        for _ in 0..r.count(24)? {
            let (k, good, total) = (r.i64()?, r.u64()?, r.u64()?);
            if let Some(tier) = tier {
                out.push((tier, k, Counts { good, total }));
            }
        }
    }
    Ok(out)
}

impl Checkpoint {
    /// Decodes into the current config's shape (SLIs matched by name), from this build's format
    /// version or any earlier one.
    pub fn decode(bytes: &[u8], config: &Config) -> Result<Checkpoint, DecodeError> {
        Checkpoint::decode_forgetting(bytes, config, &[])
    }

    /// [`Checkpoint::decode`], leaving out the counts of the SLIs named in `forget` as if their
    /// definitions had changed (their history is to be rebuilt). A rebuild in progress that
    /// involves any of them is dropped: it starts again, with them.
    pub fn decode_forgetting(bytes: &[u8], config: &Config, forget: &[String]) -> Result<Checkpoint, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u32()?;
        if version > VERSION {
            return Err(DecodeError::NewerVersion { found: version, supported: VERSION });
        }
        if version < OLDEST_VERSION {
            return Err(Malformed(0).into());
        }
        let has_dead_letters = version >= 2;
        let has_owner = version >= 3;
        let has_field_counts = version >= 4;
        let created_ms = r.i64()?;
        let owner = if has_owner {
            let group_id = r.str()?.to_string();
            let mut topics = Vec::new();
            for _ in 0..r.count(4)? {
                topics.push(r.str()?.to_string());
            }
            Some(Owner { group_id, topics })
        } else {
            None
        };
        let mut lists = [Vec::new(), Vec::new()];
        let written = if has_dead_letters { lists.len() } else { 1 };
        for list in &mut lists[..written] {
            for _ in 0..r.count(16)? {
                list.push(PartitionOffset { topic: r.str()?.to_string(), partition: r.i32()?, next: r.i64()? });
            }
        }
        let [offsets, dead_letters] = lists;
        let mut counters = read_counters(&mut r, config, has_dead_letters, has_field_counts)?;
        let ids: HashMap<&str, usize> = config.slis.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
        let mut store =
            WindowStore::new(config.slis.len(), config.max_period_secs() * 1000, config.events.max_future_ms);
        // Buckets a shorter ring can no longer hold are handed to the reports (see `Tally::new`).
        store.keep_evicted();
        let resolutions = store.resolutions();
        let mut changed_slis = Vec::new();
        let mut seen = vec![false; config.slis.len()];
        for _ in 0..r.count(20)? {
            let name = r.str()?;
            let mut sli = ids.get(name).copied();
            if let Some(i) = sli {
                seen[i] = true;
            }
            let fingerprint = if has_owner { Some(r.u64()?) } else { None };
            let changed = sli.zip(fingerprint).is_some_and(|(i, f)| config.slis[i].fingerprint != f);
            if sli.is_some() && (changed || forget.iter().any(|f| f == name)) {
                changed_slis.push(name.to_string());
                sli = None;
            }
            let totals = Counts { good: r.u64()?, total: r.u64()? };
            if let Some(sli) = sli {
                counters.totals[sli] = totals;
            }
            for (tier, k, c) in read_buckets(&mut r, &resolutions)? {
                if let Some(sli) = sli {
                    store.add_bucket(tier, sli, k, c);
                }
            }
        }
        let mut breakdowns = Breakdowns::new(config);
        if version >= 5 {
            read_breakdowns(&mut r, config, &changed_slis, &resolutions, &mut breakdowns)?;
        }
        let slices = if version >= 6 { read_slices(&mut r)? } else { Vec::new() };
        let mut reports = Reports::new(config);
        if version >= 7 {
            reports::read(&mut r, config, &changed_slis, &mut reports)?;
        }
        // Version 8: events in maintenance by window name; a window no longer configured is dropped.
        let mut new_maintenance = Vec::new();
        if version >= 8 {
            let mut known = vec![false; config.maintenance.len()];
            for _ in 0..r.count(12)? {
                let (name, value) = (r.str()?, r.u64()?);
                if let Some(i) = config.maintenance.iter().position(|m| m.name == name) {
                    counters.in_maintenance[i] = value;
                    known[i] = true;
                }
            }
            new_maintenance =
                config.maintenance.iter().zip(known).filter(|(_, k)| !k).map(|(m, _)| m.name.clone()).collect();
        }
        let (mut rebuild, mut history) = if version >= 9 { rebuild::read(&mut r)? } else { (None, Vec::new()) };
        let coverage = if version >= 10 { InputCoverage::read(&mut r)? } else { InputCoverage::default() };
        // A removed SLI's history start goes with it.
        history.retain(|(sli, _)| ids.contains_key(sli.as_str()));
        if !r.is_done() {
            return Err(Malformed(bytes.len()).into());
        }
        let new_slis: Vec<String> =
            config.slis.iter().zip(&seen).filter(|(_, seen)| !**seen).map(|(s, _)| s.name.clone()).collect();
        // A maintenance window added since, for a time this checkpoint had counted: the events it
        // claims are in the SLIs' windows. Every SLI's counts are left out, to be rebuilt from the
        // topics with the window in force. (Not by a merge member: its ingest members' SLI
        // definitions are unchanged, so no delta record marks where the history would end. It
        // keeps its counts, as slostream did before rebuilds.)
        let retroactive = config.role != crate::config::Role::Merge
            && config.maintenance.iter().any(|m| new_maintenance.contains(&m.name) && m.schedule.start_ms < created_ms);
        if retroactive && config.slis.iter().any(|s| !forget.contains(&s.name)) {
            let all: Vec<String> = config.slis.iter().map(|s| s.name.clone()).collect();
            return Checkpoint::decode_forgetting(bytes, config, &all);
        }
        // A rebuild in progress when another one is due (an SLI changed or was added since) starts
        // again with them all: its SLIs' partial counts are left out too (one rebuild at a time).
        if let Some(b) = rebuild.as_ref().filter(|b| !b.is_done()) {
            if !changed_slis.is_empty() || !new_slis.is_empty() {
                let unforgotten = b.slis.iter().filter(|s| ids.contains_key(s.as_str()) && !forget.contains(s));
                if unforgotten.clone().next().is_some() {
                    let all: Vec<String> = forget.iter().cloned().chain(unforgotten.cloned()).collect();
                    return Checkpoint::decode_forgetting(bytes, config, &all);
                }
                rebuild = None;
            }
        }
        Ok(Checkpoint {
            created_ms,
            offsets,
            dead_letters,
            counters,
            store,
            breakdowns,
            slices,
            reports,
            owner,
            changed_slis,
            new_slis,
            new_maintenance,
            rebuild,
            history,
            coverage,
        })
    }
}

/// Restores each checkpointed breakdown into the config's breakdown of the same SLI, when the
/// SLI's definition and its breakdown fields are unchanged; any other is read past and dropped.
fn read_breakdowns(
    r: &mut Reader,
    config: &Config,
    changed_slis: &[String],
    resolutions: &[i64; 3],
    breakdowns: &mut Breakdowns,
) -> Result<(), Malformed> {
    for _ in 0..r.count(12)? {
        let name = r.str()?.to_string();
        let mut fields = Vec::new();
        for _ in 0..r.count(4)? {
            fields.push(r.str()?.to_string());
        }
        let set = breakdowns
            .sets
            .iter_mut()
            .find(|s| config.slis[s.sli].name == name && s.fields == fields && !changed_slis.contains(&name));
        let mut set = set;
        for _ in 0..r.count(4)? {
            let tracked = match r.u32()? {
                0 => None,
                _ => {
                    let (hash, last_ms) = (r.u64()?, r.i64()?);
                    let mut values = Vec::new();
                    for _ in 0..r.count(4)? {
                        values.push(Box::from(r.str()?));
                    }
                    Some(Tracked { hash, values: values.into(), last_ms })
                }
            };
            let buckets = read_buckets(r, resolutions)?;
            if let Some(set) = set.as_deref_mut() {
                set.restore(tracked, &buckets);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
