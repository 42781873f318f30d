//! A history rebuild as checkpointed: which SLIs are rebuilt from the topics, how far each
//! partition's history has been read, and from when each rebuilt SLI's history is complete.
//!
//! It lives in the checkpoint next to the counts it produced, in the same cut: the counts of a
//! rebuilt SLI hold every event of its partitions' history before `next` and every live event
//! from `end` on, so a restart resumes the rebuild at `next` and nothing is read twice.

use super::codec::{Reader, Writer};
use super::delta_record::InputRange;
use super::Malformed;

/// A rebuild of `slis` from their partitions' retained history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuild {
    /// The SLIs rebuilt, by name.
    pub slis: Vec<String>,
    /// Every partition with history to read.
    pub partitions: Vec<RebuildPartition>,
}

/// One partition's history: `[start, end)`, read up to `next`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The first offset of the history read (the longest period back, or the first retained).
    pub start: i64,
    /// The next offset to read.
    pub next: i64,
    /// Where live reading began when the rebuild did: the history ends before it. In a merge
    /// member, [`RebuildPartition::OPEN`] until the first delta record counted under the new
    /// definitions says where they begin.
    pub end: i64,
}

impl RebuildPartition {
    /// `end` of a partition whose history's end is not known yet.
    pub const OPEN: i64 = i64::MAX;

    /// Whether the history's end is not known yet.
    pub fn is_open(&self) -> bool {
        self.end == Self::OPEN
    }
}

impl Rebuild {
    /// Share of the history read, 0 to 1 (1 when there was none), over the partitions whose
    /// history's end is known (0 while none is).
    pub fn progress(&self) -> f64 {
        let (mut read, mut all) = (0i64, 0i64);
        if self.partitions.iter().all(RebuildPartition::is_open) && !self.partitions.is_empty() {
            return 0.0;
        }
        for p in self.partitions.iter().filter(|p| !p.is_open()) {
            read += (p.next.min(p.end) - p.start).max(0);
            all += (p.end - p.start).max(0);
        }
        if all == 0 {
            1.0
        } else {
            read as f64 / all as f64
        }
    }

    /// Whether every partition's history has been read.
    pub fn is_done(&self) -> bool {
        self.partitions.iter().all(|p| p.next >= p.end)
    }

    /// What a merge member learns from a delta record counted under the rebuild's definitions
    /// (in a two-stage deployment, where the ingest members' offsets say where live counting
    /// under them began): each partition's history ends where such a record's range starts.
    /// A range marked `first` starts where the partition switched to these definitions: the end.
    /// Another is an upper bound, lowered by any later one starting earlier (a record read out
    /// of order), as long as the history has not been read past it.
    pub fn learn_ends(&mut self, ranges: &[InputRange]) {
        if self.is_done() {
            return;
        }
        for r in ranges {
            let Some(p) = self.partitions.iter_mut().find(|p| p.partition == r.partition && p.topic == r.topic) else {
                continue;
            };
            let end = r.from.max(p.start);
            if p.is_open() {
                if !r.first {
                    tracing::warn!(topic = r.topic, partition = r.partition, from = r.from, "this partition was counted under these definitions before this merge member ran them (were the ingest members rolled out first?): its history ends at the first record seen");
                }
                p.end = end;
            } else if end < p.end {
                if p.next > end {
                    tracing::error!(topic = r.topic, partition = r.partition, from = r.from, read_to = p.next, "a record under these definitions starts before where the history was read to: those events count twice");
                }
                p.end = end.max(p.next);
            }
        }
    }

    /// Whether `sli` is being rebuilt now.
    pub fn rebuilds(&self, sli: &str) -> bool {
        !self.is_done() && self.slis.iter().any(|s| s == sli)
    }
}

/// Per rebuilt SLI (by name), the event time from which its history is complete.
pub type HistoryStarts = Vec<(String, i64)>;

/// Writes the rebuild (if any) and the history starts.
pub(super) fn write(w: &mut Writer, rebuild: Option<&Rebuild>, history: &[(String, i64)]) {
    w.u32(u32::from(rebuild.is_some()));
    if let Some(r) = rebuild {
        w.u32(r.slis.len() as u32);
        for s in &r.slis {
            w.str(s);
        }
        w.u32(r.partitions.len() as u32);
        for p in &r.partitions {
            w.str(&p.topic);
            w.i32(p.partition);
            w.i64(p.start);
            w.i64(p.next);
            w.i64(p.end);
        }
    }
    w.u32(history.len() as u32);
    for (sli, ms) in history {
        w.str(sli);
        w.i64(*ms);
    }
}

/// What [`write`] wrote.
pub(super) fn read(r: &mut Reader) -> Result<(Option<Rebuild>, HistoryStarts), Malformed> {
    let rebuild = match r.u32()? {
        0 => None,
        _ => {
            let mut slis = Vec::new();
            for _ in 0..r.count(4)? {
                slis.push(r.str()?.to_string());
            }
            let mut partitions = Vec::new();
            for _ in 0..r.count(32)? {
                let (topic, partition) = (r.str()?.to_string(), r.i32()?);
                let (start, next, end) = (r.i64()?, r.i64()?, r.i64()?);
                partitions.push(RebuildPartition { topic, partition, start, next, end });
            }
            Some(Rebuild { slis, partitions })
        }
    };
    let mut history = Vec::new();
    for _ in 0..r.count(12)? {
        history.push((r.str()?.to_string(), r.i64()?));
    }
    Ok((rebuild, history))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: i64, next: i64, end: i64) -> RebuildPartition {
        RebuildPartition { topic: "t".into(), partition: 0, start, next, end }
    }

    #[test]
    fn progress_is_the_share_of_history_read() {
        let r = Rebuild { slis: vec!["a".into()], partitions: vec![part(0, 50, 100), part(100, 100, 400)] };
        assert_eq!(r.progress(), 50.0 / 400.0);
        assert!(!r.is_done() && r.rebuilds("a") && !r.rebuilds("b"));
        let done = Rebuild { slis: vec!["a".into()], partitions: vec![part(0, 100, 100), part(7, 9, 7)] };
        assert_eq!(done.progress(), 1.0);
        assert!(done.is_done() && !done.rebuilds("a"));
        assert_eq!(Rebuild { slis: vec![], partitions: vec![] }.progress(), 1.0);
        // A partition whose end is not known yet counts for nothing, and is not done.
        let open = RebuildPartition::OPEN;
        let r = Rebuild { slis: vec!["a".into()], partitions: vec![part(0, 50, 100), part(3, 3, open)] };
        assert_eq!((r.progress(), r.is_done()), (0.5, false));
        assert_eq!(Rebuild { slis: vec!["a".into()], partitions: vec![part(3, 3, open)] }.progress(), 0.0);
    }

    /// A merge member learns where each partition's history ends from the records under the
    /// new definitions: a `first` range closes it; a range read out of order lowers it, but
    /// never below what was read.
    #[test]
    fn history_ends_where_the_new_definitions_begin() {
        let range = |partition, from, first| InputRange { topic: "t".into(), partition, from, to: from + 5, first };
        let open = RebuildPartition::OPEN;
        let mut r = Rebuild {
            slis: vec!["a".into()],
            partitions: vec![part(10, 10, open), RebuildPartition { partition: 1, ..part(10, 10, open) }],
        };
        r.learn_ends(&[range(0, 40, true), range(7, 1, true)]);
        assert_eq!((r.partitions[0].end, r.partitions[1].end), (40, open));
        r.learn_ends(&[range(1, 60, false)]);
        r.learn_ends(&[range(1, 50, false)]);
        assert_eq!(r.partitions[1].end, 50, "lowered by a record read out of order");
        r.partitions[1].next = 45;
        r.learn_ends(&[range(1, 30, false), range(0, 5, false)]);
        assert_eq!((r.partitions[0].end, r.partitions[1].end), (10, 45), "never below what was read");
    }

    #[test]
    fn a_rebuild_reads_back_as_written() {
        let r = Rebuild { slis: vec!["a".into(), "b".into()], partitions: vec![part(3, 5, 9)] };
        let history = vec![("a".to_string(), 1_700_000_000_000), ("c".to_string(), 5)];
        for rebuild in [Some(&r), None] {
            let mut w = Writer::default();
            write(&mut w, rebuild, &history);
            let mut rd = Reader::new(&w.buf);
            assert_eq!(read(&mut rd).unwrap(), (rebuild.cloned(), history.clone()));
            assert!(rd.is_done());
        }
    }
}
