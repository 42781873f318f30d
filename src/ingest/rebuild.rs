//! The history reader of a rebuild: reads each partition's retained history, `[next, end)`,
//! classifies it like a worker, and adds only the rebuilt SLIs' counts to the tally.
//!
//! `end` is where live reading began, so the live workers count every event from `end` on for
//! every SLI and this reader every event before it for the rebuilt ones: no event is counted
//! twice or lost at the switch-over. Each hand-over adds the counts and moves the rebuild's
//! `next` offsets under the tally's lock, in one step, so a checkpoint holds both in the same
//! cut and a restart resumes exactly where the counts stop. The process-wide counters (consumed,
//! rejected, ...) are left alone: live reading counted those messages the first time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::batch::BatchConsumer;
use super::{client_config, IngestContext, KafkaErrors};
use crate::config::{Config, Role};
use crate::count::{lock_tally, Shard, Tally};
use crate::state::delta_record::DeltaRecord;
use crate::state::rebuild::RebuildPartition;

/// How often what was read is added to the tally.
const HAND_OVER_EVERY: Duration = Duration::from_millis(500);

/// What the reader needs besides the config.
#[derive(Clone)]
pub struct RebuildLinks {
    /// Where the counts go; its `rebuild` says what to read.
    pub tally: Arc<Mutex<Tally>>,
    /// Set when the process stops: the reader hands over what it read and returns.
    pub stop: Arc<AtomicBool>,
    /// Where its Kafka client counts errors.
    pub errors: Arc<KafkaErrors>,
    /// Partitions whose history retention cut: the event time of the first event read from
    /// each is where the rebuilt SLIs' history starts, if later than the tally's `history` says.
    pub cut_by_retention: Vec<(String, i32)>,
    /// The partitions this reader reads (the rebuild's are shared among several readers).
    pub partitions: Vec<(String, i32)>,
    /// This reader's number, for its client id and log lines.
    pub id: usize,
}

/// Copies the ends the tally learned since into `parts` (a merge member's: new ones, and ones
/// lowered by a record read out of order); whether a partition's end became known.
fn copy_learned_ends(tally: &Mutex<Tally>, parts: &mut [RebuildPartition]) -> bool {
    let t = lock_tally(tally);
    let Some(r) = &t.rebuild else { return false };
    let mut learned = false;
    for p in parts.iter_mut() {
        if let Some(q) = r.partitions.iter().find(|q| q.partition == p.partition && q.topic == p.topic) {
            learned |= p.is_open() && !q.is_open();
            p.end = p.end.min(q.end);
        }
    }
    learned
}

/// Reads the rebuild's history until done or `stop`.
pub fn run(config: Arc<Config>, links: RebuildLinks) -> Result<(), KafkaError> {
    let RebuildLinks { tally, stop, errors, cut_by_retention, partitions, id } = links;
    let mine = |p: &&RebuildPartition| partitions.iter().any(|(t, q)| *q == p.partition && *t == p.topic);
    let (slis, mut parts) = {
        let t = lock_tally(&tally);
        let Some(r) = &t.rebuild else { return Ok(()) };
        (r.slis.clone(), r.partitions.iter().filter(mine).filter(|p| p.next < p.end).cloned().collect::<Vec<_>>())
    };
    if parts.is_empty() {
        return Ok(());
    }
    // Only the rebuilt SLIs are decoded for and classified: a config holding just them, whose
    // counts are renumbered to the whole config's ids at each hand-over.
    let ids: Vec<u32> =
        (0..config.slis.len() as u32).filter(|&i| slis.contains(&config.slis[i as usize].name)).collect();
    let bd_ids: Vec<u32> = config
        .breakdowns()
        .enumerate()
        .filter(|(_, (sli, _))| ids.contains(&(*sli as u32)))
        .map(|(bd, _)| bd as u32)
        .collect();
    let mut only = (*config).clone();
    only.slis.retain(|s| slis.contains(&s.name));
    let mut c = client_config(&config);
    c.set("client.id", super::client_id(&config, format!("rebuild-{id}")));
    let consumer: BaseConsumer<IngestContext> =
        c.create_with_context(IngestContext::new(format!("rebuild {id}"), errors))?;
    let mut consumer = BatchConsumer::new(consumer)?;
    // A merge member's partitions whose history's end is not known yet are read once it is.
    let assign = |consumer: &BatchConsumer<IngestContext>, parts: &[RebuildPartition]| -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for p in parts.iter().filter(|p| !p.is_open() && p.next < p.end) {
            tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.next))?;
        }
        consumer.consumer().assign(&tpl)
    };
    assign(&consumer, &parts)?;
    tracing::info!(reader = id, slis = ?slis, partitions = parts.len(), "rebuilding history");

    let mut shard = Shard::new(&only);
    let mut record = DeltaRecord::empty(&only);
    let mut first_ts: Vec<Option<i64>> = vec![None; parts.len()];
    let mut history_start: Option<i64> = None;
    let clock = config.clock.clone();
    let mut last_hand_over = Instant::now();
    let mut hand_over = |shard: &mut Shard, parts: &[RebuildPartition], history_start: Option<i64>| {
        shard.take_delta(&mut record);
        record.delta.renumber(&ids, &bd_ids);
        let mut t = lock_tally(&tally);
        t.fold_rebuilt(&record.delta, parts);
        if let Some(start) = history_start {
            for (_, since) in t.history.iter_mut().filter(|(s, _)| slis.contains(s)) {
                *since = (*since).max(start);
            }
        }
        drop(t);
        record.clear();
    };
    while !stop.load(Ordering::Relaxed) && parts.iter().any(|p| p.next < p.end) {
        let now_ms = clock.now_ms();
        let n = consumer.poll(Duration::from_millis(100)).len();
        for i in 0..n {
            let msg = &consumer.messages()[i];
            if let Some(e) = msg.error() {
                consumer.consumer().context().kafka_error(&e);
                continue;
            }
            let (topic, partition, offset) = (msg.topic(), msg.partition(), msg.offset());
            let Some(k) = parts.iter().position(|p| p.partition == partition && p.topic == topic) else { continue };
            if offset < parts[k].next || offset >= parts[k].end {
                continue;
            }
            let payload = msg.payload().unwrap_or(&[]);
            if first_ts[k].is_none() && cut_by_retention.iter().any(|(t, q)| *q == partition && t == topic) {
                first_ts[k] = Some(shard.event_time(payload, now_ms).unwrap_or(i64::MIN));
                history_start = history_start.max(first_ts[k]);
            }
            shard.process(payload, now_ms);
            parts[k].next = offset + 1;
            if shard.is_full() {
                hand_over(&mut shard, &parts, history_start);
            }
        }
        if last_hand_over.elapsed() >= HAND_OVER_EVERY {
            last_hand_over = Instant::now();
            if config.role == Role::Merge && copy_learned_ends(&tally, &mut parts) {
                assign(&consumer, &parts)?;
            }
            // Transaction markers and compacted records are never returned: a partition whose
            // consumer position has passed `end` is done even if no message reached it.
            if let Ok(positions) = consumer.consumer().position() {
                for e in positions.elements() {
                    if let (Offset::Offset(at), Some(p)) =
                        (e.offset(), parts.iter_mut().find(|p| p.partition == e.partition() && p.topic == e.topic()))
                    {
                        p.next = p.next.max(at.min(p.end));
                    }
                }
            }
            hand_over(&mut shard, &parts, history_start);
        }
    }
    hand_over(&mut shard, &parts, history_start);
    let done = parts.iter().all(|p| p.next >= p.end);
    tracing::info!(reader = id, done, "history reader stopped");
    Ok(())
}
