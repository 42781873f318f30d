//! librdkafka callbacks for slostream's clients: errors counted and logged as rate-limited summaries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Errors are summarised at most this often, so a broker outage does not flood the log.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

pub struct IngestContext {
    role: String,
    errors: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

impl IngestContext {
    pub fn new(role: impl std::fmt::Display) -> IngestContext {
        IngestContext { role: role.to_string(), errors: AtomicU64::new(0), last_log: Mutex::new(None) }
    }

    /// Counts a Kafka error and logs a summary at most every ten seconds (errors are rare and
    /// off the per-event path, so the mutex here costs nothing that matters).
    pub fn kafka_error(&self, error: &KafkaError) {
        self.note(error, "");
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    fn note(&self, error: &KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Authentication) {
            // Not transient: say what to fix, every time (librdkafka reports it once per attempt).
            tracing::error!(client = %self.role, error = %error, reason, "Kafka refused the credentials: check sasl.mechanism, sasl.username and sasl.password");
        }
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= ERROR_LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(client = %self.role, errors_so_far = n, error = %error, reason, "kafka error");
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
