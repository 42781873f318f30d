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
//! Each record names the last earlier transaction of its writer that may have committed
//! ([`Chain`]). A record is decided when a later record of the same writer arrives in its
//! partition (folded if that one names it or a later transaction as `prev`, left out if not:
//! its writer aborted it), or when the partition is read to its end (librdkafka's partition
//! EOF, at the last stable offset): a hidden record and the record whose marker exposes it
//! become visible together, so at the end there is nothing left that could name it. Records are
//! folded strictly in partition order, and the cut's next offset of a partition stops at its
//! first undecided record, so a restart reads every undecided record again and decides it the
//! same way.

use std::collections::VecDeque;

use crate::state::delta_record::{Chain, DeltaRecord};

/// What becomes of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Not known yet.
    Undecided,
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
        if let Some(c) = chain {
            for e in p.entries.iter_mut().filter(|e| e.verdict == Verdict::Undecided) {
                if let Some(earlier) = e.chain.filter(|earlier| earlier.writer == c.writer) {
                    e.verdict = if earlier.seq > c.prev { Verdict::Aborted } else { Verdict::Fold };
                }
            }
        }
        let verdict = if chain.is_some() { Verdict::Undecided } else { Verdict::Fold };
        p.entries.push_back(Entry { offset, chain, record, verdict });
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

    /// Hands every decided record at the head of its partition to `fold` (in order) and counts
    /// those left out; returns how many were left out.
    pub(crate) fn drain_decided(&mut self, mut fold: impl FnMut(&DeltaRecord)) -> u64 {
        let mut aborted = 0;
        for p in &mut self.partitions {
            while p.entries.front().is_some_and(|e| e.verdict != Verdict::Undecided) {
                let Some(e) = p.entries.pop_front() else { break };
                self.len -= 1;
                match e.verdict {
                    Verdict::Fold => fold(&e.record),
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
        r.chain = (seq > 0).then_some(Chain { writer, seq, prev });
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

    /// A writer whose commit's end it could not see names it as `prev`: it folds. A record of an
    /// older format has no chain and folds at once; so does a new process's first record (another
    /// writer number) decide nothing of the old one's.
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
}
