//! One ingest worker: a librdkafka consumer on its own OS thread, counting into its own shard.
//!
//! Partitions are assigned by hand (no group rebalancing): the coordinator gives each worker its
//! partitions with the exact next offset from the last checkpoint. The worker counts every
//! message inline before the next poll and tracks the next offset of each partition, so a
//! snapshot of its shard plus those offsets is always a consistent cut. Between messages it
//! serves commands (new partitions, snapshot requests) and refreshes its view for the exporter.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::dead_letter::{AlreadySent, DeadLetters};
use super::{cached_high_watermark, client_config, wall_ms, IngestContext};
use crate::config::Config;
use crate::pipeline::shard::{PartitionState, Shard, ShardView};
use crate::state::{Counters, PartitionOffset};
use crate::window::WindowStore;

/// How often a worker refreshes its view for the exporter.
const PUBLISH_EVERY_MS: i64 = 500;
/// Messages between wall-clock reads on a busy stream (an idle poll always reads it).
const CLOCK_EVERY: u32 = 256;
/// `next` of a partition nothing has been read from: start at the beginning.
pub const FROM_BEGINNING: i64 = -1;

pub enum Command {
    /// Start reading these partitions (in addition to the current ones).
    Assign(Vec<PartitionOffset>),
    /// Send back a consistent snapshot of counts and offsets (an error when the dead letters
    /// it covers could not be delivered).
    Snapshot(SyncSender<Result<Snapshot, String>>),
}

/// A worker's counts and the offsets they cover, taken between two messages.
pub struct Snapshot {
    pub store: WindowStore,
    pub counters: Counters,
    pub offsets: Vec<PartitionOffset>,
}

struct Worker {
    id: usize,
    config: Arc<Config>,
    consumer: BaseConsumer<IngestContext>,
    shard: Shard,
    positions: Vec<PartitionOffset>,
    /// Index into `positions` of the last message's partition: consecutive messages mostly come
    /// from the same partition, so the lookup is one comparison.
    last: usize,
    /// Messages read, and when that number last changed (checked per publish tick, so the hot
    /// path does not read the clock).
    read: u64,
    progress: (u64, Instant),
    stalls: u64,
    dead_letters: Option<DeadLetters>,
}

/// Longest wait for dead letters to be acknowledged before a snapshot.
const DEAD_LETTER_FLUSH: Duration = Duration::from_secs(10);

/// Runs a worker until `stop`; returns the final snapshot.
pub fn run(
    id: usize,
    config: Arc<Config>,
    restored: Option<(WindowStore, Counters)>,
    already_dead_lettered: AlreadySent,
    commands: Receiver<Command>,
    view: Arc<Mutex<ShardView>>,
    stop: Arc<AtomicBool>,
) -> Result<Snapshot, KafkaError> {
    let mut shard = Shard::new(&config);
    if let Some((store, counters)) = restored {
        shard.restore(store, counters);
    }
    let consumer = create_consumer(&config, id)?;
    let dead_letters = match &config.events.dead_letter_topic {
        Some(topic) => Some(DeadLetters::new(&config, topic, already_dead_lettered)?),
        None => None,
    };
    let mut w = Worker {
        id,
        config,
        consumer,
        shard,
        positions: Vec::new(),
        last: 0,
        read: 0,
        progress: (0, Instant::now()),
        stalls: 0,
        dead_letters,
    };
    let mut now_ms = wall_ms();
    let mut next_publish = now_ms;
    let mut since_clock = CLOCK_EVERY;
    let mut idle = false;
    while !stop.load(Ordering::Relaxed) {
        // Housekeeping (clock, commands, view) runs every CLOCK_EVERY messages under a backlog
        // and at every gap in a trickle, so neither freshness nor snapshots wait for traffic.
        if since_clock >= CLOCK_EVERY {
            since_clock = 0;
            now_ms = wall_ms();
            loop {
                match commands.try_recv() {
                    Ok(Command::Assign(parts)) => w.assign(parts)?,
                    Ok(Command::Snapshot(reply)) => {
                        let _ = reply.send(w.snapshot());
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            if let Some(d) = &w.dead_letters {
                d.poll();
            }
            if now_ms >= next_publish {
                next_publish = now_ms + PUBLISH_EVERY_MS;
                w.publish(now_ms, &view);
                w.check_stall()?;
            }
        }
        let wait = if idle { Duration::from_millis(100) } else { Duration::ZERO };
        match w.consumer.poll(wait) {
            Some(Ok(msg)) => {
                if let Some(reason) = w.shard.process(msg.payload().unwrap_or(&[]), now_ms) {
                    if let Some(d) = &mut w.dead_letters {
                        d.send(&msg, reason)?;
                        w.shard.count_dead_letter();
                    }
                }
                advance(&mut w.positions, &mut w.last, msg.topic(), msg.partition(), msg.offset());
                w.read += 1;
                since_clock += 1;
                idle = false;
            }
            Some(Err(e)) => w.consumer.context().kafka_error(&e),
            None => {
                since_clock = CLOCK_EVERY;
                idle = true;
            }
        }
    }
    w.publish(wall_ms(), &view);
    tracing::info!(worker = id, consumed = w.shard.consumed(), "worker stopped");
    w.snapshot().map_err(|_| KafkaError::Flush(rdkafka::types::RDKafkaErrorCode::OperationTimedOut))
}

fn create_consumer(config: &Config, id: usize) -> Result<BaseConsumer<IngestContext>, KafkaError> {
    let mut c = client_config(config);
    c.set(
        "client.id",
        format!(
            "{}-{id}",
            config.kafka.properties.iter().find(|(k, _)| k == "client.id").map_or("slostream", |(_, v)| v.as_str())
        ),
    );
    c.create_with_context(IngestContext::new(id))
}

/// Records that `offset` of a partition was counted.
#[inline]
fn advance(positions: &mut [PartitionOffset], last: &mut usize, topic: &str, partition: i32, offset: i64) {
    let hit = |p: &PartitionOffset| p.partition == partition && p.topic == topic;
    if !positions.get(*last).is_some_and(hit) {
        match positions.iter().position(hit) {
            Some(i) => *last = i,
            None => return, // not ours (cannot happen with manual assignment)
        }
    }
    positions[*last].next = offset + 1;
}

impl Worker {
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
        self.consumer.assign(&tpl)?;
        self.progress = (self.read, Instant::now());
        tracing::info!(worker = self.id, partitions = self.positions.len(), "partitions assigned");
        Ok(())
    }

    /// The shard's counts and the offsets they cover. Dead letters of the covered messages are
    /// flushed first: a checkpoint never covers a reject whose dead letter is not acknowledged.
    fn snapshot(&self) -> Result<Snapshot, String> {
        if let Some(d) = &self.dead_letters {
            if let Err(e) = d.flush(DEAD_LETTER_FLUSH) {
                tracing::warn!(worker = self.id, error = %e, "dead letters not acknowledged; no snapshot this time");
                return Err(format!("worker {}: dead letters not acknowledged: {e}", self.id));
            }
        }
        let mut store = WindowStore::new(0, 0, 0);
        let mut counters = Counters::default();
        self.shard.snapshot_into(&mut store, &mut counters);
        Ok(Snapshot { store, counters, offsets: self.positions.clone() })
    }

    fn lag(&self, p: &PartitionOffset) -> Option<i64> {
        let high = cached_high_watermark(&self.consumer, &p.topic, p.partition)?;
        // Before the first message the position is unknown; the low watermark is not cached, so
        // lag is reported once reading has started.
        (p.next >= 0).then(|| (high - p.next).max(0))
    }

    fn publish(&self, now_ms: i64, view: &Mutex<ShardView>) {
        let partitions: Vec<PartitionState> = self
            .positions
            .iter()
            .map(|p| PartitionState { topic: p.topic.clone(), partition: p.partition, lag: self.lag(p) })
            .collect();
        let mut v = view.lock().unwrap_or_else(|e| e.into_inner());
        self.shard.publish(now_ms, &mut v);
        v.partitions = partitions;
        v.stalls = self.stalls;
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
        self.consumer = create_consumer(&self.config, self.id)?;
        self.reassign()
    }
}
