//! One ingest worker: a librdkafka consumer on its own OS thread, classifying into its own shard.
//!
//! Partitions are assigned by hand (no group rebalancing): the coordinator gives each worker its
//! partitions with the exact next offset from the last checkpoint. The worker reads messages
//! in batches from the consumer queue ([`super::batch`]), processes every message of a batch
//! before the next poll and tracks the next offset of each partition; it hands what it counted
//! over to the shared tally together with those offsets, so the tally is always a consistent
//! cut. Between batches it serves commands (new partitions), hands over and refreshes its view
//! for the exporter. A merge member's worker (`--role merge`) reads delta records the same way
//! and folds them into the tally at each hand-over, in partition order and once decided
//! ([`super::fold_queue`]), with its positions (past the transaction markers once a partition is
//! read to its end, but never past a record not folded yet) as its offsets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaTopic;
use rdkafka::{Offset, TopicPartitionList};

use super::batch::{BatchConsumer, Msg};
use super::dead_letter::{AlreadySent, DeadLetters};
use super::fold_queue::FoldQueue;
use super::{cached_high_watermark, client_config, IngestContext, KafkaErrors};
use crate::config::Config;
use crate::config::Role;
use crate::count::{lock_tally, try_lock_tally, Cut, PartitionState, Shard, Tally, WorkerView};
use crate::state::delta_record::{DeltaError, DeltaRecord};
use crate::state::PartitionOffset;

/// How often a worker refreshes its view for the exporter.
const PUBLISH_EVERY_MS: i64 = 500;
/// Messages between wall-clock reads on a busy stream (an idle poll always reads it); with
/// batches of up to 1,024 messages that is once per batch.
const CLOCK_EVERY: usize = 256;
/// Longest wait for a partition's watermarks when its offset went out of range.
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(5);
/// `next` of a partition nothing has been read from: start at the beginning.
pub const FROM_BEGINNING: i64 = -1;

/// What the coordinator tells a running worker.
pub enum Command {
    /// Start reading these partitions (in addition to the current ones).
    Assign(Vec<PartitionOffset>),
}

/// What a worker shares with the coordinator.
pub struct Links {
    /// Where its counts go.
    pub tally: Arc<Mutex<Tally>>,
    /// Where it publishes its partitions and lag.
    pub view: Arc<Mutex<WorkerView>>,
    /// New partitions.
    pub commands: Receiver<Command>,
    /// Set when the worker must hand over and return.
    pub stop: Arc<AtomicBool>,
    /// Where its Kafka clients count errors.
    pub errors: Arc<KafkaErrors>,
    /// Dead letters a previous run wrote after the restored checkpoint: not written again.
    pub already_dead_lettered: AlreadySent,
}

struct Worker {
    id: usize,
    config: Arc<Config>,
    consumer: BatchConsumer<IngestContext>,
    shard: Shard,
    positions: Vec<PartitionOffset>,
    /// The last message's partition: consecutive messages mostly come from the same partition,
    /// so the lookup is two comparisons.
    current: CurrentPartition,
    /// Messages read, and when that number last changed (checked per publish tick, so the hot
    /// path does not read the clock).
    read: u64,
    progress: (u64, Instant),
    stalls: u64,
    /// Partitions whose next offset the broker no longer has (retention overtook the worker, or
    /// the topic was recreated): librdkafka stopped fetching them; repaired after the batch.
    out_of_range: Vec<(String, i32)>,
    /// Events deleted by retention before this worker read them, per partition, since start.
    skipped: Vec<(String, i32, u64)>,
    dead_letters: Option<DeadLetters>,
    /// How many of the dead letters produced so far the broker has acknowledged (as of the
    /// last flush that succeeded).
    acknowledged_dead_letters: u64,
    tally: Arc<Mutex<Tally>>,
    errors: Arc<KafkaErrors>,
    /// A merge member's worker (`--role merge`) reads delta records, not events.
    folding: Option<Folding>,
}

/// What a merge member's worker holds between hand-overs: the delta records read, folded into
/// the tally at hand-overs once decided, and those it refused.
#[derive(Default)]
struct Folding {
    queue: FoldQueue,
    refused: [u64; DeltaError::REASONS.len()],
    last_warning: Option<Instant>,
}

/// Delta records a merge worker holds before it waits for the tally (at most a few seconds of
/// an ingest tier's commits).
const FOLD_AT_MOST: usize = 4096;

/// Longest wait for dead letters to be acknowledged before the final hand-over.
const DEAD_LETTER_FLUSH: Duration = Duration::from_secs(10);
/// Longest wait for them before a routine hand-over; past it, the hand-over still counts, but the
/// tally is not checkpointed until a later one is acknowledged.
const DEAD_LETTER_FLUSH_ROUTINE: Duration = Duration::from_millis(100);

/// Runs a worker until `stop`, handing everything it read to `tally` before it returns.
pub fn run(id: usize, config: Arc<Config>, links: Links) -> Result<(), KafkaError> {
    let Links { tally, view, commands, stop, errors, already_dead_lettered } = links;
    let shard = Shard::new(&config);
    let config_role = config.role;
    let consumer = BatchConsumer::new(create_consumer(&config, id, &errors)?)?;
    let dead_letters = match &config.events.dead_letter_topic {
        Some(topic) => {
            Some(DeadLetters::new(&config, topic, already_dead_lettered, format!("{id} dead letters"), errors.clone())?)
        }
        None => None,
    };
    let mut w = Worker {
        id,
        config,
        consumer,
        shard,
        positions: Vec::new(),
        current: CurrentPartition::NONE,
        read: 0,
        progress: (0, Instant::now()),
        stalls: 0,
        out_of_range: Vec::new(),
        skipped: Vec::new(),
        dead_letters,
        acknowledged_dead_letters: 0,
        tally,
        errors,
        folding: (config_role == Role::Merge).then(Folding::default),
    };
    let clock = w.config.clock.clone();
    let mut now_ms = clock.now_ms();
    let mut next_publish = now_ms;
    let mut since_clock = CLOCK_EVERY;
    let mut idle = false;
    while !stop.load(Ordering::Relaxed) {
        // Housekeeping (clock, commands, view) runs every CLOCK_EVERY messages under a backlog
        // and at every gap in a trickle, so neither freshness nor checkpoints wait for traffic.
        if since_clock >= CLOCK_EVERY {
            since_clock = 0;
            now_ms = clock.now_ms();
            while let Ok(Command::Assign(parts)) = commands.try_recv() {
                w.assign(parts)?;
            }
            if !w.out_of_range.is_empty() {
                w.repair_out_of_range()?;
            }
            if let Some(d) = &w.dead_letters {
                d.poll();
            }
            let context = w.consumer.consumer().context();
            w.consumer.serve_client_errors(|e, reason| context.client_error(&e, reason));
            if now_ms >= next_publish {
                next_publish = now_ms + PUBLISH_EVERY_MS;
                w.hand_over(HandOver::IfFree);
                w.publish(now_ms, &view);
                w.check_stall()?;
            }
        }
        let wait = if idle { Duration::from_millis(100) } else { Duration::ZERO };
        let n = w.consumer.poll(wait).len();
        idle = n == 0;
        if idle {
            since_clock = CLOCK_EVERY;
            continue;
        }
        if w.folding.is_some() {
            for i in 0..n {
                w.fold_message(i);
            }
            if w.folding.as_ref().is_some_and(|f| f.queue.len() >= FOLD_AT_MOST) {
                w.hand_over(HandOver::Wait);
            }
        } else {
            for i in 0..n {
                w.count_message(i, now_ms)?;
                if w.shard.is_full() {
                    w.hand_over(HandOver::Wait);
                }
            }
        }
        if !w.out_of_range.is_empty() {
            w.repair_out_of_range()?;
        }
        since_clock += n;
    }
    w.hand_over(HandOver::Final);
    w.publish(clock.now_ms(), &view);
    tracing::info!(worker = id, read = w.read, "worker stopped");
    Ok(())
}

/// How a hand-over treats a tally that is busy (being checkpointed or exported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HandOver {
    /// Keep batching and try again at the next tick.
    IfFree,
    /// Wait for it: the batch is full.
    Wait,
    /// Wait for it, and give dead letters the full flush time: nothing follows.
    Final,
}

fn create_consumer(
    config: &Config,
    id: usize,
    errors: &Arc<KafkaErrors>,
) -> Result<BaseConsumer<IngestContext>, KafkaError> {
    let mut c = client_config(config);
    // Every partition is assigned at an exact offset (or explicitly from the beginning), so an
    // offset the broker does not have is an event to report, not one to reset past silently:
    // librdkafka then stops that partition and says so, and `repair_out_of_range` decides.
    c.set("auto.offset.reset", "error");
    c.set("client.id", super::client_id(config, id));
    // A merge member decides the last delta records of a partition once it has read to the
    // partition's end (the last stable offset): librdkafka says so with a partition EOF.
    if config.role == Role::Merge {
        c.set("enable.partition.eof", "true");
    }
    c.create_with_context(IngestContext::new(id, errors.clone()))
}

/// The partition of the last message read: its librdkafka topic handle and partition number,
/// and its index in the worker's positions.
///
/// `msg.topic()` converts the topic name to `&str` (strlen and a UTF-8 check) on every call,
/// which profiles showed on the per-message path; comparing the topic handle, which librdkafka
/// keeps one of per topic and client, is a pointer comparison. The handle is only compared,
/// never dereferenced, and is forgotten whenever the consumer or its assignment changes.
pub(super) struct CurrentPartition {
    topic: *const RDKafkaTopic,
    partition: i32,
    index: usize,
}

impl CurrentPartition {
    pub(super) const NONE: CurrentPartition = CurrentPartition { topic: std::ptr::null(), partition: -1, index: 0 };

    /// The index in `positions` of the message's partition, if it is one of them.
    #[inline]
    pub(super) fn find(&mut self, positions: &[PartitionOffset], msg: &Msg) -> Option<usize> {
        let (topic, partition) = (msg.topic_ptr(), msg.partition());
        if topic != self.topic || partition != self.partition {
            let name = msg.topic();
            let index = positions.iter().position(|p| p.partition == partition && p.topic == name)?;
            *self = CurrentPartition { topic, partition, index };
        }
        Some(self.index)
    }

    /// Records that the message's offset was counted.
    #[inline]
    fn advance(&mut self, positions: &mut [PartitionOffset], msg: &Msg) {
        // Not ours cannot happen with manual assignment.
        if let Some(index) = self.find(positions, msg) {
            positions[index].next = msg.offset() + 1;
        }
    }
}

impl Worker {
    /// Counts message `i` of the current batch (or sends it to the dead-letter topic) and
    /// records its offset as read.
    #[inline]
    fn count_message(&mut self, i: usize, now_ms: i64) -> Result<(), KafkaError> {
        let msg = &self.consumer.messages()[i];
        if let Some(e) = msg.error() {
            self.consumer.consumer().context().kafka_error(&e);
            if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset) {
                self.out_of_range.push((msg.topic().to_string(), msg.partition()));
            }
            return Ok(());
        }
        if let Some(reason) = self.shard.process(msg.payload().unwrap_or(&[]), now_ms) {
            if let Some(d) = &mut self.dead_letters {
                d.send(msg, reason)?;
                self.shard.count_dead_letter();
            }
        }
        self.current.advance(&mut self.positions, msg);
        self.read += 1;
        Ok(())
    }

    /// Reads message `i` of the batch as a delta record (a merge member's worker), to be folded
    /// at the next hand-over; a record it may not fold is counted by reason and logged.
    fn fold_message(&mut self, i: usize) {
        let msg = &self.consumer.messages()[i];
        let Some(folding) = &mut self.folding else { return };
        if let Some(e) = msg.error() {
            match e.rdkafka_error_code() {
                // At the end: the offset is where the next record will be, past the transaction
                // markers, which are never returned as messages (recording the last record's
                // offset + 1 alone would leave a lag of one marker on every partition). Not the
                // consumer's position: librdkafka moves that one past the end at an EOF.
                Some(RDKafkaErrorCode::PartitionEOF) => {
                    folding.queue.at_end(msg.topic(), msg.partition());
                    let (topic, partition, end) = (msg.topic(), msg.partition(), msg.offset());
                    if let Some(p) = self.positions.iter_mut().find(|p| p.partition == partition && p.topic == topic) {
                        p.next = p.next.max(end);
                    }
                }
                code => {
                    self.consumer.consumer().context().kafka_error(&e);
                    if code == Some(RDKafkaErrorCode::AutoOffsetReset) {
                        self.out_of_range.push((msg.topic().to_string(), msg.partition()));
                    }
                }
            }
            return;
        }
        match DeltaRecord::decode(msg.payload().unwrap_or(&[]), &self.config) {
            Ok(record) => folding.queue.push(msg.topic(), msg.partition(), msg.offset(), record),
            Err(e) => {
                folding.refused[e.index()] += 1;
                // Its input ranges still confirm the records that end where they start.
                if let Some((_, ranges)) = DeltaRecord::decode_head(msg.payload().unwrap_or(&[])) {
                    folding.queue.saw(&ranges);
                }
                if folding.last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    folding.last_warning = Some(Instant::now());
                    tracing::error!(worker = self.id, topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), error = %e, "delta record not folded (is every member running the same SLI definitions?)");
                }
            }
        }
        self.current.advance(&mut self.positions, msg);
        self.read += 1;
    }

    /// Repairs the partitions librdkafka found out of range in the last batch (called between
    /// batches, so every offset recorded is exact), by the same rule as a checkpoint's offsets at
    /// start ([`super::resume_within`]); what retention deleted unread also goes to
    /// `slostream_events_skipped_total` through the worker's view.
    #[cold]
    fn repair_out_of_range(&mut self) -> Result<(), KafkaError> {
        let mut unknown = Vec::new();
        let stopped = std::mem::take(&mut self.out_of_range);
        let asked = stopped.len();
        for (topic, partition) in stopped {
            let Some(i) = self.positions.iter().position(|p| p.partition == partition && p.topic == topic) else {
                continue;
            };
            let next = self.positions[i].next;
            let (low, high) = match self.consumer.consumer().fetch_watermarks(&topic, partition, WATERMARK_TIMEOUT) {
                Ok(w) => w,
                Err(e) => {
                    // The broker cannot say now; the partition stays stopped and is tried again.
                    tracing::warn!(worker = self.id, topic, partition, error = %e, "offset out of range; cannot read the partition's watermarks yet");
                    unknown.push((topic, partition));
                    continue;
                }
            };
            let (resume_at, skipped) =
                super::resume_within(&format!("worker {}", self.id), &topic, partition, next, (low, high));
            if skipped > 0 {
                match self.skipped.iter_mut().find(|(t, p, _)| *p == partition && *t == topic) {
                    Some((_, _, total)) => *total += skipped,
                    None => self.skipped.push((topic, partition, skipped)),
                }
            }
            self.positions[i].next = resume_at;
        }
        let repaired = unknown.len() < asked;
        self.out_of_range = unknown;
        if repaired {
            self.reassign()?;
        }
        Ok(())
    }

    fn assign(&mut self, parts: Vec<PartitionOffset>) -> Result<(), KafkaError> {
        for p in parts {
            if !self.positions.iter().any(|q| q.topic == p.topic && q.partition == p.partition) {
                self.positions.push(p);
            }
        }
        self.reassign()
    }

    /// (Re)assigns every partition at its exact next offset.
    fn reassign(&mut self) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for p in &self.positions {
            let offset = if p.next == FROM_BEGINNING { Offset::Beginning } else { Offset::Offset(p.next) };
            tpl.add_partition_offset(&p.topic, p.partition, offset)?;
        }
        self.current = CurrentPartition::NONE;
        self.consumer.consumer().assign(&tpl)?;
        self.progress = (self.read, Instant::now());
        tracing::info!(worker = self.id, partitions = self.positions.len(), "partitions assigned");
        Ok(())
    }

    /// Hands the shard's batch and counters to the tally with the offsets they cover. Dead
    /// letters of the covered messages are flushed first, so that a checkpoint never covers a
    /// reject whose dead letter is not acknowledged; if they are not acknowledged in time, the
    /// counts still go to the tally (metrics stay current) but mark it not checkpointable.
    /// An idle worker hands over too (nothing but its offsets), so the tally knows its part of
    /// the cut is current.
    fn hand_over(&mut self, how: HandOver) {
        let acknowledged = self.flush_dead_letters(how);
        let tally = self.tally.clone();
        let mut tally = match how {
            HandOver::IfFree => match try_lock_tally(&tally) {
                Some(t) => t,
                None => return,
            },
            HandOver::Wait | HandOver::Final => lock_tally(&tally),
        };
        let mut capped = Vec::new();
        if let Some(folding) = &mut self.folding {
            let left_out = folding.queue.drain_decided(&mut *tally);
            folding.refused[DeltaError::ABORTED_BY_WRITER] += left_out.aborted;
            folding.refused[DeltaError::ALREADY_COUNTED] += left_out.already_counted;
            // The cut stops at each partition's first record not folded yet: a restart reads it
            // again and decides it the same way.
            capped = self.positions.clone();
            for p in &mut capped {
                if let Some(held) = folding.queue.first_held(&p.topic, p.partition) {
                    p.next = p.next.min(held);
                }
            }
        }
        let positions = if self.folding.is_some() { &capped } else { &self.positions };
        let cut = Cut { positions, acknowledged, now: Instant::now() };
        self.shard.hand_over(&mut tally, self.id, cut);
    }

    /// Whether every dead letter produced so far has been acknowledged (waiting a little).
    fn flush_dead_letters(&mut self, how: HandOver) -> bool {
        let Some(d) = &self.dead_letters else { return true };
        if d.sent() == self.acknowledged_dead_letters {
            return true;
        }
        let wait = if how == HandOver::Final { DEAD_LETTER_FLUSH } else { DEAD_LETTER_FLUSH_ROUTINE };
        match d.flush(wait) {
            Ok(()) => {
                self.acknowledged_dead_letters = d.sent();
                true
            }
            Err(e) => {
                tracing::warn!(worker = self.id, error = %e, "dead letters not acknowledged yet; no checkpoint until they are");
                false
            }
        }
    }

    fn lag(&self, p: &PartitionOffset) -> Option<i64> {
        let high = cached_high_watermark(self.consumer.consumer(), &p.topic, p.partition)?;
        // Before the first message the position is unknown; the low watermark is not cached, so
        // lag is reported once reading has started.
        (p.next >= 0).then(|| (high - p.next).max(0))
    }

    fn publish(&self, now_ms: i64, view: &Mutex<WorkerView>) {
        let partitions: Vec<PartitionState> = self
            .positions
            .iter()
            .map(|p| PartitionState {
                topic: p.topic.clone(),
                partition: p.partition,
                lag: self.lag(p),
                skipped: self
                    .skipped
                    .iter()
                    .find(|(t, q, _)| *q == p.partition && *t == p.topic)
                    .map_or(0, |(_, _, n)| *n),
            })
            .collect();
        let mut v = view.lock().unwrap_or_else(|e| e.into_inner());
        v.at_ms = now_ms;
        v.partitions = partitions;
        v.stalls = self.stalls;
        v.refused = self.folding.as_ref().map_or(Default::default(), |f| f.refused);
    }

    /// A consumer that has partitions with lag but reads nothing for `stall_timeout` is
    /// recreated at the exact next offsets (a known librdkafka/rust-rdkafka failure mode:
    /// fetching silently stops). Counts are untouched, so nothing is lost or re-counted.
    fn check_stall(&mut self) -> Result<(), KafkaError> {
        if self.read != self.progress.0 {
            self.progress = (self.read, Instant::now());
            return Ok(());
        }
        let lagging = self.positions.iter().any(|p| self.lag(p).is_some_and(|l| l > 0));
        if !lagging || self.progress.1.elapsed() < self.config.ingest.stall_timeout {
            return Ok(());
        }
        self.stalls += 1;
        tracing::warn!(
            worker = self.id,
            idle_secs = self.progress.1.elapsed().as_secs(),
            "consumer has lag but made no progress; recreating it at the last counted offsets"
        );
        self.consumer = BatchConsumer::new(create_consumer(&self.config, self.id, &self.errors)?)?;
        self.reassign()
    }
}
