//! A history rebuild as checkpointed: which SLIs are rebuilt from the topics, how far each
//! partition's history has been read, and from when each rebuilt SLI's history is complete.
//!
//! It lives in the checkpoint next to the counts it produced, in the same cut: the counts of a
//! rebuilt SLI hold every event of its partitions' history before `next` and every live event
//! from `end` on, so a restart resumes the rebuild at `next` and nothing is read twice.

use super::codec::{Reader, Writer};
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
    /// Where live reading began when the rebuild did: the history ends before it.
    pub end: i64,
}

impl Rebuild {
    /// Share of the history read, 0 to 1 (1 when there was none).
    pub fn progress(&self) -> f64 {
        let (mut read, mut all) = (0i64, 0i64);
        for p in &self.partitions {
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
