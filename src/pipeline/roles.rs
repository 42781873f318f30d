//! `slostream run --role`: which part of the pipeline this process runs.
//!
//! - `all` (the default): everything, as [`super::run`] does.
//! - `merge`: the same coordinator over `<group_id>.deltas` ([`Config::as_merge_member`]), its
//!   workers folding delta records instead of counting events, alerts pushed only while it owns
//!   the leader partition.
//! - `ingest`: [`crate::ingest::member`] workers in the input topics' consumer group, committing
//!   transactions of delta records, dead letters and offsets; `/metrics` shows only the member's
//!   own series ([`crate::export::member`]).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::coordinator::Shutdown;
use super::{RunError, WorkerEnd, EXPORT_EVERY};
use crate::config::{Config, Role};
use crate::export::http;
use crate::export::member::MemberSeries;
use crate::ingest::member::{self, MemberLinks, MemberStats};
use crate::ingest::{topics, KafkaErrors};

/// Wait between attempts to create the shared topics while Kafka is unreachable.
const TOPICS_RETRY: Duration = Duration::from_secs(2);

/// Runs the part of the pipeline `config.role` names until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    tokio::pin!(shutdown);
    match config.role {
        Role::All => super::run(config, shutdown).await,
        Role::Merge => {
            if !ensure_topics(&config, &mut shutdown).await {
                return Ok(());
            }
            super::run(config.as_merge_member(), shutdown).await
        }
        Role::Ingest => run_ingest(config, &mut shutdown).await,
    }
}

/// A commit stuck far past its transaction timeout: librdkafka's `send_offsets_to_transaction`
/// can hang when the group coordinator moves (confluentinc/librdkafka#3013, #5456), and a worker
/// stuck there holds its partitions for good. The process exits (code 1) so that its supervisor
/// restarts it: nothing uncommitted was ever visible, and the restart's `init_transactions`
/// aborts the open transaction.
fn watch_commits(stats: &MemberStats, config: &Config) {
    let limit = (3 * config.scale.transaction_timeout).max(STUCK_COMMIT_AT_LEAST);
    if let Some((worker, stuck)) = stats.longest_commit().filter(|&(_, d)| d > limit) {
        tracing::error!(
            worker,
            stuck_secs = stuck.as_secs(),
            "a commit has hung past three transaction timeouts; exiting so a restart takes over"
        );
        std::process::exit(1);
    }
}

/// The least time a commit may take before [`watch_commits`] gives up on it.
const STUCK_COMMIT_AT_LEAST: Duration = Duration::from_secs(30);

/// Creates the shared topics, retrying while Kafka is unreachable; false if asked to stop first.
async fn ensure_topics<F: Future<Output = ()>>(config: &Config, shutdown: &mut Shutdown<'_, F>) -> bool {
    loop {
        tokio::select! {
            result = topics::ensure(config) => match result {
                Ok(()) => return true,
                Err(e) => tracing::warn!(error = %e, "cannot create the deltas and leader topics yet"),
            },
            _ = shutdown.as_mut() => return false,
        }
        tokio::select! {
            _ = tokio::time::sleep(TOPICS_RETRY) => {}
            _ = shutdown.as_mut() => return false,
        }
    }
}

/// An ingest member: serves its metrics, creates the shared topics, runs `ingest.workers`
/// member workers until shutdown, then lets each commit what it read (within
/// `ingest.shutdown_grace`; past it, what was not committed is read again by the next owner).
async fn run_ingest<F: Future<Output = ()>>(config: Config, shutdown: &mut Shutdown<'_, F>) -> Result<(), RunError> {
    let Some(instance) = config.scale.instance.clone() else {
        return Err(RunError::NoInstance);
    };
    let config = Arc::new(config);
    let series = MemberSeries::new();
    let addr = config.exporter.listen;
    let listener = http::bind(addr).await.map_err(|source| RunError::Bind { addr, source })?;
    let ready = Arc::new(AtomicBool::new(false));
    let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, config.exporter.clone(), series.handle(), ready.clone(), async {
        let _ = stopped.await;
    }));
    tracing::info!(instance, workers = config.ingest.workers, "ingest member: committing counts to the deltas topic");

    let result = if ensure_topics(&config, shutdown).await {
        let errors = Arc::new(KafkaErrors::default());
        let links = Arc::new(MemberLinks {
            stop: Arc::new(AtomicBool::new(false)),
            errors: errors.clone(),
            stats: Arc::new(MemberStats::new(config.ingest.workers)),
        });
        let workers: Vec<_> = (0..config.ingest.workers)
            .map(|id| {
                let (config, links, instance) = (config.clone(), links.clone(), instance.clone());
                std::thread::Builder::new()
                    .name(format!("member-{id}"))
                    .spawn(move || member::run(id, config, &instance, &links))
                    .expect("spawn an ingest member worker")
            })
            .collect();
        ready.store(true, Ordering::Release);
        let mut tick = tokio::time::interval(EXPORT_EVERY);
        let stopped_early = loop {
            tokio::select! {
                _ = tick.tick() => {
                    series.set(&links.stats, &errors);
                    watch_commits(&links.stats, &config);
                    if let Some(i) = workers.iter().position(|w| w.is_finished()) {
                        break Some(i);
                    }
                }
                _ = shutdown.as_mut() => break None,
            }
        };
        ready.store(false, Ordering::Release);
        links.stop.store(true, Ordering::Relaxed);
        let joined = tokio::time::timeout(
            config.ingest.shutdown_grace,
            tokio::task::spawn_blocking(move || workers.into_iter().map(|w| w.join()).collect::<Vec<_>>()),
        )
        .await;
        series.set(&links.stats, &errors);
        match joined {
            Ok(Ok(ends)) => {
                let mut result = Ok(());
                for (worker, end) in ends.into_iter().enumerate() {
                    let end = match end {
                        Ok(Ok(())) if stopped_early == Some(worker) => WorkerEnd::Stopped,
                        Ok(Ok(())) => continue,
                        Ok(Err(e)) => WorkerEnd::Kafka(e),
                        Err(_) => WorkerEnd::Panicked,
                    };
                    result = Err(RunError::Worker { worker, end });
                }
                result
            }
            _ => {
                tracing::error!(grace = ?config.ingest.shutdown_grace, "workers did not commit within the grace period; their partitions' next owner reads on from the last commit");
                Ok(())
            }
        }
    } else {
        Ok(())
    };
    let _ = stop_http.send(());
    let _ = server.await;
    result
}
