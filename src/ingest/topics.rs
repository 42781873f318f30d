//! The topics a two-stage deployment shares, created at start when missing.
//!
//! - `<group_id>.deltas`: `scale.deltas_partitions` partitions, deleted after 7 days (a merge
//!   member down longer than that restarts from its checkpoint and reports what retention took,
//!   as for input topics), LZ4, and records up to 16 MiB (a catch-up's delta spans many buckets).
//! - `<group_id>.merge-leader`: one partition, never written; its owner in the group of the same
//!   name pushes alerts.
//!
//! Both members create them, so either may start first. The replication factor is the broker's
//! `default.replication.factor`.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::config::scale::{deltas_topic, leader_topic};
use crate::config::Config;

/// The largest delta record the topic accepts (and members produce).
pub const MAX_DELTA_BYTES: usize = 16 << 20;

/// Creates the deltas and leader topics if they do not exist yet.
pub async fn ensure(config: &Config) -> Result<(), KafkaError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.kafka.brokers);
    for (k, v) in &config.kafka.properties {
        c.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = c.create()?;
    let deltas = deltas_topic(&config.kafka.group_id);
    let leader = leader_topic(&config.kafka.group_id);
    let max_bytes = MAX_DELTA_BYTES.to_string();
    let topics = [
        NewTopic::new(&deltas, config.scale.deltas_partitions, TopicReplication::Fixed(-1))
            .set("retention.ms", "604800000")
            .set("compression.type", "lz4")
            .set("max.message.bytes", &max_bytes),
        NewTopic::new(&leader, 1, TopicReplication::Fixed(-1)),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(name) => tracing::info!(topic = name, "created"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::AdminOp(code))
                    .inspect_err(|_| tracing::error!(topic = name, error = %code, "cannot create topic"))
            }
        }
    }
    Ok(())
}
