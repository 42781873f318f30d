//! The merge member's delta records between reading and folding: folded in each partition's
//! order, and only once it is sure the record's transaction took effect.
//!
//! Kafka should show a `read_committed` reader exactly the records of committed transactions,
//! and apply exactly their offsets. A broker restarting after a crash may not: Kafka 4.4 skips
//! the markers it sends before it knows its partitions' leaders ("Couldn't find leader endpoint
//! ... can be skipped"). A record of an aborted transaction then becomes visible with its
//! writer's next commit, and a committed transaction's records become visible while its offsets
//! never apply, so the partition's next owner reads those events again. Folding such a record
//! counts its events twice. Two checks keep them out:
//!
//! - **The writer's chain** ([`Chain`]). Each record names the last earlier transaction of its
//!   writer that committed. A record is decided when a later record of the same writer arrives
//!   in its partition (left out if its writer aborted it), or when the partition is read to its
//!   end (librdkafka's partition EOF, at the last stable offset): a hidden record and the record
//!   whose marker exposes it become visible together, so at the end nothing is left that could
//!   name it.
//! - **The input ranges** ([`InputRange`]). In an input partition each record starts at the
//!   offset committed when its writer began, so the records whose transactions took effect
//!   follow one another: a record is confirmed once a record (of any writer, folded or not, even
//!   of other definitions) starts where it ends, and it is refused as `already_counted` when
//!   records folded before cover any of its offsets ([`InputCoverage`]), or when a later record
//!   of its own writer, or a confirmed record of another, reads on from where it starts (those
//!   events were read again; checked before the confirmation, since a partition read again
//!   while idle can end where the record ended). A writer commits once more after it goes
//!   idle, with nothing read, so its last record is confirmed too.
//!
//! Records are folded strictly in partition order, and the cut's next offset of a partition
//! stops at its first record not folded yet, so a restart reads it again and decides it the same
//! way (the coverage is checkpointed with the counts). A record nothing confirms within
//! [`UNCONFIRMED_AT_MOST`] (its partition's next owner never started where it ended: say, the
//! group's offsets were moved by hand) is folded anyway, with an error logged.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::count::Tally;
use crate::state::coverage::InputCoverage;
use crate::state::delta_record::{Chain, DeltaRecord, InputRange};

/// How long a record may wait for its confirmation before it is folded anyway.
pub(crate) const UNCONFIRMED_AT_MOST: Duration = Duration::from_secs(300);

/// Starts of input ranges remembered as confirmations (about a minute of a large deployment's
/// records); the checkpointed coverage holds the older ones that matter.
const REMEMBERED_STARTS: usize = 1 << 16;

/// What the chain says of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Not known yet.
    Undecided,
    /// Not aborted by its writer: folded once its input ranges are confirmed.
    Kept,
    /// Its writer aborted its transaction: left out.
    Aborted,
}

#[derive(Debug)]
struct Entry {
    offset: i64,
    chain: Option<Chain>,
    record: DeltaRecord,
    verdict: Verdict,
    read_at: Instant,
}

/// One partition's records, in offset order.
#[derive(Debug)]
struct Partition {
    topic: String,
    partition: i32,
    entries: VecDeque<Entry>,
}

/// What becomes of the record at a partition's head once it is settled ([`FoldQueue::next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Its writer aborted it: left out.
    Aborted,
    /// Its input was counted by another record: left out. Why, for the log: records folded
    /// cover some of it, or another record read it again.
    AlreadyCounted { why: &'static str },
    /// Folded; `confirmed` false when only the wait ran out.
    Fold { confirmed: bool },
}

/// Where decided records go: the merge member's tally.
pub(crate) trait FoldTarget {
    /// The input offsets counted so far.
    fn coverage(&self) -> &InputCoverage;
    /// Folds the record and records its input as counted.
    fn fold(&mut self, record: &DeltaRecord);
}

impl FoldTarget for Tally {
    fn coverage(&self) -> &InputCoverage {
        &self.coverage
    }

    fn fold(&mut self, record: &DeltaRecord) {
        Tally::fold(self, record, &[]);
        self.coverage.add(&record.ranges);
    }
}

/// Records left out by one [`FoldQueue::drain_decided`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeftOut {
    /// Their writer aborted them.
    pub(crate) aborted: u64,
    /// Their input was counted already.
    pub(crate) already_counted: u64,
}

/// The records read and not folded yet, per partition.
#[derive(Debug, Default)]
pub(crate) struct FoldQueue {
    partitions: Vec<Partition>,
    len: usize,
    /// Input ranges' starts seen lately: (topic, partition, from).
    starts: HashSet<(String, i32, i64)>,
    starts_order: VecDeque<(String, i32, i64)>,
}

impl FoldQueue {
    /// Records held, decided or not.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn partition(&mut self, topic: &str, partition: i32) -> &mut Partition {
        let i = match self.partitions.iter().position(|p| p.partition == partition && p.topic == topic) {
            Some(i) => i,
            None => {
                self.partitions.push(Partition { topic: topic.to_string(), partition, entries: VecDeque::new() });
                self.partitions.len() - 1
            }
        };
        &mut self.partitions[i]
    }

    /// Remembers where the ranges start: confirmations of the records that end there. Also for
    /// records not folded (other definitions): they started where the group's offsets stood.
    pub(crate) fn saw(&mut self, ranges: &[InputRange]) {
        for r in ranges {
            let key = (r.topic.clone(), r.partition, r.from);
            if self.starts.insert(key.clone()) {
                if self.starts_order.len() == REMEMBERED_STARTS {
                    if let Some(old) = self.starts_order.pop_front() {
                        self.starts.remove(&old);
                    }
                }
                self.starts_order.push_back(key);
            }
        }
    }

    /// Adds the record read at `offset`, deciding the earlier records of its writer in the
    /// partition. A record without a chain (an older format) is kept at once.
    pub(crate) fn push(&mut self, topic: &str, partition: i32, offset: i64, record: DeltaRecord) {
        self.saw(&record.ranges);
        let chain = record.chain;
        let p = self.partition(topic, partition);
        if let Some(c) = chain {
            for e in p.entries.iter_mut().filter(|e| e.verdict == Verdict::Undecided) {
                if let Some(earlier) = e.chain.filter(|earlier| earlier.writer == c.writer) {
                    // At or after `unsure`: the writer does not know; the ranges decide.
                    let unsure = c.unsure != 0 && earlier.seq >= c.unsure;
                    e.verdict = if earlier.seq <= c.prev || unsure { Verdict::Kept } else { Verdict::Aborted };
                }
            }
        }
        let verdict = if chain.is_some() { Verdict::Undecided } else { Verdict::Kept };
        p.entries.push_back(Entry { offset, chain, record, verdict, read_at: Instant::now() });
        self.len += 1;
    }

    /// The partition was read to its end: no later record can name its records any more.
    pub(crate) fn at_end(&mut self, topic: &str, partition: i32) {
        if let Some(p) = self.partitions.iter_mut().find(|p| p.partition == partition && p.topic == topic) {
            for e in p.entries.iter_mut().filter(|e| e.verdict == Verdict::Undecided) {
                e.verdict = Verdict::Kept;
            }
        }
    }

    /// Whether another record read the events of `e` again, starting where a non-empty range of
    /// `e` starts: a later record of the same writer (it found the offsets where they were
    /// before `e`), or a confirmed record of another (the partition went on from its end, not
    /// from the end of `e`). Only a range that read something counts: an empty one starting
    /// there may be its writer's last word on a partition it held before `e`'s writer did.
    fn superseded(&self, e: &Entry, coverage: &InputCoverage) -> bool {
        let same_start = |o: &InputRange| {
            !o.is_empty()
                && e.record
                    .ranges
                    .iter()
                    .any(|r| !r.is_empty() && r.from == o.from && r.partition == o.partition && r.topic == o.topic)
        };
        self.partitions.iter().flat_map(|p| &p.entries).filter(|o| !std::ptr::eq(*o, e)).any(|o| {
            if o.verdict == Verdict::Aborted || !o.record.ranges.iter().any(same_start) {
                return false;
            }
            match (o.chain, e.chain) {
                (Some(oc), Some(ec)) if oc.writer == ec.writer => oc.seq > ec.seq,
                _ => self.confirmed(&o.record, coverage),
            }
        })
    }

    /// Whether each non-empty range of the record has a record starting where it ends.
    fn confirmed(&self, record: &DeltaRecord, coverage: &InputCoverage) -> bool {
        record.ranges.iter().filter(|r| !r.is_empty()).all(|r| {
            self.starts.contains(&(r.topic.clone(), r.partition, r.to))
                || coverage.starts_at(&r.topic, r.partition, r.to)
        })
    }

    /// What becomes of `e`, at its partition's head, now (each check made once); `None` while it
    /// is not decided or not confirmed yet, and it and its partition wait.
    fn next(&self, e: &Entry, coverage: &InputCoverage, at_most: Duration) -> Option<Next> {
        match e.verdict {
            Verdict::Undecided => None,
            Verdict::Aborted => Some(Next::Aborted),
            Verdict::Kept if coverage.overlaps(&e.record.ranges) => {
                Some(Next::AlreadyCounted { why: "records folded before cover some of its input" })
            }
            // Before confirmation: the group's offsets can come back to where a record not taken
            // into effect ended (a partition read again to the same end while idle).
            Verdict::Kept if self.superseded(e, coverage) => {
                Some(Next::AlreadyCounted { why: "another record read its input again from where it starts" })
            }
            Verdict::Kept if self.confirmed(&e.record, coverage) => Some(Next::Fold { confirmed: true }),
            Verdict::Kept if e.read_at.elapsed() >= at_most => Some(Next::Fold { confirmed: false }),
            Verdict::Kept => None,
        }
    }

    /// Folds every decided and confirmed record at the head of its partition into `target` (in
    /// order), leaving out those their writers aborted and those whose input is counted already.
    pub(crate) fn drain_decided(&mut self, target: &mut impl FoldTarget) -> LeftOut {
        self.drain_within(target, UNCONFIRMED_AT_MOST)
    }

    fn drain_within(&mut self, target: &mut impl FoldTarget, at_most: Duration) -> LeftOut {
        let mut out = LeftOut::default();
        // Folding adds coverage, which may settle records of partitions already passed.
        let mut progress = true;
        while progress {
            progress = false;
            for pi in 0..self.partitions.len() {
                while let Some(e) = self.partitions[pi].entries.front() {
                    let Some(next) = self.next(e, target.coverage(), at_most) else { break };
                    let p = &mut self.partitions[pi];
                    let Some(e) = p.entries.pop_front() else { break };
                    self.len -= 1;
                    progress = true;
                    let (topic, partition, offset, chain) = (&p.topic, p.partition, e.offset, e.chain);
                    match next {
                        Next::Aborted => {
                            out.aborted += 1;
                            tracing::error!(topic, partition, offset, ?chain, "a delta record of a transaction its writer aborted was visible (the broker skipped its abort marker): not folded");
                        }
                        Next::AlreadyCounted { why } => {
                            out.already_counted += 1;
                            tracing::error!(topic, partition, offset, ?chain, ranges = ?e.record.ranges, why, "a delta record's input is counted by another (its transaction's offsets did not take effect; the broker skipped its markers?): not folded");
                        }
                        Next::Fold { confirmed } => {
                            if !confirmed {
                                tracing::error!(topic, partition, offset, ?chain, ranges = ?e.record.ranges, "no record started where this delta record ended; folded anyway");
                            }
                            target.fold(&e.record);
                        }
                    }
                }
            }
        }
        out
    }

    /// The offset of the partition's first record not folded yet: the cut may not pass it.
    pub(crate) fn first_held(&self, topic: &str, partition: i32) -> Option<i64> {
        let p = self.partitions.iter().find(|p| p.partition == partition && p.topic == topic)?;
        p.entries.front().map(|e| e.offset)
    }
}

#[cfg(test)]
mod simulation;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// What a tally keeps of the records: their `consumed` counts and their input ranges that
    /// are not empty, in fold order.
    #[derive(Default)]
    pub(super) struct Folded {
        coverage: InputCoverage,
        pub(super) consumed: Vec<u64>,
        pub(super) ranges: Vec<InputRange>,
    }

    impl FoldTarget for Folded {
        fn coverage(&self) -> &InputCoverage {
            &self.coverage
        }
        fn fold(&mut self, record: &DeltaRecord) {
            self.consumed.push(record.counters.consumed);
            self.ranges.extend(record.ranges.iter().filter(|r| !r.is_empty()).cloned());
            self.coverage.add(&record.ranges);
        }
    }

    fn record(writer: u64, seq: u64, prev: u64, consumed: u64) -> DeltaRecord {
        let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
        let mut r = DeltaRecord::empty(&config);
        r.counters.consumed = consumed;
        r.chain = (seq > 0).then_some(Chain { writer, seq, prev, unsure: 0 });
        r
    }

    /// Writer `writer`'s transaction `seq` (naming `prev`, and `unsure`), covering input
    /// partition `input` from `from` to `to`; it consumed `seq * 100 + writer`.
    fn ranged(writer: u64, seq: u64, prev: u64, unsure: u64, input: i32, (from, to): (i64, i64)) -> DeltaRecord {
        let mut r = record(writer, seq, prev, seq * 100 + writer);
        r.chain = Some(Chain { writer, seq, prev, unsure });
        r.ranges.push(InputRange::events(input, from, to));
        r
    }

    fn drain(q: &mut FoldQueue, t: &mut Folded) -> (Vec<u64>, LeftOut) {
        let out = q.drain_decided(t);
        (std::mem::take(&mut t.consumed), out)
    }

    fn left_out(aborted: u64, already_counted: u64) -> LeftOut {
        LeftOut { aborted, already_counted }
    }

    /// The skipped-marker case: writer 1's transaction 4 was aborted, its record became visible
    /// with transaction 5's, which names 3 as the last that committed.
    #[test]
    fn a_record_its_writer_aborted_is_left_out() {
        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 10, record(1, 3, 2, 30));
        q.push("d", 0, 11, record(1, 4, 3, 40));
        // 3 is decided by 4 (4 names it), 4 waits.
        assert_eq!(drain(&mut q, &mut t), (vec![30], left_out(0, 0)));
        assert_eq!(q.first_held("d", 0), Some(11));
        q.push("d", 0, 12, record(1, 5, 3, 50));
        assert_eq!(drain(&mut q, &mut t), (vec![], left_out(1, 0)));
        assert_eq!(q.first_held("d", 0), Some(12));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![50], left_out(0, 0)));
        assert_eq!((q.first_held("d", 0), q.len()), (None, 0));
    }

    /// Other writers' records in the same partition wait behind an undecided one (partition
    /// order), and are decided by their own writers only.
    #[test]
    fn records_fold_in_partition_order() {
        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 1, record(1, 1, 0, 1));
        q.push("d", 0, 2, record(2, 1, 0, 2));
        q.push("d", 0, 3, record(2, 2, 1, 3));
        // Writer 2's first is decided, but writer 1's first is not: nothing folds yet.
        assert_eq!(drain(&mut q, &mut t), (vec![], left_out(0, 0)));
        assert_eq!(q.first_held("d", 0), Some(1));
        q.push("d", 0, 4, record(1, 2, 1, 4));
        assert_eq!(drain(&mut q, &mut t), (vec![1, 2], left_out(0, 0)));
        assert_eq!(q.first_held("d", 0), Some(3));
        // Another partition is independent.
        q.push("d", 1, 7, record(3, 1, 0, 9));
        q.at_end("d", 1);
        assert_eq!(drain(&mut q, &mut t), (vec![9], left_out(0, 0)));
        assert_eq!(q.first_held("d", 0), Some(3));
    }

    /// A record its writer names as `prev` is kept; a record of an older format has no chain and
    /// is kept at once; a new process's first record (another writer number) decides nothing of
    /// the old one's.
    #[test]
    fn named_and_older_records_fold() {
        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 1, record(1, 1, 0, 1));
        q.push("d", 0, 2, record(1, 2, 1, 2));
        assert_eq!(drain(&mut q, &mut t), (vec![1], left_out(0, 0)));
        q.push("d", 0, 3, record(0, 0, 0, 3));
        assert_eq!(drain(&mut q, &mut t), (vec![], left_out(0, 0)), "behind writer 1's undecided record");
        q.push("d", 0, 4, record(9, 1, 0, 4));
        assert_eq!(drain(&mut q, &mut t), (vec![], left_out(0, 0)), "another writer decides nothing of writer 1's");
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![2, 3, 4], left_out(0, 0)));
    }

    /// A record waits until a record starts where it ends (of any writer, in any partition,
    /// even one refused for other definitions, or counted before a restart); the last one of an
    /// idle writer is confirmed by its empty record.
    #[test]
    fn a_record_folds_once_a_record_starts_where_it_ends() {
        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 1, ranged(1, 1, 0, 0, 0, (0, 10)));
        q.push("d", 0, 2, ranged(1, 2, 1, 0, 0, (10, 20)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![101], left_out(0, 0)), "nothing starts at 20 yet");
        q.push("d", 0, 3, ranged(1, 3, 2, 0, 0, (20, 20)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![201, 301], left_out(0, 0)), "the empty record confirms it");

        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 1, ranged(1, 1, 0, 0, 0, (0, 10)));
        q.at_end("d", 0);
        q.saw(&ranged(2, 1, 0, 0, 0, (10, 30)).ranges);
        assert_eq!(drain(&mut q, &mut t), (vec![101], left_out(0, 0)), "a refused record's start counts");

        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        t.coverage.add(&ranged(2, 1, 0, 0, 0, (10, 30)).ranges);
        q.push("d", 0, 1, ranged(1, 1, 0, 0, 0, (0, 10)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![101], left_out(0, 0)), "a range counted before");
    }

    /// What a Kafka 4.4 broker restarting mid-commit did: writer 1's transaction 8 committed its
    /// record, but its offsets never applied, so writer 2 read the same events again from where
    /// 8 started. 8 is never confirmed (nothing starts where it ends), and once writer 2's record
    /// is folded, 8's input is counted already.
    #[test]
    fn a_record_whose_offsets_did_not_apply_is_left_out() {
        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 14, ranged(1, 8, 7, 0, 2, (1584, 1917)));
        q.push("d", 0, 17, ranged(1, 10, 8, 0, 0, (9618, 11666)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![], left_out(0, 0)));
        q.push("d", 1, 56, ranged(2, 29, 28, 0, 2, (1584, 2128)));
        q.push("d", 1, 60, ranged(2, 30, 29, 0, 2, (2128, 2200)));
        q.at_end("d", 1);
        let (folded, out) = drain(&mut q, &mut t);
        assert_eq!(out, left_out(0, 1));
        assert_eq!(folded, vec![2902], "writer 2's 29 only; 30 and writer 1's 10 wait for theirs");
        assert_eq!(q.first_held("d", 0), Some(17));

        // The same after a restart: writer 2's record was folded before the checkpoint, so only
        // the coverage the checkpoint kept knows it.
        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        t.coverage.add(&ranged(2, 29, 28, 0, 2, (1584, 2128)).ranges);
        q.push("d", 0, 14, ranged(1, 8, 7, 0, 2, (1584, 1917)));
        q.push("d", 0, 17, ranged(1, 10, 8, 0, 0, (9618, 11666)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![], left_out(0, 1)));
        assert_eq!(q.first_held("d", 0), Some(17));
    }

    /// An idle partition read again to the same end: writer 1's record 4 (input 0, 10..20) did
    /// not take effect, writer 2 read 10..20 again along with input 1, and writer 3's empty
    /// record starts at 20. Both end where a record starts; only writer 2's re-read counts,
    /// else input 1's events would be lost with it.
    #[test]
    fn a_record_read_again_to_the_same_end_is_left_out() {
        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 1, ranged(1, 4, 3, 0, 0, (10, 20)));
        q.at_end("d", 0);
        let mut reread = ranged(2, 1, 0, 0, 0, (10, 20));
        reread.ranges.push(InputRange::events(1, 0, 5));
        q.push("d", 1, 1, reread);
        q.at_end("d", 1);
        let mut idle = ranged(3, 1, 0, 0, 0, (20, 20));
        idle.ranges.push(InputRange::events(1, 5, 5));
        q.push("d", 2, 1, idle);
        q.at_end("d", 2);
        assert_eq!(drain(&mut q, &mut t), (vec![102, 103], left_out(0, 1)));
    }

    /// Writer 2 held input 0 until offset 10 and wrote one more record while it still held it,
    /// having read nothing more of it; writer 1 read input 0 on from 10. The empty range starting
    /// at 10 read nothing again: writer 1's record folds.
    #[test]
    fn an_empty_range_starting_where_a_record_starts_reads_nothing_again() {
        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 1, ranged(1, 1, 0, 0, 0, (10, 20)));
        q.at_end("d", 0);
        let mut last = ranged(2, 1, 0, 0, 0, (10, 10));
        last.ranges.push(InputRange::events(1, 0, 5));
        q.push("d", 1, 1, last);
        q.push("d", 1, 2, ranged(2, 2, 1, 0, 1, (5, 5)));
        q.at_end("d", 1);
        q.push("d", 2, 1, ranged(3, 1, 0, 0, 0, (20, 20)));
        q.at_end("d", 2);
        assert_eq!(drain(&mut q, &mut t), (vec![101, 102, 202, 103], left_out(0, 0)));
    }

    /// A writer that could not tell whether its transaction 2 committed names it `unsure`. Its
    /// next record starts where 2 started (it read those events again): 2 is left out. Had 2
    /// committed, the next record would have started where 2 ended, confirming it.
    #[test]
    fn unsure_records_are_decided_by_the_ranges() {
        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 1, ranged(1, 2, 1, 0, 0, (10, 20)));
        q.push("d", 0, 2, ranged(1, 3, 1, 2, 0, (10, 15)));
        q.push("d", 0, 3, ranged(1, 4, 3, 0, 0, (15, 15)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![301, 401], left_out(0, 1)));

        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 1, ranged(1, 2, 1, 0, 0, (10, 20)));
        q.push("d", 0, 2, ranged(1, 3, 1, 2, 0, (20, 25)));
        q.push("d", 0, 3, ranged(1, 4, 3, 0, 0, (25, 25)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![201, 301, 401], left_out(0, 0)));
    }

    /// The same with the one deltas partition: writer 2's re-read is behind writer 1's record,
    /// in the same partition. Once confirmed, it shows that the input went on from its end.
    #[test]
    fn a_record_read_again_behind_it_in_the_same_partition_is_left_out() {
        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 1, ranged(1, 1, 0, 0, 2, (0, 10)));
        q.push("d", 0, 2, ranged(1, 2, 1, 0, 2, (10, 20)));
        q.push("d", 0, 3, ranged(1, 3, 2, 0, 0, (0, 5)));
        q.push("d", 0, 4, ranged(2, 1, 0, 0, 2, (10, 40)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![101], left_out(0, 0)), "2's re-read is not confirmed yet");
        q.push("d", 0, 5, ranged(2, 2, 1, 0, 2, (40, 40)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![], left_out(0, 1)), "writer 1's 3 waits for a start at 5");
        q.push("d", 0, 6, ranged(1, 4, 3, 0, 0, (5, 5)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![301, 102, 202, 401], left_out(0, 0)));
    }

    /// A record nothing confirms holds its partition until the wait is over, then folds.
    #[test]
    fn an_unconfirmed_record_folds_after_the_wait() {
        let (mut q, mut t) = (FoldQueue::default(), Folded::default());
        q.push("d", 0, 1, ranged(1, 1, 0, 0, 0, (10, 20)));
        q.push("d", 0, 2, ranged(2, 1, 0, 0, 1, (0, 5)));
        q.saw(&ranged(3, 1, 0, 0, 1, (5, 5)).ranges);
        q.at_end("d", 0);
        assert_eq!(drain(&mut q, &mut t), (vec![], left_out(0, 0)));
        assert_eq!(q.drain_within(&mut t, Duration::ZERO), left_out(0, 0));
        assert_eq!(t.consumed, vec![101, 102]);
    }
}
