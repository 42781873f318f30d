//! The delta record: one member's counts since its last commit, as a Kafka record value.
//!
//! What an ingest member of a two-stage deployment commits to `<group_id>.deltas` and a merge
//! member folds into its windows. It starts with its format version and the fingerprint of the
//! SLI definitions it was counted under ([`Config::slis_fingerprint`]): a merge member folds
//! only records counted under its own definitions, since SLI ids and `good:` verdicts mean
//! nothing across definitions, and refuses a newer format rather than misread it. Then the
//! record's place in its writer's chain ([`Chain`]) and the input offsets it covers
//! ([`InputRange`]), which let a merge member tell the records that count from those of
//! transactions that did not take effect, and which it reads even from a record of other
//! definitions ([`DeltaRecord::decode_head`]). Then the process-wide counters (reject reasons,
//! fields and maintenance windows by name, as in checkpoints) and the delta's buckets and
//! latency counts, sorted, in little-endian fixed width.

use super::codec::{Reader, Writer};
use super::{read_counters, write_counters, Counters, Malformed};
use crate::config::Config;
use crate::window::delta::Delta;
use crate::window::Counts;

/// The format [`DeltaRecord::encode`] writes: 2 adds the breakdowns (combination texts and
/// buckets) and the member's clock, 3 the writer's chain (at the end), 4 moves the chain to the
/// head with its first unsure transaction and the input ranges; records of formats 1 (no
/// breakdowns), 2 (no chain) and 3 (no ranges) are still read.
pub const FORMAT: u32 = 4;

/// A delta record's place among its writer's records.
///
/// A writer (one worker of an ingest member, for the life of its process) numbers every
/// transaction it tries, and each record names the last earlier one that may have committed
/// (`prev`): one the writer saw commit, or whose commit it could not see the end of. A record
/// of a transaction the writer aborted is therefore never any later record's `prev`. Kafka
/// should never show it to a `read_committed` reader; a broker that skipped the abort marker
/// (Kafka 4.4 does, for markers it sends before it knows its partitions' leaders after a
/// restart) shows it as part of the writer's next committed transaction, and the merge member
/// uses the chain to leave it out ([`crate::ingest::fold_queue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    /// The writer: random per worker and process.
    pub writer: u64,
    /// This transaction's number, from 1.
    pub seq: u64,
    /// The last earlier transaction of the writer that it saw commit; 0 for none.
    pub prev: u64,
    /// The first transaction after `prev` whose commit the writer could not see the end of
    /// (the commit failed and so did the abort: the broker may have committed it); 0 for none.
    /// Such a transaction and the writer's later ones before this record are decided by the
    /// input ranges ([`InputRange`]), not by the chain.
    pub unsure: u64,
}

/// The input offsets a record counted, of one partition: `from` is the offset committed when the
/// writer began counting it (the group's committed offset, or its own previous commit), `to` the
/// one this record's transaction commits. In a partition, each committed record starts where the
/// previous committed one ended: a record starting where another also starts means one of them
/// was aborted, and one starting where another ends means that one committed.
///
/// A writer's first record after it is given a partition covers it even if empty, and says
/// (`first`) whether the offset it starts at was committed under other SLI definitions than the
/// record's: there, the partition switches to the record's definitions, which is where a merge
/// member rebuilding history under them stops reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRange {
    /// The input topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// The offset committed before this record's events.
    pub from: i64,
    /// The offset committed with them.
    pub to: i64,
    /// `from` was committed under other SLI definitions (or none): the first offset counted
    /// under this record's.
    pub first: bool,
}

impl InputRange {
    /// Whether the range covers no offset: its writer read nothing of the partition. Such a
    /// range still says where the partition stood, but it counts nothing, overlaps nothing and
    /// reads nothing again.
    pub fn is_empty(&self) -> bool {
        self.to <= self.from
    }
}

#[cfg(test)]
impl InputRange {
    /// A range of partition `partition` of the tests' input topic, `events`.
    pub(crate) fn events(partition: i32, from: i64, to: i64) -> InputRange {
        InputRange { topic: "events".into(), partition, from, to, first: false }
    }
}

/// One member's counts since its last commit.
#[derive(Debug, Clone)]
pub struct DeltaRecord {
    /// Consumed, rejected, unmatched, dead-lettered, invalid latencies and type mismatches (the
    /// per-SLI totals come from the delta's buckets when it is folded).
    pub counters: Counters,
    /// Window and latency counts.
    pub delta: Delta,
    /// Its place in its writer's chain; `None` in a record of a format before 3.
    pub chain: Option<Chain>,
    /// The input offsets it covers, one range per partition that advanced (formats 4 on; a
    /// partition whose committed offset was unknown to the writer is left out).
    pub ranges: Vec<InputRange>,
}

/// Why a delta record is not folded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeltaError {
    /// Damaged, or not a delta record.
    #[error("delta record truncated or malformed: {0}")]
    Malformed(#[from] Malformed),
    /// Written by a newer slostream.
    #[error("delta record format {found} is newer than this build reads (up to {FORMAT})")]
    NewerFormat {
        /// The format the record claims.
        found: u32,
    },
    /// Counted under other SLI definitions than this config's.
    #[error(
        "delta record counted under other SLI definitions (fingerprint {found:016x}, this config's is {expected:016x})"
    )]
    OtherDefinitions {
        /// The record's fingerprint.
        found: u64,
        /// This config's.
        expected: u64,
    },
}

impl DeltaError {
    /// The `reason` label values of `slostream_delta_records_refused_total`, by [`Self::index`];
    /// the last, [`Self::ABORTED_BY_WRITER`], is no decoding error but a record of a transaction
    /// its writer aborted that a broker showed anyway ([`crate::ingest::fold_queue`]).
    pub const REASONS: [&'static str; 5] =
        ["malformed", "newer_format", "other_definitions", "aborted_by_writer", "already_counted"];
    /// The index of `aborted_by_writer` in [`Self::REASONS`].
    pub const ABORTED_BY_WRITER: usize = 3;
    /// The index of `already_counted` in [`Self::REASONS`]: a record whose input offsets other
    /// folded records already cover (a transaction whose offsets did not take effect, whose
    /// events the next owner read again).
    pub const ALREADY_COUNTED: usize = 4;

    /// This error's index in [`Self::REASONS`].
    pub fn index(&self) -> usize {
        match self {
            DeltaError::Malformed(_) => 0,
            DeltaError::NewerFormat { .. } => 1,
            DeltaError::OtherDefinitions { .. } => 2,
        }
    }
}

impl DeltaRecord {
    /// An empty record for `config`, outside any chain.
    pub fn empty(config: &Config) -> DeltaRecord {
        DeltaRecord { counters: Counters::for_config(config), delta: Delta::default(), chain: None, ranges: Vec::new() }
    }

    /// Empties it for the next commit, keeping its memory.
    pub fn clear(&mut self) {
        self.delta.clear();
        self.counters.clear();
        self.ranges.clear();
    }

    /// The record value for `config`.
    pub fn encode(&self, config: &Config) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(FORMAT);
        w.u64(config.slis_fingerprint());
        let chain = self.chain.unwrap_or(Chain { writer: 0, seq: 0, prev: 0, unsure: 0 });
        w.u64(chain.writer);
        w.u64(chain.seq);
        w.u64(chain.prev);
        w.u64(chain.unsure);
        w.u32(self.ranges.len() as u32);
        for r in &self.ranges {
            w.str(&r.topic);
            w.i32(r.partition);
            w.i64(r.from);
            w.i64(r.to);
            w.u32(u32::from(r.first));
        }
        write_counters(&mut w, &self.counters, config);
        w.u32(config.maintenance.len() as u32);
        for (m, n) in config.maintenance.iter().zip(&self.counters.in_maintenance) {
            w.str(&m.name);
            w.u64(*n);
        }
        let buckets = self.delta.bucket_entries();
        w.u32(buckets.len() as u32);
        for (sli, k, c) in buckets {
            w.u32(sli);
            w.i64(k);
            w.u64(c.good);
            w.u64(c.total);
        }
        let latency = self.delta.latency_entries();
        w.u32(latency.len() as u32);
        for (sli, minute, bin, n) in latency {
            w.u32(sli);
            w.i64(minute);
            w.u32(u32::from(bin));
            w.u32(n);
        }
        w.i64(self.delta.now_ms);
        w.u32(self.delta.combinations.len() as u32);
        for (bd, hash, texts) in &self.delta.combinations {
            w.u32(*bd);
            w.u64(*hash);
            w.u32(texts.len() as u32);
            for t in texts {
                w.str(t);
            }
        }
        let breakdown = self.delta.breakdown_entries();
        w.u32(breakdown.len() as u32);
        for (bd, hash, k, c, last) in breakdown {
            w.u32(bd);
            w.u64(hash);
            w.i64(k);
            w.u64(c.good);
            w.u64(c.total);
            w.i64(last);
        }
        w.buf
    }

    /// The chain and input ranges of a record of format 4 or later, whatever definitions it was
    /// counted under (`None` for an older format or a damaged record).
    pub fn decode_head(bytes: &[u8]) -> Option<(Option<Chain>, Vec<InputRange>)> {
        let mut r = Reader::new(bytes);
        let format = r.u32().ok()?;
        if !(4..=FORMAT).contains(&format) {
            return None;
        }
        r.u64().ok()?;
        read_head(&mut r, format).ok()
    }

    /// Reads a record value counted under `config`'s SLI definitions.
    pub fn decode(bytes: &[u8], config: &Config) -> Result<DeltaRecord, DeltaError> {
        let mut r = Reader::new(bytes);
        let format = r.u32()?;
        if format > FORMAT || format == 0 {
            return Err(if format == 0 { Malformed(0).into() } else { DeltaError::NewerFormat { found: format } });
        }
        let (found, expected) = (r.u64()?, config.slis_fingerprint());
        if found != expected {
            return Err(DeltaError::OtherDefinitions { found, expected });
        }
        let (mut chain, mut ranges) = if format >= 4 { read_head(&mut r, format)? } else { (None, Vec::new()) };
        let mut counters = read_counters(&mut r, config, true, true)?;
        for _ in 0..r.count(12)? {
            let (name, n) = (r.str()?, r.u64()?);
            let i = config.maintenance.iter().position(|m| m.name == name).ok_or(Malformed(bytes.len()))?;
            counters.in_maintenance[i] = n;
        }
        let slis = config.slis.len() as u32;
        let mut buckets = Vec::new();
        for _ in 0..r.count(28)? {
            let (sli, k, good, total) = (r.u32()?, r.i64()?, r.u64()?, r.u64()?);
            if sli >= slis || good > total {
                return Err(Malformed(bytes.len()).into());
            }
            buckets.push((sli, k, Counts { good, total }));
        }
        let mut latency = Vec::new();
        for _ in 0..r.count(20)? {
            let (sli, minute, bin, n) = (r.u32()?, r.i64()?, r.u32()?, r.u32()?);
            let bin = u16::try_from(bin).map_err(|_| Malformed(bytes.len()))?;
            if sli >= slis {
                return Err(Malformed(bytes.len()).into());
            }
            latency.push((sli, minute, bin, n));
        }
        let mut delta = Delta::default();
        if format >= 2 {
            delta.now_ms = r.i64()?;
            let breakdowns = config.breakdowns().count() as u32;
            for _ in 0..r.count(16)? {
                let (bd, hash, n) = (r.u32()?, r.u64()?, r.count(4)?);
                let texts = (0..n).map(|_| r.str().map(Box::from)).collect::<Result<Vec<Box<str>>, _>>()?;
                if bd >= breakdowns {
                    return Err(Malformed(bytes.len()).into());
                }
                delta.combinations.push((bd, hash, texts));
            }
            let mut entries = Vec::new();
            for _ in 0..r.count(44)? {
                let (bd, hash, k, good, total, last) = (r.u32()?, r.u64()?, r.i64()?, r.u64()?, r.u64()?, r.i64()?);
                if bd >= breakdowns || good > total {
                    return Err(Malformed(bytes.len()).into());
                }
                entries.push((bd, hash, k, Counts { good, total }, last));
            }
            delta.add_breakdown_entries(&entries);
        }
        if format == 3 {
            (chain, ranges) = read_head(&mut r, format)?;
        }
        if !r.is_done() {
            return Err(Malformed(bytes.len()).into());
        }
        delta.add_entries(&buckets, &latency);
        Ok(DeltaRecord { counters, delta, chain, ranges })
    }
}

/// The chain (and from format 4 on, the input ranges), where `format` puts them.
fn read_head(r: &mut Reader, format: u32) -> Result<(Option<Chain>, Vec<InputRange>), Malformed> {
    // Seq 0: a record written outside any chain (tests, tools).
    let (writer, seq, prev) = (r.u64()?, r.u64()?, r.u64()?);
    let unsure = if format >= 4 { r.u64()? } else { 0 };
    let unsure_fits = unsure == 0 || (prev < unsure && unsure < seq);
    if seq > 0 && (prev >= seq || !unsure_fits) {
        return Err(r.malformed());
    }
    let chain = (seq > 0).then_some(Chain { writer, seq, prev, unsure });
    let mut ranges = Vec::new();
    if format >= 4 {
        for _ in 0..r.count(28)? {
            let (topic, partition, from, to) = (r.str()?.to_string(), r.i32()?, r.i64()?, r.i64()?);
            let first = match r.u32()? {
                0 => false,
                1 => true,
                _ => return Err(r.malformed()),
            };
            if from < 0 || to < from {
                return Err(r.malformed());
            }
            ranges.push(InputRange { topic, partition, from, to, first });
        }
    }
    Ok((chain, ranges))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Reject;

    fn config(yaml: &str) -> Config {
        Config::from_yaml(yaml, "example.yaml").unwrap()
    }

    fn sample(config: &Config) -> DeltaRecord {
        let mut counters = Counters::for_config(config);
        counters.consumed = 12;
        counters.unmatched = 2;
        counters.dead_letters = 1;
        counters.rejected[Reject::TooOld.index()] = 3;
        counters.latency_invalid = 4;
        counters.type_mismatches[1] = 5;
        let mut delta = Delta::default();
        delta.add_entries(
            &[(0, 179_569_440, Counts { good: 3, total: 4 }), (2, 179_569_441, Counts { good: 0, total: 2 })],
            &[(2, 29_928_240, 17, 2)],
        );
        let ranges = vec![
            InputRange { topic: "events".into(), partition: 3, from: 100, to: 160, first: false },
            InputRange { topic: "events".into(), partition: 11, from: 0, to: 2, first: true },
        ];
        DeltaRecord { counters, delta, chain: Some(Chain { writer: 0xC0FFEE, seq: 7, prev: 4, unsure: 5 }), ranges }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let c = config(include_str!("../../config/example.yaml"));
        let record = sample(&c);
        let back = DeltaRecord::decode(&record.encode(&c), &c).unwrap();
        assert_eq!(back.counters, record.counters);
        assert_eq!(back.delta.bucket_entries(), record.delta.bucket_entries());
        assert_eq!(back.delta.latency_entries(), record.delta.latency_entries());
        assert_eq!(back.delta.events(), 6);
        assert_eq!(back.chain, record.chain);
        assert_eq!(back.ranges, record.ranges);
    }

    /// Format 2 carries breakdowns and the member's clock; a format-1 record (the same bytes
    /// without them) still reads, with no breakdown; breakdown changes are other definitions.
    #[test]
    fn breakdowns_travel_and_format_1_still_reads() {
        let yaml = include_str!("../../config/example.yaml").replacen(
            "  geo-availability:\n",
            "  geo-availability:\n    breakdown: [region]\n",
            1,
        );
        let c = config(&yaml);
        let mut record = sample(&c);
        record.delta.now_ms = 1_795_694_400_000;
        record.delta.combinations.push((0, 42, vec!["eu-west".into()]));
        record.delta.record_breakdown(0, 42, 1_795_694_399_000, true);
        record.delta.record_breakdown(0, 42, 1_795_694_399_500, false);
        let bytes = record.encode(&c);
        let back = DeltaRecord::decode(&bytes, &c).unwrap();
        assert_eq!(back.delta.now_ms, record.delta.now_ms);
        assert_eq!(back.delta.combinations, record.delta.combinations);
        let want = vec![(0, 42, 179_569_439, Counts { good: 1, total: 2 }, 1_795_694_399_500)];
        assert_eq!(back.delta.breakdown_entries(), want);

        let plain = config(include_str!("../../config/example.yaml"));
        assert_ne!(plain.slis_fingerprint(), c.slis_fingerprint(), "a breakdown is part of the definitions");
        // Format 3: the chain (without `unsure`) at the end, no ranges.
        let v4 = sample(&plain).encode(&plain);
        let head = 12 + 32 + 4 + 2 * (4 + "events".len() + 4 + 16 + 4);
        let mut v3 = v4[..12].to_vec();
        v3.extend_from_slice(&v4[head..]);
        v3.extend_from_slice(&v4[12..36]);
        v3[..4].copy_from_slice(&3u32.to_le_bytes());
        let back = DeltaRecord::decode(&v3, &plain).unwrap();
        assert_eq!(back.chain, Some(Chain { writer: 0xC0FFEE, seq: 7, prev: 4, unsure: 0 }));
        assert!(back.ranges.is_empty());
        let mut v2 = v3;
        v2.truncate(v2.len() - 24); // the chain
        v2[..4].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(DeltaRecord::decode(&v2, &plain).unwrap().chain, None);
        let mut v1 = v2;
        v1.truncate(v1.len() - 16); // the clock and two empty counts
        v1[..4].copy_from_slice(&1u32.to_le_bytes());
        let back = DeltaRecord::decode(&v1, &plain).unwrap();
        assert_eq!(back.delta.bucket_entries(), sample(&plain).delta.bucket_entries());
        assert!(back.delta.breakdown_entries().is_empty() && back.delta.combinations.is_empty());
    }

    #[test]
    fn records_from_other_definitions_newer_formats_or_damage_are_refused() {
        let yaml = include_str!("../../config/example.yaml");
        let c = config(yaml);
        let bytes = sample(&c).encode(&c);
        // A `good:` changed: same names, other definitions.
        let changed = config(&yaml.replacen("status: { lt: 500 }", "status: { lt: 400 }", 1));
        assert_ne!(changed.slis_fingerprint(), c.slis_fingerprint());
        assert!(matches!(DeltaRecord::decode(&bytes, &changed), Err(DeltaError::OtherDefinitions { .. })));
        // Its chain and ranges still read: what a merge member under other definitions learns
        // from it.
        let record = sample(&c);
        assert_eq!(DeltaRecord::decode_head(&bytes), Some((record.chain, record.ranges)));
        // An unsure transaction outside (prev, seq) is damage.
        let mut bent = sample(&c);
        bent.chain = Some(Chain { writer: 1, seq: 7, prev: 5, unsure: 5 });
        assert!(matches!(DeltaRecord::decode(&bent.encode(&c), &c), Err(DeltaError::Malformed(_))));
        assert_eq!(DeltaRecord::decode_head(&bent.encode(&c)), None);
        // A description is no definition.
        let described = config(&yaml.replacen("  geo-availability:\n", "  geo-availability:\n    description: x\n", 1));
        assert!(DeltaRecord::decode(&bytes, &described).is_ok());
        let mut newer = bytes.clone();
        newer[..4].copy_from_slice(&(FORMAT + 1).to_le_bytes());
        assert_eq!(DeltaRecord::decode(&newer, &c).unwrap_err(), DeltaError::NewerFormat { found: FORMAT + 1 });
        for cut in [0, 3, 11, bytes.len() - 1] {
            assert!(matches!(DeltaRecord::decode(&bytes[..cut], &c), Err(DeltaError::Malformed(_))), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(DeltaRecord::decode(&longer, &c), Err(DeltaError::Malformed(_))));
    }
}
