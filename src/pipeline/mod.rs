//! The only place that knows every stage: Kafka → ingest workers (decode → classify → batch,
//! one [`shard::Shard`] each) → the shared [`tally::Tally`] (window, latency, totals and the
//! offsets they cover) → exporter tick (read → slo → gauges) → HTTP, with checkpoints of the
//! tally's counts and offsets taken together.
//!
//! Start: lock and load the state directory, serve HTTP (not ready), discover partitions
//! (retrying while Kafka is unreachable), hand each worker its partitions at the checkpoint's
//! offsets, then become ready. Shutdown: stop fetching, count what was read, write a final
//! checkpoint, commit offsets, stop HTTP last; bounded by `ingest.shutdown_grace`.

pub mod checkpoint;
pub mod shard;
pub mod tally;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::config::Config;
use crate::export::{http, Merged, Telemetry};
use crate::ingest::dead_letter::{self, AlreadySent};
use crate::ingest::worker::{self, Command, FROM_BEGINNING};
use crate::ingest::{self, wall_ms, IngestContext};
use crate::state::file::{CheckpointFiles, StateError};
use crate::state::PartitionOffset;
use checkpoint::DeadLetterEnds;
use shard::ShardView;
use tally::Tally;

/// How often SLOs are evaluated and gauges refreshed.
pub const EXPORT_EVERY: Duration = Duration::from_millis(500);
/// How often topics are checked for new partitions.
const DISCOVER_EVERY: Duration = Duration::from_secs(30);
const KAFKA_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error(transparent)]
    State(#[from] StateError),
    #[error("kafka client: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("ingest worker {worker} failed: {reason}")]
    Worker { worker: usize, reason: String },
    #[error("http server failed: {0}")]
    Http(std::io::Error),
}

struct WorkerHandle {
    commands: SyncSender<Command>,
    view: Arc<Mutex<ShardView>>,
    thread: Option<std::thread::JoinHandle<Result<(), rdkafka::error::KafkaError>>>,
    partitions: usize,
}

/// Runs slostream until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let config = Arc::new(config);
    let mut files = CheckpointFiles::open(&config.state.dir)?;
    let mut telemetry = Telemetry::new(&config);
    let restored = restore(&config, &files, &mut telemetry);

    let addr = config.exporter.listen;
    let listener = http::bind(addr).await.map_err(|source| RunError::Bind { addr, source })?;
    tracing::info!(url = %format!("http://{}/metrics", listener.local_addr().unwrap_or(addr)), "serving metrics (not ready yet)");
    let ready = Arc::new(AtomicBool::new(false));
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, telemetry.handle(), ready.clone(), async {
        let _ = http_stopped.await;
    }));
    tokio::pin!(shutdown);

    let (alerts, evaluations) = tokio::sync::watch::channel(Vec::new());
    if let Some(am) = config.alertmanager.clone() {
        tracing::info!(url = %am.url, "pushing burn-rate alerts to Alertmanager");
        tokio::spawn(crate::alert::run(config.clone(), am, evaluations, telemetry.alertmanager_errors()));
    }
    telemetry.alerts = Some(alerts);
    let admin = Arc::new(ingest::admin_client(&config)?);
    let result = match discover_until_reachable(&config, &admin, &mut shutdown).await {
        None => Ok(()), // asked to stop before Kafka was reachable: nothing was read
        Some(partitions) => {
            let (offsets, dead_letters) = match &restored {
                Some(c) => (c.offsets.clone(), c.dead_letters.clone()),
                None => (Vec::new(), Vec::new()),
            };
            let starts = start_offsets(&admin, &partitions, &offsets, &mut telemetry).await;
            let already = already_dead_lettered(&config, &dead_letters).await;
            let tally = Tally::new(&config, config.ingest.workers, restored, starts.clone());
            let restored = Restored { tally, starts, dead_letters, already };
            serve(&config, &admin, &mut files, &mut telemetry, &ready, restored, &mut shutdown).await
        }
    };
    ready.store(false, Ordering::Release);
    let _ = http_stop.send(());
    match server.await {
        Ok(Err(e)) => result.and(Err(RunError::Http(e))),
        Err(e) => {
            tracing::error!(error = %e, "http server task failed");
            result
        }
        Ok(Ok(())) => result,
    }
}

/// Loads the newest valid checkpoint, loudly reporting every unusable one.
fn restore(config: &Config, files: &CheckpointFiles, telemetry: &mut Telemetry) -> Option<crate::state::Checkpoint> {
    let (loaded, unusable) = files.load(config);
    for u in &unusable {
        telemetry.checkpoint_failed();
        tracing::error!(path = %u.path.display(), reason = %u.reason, "checkpoint unusable, trying the previous generation");
    }
    match loaded {
        Some((path, c)) => {
            let age_s = (wall_ms() - c.created_ms) / 1000;
            tracing::info!(path = %path.display(), partitions = c.offsets.len(), age_s, consumed = c.counters.consumed, "restored checkpoint");
            telemetry.checkpoint_written(c.created_ms);
            telemetry.restored(&c.counters);
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
    }
}

/// Partitions of the configured topics, retrying with backoff while Kafka cannot be reached.
async fn discover_until_reachable(
    config: &Arc<Config>,
    admin: &Arc<BaseConsumer<IngestContext>>,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Option<Vec<(String, i32)>> {
    let mut backoff = Duration::from_millis(500);
    loop {
        let (a, c) = (admin.clone(), config.clone());
        let attempt = tokio::task::spawn_blocking(move || {
            let found = ingest::discover(&a, &c.kafka.topics, KAFKA_TIMEOUT);
            // Serves the errors librdkafka queued meanwhile (authentication failures among them),
            // so they are logged now rather than when the client is next polled.
            let _ = a.poll(Duration::ZERO);
            found
        });
        match attempt.await {
            Ok(Ok(p)) if !p.is_empty() => return Some(p),
            Ok(Ok(_)) => {
                tracing::warn!(topics = ?config.kafka.topics, retry_in = ?backoff, "no partitions for the configured topics yet; not ready")
            }
            Ok(Err(e)) => {
                tracing::warn!(brokers = %config.kafka.brokers, error = %e, retry_in = ?backoff, "cannot reach Kafka; not ready")
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

/// The offset each partition starts at: the checkpoint's, or the beginning for a partition never
/// read. A checkpointed offset the topic no longer retains is reported with how many events
/// were lost to retention, never skipped silently.
async fn start_offsets(
    admin: &Arc<BaseConsumer<IngestContext>>,
    partitions: &[(String, i32)],
    checkpointed: &[PartitionOffset],
    telemetry: &mut Telemetry,
) -> Vec<PartitionOffset> {
    let known: HashMap<(&str, i32), i64> =
        checkpointed.iter().map(|p| ((p.topic.as_str(), p.partition), p.next)).collect();
    let mut out = Vec::with_capacity(partitions.len());
    for (topic, partition) in partitions {
        let mut next = known.get(&(topic.as_str(), *partition)).copied().unwrap_or(FROM_BEGINNING);
        if next >= 0 {
            let (a, t, p) = (admin.clone(), topic.clone(), *partition);
            if let Ok(Ok((low, high))) =
                tokio::task::spawn_blocking(move || a.fetch_watermarks(&t, p, KAFKA_TIMEOUT)).await
            {
                if next < low {
                    let skipped = low - next;
                    telemetry.events_skipped(topic, *partition, skipped as u64);
                    tracing::error!(
                        topic,
                        partition,
                        checkpoint_offset = next,
                        retained_from = low,
                        skipped,
                        "events deleted by retention before they were read; they are not counted"
                    );
                    next = low;
                } else if next > high {
                    tracing::error!(topic, partition, checkpoint_offset = next, end = high, "checkpoint offset is past the end of the partition (topic recreated?); reading it from the beginning");
                    next = FROM_BEGINNING;
                }
            }
        }
        out.push(PartitionOffset { topic: topic.clone(), partition: *partition, next });
    }
    out
}

/// Dead letters written after the restored checkpoint's cut: the workers must not write them again.
async fn already_dead_lettered(config: &Arc<Config>, since: &[PartitionOffset]) -> AlreadySent {
    let Some(topic) = config.events.dead_letter_topic.clone() else { return AlreadySent::default() };
    let (c, since) = (config.clone(), since.to_vec());
    match tokio::task::spawn_blocking(move || dead_letter::written_since(&c, &topic, &since, KAFKA_TIMEOUT)).await {
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

/// Where the dead-letter topic ends now, stamped with when the read had finished; `None` when it
/// cannot be known (keep the older bound).
async fn dead_letter_ends(config: &Arc<Config>, admin: &Arc<BaseConsumer<IngestContext>>) -> Option<DeadLetterEnds> {
    let topic = config.events.dead_letter_topic.clone()?;
    let a = admin.clone();
    match tokio::task::spawn_blocking(move || dead_letter::ends(&a, &topic, KAFKA_TIMEOUT)).await {
        Ok(Ok(ends)) => Some(DeadLetterEnds { ends, read_by: Some(std::time::Instant::now()) }),
        _ => None,
    }
}

/// What a start resumes from.
struct Restored {
    tally: Tally,
    starts: Vec<PartitionOffset>,
    dead_letters: Vec<PartitionOffset>,
    already: AlreadySent,
}

async fn serve(
    config: &Arc<Config>,
    admin: &Arc<BaseConsumer<IngestContext>>,
    files: &mut CheckpointFiles,
    telemetry: &mut Telemetry,
    ready: &AtomicBool,
    restored: Restored,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<(), RunError> {
    let stop = Arc::new(AtomicBool::new(false));
    let Restored { tally, starts, dead_letters, already } = restored;
    // The restored ends were read before anything this process hands over.
    let read_by = config.events.dead_letter_topic.is_some().then(std::time::Instant::now);
    let mut dead_letters = DeadLetterEnds { ends: dead_letters, read_by };
    let tally = Arc::new(Mutex::new(tally));
    let mut workers: Vec<WorkerHandle> = (0..config.ingest.workers)
        .map(|id| {
            let (tx, rx) = sync_channel(16);
            let view = Arc::new(Mutex::new(ShardView::default()));
            let (c, v, s, t, a) = (config.clone(), view.clone(), stop.clone(), tally.clone(), already.clone());
            let thread = std::thread::Builder::new()
                .name(format!("ingest-{id}"))
                .spawn(move || worker::run(id, c, t, a, rx, v, s))
                .expect("spawn ingest thread");
            WorkerHandle { commands: tx, view, thread: Some(thread), partitions: 0 }
        })
        .collect();
    let mut assigned: Vec<(String, i32)> = Vec::new();
    assign(&mut workers, &mut assigned, starts);

    let mut merged = Merged::new(config);
    let mut export_tick = tokio::time::interval(EXPORT_EVERY);
    let mut checkpoint_tick = tokio::time::interval(config.state.checkpoint_interval);
    let mut discover_tick = tokio::time::interval(DISCOVER_EVERY);
    for t in [&mut export_tick, &mut checkpoint_tick, &mut discover_tick] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    checkpoint_tick.reset();
    discover_tick.reset();
    let failed = loop {
        tokio::select! {
            _ = export_tick.tick() => {
                // Serves commit results and errors queued for the coordinator's client.
                let _ = admin.poll(Duration::ZERO);
                export(config, &workers, &tally, &mut merged, telemetry, ready);
                if let Some(i) = workers.iter().position(|w| w.thread.as_ref().is_none_or(|t| t.is_finished())) {
                    break Some(i);
                }
            }
            _ = checkpoint_tick.tick() => {
                persist(config, admin, files, telemetry, &tally, &dead_letters);
                // For the next checkpoint: read a tick before its cut, they are a lower bound for
                // the dead letters of every message after it.
                if let Some(ends) = dead_letter_ends(config, admin).await {
                    dead_letters = ends;
                }
            }
            _ = discover_tick.tick() => {
                let (a, c) = (admin.clone(), config.clone());
                if let Ok(Ok(found)) = tokio::task::spawn_blocking(move || ingest::discover(&a, &c.kafka.topics, KAFKA_TIMEOUT)).await {
                    let new: Vec<PartitionOffset> = found
                        .into_iter()
                        .filter(|p| !assigned.contains(p))
                        .map(|(topic, partition)| PartitionOffset { topic, partition, next: FROM_BEGINNING })
                        .collect();
                    if !new.is_empty() {
                        tracing::info!(count = new.len(), "new partitions found; reading them from the beginning");
                        assign(&mut workers, &mut assigned, new);
                    }
                }
            }
            _ = shutdown.as_mut() => break None,
        }
    };

    tracing::info!("stopping: no more fetching; writing the final checkpoint");
    // Every worker hands over once more when it stops, after this.
    if let Some(ends) = dead_letter_ends(config, admin).await {
        dead_letters = ends;
    }
    stop.store(true, Ordering::Relaxed);
    let grace = config.ingest.shutdown_grace;
    let started = std::time::Instant::now();
    let threads: Vec<_> = workers.iter_mut().filter_map(|w| w.thread.take()).collect();
    let joined = tokio::time::timeout(
        grace,
        tokio::task::spawn_blocking(move || threads.into_iter().map(|t| t.join()).collect::<Vec<_>>()),
    )
    .await;
    let mut result = Ok(());
    match joined {
        Ok(Ok(results)) => {
            for (worker, r) in results.into_iter().enumerate() {
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => result = Err(RunError::Worker { worker, reason: e.to_string() }),
                    Err(_) => result = Err(RunError::Worker { worker, reason: "panicked".into() }),
                }
            }
            if result.is_ok() {
                if let Some(offsets) = persist(config, admin, files, telemetry, &tally, &dead_letters) {
                    // Sync, so the group's offsets equal what was counted when the process exits;
                    // bounded, since the broker may be down (the checkpoint is already on disk).
                    let (a, left) = (admin.clone(), grace.saturating_sub(started.elapsed()));
                    let commit = tokio::task::spawn_blocking(move || ingest::commit_sync(&a, &offsets));
                    match tokio::time::timeout(left, commit).await {
                        Ok(Ok(Ok(()))) => tracing::info!("final offsets committed"),
                        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "final offset commit failed (the checkpoint is what counts)"),
                        _ => tracing::warn!("final offset commit did not finish within the grace period (the checkpoint is what counts)"),
                    }
                }
            } else {
                tracing::error!(
                    "a worker failed: no final checkpoint; the previous one stays valid and its offsets are re-read"
                );
            }
        }
        _ => tracing::error!(
            ?grace,
            "shutdown grace period ran out before every worker stopped; the previous checkpoint stays valid"
        ),
    }
    if let (Some(worker), Ok(())) = (failed, &result) {
        result = Err(RunError::Worker { worker, reason: "stopped unexpectedly".into() });
    }
    export(config, &workers, &tally, &mut merged, telemetry, ready);
    result
}

/// Spreads partitions over the workers with the fewest, and tells each its new ones.
fn assign(workers: &mut [WorkerHandle], assigned: &mut Vec<(String, i32)>, parts: Vec<PartitionOffset>) {
    let mut per_worker: Vec<Vec<PartitionOffset>> = vec![Vec::new(); workers.len()];
    for p in parts {
        let i = (0..workers.len())
            .min_by_key(|&i| workers[i].partitions + per_worker[i].len())
            .expect("at least one worker");
        assigned.push((p.topic.clone(), p.partition));
        per_worker[i].push(p);
    }
    for (w, parts) in workers.iter_mut().zip(per_worker) {
        if !parts.is_empty() {
            w.partitions += parts.len();
            if w.commands.send(Command::Assign(parts)).is_err() {
                tracing::error!("ingest worker is gone; its partitions cannot be assigned");
            }
        }
    }
}

/// Writes the tally as a checkpoint, then mirrors its offsets to the group (asynchronously);
/// returns the offsets it covers.
fn persist(
    config: &Config,
    admin: &BaseConsumer<IngestContext>,
    files: &mut CheckpointFiles,
    telemetry: &mut Telemetry,
    tally: &Mutex<Tally>,
    dead_letters: &DeadLetterEnds,
) -> Option<Vec<PartitionOffset>> {
    match tokio::task::block_in_place(|| checkpoint::write(config, files, tally, dead_letters)) {
        Ok((path, offsets)) => {
            telemetry.checkpoint_written(wall_ms());
            tracing::debug!(path = %path.display(), "checkpoint written");
            if let Err(e) = ingest::commit(admin, &offsets) {
                tracing::warn!(error = %e, "offset commit for lag tools failed (the checkpoint is what counts)");
            }
            Some(offsets)
        }
        Err(e) => {
            telemetry.checkpoint_failed();
            tracing::error!(dir = %files.dir().display(), error = %e, "no checkpoint written; the previous one stays valid");
            None
        }
    }
}

/// One exporter tick: read the tally and every worker's view, evaluate, set gauges, update
/// readiness.
fn export(
    config: &Config,
    workers: &[WorkerHandle],
    tally: &Mutex<Tally>,
    merged: &mut Merged,
    telemetry: &mut Telemetry,
    ready: &AtomicBool,
) {
    merged.read_tally(&tally.lock().unwrap_or_else(|e| e.into_inner()), wall_ms());
    merged.partitions.clear();
    merged.stalls = 0;
    let mut published = true;
    for w in workers {
        let v = w.view.lock().unwrap_or_else(|e| e.into_inner());
        published &= v.at_ms > 0;
        merged.add_view(&v);
    }
    let is_ready = published && !merged.partitions.is_empty();
    ready.store(is_ready, Ordering::Release);
    telemetry.update(config, merged, is_ready);
}
