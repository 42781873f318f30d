//! Where a start resumes from: the newest valid checkpoint, the partitions Kafka has now, the
//! offset each partition starts at, and the dead letters already written after the checkpoint.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;

use super::checkpoint::DeadLetterEnds;
use super::coordinator::{Coordinator, Shutdown};
use super::{RunError, KAFKA_TIMEOUT};
use crate::config::Config;
use crate::export::Telemetry;
use crate::ingest;
use crate::ingest::dead_letter::{self, AlreadySent};
use crate::ingest::worker::FROM_BEGINNING;
use crate::state::file::CheckpointFiles;
use crate::state::{Checkpoint, PartitionOffset};
use crate::time::wall_ms;

/// Loads the newest valid checkpoint, loudly reporting every unusable one. A checkpoint written
/// by a newer slostream refuses the start: starting empty would lose its windows, and falling
/// back to an older generation would roll back what the newer build counted. So does one written
/// for another consumer group: its counts are another deployment's. An SLI whose definition
/// changed starts empty (the state layer leaves its counts out), and is reported.
pub(super) fn restore(
    config: &Config,
    files: &CheckpointFiles,
    telemetry: &mut Telemetry,
    forget: &[String],
) -> Result<Option<Checkpoint>, RunError> {
    let (loaded, unusable) = files.load_forgetting(config, forget);
    for u in &unusable {
        if u.reason.is_from_a_newer_version() {
            tracing::error!(path = %u.path.display(), reason = %u.reason, "checkpoint written by a newer slostream: not starting");
            return Err(RunError::NewerState { path: u.path.clone(), reason: u.reason.to_string() });
        }
        telemetry.checkpoint_failed();
        tracing::error!(path = %u.path.display(), reason = %u.reason, "checkpoint unusable, trying the previous generation");
    }
    Ok(match loaded {
        Some((path, c)) => {
            if let Some(owner) = c.owner.as_ref().filter(|o| o.group_id != config.kafka.group_id) {
                return Err(RunError::ForeignState {
                    dir: files.dir().to_path_buf(),
                    found: owner.group_id.clone(),
                    expected: config.kafka.group_id.clone(),
                });
            }
            let age_s = (wall_ms() - c.created_ms) / 1000;
            tracing::info!(path = %path.display(), partitions = c.offsets.len(), age_s, consumed = c.counters.consumed, "restored checkpoint");
            for sli in &c.changed_slis {
                tracing::warn!(sli, "SLI definition changed since the checkpoint (or a rebuild was asked for): its counts under the old definition are left out, and its history is rebuilt from the topics");
                telemetry.sli_state_reset(sli);
            }
            telemetry.restored(&c.counters, c.created_ms);
            Some(c)
        }
        None if !unusable.is_empty() => {
            tracing::error!(
                dir = %files.dir().display(),
                "NO VALID CHECKPOINT: starting with empty windows; history is rebuilt only from what the topics still retain"
            );
            None
        }
        None => {
            tracing::info!(dir = %files.dir().display(), "no checkpoint yet: starting empty");
            None
        }
    })
}

impl Coordinator {
    /// Partitions of the configured topics, retrying with backoff while Kafka cannot be reached;
    /// `None` if `shutdown` completes first.
    pub(super) async fn connect<F: Future<Output = ()>>(
        &self,
        shutdown: &mut Shutdown<'_, F>,
    ) -> Option<Vec<(String, i32)>> {
        let mut backoff = Duration::from_millis(500);
        loop {
            let (a, c) = (self.admin.clone(), self.config.clone());
            let attempt = tokio::task::spawn_blocking(move || {
                let found = ingest::discover(&a, &c.kafka.topics, KAFKA_TIMEOUT);
                // Serves the errors librdkafka queued meanwhile (authentication failures among
                // them), so they are logged now rather than when the client is next polled.
                let _ = a.poll(Duration::ZERO);
                found
            });
            match attempt.await {
                Ok(Ok(p)) if !p.is_empty() => return Some(p),
                Ok(Ok(_)) => {
                    tracing::warn!(topics = ?self.config.kafka.topics, retry_in = ?backoff, "no partitions for the configured topics yet; not ready")
                }
                Ok(Err(e)) => {
                    tracing::warn!(brokers = %self.config.kafka.brokers, error = %e, retry_in = ?backoff, "cannot reach Kafka; not ready")
                }
                Err(e) => tracing::error!(error = %e, "discovery task failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.as_mut() => return None,
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// The offset each partition starts at: the checkpoint's, or the beginning for a partition
    /// never read. A checkpointed offset the topic no longer retains is reported with how many
    /// events were lost to retention, never skipped silently; one past the partition's end is
    /// reported and read on from the end, never from the beginning again.
    pub(super) async fn start_offsets(
        &mut self,
        partitions: &[(String, i32)],
        checkpointed: &[PartitionOffset],
    ) -> Vec<PartitionOffset> {
        let known: HashMap<(&str, i32), i64> =
            checkpointed.iter().map(|p| ((p.topic.as_str(), p.partition), p.next)).collect();
        let mut out = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            let mut next = known.get(&(topic.as_str(), *partition)).copied().unwrap_or(FROM_BEGINNING);
            if next >= 0 {
                let (a, t, p) = (self.admin.clone(), topic.clone(), *partition);
                if let Ok(Ok((low, high))) =
                    tokio::task::spawn_blocking(move || a.fetch_watermarks(&t, p, KAFKA_TIMEOUT)).await
                {
                    let skipped;
                    (next, skipped) = ingest::resume_within("checkpoint", topic, *partition, next, (low, high));
                    if skipped > 0 {
                        self.telemetry.events_skipped(topic, *partition, skipped);
                    }
                }
            }
            out.push(PartitionOffset { topic: topic.clone(), partition: *partition, next });
        }
        out
    }

    /// Dead letters written after the restored checkpoint's cut: the workers must not write
    /// them again.
    pub(super) async fn already_dead_lettered(&self, since: &[PartitionOffset]) -> AlreadySent {
        let Some(topic) = self.config.events.dead_letter_topic.clone() else { return AlreadySent::default() };
        let (c, since, errors) = (self.config.clone(), since.to_vec(), self.kafka_errors.clone());
        let read =
            tokio::task::spawn_blocking(move || dead_letter::written_since(&c, &topic, &since, KAFKA_TIMEOUT, errors));
        match read.await {
            Ok(Ok(seen)) => {
                if !seen.is_empty() {
                    tracing::info!(
                        count = seen.len(),
                        "dead letters written after the checkpoint will not be written again"
                    );
                }
                Arc::new(seen)
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read the dead-letter topic; dead letters since the last checkpoint may be written twice");
                AlreadySent::default()
            }
            Err(e) => {
                tracing::error!(error = %e, "dead-letter reader failed");
                AlreadySent::default()
            }
        }
    }

    /// Reads where the dead-letter topic ends now, stamped with when the read had finished;
    /// keeps the older bound when it cannot be known.
    pub(super) async fn refresh_dead_letter_ends(&mut self) {
        let Some(topic) = self.config.events.dead_letter_topic.clone() else { return };
        let a = self.admin.clone();
        if let Ok(Ok(ends)) = tokio::task::spawn_blocking(move || dead_letter::ends(&a, &topic, KAFKA_TIMEOUT)).await {
            self.dead_letters = DeadLetterEnds { ends, read_by: Some(Instant::now()) };
        }
    }
}
