//! Ingest: Kafka messages in, counted into a shard per worker thread.
//!
//! Each `worker` owns one librdkafka consumer, polls it for [`batch`]es of messages on a
//! dedicated OS thread and runs the hot path inline, so a batch is counted before the next poll.
//! Partitions are assigned by hand from the checkpoint's offsets (one instance serves a consumer
//! group); the group's committed offsets only mirror checkpoints for lag tools. An ingest
//! member of a two-stage deployment (`--role ingest`) runs [`member`] workers instead: group
//! members that commit what they counted in Kafka transactions; the [`topics`] they share with
//! merge members are created here.

pub mod batch;
mod context;
pub(crate) mod dead_letter;
pub(crate) mod fold_queue;
pub mod member;
pub mod rebuild;
pub mod topics;
pub(crate) mod worker;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::Config;
use crate::state::PartitionOffset;
pub use context::KafkaErrors;
pub(crate) use context::{IngestContext, KafkaErrorKind};

/// librdkafka settings: ours first, the user's `kafka.properties` last so they win.
pub fn client_config(config: &Config) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.kafka.brokers)
        .set("group.id", &config.kafka.group_id)
        // Positions come from slostream's own checkpoint; Kafka commits are only for lag tools
        // and are made after each checkpoint, never ahead of it.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A partition never seen before is read from what the topic retains: the windows span
        // up to the SLO period. Checkpointed offsets below the retained start are reported.
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // The 1 s default stalls a fast consumer at 100-200k msg/s with idle CPU (librdkafka #3662).
        .set("fetch.queue.backoff.ms", "20")
        .set("fetch.wait.max.ms", "100")
        // Prefetch: 16 MB per worker and 20,000 messages per partition instead of librdkafka's
        // 64 MB and 100,000 (reading a 3M-event backlog, alternating: no slower, peak RSS 120 MB
        // instead of 232 MB). Not lower: with 5,000 messages per partition the raw consumer
        // read at 0.70x the rate, the queue running dry within the 20 ms fetch backoff.
        .set("queued.max.messages.kbytes", "16384")
        .set("queued.min.messages", "20000")
        // Fetch responses of at most 4 MB, 512 KB per partition, instead of 50 MB and 1 MB:
        // reading a 5M-event backlog (alternating, three rounds) the raw consumer was as fast
        // (1.82-2.00M against 1.71-2.00M events/s) at about half the peak RSS (40-44 MB against
        // 61-84 MB). Across a long round trip to the brokers, larger values in `kafka.properties`
        // keep more in flight; a message larger than these is still fetched, alone.
        .set("fetch.max.bytes", "4194304")
        .set("max.partition.fetch.bytes", "524288")
        .set("session.timeout.ms", "10000");
    for (k, v) in &config.kafka.properties {
        c.set(k, v);
    }
    // KIP-848 (`group.protocol: consumer`): the broker times sessions out, and librdkafka
    // refuses to create a client that sets one.
    if c.get("group.protocol") == Some("consumer")
        && !config.kafka.properties.iter().any(|(k, _)| k == "session.timeout.ms")
    {
        c.remove("session.timeout.ms");
    }
    c
}

/// A client's `client.id`: the configured one (default `slostream`) with `-<suffix>`, so each
/// worker's connections can be told apart in the broker's logs and quotas.
pub(crate) fn client_id(config: &Config, suffix: impl std::fmt::Display) -> String {
    let base = config.kafka.properties.iter().find(|(k, _)| k == "client.id").map_or("slostream", |(_, v)| v.as_str());
    format!("{base}-{suffix}")
}

/// Every partition of `topics` the broker knows now; a topic that does not exist (yet) has none.
pub(crate) fn discover(
    client: &BaseConsumer<IngestContext>,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<(String, i32)>, KafkaError> {
    let mut out = Vec::new();
    for topic in topics {
        let metadata = client.fetch_metadata(Some(topic), timeout)?;
        for t in metadata.topics() {
            match t.error() {
                None => out.extend(t.partitions().iter().map(|p| (t.name().to_string(), p.id()))),
                Some(e) => {
                    tracing::warn!(topic = t.name(), error = ?e, "topic not available (yet); its partitions will be picked up when it appears")
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Where reading a partition resumes from, given its next offset and the broker's `(low, high)`
/// watermarks, and how many events were skipped: one rule for a checkpointed offset at start and
/// for a worker whose position went out of range while running.
///
/// Below `low`, retention deleted the events in between before they were read: reading resumes
/// at `low` and they are reported (an ERROR line with `skipped=<n>`), never skipped silently.
/// Past `high`, the topic was recreated or truncated: reading resumes at the end, reported too,
/// since reading it from the beginning again would count a truncated partition's events twice.
/// `source` names who asks, for the log (`checkpoint`, `worker 1`).
pub(crate) fn resume_within(
    source: &str,
    topic: &str,
    partition: i32,
    next: i64,
    (low, high): (i64, i64),
) -> (i64, u64) {
    if next < low {
        let skipped = (low - next) as u64;
        tracing::error!(
            source,
            topic,
            partition,
            next_offset = next,
            retained_from = low,
            skipped,
            "events deleted by retention before they were read; they are not counted"
        );
        (low, skipped)
    } else if next > high {
        tracing::error!(
            source,
            topic,
            partition,
            next_offset = next,
            end = high,
            not_read = high - low,
            "next offset is past the end of the partition (topic recreated or truncated?); reading on from its end, so nothing is counted twice"
        );
        (high, 0)
    } else {
        (next, 0)
    }
}

/// Commits offsets to the group, only so that lag tools see progress: slostream itself resumes
/// from its checkpoint, never from these.
pub(crate) fn commit(client: &BaseConsumer<IngestContext>, offsets: &[PartitionOffset]) -> Result<(), KafkaError> {
    commit_with(client, offsets, CommitMode::Async)
}

/// [`commit`], waiting for the broker's answer (used once, at shutdown).
pub(crate) fn commit_sync(client: &BaseConsumer<IngestContext>, offsets: &[PartitionOffset]) -> Result<(), KafkaError> {
    commit_with(client, offsets, CommitMode::Sync)
}

fn commit_with(
    client: &BaseConsumer<IngestContext>,
    offsets: &[PartitionOffset],
    mode: CommitMode,
) -> Result<(), KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for p in offsets.iter().filter(|p| p.next >= 0) {
        tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.next))?;
    }
    if tpl.count() == 0 {
        return Ok(());
    }
    client.commit(&tpl, mode)
}

/// The coordinator's own client: metadata, watermarks and offset commits, never fetching.
pub(crate) fn admin_client(
    config: &Config,
    errors: Arc<KafkaErrors>,
) -> Result<BaseConsumer<IngestContext>, KafkaError> {
    client_config(config).create_with_context(IngestContext::new("coordinator", errors))
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
