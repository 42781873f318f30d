//! The fold queue against simulated deployments: ingest writers read, commit, hand partitions
//! over and rejoin, and some of their transactions do not take effect while their records show
//! (a broker that skipped the markers); a merge member reads the deltas partitions in a random
//! interleaving, folding as it goes. Whatever happened and in whatever order the records were
//! read, the records folded must cover each input offset exactly once.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::tests::Folded;
use super::*;
use crate::config::Config;

const INPUTS: usize = 4;

/// A partition a writer holds: where its next range starts, and how far it has read.
struct Held {
    input: i32,
    start: i64,
    read: i64,
}

struct Writer {
    id: u64,
    /// Its deltas partition.
    deltas: usize,
    next: u64,
    prev: u64,
    held: Vec<Held>,
    /// A record of a transaction that did not take effect: it shows with the writer's next one.
    hidden: Option<DeltaRecord>,
}

struct Deployment {
    rng: SmallRng,
    empty: DeltaRecord,
    /// Per input partition: messages in the log, and the group's committed offset.
    end: [i64; INPUTS],
    group: [i64; INPUTS],
    writers: Vec<Writer>,
    /// Per deltas partition, the records visible so far.
    deltas: Vec<Vec<DeltaRecord>>,
}

impl Deployment {
    fn new(seed: u64) -> Deployment {
        let config = Config::from_yaml(include_str!("../../../config/example.yaml"), "example.yaml").unwrap();
        let mut d = Deployment {
            rng: SmallRng::seed_from_u64(seed),
            empty: DeltaRecord::empty(&config),
            end: [0; INPUTS],
            group: [0; INPUTS],
            writers: Vec::new(),
            deltas: Vec::new(),
        };
        for _ in 0..3 {
            d.join();
        }
        for input in 0..INPUTS as i32 {
            let w = d.rng.random_range(0..d.writers.len());
            d.writers[w].held.push(Held { input, start: 0, read: 0 });
        }
        d
    }

    /// A new writer (a new process, or a worker that joined again), holding nothing yet.
    fn join(&mut self) -> usize {
        self.deltas.push(Vec::new());
        let id = self.rng.random();
        self.writers.push(Writer {
            id,
            deltas: self.deltas.len() - 1,
            next: 1,
            prev: 0,
            held: Vec::new(),
            hidden: None,
        });
        self.writers.len() - 1
    }

    /// Writer `w` commits what it read. `takes_effect` false: the broker shows the record but
    /// the offsets never apply; the writer finds out when it reads them back, never names the
    /// transaction, and reads again from the group's offsets.
    fn commit(&mut self, w: usize, takes_effect: bool) {
        let mut record = self.empty.clone();
        let writer = &mut self.writers[w];
        let seq = writer.next;
        writer.next += 1;
        record.chain = Some(Chain { writer: writer.id, seq, prev: writer.prev, unsure: 0 });
        for h in &writer.held {
            record.counters.consumed += (h.read - h.start) as u64;
            record.ranges.push(InputRange::events(h.input, h.start, h.read));
        }
        let queue = &mut self.deltas[writer.deltas];
        queue.extend(writer.hidden.take());
        if takes_effect {
            queue.push(record);
            writer.prev = seq;
            for h in &mut writer.held {
                self.group[h.input as usize] = h.read;
                h.start = h.read;
            }
        } else {
            writer.hidden = Some(record);
            for h in &mut writer.held {
                h.start = self.group[h.input as usize];
                h.read = h.start;
            }
        }
    }

    /// One thing happening in the deployment.
    fn step(&mut self) {
        for end in &mut self.end {
            *end += self.rng.random_range(0..4);
        }
        let w = self.rng.random_range(0..self.writers.len());
        match self.rng.random_range(0..10) {
            // Read some of each partition held.
            0..=4 => {
                for h in &mut self.writers[w].held {
                    h.read = self.rng.random_range(h.read..=self.end[h.input as usize]);
                }
            }
            5 | 6 => self.commit(w, true),
            7 => self.commit(w, false),
            // Hand a partition over: committed first, and the next holder starts at the
            // group's offset.
            8 => {
                let to = self.rng.random_range(0..self.writers.len());
                if to != w && !self.writers[w].held.is_empty() {
                    self.commit(w, true);
                    let i = self.rng.random_range(0..self.writers[w].held.len());
                    let input = self.writers[w].held.swap_remove(i).input;
                    let start = self.group[input as usize];
                    self.writers[to].held.push(Held { input, start, read: start });
                }
            }
            // The writer joins again with new ids (a restart under a new name): what it held
            // goes to the new writer from the group's offsets, and what it had not committed
            // is lost. A transaction whose offsets did not apply is named by nobody.
            _ => {
                let old = std::mem::take(&mut self.writers[w].held);
                let hidden = self.writers[w].hidden.take();
                self.deltas[self.writers[w].deltas].extend(hidden);
                let new = self.join();
                for h in old {
                    let start = self.group[h.input as usize];
                    self.writers[new].held.push(Held { input: h.input, start, read: start });
                }
            }
        }
    }

    /// Every writer reads to the end and commits, then commits once more with nothing read.
    fn finish(&mut self) {
        for w in 0..self.writers.len() {
            for h in &mut self.writers[w].held {
                h.read = self.end[h.input as usize];
            }
            self.commit(w, true);
            self.commit(w, true);
        }
    }
}

/// Reads the deltas partitions like a merge member: a record at a time from a random partition
/// that has one, the partition's end noted whenever it is caught up, folding after each.
struct Merge {
    rng: SmallRng,
    read: Vec<usize>,
    queue: FoldQueue,
    counted: Folded,
}

impl Merge {
    fn read(&mut self, deltas: &[Vec<DeltaRecord>], records: usize) {
        self.read.resize(deltas.len(), 0);
        for _ in 0..records {
            let waiting: Vec<usize> = (0..deltas.len()).filter(|&p| self.read[p] < deltas[p].len()).collect();
            if waiting.is_empty() {
                return;
            }
            let p = waiting[self.rng.random_range(0..waiting.len())];
            let offset = self.read[p];
            self.queue.push("deltas", p as i32, offset as i64, deltas[p][offset].clone());
            self.read[p] += 1;
            if self.read[p] == deltas[p].len() {
                self.queue.at_end("deltas", p as i32);
            }
            self.queue.drain_decided(&mut self.counted);
        }
    }
}

/// Each input offset below the group's final offset is covered by exactly one folded range.
fn assert_counted_once(counted: &Folded, group: &[i64; INPUTS], seed: u64) {
    for (input, &end) in group.iter().enumerate() {
        let mut ranges: Vec<(i64, i64)> =
            counted.ranges.iter().filter(|r| r.partition == input as i32).map(|r| (r.from, r.to)).collect();
        ranges.sort_unstable();
        let mut at = 0;
        for (from, to) in ranges {
            assert_eq!(from, at, "seed {seed}, input {input}: {}", if from < at { "counted twice" } else { "a gap" });
            at = to;
        }
        assert_eq!(at, end, "seed {seed}, input {input}: counted up to {at} of {end}");
    }
}

#[test]
fn any_history_read_in_any_order_counts_each_input_offset_once() {
    for seed in 0..300 {
        let mut d = Deployment::new(seed);
        let mut merge = Merge {
            rng: SmallRng::seed_from_u64(seed ^ 0x5eed),
            read: Vec::new(),
            queue: FoldQueue::default(),
            counted: Folded::default(),
        };
        for _ in 0..200 {
            d.step();
            let records = merge.rng.random_range(0..3);
            merge.read(&d.deltas, records);
        }
        d.finish();
        merge.read(&d.deltas, usize::MAX);
        assert_eq!(merge.queue.len(), 0, "seed {seed}: records left undecided");
        assert_counted_once(&merge.counted, &d.group, seed);
    }
}
