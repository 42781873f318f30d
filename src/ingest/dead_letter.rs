//! The dead-letter topic: every rejected message, with its original bytes and why.
//!
//! Guarantee: each rejected message appears in the topic exactly once, across crashes.
//! - Not lost: the producer is idempotent and never gives up (`message.timeout.ms=0`), and a
//!   worker flushes it before handing its counts and offsets to the tally, so a checkpoint only
//!   covers source offsets whose dead letters the broker has acknowledged. A flush that times
//!   out marks the tally not checkpointable until a later one succeeds.
//! - Not duplicated: each checkpoint records where the dead-letter partitions ended before the
//!   cut (read at the previous checkpoint tick, and used only once every worker has handed over
//!   since). On restart, the coordinator reads the dead letters written after that point and
//!   workers skip re-producing those whose source offset they see again.
//!
//! Headers: `slostream.reason`, `slostream.source.topic`, `slostream.source.partition`,
//! `slostream.source.offset` (decimal), so a record can be traced back and replayed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::batch::Msg;
use super::{IngestContext, KafkaErrors};
use crate::config::Config;
use crate::decode::Reject;
use crate::state::PartitionOffset;

/// Header: the reject reason's label value.
const REASON: &str = "slostream.reason";
/// Header: the topic the message was read from.
const SOURCE_TOPIC: &str = "slostream.source.topic";
/// Header: its partition, in decimal.
const SOURCE_PARTITION: &str = "slostream.source.partition";
/// Header: its offset, in decimal.
const SOURCE_OFFSET: &str = "slostream.source.offset";

/// Source messages already dead-lettered after the restored checkpoint.
pub type AlreadySent = Arc<HashSet<(String, i32, i64)>>;

/// A worker's producer of dead letters.
pub struct DeadLetters {
    /// Its errors count in `slostream_kafka_errors_total` as the consumers' do.
    producer: BaseProducer<IngestContext>,
    topic: String,
    already: AlreadySent,
    sent: u64,
}

/// The dead-letter producer's settings (an ingest member's transactional producer starts from
/// them too).
pub(crate) fn producer_config(config: &Config) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.kafka.brokers);
    for (k, v) in &config.kafka.properties {
        c.set(k, v);
    }
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "0")
        // Whatever the source topic accepted must fit (too_large rejects included).
        .set("message.max.bytes", "1000000000")
        .set("linger.ms", "20");
    c
}

impl DeadLetters {
    /// A producer to `topic` that skips the source messages in `already`; `role` names it in
    /// the log.
    pub fn new(
        config: &Config,
        topic: &str,
        already: AlreadySent,
        role: impl std::fmt::Display,
        errors: Arc<KafkaErrors>,
    ) -> Result<DeadLetters, KafkaError> {
        let producer = producer_config(config).create_with_context(IngestContext::new(role, errors))?;
        Ok(DeadLetters { producer, topic: topic.to_string(), already, sent: 0 })
    }

    /// Dead letters produced by this worker since it started.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Queues one rejected message (skipping it if a previous run already delivered it).
    pub fn send(&mut self, msg: &Msg, reason: Reject) -> Result<(), KafkaError> {
        if !self.already.is_empty() && self.already.contains(&(msg.topic().to_string(), msg.partition(), msg.offset()))
        {
            return Ok(());
        }
        send(&self.producer, &self.topic, msg, reason)?;
        self.sent += 1;
        Ok(())
    }

    /// Serves delivery reports; call between messages.
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Waits until the broker acknowledged every queued dead letter.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }
}

/// Queues one rejected message as a dead letter on `producer` (waiting while its queue is full):
/// the worker's own producer, or an ingest member's transactional one.
pub(crate) fn send(
    producer: &BaseProducer<IngestContext>,
    topic: &str,
    msg: &Msg,
    reason: Reject,
) -> Result<(), KafkaError> {
    let (partition, offset) = (msg.partition().to_string(), msg.offset().to_string());
    let headers = OwnedHeaders::new_with_capacity(4)
        .insert(Header { key: REASON, value: Some(reason.as_str()) })
        .insert(Header { key: SOURCE_TOPIC, value: Some(msg.topic()) })
        .insert(Header { key: SOURCE_PARTITION, value: Some(&partition) })
        .insert(Header { key: SOURCE_OFFSET, value: Some(&offset) });
    let mut record = BaseRecord::<[u8], [u8]>::to(topic).headers(headers);
    if let Some(p) = msg.payload() {
        record = record.payload(p);
    }
    if let Some(k) = msg.key() {
        record = record.key(k);
    }
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(50));
            }
            Err((e, _)) => return Err(e),
        }
    }
    Ok(())
}

/// Where each dead-letter partition ends now (a topic not created yet has none).
pub fn ends(
    client: &BaseConsumer<IngestContext>,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<PartitionOffset>, KafkaError> {
    let metadata = client.fetch_metadata(Some(topic), timeout)?;
    let mut out = Vec::new();
    for t in metadata.topics().iter().filter(|t| t.error().is_none()) {
        for p in t.partitions() {
            let (_, high) = client.fetch_watermarks(topic, p.id(), timeout)?;
            out.push(PartitionOffset { topic: topic.to_string(), partition: p.id(), next: high });
        }
    }
    Ok(out)
}

/// Reads the dead letters written since `from` (partitions not listed: from the beginning) and
/// returns the source messages they stand for.
pub fn written_since(
    config: &Config,
    topic: &str,
    from: &[PartitionOffset],
    timeout: Duration,
    errors: Arc<KafkaErrors>,
) -> Result<HashSet<(String, i32, i64)>, KafkaError> {
    let consumer: BaseConsumer<IngestContext> =
        super::client_config(config).create_with_context(IngestContext::new("dead-letter-reader", errors))?;
    let start_of = |partition: i32| from.iter().find(|p| p.partition == partition).map_or(0, |p| p.next);
    let mut ends_left: Vec<PartitionOffset> =
        ends(&consumer, topic, timeout)?.into_iter().filter(|end| start_of(end.partition) < end.next).collect();
    let mut seen = HashSet::new();
    if ends_left.is_empty() {
        return Ok(seen);
    }
    let mut tpl = TopicPartitionList::new();
    for end in &ends_left {
        tpl.add_partition_offset(topic, end.partition, Offset::Offset(start_of(end.partition)))?;
    }
    consumer.assign(&tpl)?;
    let deadline = std::time::Instant::now() + timeout * 6;
    while !ends_left.is_empty() {
        if std::time::Instant::now() > deadline {
            return Err(KafkaError::Canceled);
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                if let Some(source) = source_of(&m) {
                    seen.insert(source);
                }
                ends_left.retain(|e| !(e.partition == m.partition() && m.offset() + 1 >= e.next));
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    Ok(seen)
}

fn source_of(m: &BorrowedMessage<'_>) -> Option<(String, i32, i64)> {
    let headers = m.headers()?;
    let get = |name: &str| {
        headers.iter().find(|h| h.key == name).and_then(|h| h.value).and_then(|v| std::str::from_utf8(v).ok())
    };
    Some((get(SOURCE_TOPIC)?.to_string(), get(SOURCE_PARTITION)?.parse().ok()?, get(SOURCE_OFFSET)?.parse().ok()?))
}
