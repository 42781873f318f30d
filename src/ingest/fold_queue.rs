//! The merge member's delta records between reading and folding: folded in each partition's
//! order, and only once it is sure the record's transaction was not one its writer aborted.
//!
//! Kafka should never show a `read_committed` reader a record of an aborted transaction. A broker
//! that skips the abort marker does (Kafka 4.4, restarting, sends the markers of transactions
//! aborted right after its start before it knows its partitions' leaders, and drops them): the
//! record stays open in its partition, and the writer's next commit marker commits it together
//! with the writer's next record. The writer had dropped the aborted counts and read those
//! events again, so folding both would count them twice.
//!
//! Each record names the last earlier transaction of its writer that committed ([`Chain`]). A
//! record is decided when a later record of the same writer arrives in its partition (folded if
//! that one names it or a later transaction as `prev`, left out if not: its writer aborted it),
//! or when the partition is read to its end (librdkafka's partition EOF, at the last stable
//! offset): a hidden record and the record whose marker exposes it become visible together, so
//! at the end there is nothing left that could name it. Records are folded strictly in partition
//! order, and the cut's next offset of a partition stops at its first undecided record, so a
//! restart reads every undecided record again and decides it the same way.
//!
//! A record at or after the later record's `unsure` is one whose commit its writer could not
//! see the end of, nor settle afterwards. It is decided by the input offsets ([`InputRange`]):
//! in an input partition every committed record starts where the previous committed one ended,
//! so a record starting where it ends proves it committed, and a committed record starting
//! where it starts proves it did not.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::state::delta_record::{Chain, DeltaRecord, InputRange};

/// The longest a record stays unsure before it is folded anyway, with an error logged: its
/// deltas partition is held behind it, and folding is what a writer without the ranges did.
pub(crate) const UNSURE_AT_MOST: Duration = Duration::from_secs(300);

/// Starts of input ranges of records folded lately, kept as evidence for unsure records.
const REMEMBERED_STARTS: usize = 4096;

/// What becomes of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Not known yet.
    Undecided,
    /// Its writer could not tell whether it committed: the input ranges will (held since then).
    Unsure(Instant),
    /// Folded.
    Fold,
    /// Its writer aborted its transaction: left out.
    Aborted,
}

#[derive(Debug)]
struct Entry {
    offset: i64,
    chain: Option<Chain>,
    record: DeltaRecord,
    verdict: Verdict,
}

/// One partition's records, in offset order.
#[derive(Debug)]
struct Partition {
    topic: String,
    partition: i32,
    entries: VecDeque<Entry>,
}

/// The records read and not folded yet, per partition.
#[derive(Debug, Default)]
pub(crate) struct FoldQueue {
    partitions: Vec<Partition>,
    len: usize,
    /// Whether a record is unsure now.
    unsure: usize,
    /// Input ranges' starts of records folded lately: (topic, partition, from).
    folded_starts: VecDeque<(String, i32, i64)>,
}

/// What the other records say of an unsure one, from their ranges' starts, each flagged when its
/// start is the group's committed offset after the unsure record's outcome was decided (the
/// record was folded, or its writer's later record).
fn evidence(unsure: &[InputRange], starts: impl Iterator<Item = (bool, InputRange)>) -> Option<Verdict> {
    let mut verdict = None;
    for (decisive, r) in starts {
        for u in unsure.iter().filter(|u| u.to > u.from && u.partition == r.partition && u.topic == r.topic) {
            if r.from == u.to {
                return Some(Verdict::Fold);
            }
            if decisive && r.from == u.from {
                verdict = Some(Verdict::Aborted);
            }
        }
    }
    verdict
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

    /// Adds the record read at `offset`, deciding the earlier records of its writer in the
    /// partition. A record without a chain (an older format) is decided at once.
    pub(crate) fn push(&mut self, topic: &str, partition: i32, offset: i64, record: DeltaRecord) {
        let chain = record.chain;
        let p = self.partition(topic, partition);
        let mut unsure = 0;
        if let Some(c) = chain {
            for e in p.entries.iter_mut().filter(|e| e.verdict == Verdict::Undecided) {
                if let Some(earlier) = e.chain.filter(|earlier| earlier.writer == c.writer) {
                    e.verdict = if earlier.seq <= c.prev {
                        Verdict::Fold
                    } else if c.unsure != 0 && earlier.seq >= c.unsure {
                        unsure += 1;
                        Verdict::Unsure(Instant::now())
                    } else {
                        Verdict::Aborted
                    };
                }
            }
        }
        let verdict = if chain.is_some() { Verdict::Undecided } else { Verdict::Fold };
        p.entries.push_back(Entry { offset, chain, record, verdict });
        self.unsure += unsure;
        self.len += 1;
    }

    /// The partition was read to its end: every record in it is decided (folded).
    pub(crate) fn at_end(&mut self, topic: &str, partition: i32) {
        if let Some(p) = self.partitions.iter_mut().find(|p| p.partition == partition && p.topic == topic) {
            for e in p.entries.iter_mut().filter(|e| e.verdict == Verdict::Undecided) {
                e.verdict = Verdict::Fold;
            }
        }
    }

    /// Decides the unsure records the others give evidence for; past [`UNSURE_AT_MOST`], folds
    /// them anyway.
    fn decide_unsure(&mut self, at_most: Duration) {
        if self.unsure == 0 {
            return;
        }
        let mut decided = Vec::new();
        for (pi, p) in self.partitions.iter().enumerate() {
            for (ei, e) in p.entries.iter().enumerate() {
                let Verdict::Unsure(since) = e.verdict else { continue };
                let later_of_writer = |o: &Entry| matches!((o.chain, e.chain), (Some(o), Some(e)) if o.writer == e.writer && o.seq > e.seq);
                let queued = self.partitions.iter().enumerate().flat_map(|(qi, q)| {
                    q.entries.iter().enumerate().filter(move |&(qe, _)| (qi, qe) != (pi, ei)).flat_map(move |(_, o)| {
                        let decisive = o.verdict == Verdict::Fold || later_of_writer(o);
                        o.record.ranges.iter().map(move |r| (decisive, r.clone()))
                    })
                });
                let folded = self.folded_starts.iter().map(|(topic, partition, from)| {
                    (true, InputRange { topic: topic.clone(), partition: *partition, from: *from, to: *from })
                });
                let verdict = match evidence(&e.record.ranges, queued.chain(folded)) {
                    Some(v) => v,
                    None if since.elapsed() >= at_most => {
                        tracing::error!(topic = p.topic, partition = p.partition, offset = e.offset, chain = ?e.chain, "no record says whether this delta record's transaction committed; folded (it may count its events twice)");
                        Verdict::Fold
                    }
                    None => continue,
                };
                decided.push((pi, ei, verdict));
            }
        }
        for (pi, ei, verdict) in decided {
            self.partitions[pi].entries[ei].verdict = verdict;
            self.unsure -= 1;
        }
    }

    /// Hands every decided record at the head of its partition to `fold` (in order) and counts
    /// those left out; returns how many were left out.
    pub(crate) fn drain_decided(&mut self, fold: impl FnMut(&DeltaRecord)) -> u64 {
        self.drain_decided_within(UNSURE_AT_MOST, fold)
    }

    fn drain_decided_within(&mut self, at_most: Duration, mut fold: impl FnMut(&DeltaRecord)) -> u64 {
        self.decide_unsure(at_most);
        let mut aborted = 0;
        for p in &mut self.partitions {
            while p.entries.front().is_some_and(|e| matches!(e.verdict, Verdict::Fold | Verdict::Aborted)) {
                let Some(e) = p.entries.pop_front() else { break };
                self.len -= 1;
                match e.verdict {
                    Verdict::Fold => {
                        fold(&e.record);
                        for r in &e.record.ranges {
                            if self.folded_starts.len() == REMEMBERED_STARTS {
                                self.folded_starts.pop_front();
                            }
                            self.folded_starts.push_back((r.topic.clone(), r.partition, r.from));
                        }
                    }
                    _ => {
                        aborted += 1;
                        tracing::error!(
                            topic = p.topic,
                            partition = p.partition,
                            offset = e.offset,
                            chain = ?e.chain,
                            "a delta record of a transaction its writer aborted was visible (the broker skipped its abort marker): not folded"
                        );
                    }
                }
            }
        }
        aborted
    }

    /// The offset of the partition's first record not folded yet: the cut may not pass it.
    pub(crate) fn first_held(&self, topic: &str, partition: i32) -> Option<i64> {
        let p = self.partitions.iter().find(|p| p.partition == partition && p.topic == topic)?;
        p.entries.front().map(|e| e.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn record(writer: u64, seq: u64, prev: u64, consumed: u64) -> DeltaRecord {
        let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
        let mut r = DeltaRecord::empty(&config);
        r.counters.consumed = consumed;
        r.chain = (seq > 0).then_some(Chain { writer, seq, prev, unsure: 0 });
        r
    }

    /// A record of writer `writer` naming `unsure`, covering input partition `input` from `from`
    /// to `to`.
    fn ranged(writer: u64, seq: u64, prev: u64, unsure: u64, input: i32, (from, to): (i64, i64)) -> DeltaRecord {
        let mut r = record(writer, seq, prev, seq * 100 + writer);
        r.chain = Some(Chain { writer, seq, prev, unsure });
        r.ranges.push(InputRange { topic: "events".into(), partition: input, from, to });
        r
    }

    fn drain(q: &mut FoldQueue) -> (Vec<u64>, u64) {
        let mut folded = Vec::new();
        let aborted = q.drain_decided(|r| folded.push(r.counters.consumed));
        (folded, aborted)
    }

    /// The skipped-marker case: writer 1's transaction 4 was aborted, its record became visible
    /// with transaction 5's, which names 3 as the last that may have committed.
    #[test]
    fn a_record_its_writer_aborted_is_left_out() {
        let mut q = FoldQueue::default();
        q.push("d", 0, 10, record(1, 3, 2, 30));
        q.push("d", 0, 11, record(1, 4, 3, 40));
        // 3 is decided by 4 (4 names it), 4 waits.
        assert_eq!(drain(&mut q), (vec![30], 0));
        assert_eq!(q.first_held("d", 0), Some(11));
        q.push("d", 0, 12, record(1, 5, 3, 50));
        assert_eq!(drain(&mut q), (vec![], 1));
        assert_eq!(q.first_held("d", 0), Some(12));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q), (vec![50], 0));
        assert_eq!((q.first_held("d", 0), q.len()), (None, 0));
    }

    /// Other writers' records in the same partition wait behind an undecided one (partition
    /// order), and are decided by their own writers only.
    #[test]
    fn records_fold_in_partition_order() {
        let mut q = FoldQueue::default();
        q.push("d", 0, 1, record(1, 1, 0, 1));
        q.push("d", 0, 2, record(2, 1, 0, 2));
        q.push("d", 0, 3, record(2, 2, 1, 3));
        // Writer 2's first is decided, but writer 1's first is not: nothing folds yet.
        assert_eq!(drain(&mut q), (vec![], 0));
        assert_eq!(q.first_held("d", 0), Some(1));
        q.push("d", 0, 4, record(1, 2, 1, 4));
        assert_eq!(drain(&mut q), (vec![1, 2], 0));
        assert_eq!(q.first_held("d", 0), Some(3));
        // Another partition is independent.
        q.push("d", 1, 7, record(3, 1, 0, 9));
        q.at_end("d", 1);
        assert_eq!(drain(&mut q), (vec![9], 0));
        assert_eq!(q.first_held("d", 0), Some(3));
    }

    /// A record its writer names as `prev` folds (its writer saw it commit, or settled it as
    /// committed). A record of an older format has no chain and folds at once; so does a new
    /// process's first record (another writer number) decide nothing of the old one's.
    #[test]
    fn unknown_outcomes_and_older_records_fold() {
        let mut q = FoldQueue::default();
        q.push("d", 0, 1, record(1, 1, 0, 1));
        q.push("d", 0, 2, record(1, 2, 1, 2));
        assert_eq!(drain(&mut q), (vec![1], 0));
        q.push("d", 0, 3, record(0, 0, 0, 3));
        assert_eq!(drain(&mut q), (vec![], 0), "behind writer 1's undecided record");
        q.push("d", 0, 4, record(9, 1, 0, 4));
        assert_eq!(drain(&mut q), (vec![], 0), "another writer decides nothing of writer 1's");
        q.at_end("d", 0);
        assert_eq!(drain(&mut q), (vec![2, 3, 4], 0));
    }

    /// Writer 1 could not see whether transaction 2 committed. Its next record starts input
    /// partition 0 where 2 ended: 2 committed.
    #[test]
    fn an_unsure_record_folds_when_a_later_record_starts_where_it_ends() {
        let mut q = FoldQueue::default();
        q.push("d", 0, 1, ranged(1, 1, 0, 0, 0, (0, 10)));
        q.push("d", 0, 2, ranged(1, 2, 1, 0, 0, (10, 20)));
        q.push("d", 0, 3, ranged(1, 3, 1, 2, 0, (20, 30)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q), (vec![101, 201, 301], 0));
    }

    /// Its next record starts where 2 started: the writer read those events again, 2 did not
    /// commit (a broker that skipped its abort marker shows it anyway).
    #[test]
    fn an_unsure_record_is_left_out_when_its_writer_read_its_events_again() {
        let mut q = FoldQueue::default();
        q.push("d", 0, 1, ranged(1, 1, 0, 0, 0, (0, 10)));
        q.push("d", 0, 2, ranged(1, 2, 1, 0, 0, (10, 20)));
        q.push("d", 0, 3, ranged(1, 3, 1, 2, 0, (10, 25)));
        assert_eq!(drain(&mut q), (vec![101], 1));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q), (vec![301], 0));
    }

    /// The writer's next record covers another input partition; other writers' records decide:
    /// an undecided one starting where the unsure one starts proves nothing (it may be the one
    /// aborted), a folded one does; one starting where it ends proves it committed, even once
    /// folded and gone from the queue.
    #[test]
    fn other_writers_records_decide_an_unsure_record() {
        let unsure_then = |q: &mut FoldQueue| {
            q.push("d", 0, 1, ranged(1, 2, 0, 0, 0, (10, 20)));
            q.push("d", 0, 2, ranged(1, 3, 0, 2, 5, (0, 5)));
        };
        let mut q = FoldQueue::default();
        unsure_then(&mut q);
        q.push("d", 1, 1, ranged(2, 1, 0, 0, 0, (10, 14)));
        assert_eq!(drain(&mut q), (vec![], 0), "writer 2's record is undecided");
        q.at_end("d", 1);
        assert_eq!(drain(&mut q), (vec![102], 1), "writer 2's record folded: 2 of writer 1 did not commit");

        let mut q = FoldQueue::default();
        q.push("d", 1, 1, ranged(2, 1, 0, 0, 0, (20, 24)));
        q.at_end("d", 1);
        assert_eq!(drain(&mut q), (vec![102], 0));
        unsure_then(&mut q);
        q.at_end("d", 0);
        assert_eq!(drain(&mut q), (vec![201, 301], 0), "a folded record started where 2 ended");
    }

    /// With no record to decide it, an unsure record holds its partition, then folds.
    #[test]
    fn an_unsure_record_nothing_decides_folds_in_the_end() {
        let mut q = FoldQueue::default();
        q.push("d", 0, 1, ranged(1, 2, 0, 0, 0, (10, 20)));
        q.push("d", 0, 2, ranged(1, 3, 0, 2, 5, (0, 5)));
        q.at_end("d", 0);
        assert_eq!(drain(&mut q), (vec![], 0));
        assert_eq!(q.first_held("d", 0), Some(1));
        let mut folded = Vec::new();
        assert_eq!(q.drain_decided_within(Duration::ZERO, |r| folded.push(r.counters.consumed)), 0);
        assert_eq!(folded, vec![201, 301]);
    }
}
