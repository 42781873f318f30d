//! The delta record: one member's counts since its last commit, as a Kafka record value.
//!
//! What an ingest member of a two-stage deployment commits to `<group_id>.deltas` and a merge
//! member folds into its windows. It starts with its format version and the fingerprint of the
//! SLI definitions it was counted under ([`Config::slis_fingerprint`]): a merge member folds
//! only records counted under its own definitions, since SLI ids and `good:` verdicts mean
//! nothing across definitions, and refuses a newer format rather than misread it. Then the
//! process-wide counters (reject reasons, fields and maintenance windows by name, as in
//! checkpoints) and the delta's
//! buckets and latency counts, sorted, in little-endian fixed width.

use super::codec::{Reader, Writer};
use super::{read_counters, write_counters, Counters, Malformed};
use crate::config::Config;
use crate::window::delta::Delta;
use crate::window::Counts;

/// The format [`DeltaRecord::encode`] writes.
pub const FORMAT: u32 = 1;

/// One member's counts since its last commit.
#[derive(Debug, Clone)]
pub struct DeltaRecord {
    /// Consumed, rejected, unmatched, dead-lettered, invalid latencies and type mismatches (the
    /// per-SLI totals come from the delta's buckets when it is folded).
    pub counters: Counters,
    /// Window and latency counts.
    pub delta: Delta,
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
    /// The `reason` label values of `slostream_delta_records_refused_total`, by [`Self::index`].
    pub const REASONS: [&'static str; 3] = ["malformed", "newer_format", "other_definitions"];

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
    /// The record value for `config`.
    pub fn encode(&self, config: &Config) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(FORMAT);
        w.u64(config.slis_fingerprint());
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
        w.buf
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
        if !r.is_done() {
            return Err(Malformed(bytes.len()).into());
        }
        let mut delta = Delta::default();
        delta.add_entries(&buckets, &latency);
        Ok(DeltaRecord { counters, delta })
    }
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
        DeltaRecord { counters, delta }
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
