//! What input a merge member has counted: per input partition, the offset intervals the delta
//! records it folded cover ([`InputRange`]).
//!
//! Each input offset is counted once, by the one record whose transaction took effect. A record
//! whose input another folded record already covers is one whose transaction did not (a broker
//! that skipped a transaction's markers can show its records without applying its offsets, and
//! the partition's next owner reads the same events again): it is refused, not folded. The
//! coverage is checkpointed with the counts, in the same cut, so a restart that reads records
//! again still knows what they covered. Intervals that touch are merged; a partition keeps at
//! most [`MAX_INTERVALS`] (the oldest gaps are closed first), so the coverage stays a few
//! numbers per partition.

use super::codec::{Reader, Writer};
use super::delta_record::InputRange;
use super::Malformed;

/// Intervals kept per partition: gaps are transient (a record read before the one before it),
/// so more than a few means something old will never be filled.
pub const MAX_INTERVALS: usize = 32;

/// Per input partition, the offsets counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputCoverage {
    partitions: Vec<Covered>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Covered {
    topic: String,
    partition: i32,
    /// Sorted, disjoint and not touching: `[from, to)`.
    intervals: Vec<(i64, i64)>,
}

impl InputCoverage {
    fn find(&self, topic: &str, partition: i32) -> Option<&Covered> {
        self.partitions.iter().find(|c| c.partition == partition && c.topic == topic)
    }

    /// Whether a counted interval of the partition begins at `offset`: a record started there,
    /// so the transaction that ended there took effect.
    pub fn starts_at(&self, topic: &str, partition: i32, offset: i64) -> bool {
        self.find(topic, partition).is_some_and(|c| c.intervals.iter().any(|&(from, _)| from == offset))
    }

    /// Whether any offset of the non-empty ranges was counted already.
    pub fn overlaps(&self, ranges: &[InputRange]) -> bool {
        ranges.iter().filter(|r| !r.is_empty()).any(|r| {
            self.find(&r.topic, r.partition)
                .is_some_and(|c| c.intervals.iter().any(|&(from, to)| from < r.to && r.from < to))
        })
    }

    /// Records the non-empty ranges as counted.
    pub fn add(&mut self, ranges: &[InputRange]) {
        for r in ranges.iter().filter(|r| !r.is_empty()) {
            let i = match self.partitions.iter().position(|c| c.partition == r.partition && c.topic == r.topic) {
                Some(i) => i,
                None => {
                    let (topic, partition) = (r.topic.clone(), r.partition);
                    self.partitions.push(Covered { topic, partition, intervals: Vec::new() });
                    self.partitions.len() - 1
                }
            };
            let intervals = &mut self.partitions[i].intervals;
            let at = intervals.partition_point(|&(from, _)| from < r.from);
            intervals.insert(at, (r.from, r.to));
            // Merge with every neighbour it touches or overlaps.
            let mut merged: Vec<(i64, i64)> = Vec::with_capacity(intervals.len());
            for &(from, to) in intervals.iter() {
                match merged.last_mut() {
                    Some(last) if from <= last.1 => last.1 = last.1.max(to),
                    _ => merged.push((from, to)),
                }
            }
            while merged.len() > MAX_INTERVALS {
                // Close the oldest gap.
                let second = merged.remove(1);
                merged[0].1 = second.1;
            }
            *intervals = merged;
        }
    }

    /// Writes it for a checkpoint.
    pub(super) fn write(&self, w: &mut Writer) {
        w.u32(self.partitions.len() as u32);
        for c in &self.partitions {
            w.str(&c.topic);
            w.i32(c.partition);
            w.u32(c.intervals.len() as u32);
            for &(from, to) in &c.intervals {
                w.i64(from);
                w.i64(to);
            }
        }
    }

    /// What [`Self::write`] wrote.
    pub(super) fn read(r: &mut Reader) -> Result<InputCoverage, Malformed> {
        let mut partitions = Vec::new();
        for _ in 0..r.count(12)? {
            let (topic, partition) = (r.str()?.to_string(), r.i32()?);
            let mut intervals: Vec<(i64, i64)> = Vec::new();
            for _ in 0..r.count(16)? {
                let (from, to) = (r.i64()?, r.i64()?);
                if to <= from || intervals.last().is_some_and(|&(_, end)| from <= end) {
                    return Err(r.malformed());
                }
                intervals.push((from, to));
            }
            partitions.push(Covered { topic, partition, intervals });
        }
        Ok(InputCoverage { partitions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranges merge when they touch; an overlap is seen on the partition it is on only; a start
    /// is known while the range before it is not counted.
    #[test]
    fn ranges_merge_and_overlaps_are_seen() {
        let mut c = InputCoverage::default();
        c.add(&[InputRange::events(0, 20, 30), InputRange::events(1, 0, 5)]);
        assert!(c.starts_at("events", 0, 20) && !c.starts_at("events", 0, 30));
        assert!(!c.overlaps(&[
            InputRange::events(0, 10, 20),
            InputRange::events(0, 30, 40),
            InputRange::events(2, 20, 30)
        ]));
        assert!(c.overlaps(&[InputRange::events(0, 29, 31)]));
        assert!(!c.overlaps(&[InputRange::events(0, 25, 25)]), "an empty range covers nothing");
        c.add(&[InputRange::events(0, 10, 20)]);
        assert!(!c.starts_at("events", 0, 20), "merged into [10, 30)");
        assert!(c.starts_at("events", 0, 10));
        c.add(&[InputRange::events(0, 40, 50), InputRange::events(0, 30, 40)]);
        assert_eq!(c.find("events", 0).unwrap().intervals, vec![(10, 50)]);
        assert!(c.overlaps(&[InputRange::events(1, 4, 9)]) && !c.overlaps(&[InputRange::events(1, 5, 9)]));
    }

    /// At most `MAX_INTERVALS` per partition: the oldest gap closes.
    #[test]
    fn old_gaps_close() {
        let mut c = InputCoverage::default();
        for i in 0..=MAX_INTERVALS as i64 {
            c.add(&[InputRange::events(0, 10 * i, 10 * i + 5)]);
        }
        let intervals = &c.find("events", 0).unwrap().intervals;
        assert_eq!(intervals.len(), MAX_INTERVALS);
        assert_eq!(intervals[0], (0, 15));
        assert_eq!(intervals[1], (20, 25));
    }

    #[test]
    fn coverage_reads_back_as_written() {
        let mut c = InputCoverage::default();
        c.add(&[InputRange::events(0, 20, 30), InputRange::events(3, 0, 5), InputRange::events(0, 40, 41)]);
        let mut w = Writer::default();
        c.write(&mut w);
        let mut r = Reader::new(&w.buf);
        assert_eq!(InputCoverage::read(&mut r).unwrap(), c);
        assert!(r.is_done());
        // Overlapping intervals are damage.
        let mut w = Writer::default();
        w.u32(1);
        w.str("events");
        w.i32(0);
        w.u32(2);
        for v in [0, 10, 5, 20] {
            w.i64(v);
        }
        assert!(InputCoverage::read(&mut Reader::new(&w.buf)).is_err());
    }
}
