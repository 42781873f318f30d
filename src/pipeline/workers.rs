//! The ingest workers as the coordinator sees them: spawned on their own threads, given
//! partitions, watched, and joined at shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::error::KafkaError;

use super::WorkerEnd;
use crate::config::Config;
use crate::count::{Tally, WorkerView};
use crate::ingest::dead_letter::AlreadySent;
use crate::ingest::worker::{self, Command, Links};
use crate::ingest::KafkaErrors;
use crate::state::PartitionOffset;

struct WorkerHandle {
    commands: SyncSender<Command>,
    view: Arc<Mutex<WorkerView>>,
    thread: Option<std::thread::JoinHandle<Result<(), KafkaError>>>,
    partitions: usize,
}

/// A worker that did not end well, and how it ended.
#[derive(Debug)]
pub(crate) struct WorkerFailure {
    pub(crate) worker: usize,
    pub(crate) end: WorkerEnd,
}

/// Every ingest worker, the tally they count into, and the partitions handed out so far.
pub(crate) struct Workers {
    handles: Vec<WorkerHandle>,
    tally: Arc<Mutex<Tally>>,
    assigned: Vec<(String, i32)>,
    stop: Arc<AtomicBool>,
}

impl Workers {
    /// Starts `ingest.workers` workers counting into `tally`, with no partitions yet.
    pub(crate) fn spawn(
        config: &Arc<Config>,
        tally: Tally,
        errors: &Arc<KafkaErrors>,
        already: AlreadySent,
    ) -> Workers {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(tally));
        let handles = (0..config.ingest.workers)
            .map(|id| {
                let (tx, commands) = sync_channel(16);
                let view = Arc::new(Mutex::new(WorkerView::default()));
                let links = Links {
                    tally: tally.clone(),
                    view: view.clone(),
                    commands,
                    stop: stop.clone(),
                    errors: errors.clone(),
                    already_dead_lettered: already.clone(),
                };
                let config = config.clone();
                let thread = std::thread::Builder::new()
                    .name(format!("ingest-{id}"))
                    .spawn(move || worker::run(id, config, links))
                    .expect("spawn ingest thread");
                WorkerHandle { commands: tx, view, thread: Some(thread), partitions: 0 }
            })
            .collect();
        Workers { handles, tally, assigned: Vec::new(), stop }
    }

    /// The tally every worker counts into.
    pub(crate) fn tally(&self) -> &Mutex<Tally> {
        &self.tally
    }

    /// The tally, to share with another thread (the history reader).
    pub(crate) fn shared_tally(&self) -> Arc<Mutex<Tally>> {
        self.tally.clone()
    }

    /// Every worker's published view.
    pub(crate) fn views(&self) -> impl Iterator<Item = &Mutex<WorkerView>> {
        self.handles.iter().map(|w| &*w.view)
    }

    /// Whether this partition was handed to a worker already.
    pub(crate) fn is_assigned(&self, topic: &str, partition: i32) -> bool {
        self.assigned.iter().any(|(t, p)| t == topic && *p == partition)
    }

    /// Spreads partitions over the workers with the fewest, and tells each its new ones.
    pub(crate) fn assign(&mut self, parts: Vec<PartitionOffset>) {
        let mut per_worker: Vec<Vec<PartitionOffset>> = vec![Vec::new(); self.handles.len()];
        for p in parts {
            let i = (0..self.handles.len())
                .min_by_key(|&i| self.handles[i].partitions + per_worker[i].len())
                .expect("at least one worker");
            self.assigned.push((p.topic.clone(), p.partition));
            per_worker[i].push(p);
        }
        for (w, parts) in self.handles.iter_mut().zip(per_worker) {
            if !parts.is_empty() {
                w.partitions += parts.len();
                if w.commands.send(Command::Assign(parts)).is_err() {
                    tracing::error!("ingest worker is gone; its partitions cannot be assigned");
                }
            }
        }
    }

    /// The first worker whose thread has ended (none should before shutdown).
    pub(crate) fn stopped(&self) -> Option<usize> {
        self.handles.iter().position(|w| w.thread.as_ref().is_none_or(|t| t.is_finished()))
    }

    /// Tells every worker to hand over and return, and waits up to `grace` for them: `None`
    /// when the grace period ran out, else each failure.
    pub(crate) async fn stop(&mut self, grace: Duration) -> Option<Vec<WorkerFailure>> {
        self.stop.store(true, Ordering::Relaxed);
        let threads: Vec<_> = self.handles.iter_mut().filter_map(|w| w.thread.take()).collect();
        let joined = tokio::time::timeout(
            grace,
            tokio::task::spawn_blocking(move || threads.into_iter().map(|t| t.join()).collect::<Vec<_>>()),
        )
        .await;
        let Ok(Ok(results)) = joined else { return None };
        let failures = results
            .into_iter()
            .enumerate()
            .filter_map(|(worker, r)| match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(WorkerFailure { worker, end: WorkerEnd::Kafka(e) }),
                Err(_) => Some(WorkerFailure { worker, end: WorkerEnd::Panicked }),
            })
            .collect();
        Some(failures)
    }
}
