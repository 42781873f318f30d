//! librdkafka callbacks for one worker's consumer: assignment tracking and quiet error logs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use std::sync::Mutex;

/// Errors are summarised at most this often, so a broker outage does not flood the log.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

pub struct IngestContext {
    worker: usize,
    assigned: AtomicBool,
    errors: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

impl IngestContext {
    pub fn new(worker: usize) -> IngestContext {
        IngestContext { worker, assigned: AtomicBool::new(false), errors: AtomicU64::new(0), last_log: Mutex::new(None) }
    }

    /// True once the group has given this consumer an assignment (possibly empty).
    pub fn assigned(&self) -> bool {
        self.assigned.load(Ordering::Acquire)
    }

    /// Counts a Kafka error and logs a summary at most every ten seconds (errors are rare and
    /// off the per-event path, so the mutex here costs nothing that matters).
    pub fn kafka_error(&self, error: &KafkaError) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= ERROR_LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(worker = self.worker, errors_so_far = n, error = %error, "kafka consumer error");
        }
    }
}

impl ClientContext for IngestContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= ERROR_LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(worker = self.worker, errors_so_far = n, error = %error, reason, "kafka client error");
        }
    }
}

impl ConsumerContext for IngestContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(worker = self.worker, partitions = tpl.count(), "partitions assigned");
                self.assigned.store(true, Ordering::Release);
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(worker = self.worker, partitions = tpl.count(), "partitions revoked");
            }
            Rebalance::Error(e) => tracing::warn!(worker = self.worker, error = %e, "rebalance error"),
        }
    }
}
