//! librdkafka callbacks for slostream's clients: errors counted by kind and logged as
//! rate-limited summaries.
//!
//! Client-level errors (all brokers down, a refused login) reach [`IngestContext`] two ways: the
//! coordinator's client polls its main queue every tick, which calls [`ClientContext::error`];
//! a worker reads its messages with `rd_kafka_consume_batch_queue`, which would leave such
//! errors to librdkafka's own log, so it serves them from its main queue between batches
//! ([`super::batch::BatchConsumer::serve_client_errors`]) into [`IngestContext::client_error`].
//! Partition errors arrive as error messages, into [`IngestContext::kafka_error`]. Every one
//! is counted in [`KafkaErrors`], which the pipeline publishes as
//! `slostream_kafka_errors_total{kind}`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::ProducerContext;

/// Errors are summarised at most this often, so a broker outage does not flood the log.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// What kind of Kafka error: a fixed set, so the metric's `kind` label stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KafkaErrorKind {
    /// A broker connection failed or timed out.
    Transport,
    /// No broker of the cluster can be reached.
    AllBrokersDown,
    /// Credentials or authorisation were refused.
    Authentication,
    /// An error reported for one partition (leader change, unknown partition, ...).
    Partition,
    /// Anything else librdkafka reported.
    Other,
}

impl KafkaErrorKind {
    /// Number of kinds.
    pub(crate) const COUNT: usize = 5;
    /// Every kind, in label order.
    pub(crate) const ALL: [KafkaErrorKind; Self::COUNT] = [
        KafkaErrorKind::Transport,
        KafkaErrorKind::AllBrokersDown,
        KafkaErrorKind::Authentication,
        KafkaErrorKind::Partition,
        KafkaErrorKind::Other,
    ];

    /// The `kind` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KafkaErrorKind::Transport => "transport",
            KafkaErrorKind::AllBrokersDown => "all_brokers_down",
            KafkaErrorKind::Authentication => "authentication",
            KafkaErrorKind::Partition => "partition",
            KafkaErrorKind::Other => "other",
        }
    }

    /// Classifies an error by its librdkafka code.
    pub(crate) fn of(error: &KafkaError) -> KafkaErrorKind {
        use RDKafkaErrorCode as C;
        match error.rdkafka_error_code() {
            Some(C::AllBrokersDown) => KafkaErrorKind::AllBrokersDown,
            Some(
                C::BrokerTransportFailure
                | C::NetworkException
                | C::Resolve
                | C::RequestTimedOut
                | C::OperationTimedOut,
            ) => KafkaErrorKind::Transport,
            Some(
                C::Authentication
                | C::SaslAuthenticationFailed
                | C::TopicAuthorizationFailed
                | C::GroupAuthorizationFailed
                | C::ClusterAuthorizationFailed,
            ) => KafkaErrorKind::Authentication,
            Some(
                C::UnknownTopicOrPartition
                | C::UnknownPartition
                | C::NotLeaderForPartition
                | C::LeaderNotAvailable
                | C::OffsetOutOfRange
                | C::AutoOffsetReset
                | C::FencedLeaderEpoch
                | C::UnknownLeaderEpoch,
            ) => KafkaErrorKind::Partition,
            _ => KafkaErrorKind::Other,
        }
    }
}

/// Kafka errors counted by kind, shared by every client of the process.
#[derive(Debug, Default)]
pub struct KafkaErrors {
    counts: [AtomicU64; KafkaErrorKind::COUNT],
}

impl KafkaErrors {
    /// Errors of this kind so far.
    pub(crate) fn count(&self, kind: KafkaErrorKind) -> u64 {
        self.counts[kind as usize].load(Ordering::Relaxed)
    }

    fn add(&self, kind: KafkaErrorKind) -> u64 {
        self.counts[kind as usize].fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The context of every slostream Kafka client: counts and logs its errors.
pub(crate) struct IngestContext {
    role: String,
    errors: Arc<KafkaErrors>,
    last_log: Mutex<Option<Instant>>,
}

impl IngestContext {
    /// A context for the client called `role` in logs (`coordinator`, a worker's number).
    pub(crate) fn new(role: impl std::fmt::Display, errors: Arc<KafkaErrors>) -> IngestContext {
        IngestContext { role: role.to_string(), errors, last_log: Mutex::new(None) }
    }

    /// Counts a Kafka error and logs a summary at most every ten seconds (errors are rare and
    /// off the per-event path, so the mutex here costs nothing that matters).
    pub(crate) fn kafka_error(&self, error: &KafkaError) {
        self.note(error, "");
    }

    /// Counts and logs a client-level error with librdkafka's description of it.
    pub fn client_error(&self, error: &KafkaError, reason: &str) {
        self.note(error, reason);
    }

    fn note(&self, error: &KafkaError, reason: &str) {
        let kind = KafkaErrorKind::of(error);
        if kind == KafkaErrorKind::Authentication {
            // Not transient: say what to fix, every time (librdkafka reports it once per attempt).
            tracing::error!(client = %self.role, error = %error, reason, "Kafka refused the credentials: check sasl.mechanism, sasl.username and sasl.password");
        }
        let n = self.errors.add(kind);
        let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= ERROR_LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(client = %self.role, kind = kind.as_str(), errors_of_kind = n, error = %error, reason, "kafka error");
        }
    }
}

impl ClientContext for IngestContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.note(&error, reason);
    }
}

/// Partitions are assigned by hand, so there is no rebalance to react to.
impl ConsumerContext for IngestContext {}

/// The dead-letter producer: its client errors and any delivery that fails for good (it never
/// times out, so only a permanent error ends one) are counted like the consumers'.
impl ProducerContext for IngestContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.kafka_error(error);
        }
    }
}
