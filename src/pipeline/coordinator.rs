//! The coordinator: one type that starts slostream, runs it, and shuts it down, in that order.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;

use super::checkpoint::{self, DeadLetterEnds};
use super::leader::Leadership;
use super::rebuild::{self, History};
use super::tick::Tick;
use super::workers::Workers;
use super::{RunError, WorkerEnd, DISCOVER_EVERY, EXPORT_EVERY, KAFKA_TIMEOUT};
use crate::config::Config;
use crate::count::Tally;
use crate::export::{http, Telemetry};
use crate::ingest::{self, IngestContext, KafkaErrors};
use crate::state::file::CheckpointFiles;
use crate::state::{Checkpoint, PartitionOffset};

/// The shutdown future, pinned once so every step can wait on it.
pub(super) type Shutdown<'a, F> = Pin<&'a mut F>;

/// The HTTP server task, stopped last.
struct HttpServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Everything slostream runs with, from start to shutdown.
pub(crate) struct Coordinator {
    pub(super) config: Arc<Config>,
    pub(super) files: CheckpointFiles,
    pub(super) telemetry: Telemetry,
    pub(super) admin: Arc<BaseConsumer<IngestContext>>,
    pub(super) kafka_errors: Arc<KafkaErrors>,
    /// The checkpoint restored at start, until ingest starts from it.
    pub(super) restored: Option<Checkpoint>,
    /// Where the dead-letter topic ended, for the next checkpoint.
    pub(super) dead_letters: DeadLetterEnds,
    /// The history reader of a rebuild, while one runs.
    history: Option<History>,
    /// A `slostream rebuild` request was read at start: its file goes once a checkpoint holds it.
    requested: bool,
    tick: Tick,
    /// Whether this process pushes alerts (a merge member leads only while it owns the leader
    /// partition).
    leadership: Leadership,
    ready: Arc<AtomicBool>,
    http: HttpServer,
}

impl Coordinator {
    /// Start: locks and loads the state directory, serves HTTP (not ready yet), starts the
    /// Alertmanager task and the coordinator's Kafka client (which connects lazily).
    pub(crate) async fn start(config: Config) -> Result<Coordinator, RunError> {
        let config = Arc::new(config);
        let files = CheckpointFiles::open(&config.state.dir)?;
        let mut telemetry = Telemetry::new(&config);
        let mut requested = super::rebuild::requested(&config.state.dir);
        if !requested.is_empty() && config.role == crate::config::Role::Merge {
            tracing::error!(slis = ?requested, "rebuild asked for, but a merge member rebuilds only under new definitions (nothing marks where the history would end): ignored (its counts are kept)");
            requested.clear();
        } else if !requested.is_empty() {
            tracing::warn!(slis = ?requested, "rebuild asked for: these SLIs' counts are left out and their history is read again from the topics");
        }
        let restored = super::resume::restore(&config, &files, &mut telemetry, &requested)?;

        let addr = config.exporter.listen;
        let listener = http::bind(addr).await.map_err(|source| RunError::Bind { addr, source })?;
        let exporter = config.exporter.clone();
        let url = format!("{}://{}/metrics", exporter.scheme(), listener.local_addr().unwrap_or(addr));
        tracing::info!(url = %url, basic_auth = exporter.basic_auth.is_some(), "serving metrics (not ready yet)");
        let ready = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(http::serve(listener, exporter, telemetry.handle(), ready.clone(), async {
            let _ = stopped.await;
        }));

        let kafka_errors = Arc::new(KafkaErrors::default());
        let leadership = Leadership::start(&config, kafka_errors.clone());
        let alerts = config.alertmanager.clone().map(|am| {
            tracing::info!(url = %am.url, "pushing burn-rate alerts to Alertmanager");
            let (alerts, evaluations) = tokio::sync::watch::channel(Vec::new());
            let (errors, leading) = (telemetry.alertmanager_errors(), leadership.leading.clone());
            tokio::spawn(crate::alert::run(config.clone(), am, evaluations, errors, leading));
            alerts
        });
        let admin = Arc::new(ingest::admin_client(&config, kafka_errors.clone())?);
        Ok(Coordinator {
            tick: Tick::new(&config, alerts),
            config,
            files,
            telemetry,
            admin,
            kafka_errors,
            restored,
            dead_letters: DeadLetterEnds::default(),
            history: None,
            requested: !requested.is_empty(),
            leadership,
            ready,
            http: HttpServer { stop, task },
        })
    }

    /// Run: reaches Kafka, starts the workers at the checkpoint's offsets, and ticks until
    /// `shutdown` completes or a worker stops; then shuts down, HTTP last.
    pub(crate) async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
        tokio::pin!(shutdown);
        let result = match self.connect(&mut shutdown).await {
            None => Ok(()), // asked to stop before Kafka was reachable: nothing was read
            Some(partitions) => {
                let mut workers = self.start_workers(&partitions).await;
                let stopped = self.serve(&mut workers, &mut shutdown).await;
                self.shutdown(&mut workers, stopped).await
            }
        };
        self.ready.store(false, Ordering::Release);
        tokio::task::block_in_place(|| self.leadership.stop());
        let _ = self.http.stop.send(());
        match self.http.task.await {
            Ok(Err(e)) => result.and(Err(RunError::Http(e))),
            Err(e) => {
                tracing::error!(error = %e, "http server task failed");
                result
            }
            Ok(Ok(())) => result,
        }
    }

    /// Spawns the workers on the restored tally and hands out every partition at the offset it
    /// resumes from.
    async fn start_workers(&mut self, partitions: &[(String, i32)]) -> Workers {
        let restored = self.restored.take();
        let (offsets, dead_letters) = match &restored {
            Some(c) => (c.offsets.clone(), c.dead_letters.clone()),
            None => (Vec::new(), Vec::new()),
        };
        let starts = self.start_offsets(partitions, &offsets).await;
        let already = self.already_dead_lettered(&dead_letters).await;
        // A topic no longer configured keeps its offsets in every checkpoint, so configuring it
        // again later resumes where it stopped instead of counting its events twice.
        let topics = &self.config.kafka.topics;
        let carried = offsets.iter().filter(|p| !topics.contains(&p.topic)).cloned();
        let due = match &restored {
            Some(c) => rebuild::due(&self.config, c),
            None => Vec::new(),
        };
        let mut tally = Tally::new(
            &self.config,
            self.config.ingest.workers,
            restored,
            starts.iter().cloned().chain(carried).collect(),
        );
        let (c, a, live) = (self.config.clone(), self.admin.clone(), starts.clone());
        let now_ms = self.config.clock.now_ms();
        let cut = if !due.is_empty() {
            match tokio::task::spawn_blocking(move || rebuild::plan(&c, &a, due, &live, now_ms)).await {
                Ok((r, since, cut)) => {
                    rebuild::install(&mut tally, r, since);
                    cut
                }
                Err(e) => {
                    tracing::error!(error = %e, "planning the rebuild failed");
                    Vec::new()
                }
            }
        } else if let Some(r) = tally.rebuild.clone().filter(|r| !r.is_done()) {
            tracing::info!(slis = ?r.slis, progress = r.progress(), "resuming the history rebuild");
            tokio::task::spawn_blocking(move || rebuild::cut_since(&a, &r)).await.unwrap_or_default()
        } else {
            Vec::new()
        };
        // The restored ends were read before anything this process hands over.
        let read_by = self.config.events.dead_letter_topic.is_some().then(Instant::now);
        self.dead_letters = DeadLetterEnds { ends: dead_letters, read_by };
        let mut workers = Workers::spawn(&self.config, tally, &self.kafka_errors, already);
        workers.assign(starts);
        self.history = rebuild::start(&self.config, workers.shared_tally(), self.kafka_errors.clone(), cut);
        workers
    }

    /// Ticks, checkpoints and discovers new partitions until `shutdown` completes (`None`) or a
    /// worker stops (its number).
    async fn serve<F: Future<Output = ()>>(
        &mut self,
        workers: &mut Workers,
        shutdown: &mut Shutdown<'_, F>,
    ) -> Option<usize> {
        let mut export_tick = tokio::time::interval(EXPORT_EVERY);
        let mut checkpoint_tick = tokio::time::interval(self.config.state.checkpoint_interval);
        let mut discover_tick = tokio::time::interval(DISCOVER_EVERY);
        for t in [&mut export_tick, &mut checkpoint_tick, &mut discover_tick] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        checkpoint_tick.reset();
        discover_tick.reset();
        loop {
            tokio::select! {
                _ = export_tick.tick() => {
                    // Serves commit results and errors queued for the coordinator's client.
                    let _ = self.admin.poll(Duration::ZERO);
                    self.evaluate(workers);
                    if let Some(i) = workers.stopped() {
                        return Some(i);
                    }
                }
                _ = checkpoint_tick.tick() => {
                    self.rebuild_on_request(workers).await;
                    self.persist(workers);
                    // For the next checkpoint: read a tick before its cut, they are a lower
                    // bound for the dead letters of every message after it.
                    self.refresh_dead_letter_ends().await;
                }
                _ = discover_tick.tick() => self.discover_new(workers).await,
                _ = shutdown.as_mut() => return None,
            }
        }
    }

    /// Starts a rebuild `slostream rebuild` asked for while this process runs, once no other
    /// rebuild is running (the request waits until then). A request naming SLIs this config does
    /// not have is reported and dropped.
    async fn rebuild_on_request(&mut self, workers: &Workers) {
        if self.config.role == crate::config::Role::Merge || self.requested {
            return;
        }
        if self.history.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let dir = &self.config.state.dir;
        let asked = rebuild::requested(dir);
        if asked.is_empty() {
            return;
        }
        let (known, unknown): (Vec<String>, Vec<String>) =
            asked.into_iter().partition(|n| self.config.slis.iter().any(|s| &s.name == n));
        if !unknown.is_empty() {
            tracing::error!(slis = ?unknown, "rebuild asked for SLIs this config does not have: ignored");
        }
        if known.is_empty() {
            let _ = std::fs::remove_file(dir.join(rebuild::REQUEST_FILE));
            return;
        }
        tracing::warn!(slis = ?known, "rebuild asked for: these SLIs' counts are left out and their history is read again from the topics");
        let (c, a, t) = (self.config.clone(), self.admin.clone(), workers.shared_tally());
        let started = tokio::task::spawn_blocking(move || rebuild::start_requested(&c, &a, &t, known)).await;
        if let Ok(Some(cut)) = started {
            // The request file goes with the next checkpoint, which holds the rebuild.
            self.requested = true;
            self.history = rebuild::start(&self.config, workers.shared_tally(), self.kafka_errors.clone(), cut);
        }
    }

    /// One evaluation tick, and readiness from it.
    fn evaluate(&mut self, workers: &Workers) {
        self.telemetry.set_alert_leader(self.leadership.leading.load(Ordering::Acquire));
        let ready = self.tick.run(
            &self.config,
            workers.tally(),
            workers.views(),
            &self.kafka_errors,
            &mut self.telemetry,
            self.config.clock.now_ms(),
        );
        self.ready.store(ready, Ordering::Release);
    }

    /// Hands partitions that appeared since start to the workers, from the beginning.
    async fn discover_new(&mut self, workers: &mut Workers) {
        let (a, c) = (self.admin.clone(), self.config.clone());
        let Ok(Ok(found)) =
            tokio::task::spawn_blocking(move || ingest::discover(&a, &c.kafka.topics, KAFKA_TIMEOUT)).await
        else {
            return;
        };
        let new: Vec<PartitionOffset> = found
            .into_iter()
            .filter(|(topic, partition)| !workers.is_assigned(topic, *partition))
            .map(|(topic, partition)| PartitionOffset { topic, partition, next: ingest::worker::FROM_BEGINNING })
            .collect();
        if !new.is_empty() {
            tracing::info!(count = new.len(), "new partitions found; reading them from the beginning");
            workers.assign(new);
        }
    }

    /// Shutdown: stops fetching, lets every worker count what it read and hand over, writes the
    /// final checkpoint and commits its offsets, all within `ingest.shutdown_grace`.
    /// `stopped`: a worker that ended on its own, which makes the run an error.
    async fn shutdown(&mut self, workers: &mut Workers, stopped: Option<usize>) -> Result<(), RunError> {
        tracing::info!("stopping: no more fetching; writing the final checkpoint");
        // Every worker hands over once more when it stops, after this.
        self.refresh_dead_letter_ends().await;
        let grace = self.config.ingest.shutdown_grace;
        let started = Instant::now();
        if let Some(history) = self.history.take() {
            history.stop(grace).await;
        }
        let mut result = Ok(());
        match workers.stop(grace).await {
            Some(failures) if failures.is_empty() => {
                if let Some(offsets) = self.persist(workers) {
                    self.commit_final(offsets, grace.saturating_sub(started.elapsed())).await;
                }
            }
            Some(failures) => {
                for f in failures {
                    result = Err(RunError::Worker { worker: f.worker, end: f.end });
                }
                tracing::error!(
                    "a worker failed: no final checkpoint; the previous one stays valid and its offsets are re-read"
                );
            }
            None => tracing::error!(
                ?grace,
                "shutdown grace period ran out before every worker stopped; the previous checkpoint stays valid"
            ),
        }
        if let (Some(worker), Ok(())) = (stopped, &result) {
            result = Err(RunError::Worker { worker, end: WorkerEnd::Stopped });
        }
        self.evaluate(workers);
        result
    }

    /// Commits the final checkpoint's offsets to the group and waits for the broker, so the
    /// group's offsets equal what was counted when the process exits; bounded by `left`, since
    /// the broker may be down (the checkpoint is already on disk).
    async fn commit_final(&self, offsets: Vec<PartitionOffset>, left: Duration) {
        let a = self.admin.clone();
        let commit = tokio::task::spawn_blocking(move || ingest::commit_sync(&a, &offsets));
        match tokio::time::timeout(left, commit).await {
            Ok(Ok(Ok(()))) => tracing::info!("final offsets committed"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "final offset commit failed (the checkpoint is what counts)"),
            _ => tracing::warn!(
                "final offset commit did not finish within the grace period (the checkpoint is what counts)"
            ),
        }
    }

    /// Writes the tally as a checkpoint, then mirrors its offsets to the group (asynchronously);
    /// returns the offsets it covers.
    fn persist(&mut self, workers: &Workers) -> Option<Vec<PartitionOffset>> {
        let now_ms = self.config.clock.now_ms();
        let written = tokio::task::block_in_place(|| {
            checkpoint::write(&self.config, &mut self.files, workers.tally(), &self.dead_letters, now_ms)
        });
        match written {
            Ok((path, mut offsets)) => {
                self.telemetry.checkpoint_written(now_ms);
                if std::mem::take(&mut self.requested) {
                    let request = self.config.state.dir.join(rebuild::REQUEST_FILE);
                    if let Err(e) = std::fs::remove_file(&request) {
                        tracing::warn!(path = %request.display(), error = %e, "cannot remove the rebuild request; the next start rebuilds again");
                    }
                }
                tracing::debug!(path = %path.display(), "checkpoint written");
                // Only what is read now is mirrored to the group; carried offsets of a removed
                // topic stay in the checkpoint alone.
                offsets.retain(|p| self.config.kafka.topics.contains(&p.topic));
                if let Err(e) = ingest::commit(&self.admin, &offsets) {
                    tracing::warn!(error = %e, "offset commit for lag tools failed (the checkpoint is what counts)");
                }
                Some(offsets)
            }
            Err(e) => {
                self.telemetry.checkpoint_failed();
                tracing::error!(dir = %self.files.dir().display(), error = %e, "no checkpoint written; the previous one stays valid");
                None
            }
        }
    }
}
