//! Ingest: Kafka messages in, counted into a [`Shard`] per worker thread.
//!
//! Each worker owns one librdkafka consumer in the configured group (the group spreads the
//! partitions over the workers), polls it on a dedicated OS thread and runs the hot path inline,
//! so a message is counted before the next poll. That ordering is what makes offsets honest:
//! an offset is stored only after its event is counted (`enable.auto.offset.store=false`), and
//! librdkafka commits stored offsets periodically and on revoke, so an in-process rebalance
//! between workers neither loses nor re-counts. Across a crash this is at-least-once.

mod context;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::Offset;

use crate::config::Config;
use crate::pipeline::shard::{PartitionState, Shard, ShardView};
pub use context::IngestContext;

/// How often a worker refreshes its view for the exporter.
const PUBLISH_EVERY_MS: i64 = 500;
/// Messages between wall-clock reads on a busy stream (an idle poll always reads it).
const CLOCK_EVERY: u32 = 256;

/// Wall clock in epoch milliseconds.
pub fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// librdkafka settings: ours first, the user's `kafka.properties` last so they win.
pub fn client_config(config: &Config) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.kafka.brokers)
        .set("group.id", &config.kafka.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        // A new group reads what the topic retains: the windows span up to the SLO period.
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // The 1 s default stalls a fast consumer at 100-200k msg/s with idle CPU (librdkafka #3662).
        .set("fetch.queue.backoff.ms", "20")
        .set("fetch.wait.max.ms", "100")
        .set("queued.max.messages.kbytes", "65536")
        .set("session.timeout.ms", "10000");
    for (k, v) in &config.kafka.properties {
        c.set(k, v);
    }
    c
}

/// Runs one worker until `stop`: poll, count, store offsets, publish its view twice a second.
/// On stop it publishes a last time and commits what it counted.
pub fn run_worker(
    id: usize,
    config: Arc<Config>,
    view: Arc<Mutex<ShardView>>,
    stop: Arc<AtomicBool>,
) -> Result<(), KafkaError> {
    let context = IngestContext::new(id);
    let consumer: BaseConsumer<IngestContext> = client_config(&config).create_with_context(context)?;
    let topics: Vec<&str> = config.kafka.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let mut shard = Shard::new(&config);
    let mut now_ms = wall_ms();
    let mut next_publish = now_ms;
    let mut since_clock = 0u32;
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                shard.process(msg.payload().unwrap_or(&[]), now_ms);
                if let Err(e) = consumer.store_offset_from_message(&msg) {
                    consumer.context().kafka_error(&e);
                }
                since_clock += 1;
            }
            Some(Err(e)) => consumer.context().kafka_error(&e),
            None => since_clock = CLOCK_EVERY,
        }
        if since_clock >= CLOCK_EVERY {
            since_clock = 0;
            now_ms = wall_ms();
            if now_ms >= next_publish {
                next_publish = now_ms + PUBLISH_EVERY_MS;
                publish(&consumer, &shard, now_ms, &view);
            }
        }
    }
    publish(&consumer, &shard, wall_ms(), &view);
    if consumer.assignment().map(|a| a.count() > 0).unwrap_or(false) {
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::warn!(worker = id, error = %e, "final offset commit failed; those events may be counted again after restart");
        }
    }
    tracing::info!(worker = id, consumed = shard.consumed(), "worker stopped");
    Ok(())
}

fn publish(consumer: &BaseConsumer<IngestContext>, shard: &Shard, now_ms: i64, view: &Mutex<ShardView>) {
    let partitions = partition_states(consumer);
    let mut v = view.lock().unwrap_or_else(|e| e.into_inner());
    shard.publish(now_ms, &mut v);
    v.assigned = consumer.context().assigned();
    v.partitions = partitions;
}

fn partition_states(consumer: &BaseConsumer<IngestContext>) -> Vec<PartitionState> {
    let Ok(position) = consumer.position() else { return Vec::new() };
    position
        .elements()
        .iter()
        .map(|e| {
            let lag = match (e.offset(), cached_high_watermark(consumer, e.topic(), e.partition())) {
                (Offset::Offset(pos), Some(high)) => Some((high - pos).max(0)),
                _ => None,
            };
            PartitionState { topic: e.topic().to_string(), partition: e.partition(), lag }
        })
        .collect()
}

/// The high watermark librdkafka last saw in a fetch response: no broker round trip, so it is
/// cheap enough for every publish tick (rust-rdkafka only wraps the querying variant).
fn cached_high_watermark(consumer: &BaseConsumer<IngestContext>, topic: &str, partition: i32) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives; the out-pointers are locals.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_client().ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}
