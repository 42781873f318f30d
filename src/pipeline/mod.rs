//! The only place that knows every stage, and imported by none: Kafka → ingest workers (decode →
//! classify → batch, one [`Shard`](crate::count::Shard) each) → the shared
//! [`Tally`](crate::count::Tally) (window, latency, totals and the offsets they cover) → the
//! evaluation `tick` (snapshot → slo → export, alerts) → HTTP, with checkpoints of the tally's
//! counts and offsets taken together.
//!
//! `Coordinator` runs it in named steps. Start: lock and load the
//! state directory, serve HTTP (not ready). Run: discover partitions (retrying while Kafka is
//! unreachable), hand each worker its partitions at the checkpoint's offsets, tick, checkpoint
//! and look for new partitions until asked to stop. Shutdown: stop fetching, count what was
//! read, write a final checkpoint, commit offsets, stop HTTP last; bounded by
//! `ingest.shutdown_grace`.

mod checkpoint;
mod coordinator;
mod leader;
mod rebuild;
mod reject_log;
#[cfg(test)]
mod report_crash;
mod resume;
pub mod roles;
pub use rebuild::request as request_rebuild;
mod tick;
#[cfg(test)]
mod two_stage;
mod workers;

use std::future::Future;
use std::time::Duration;

use crate::config::Config;
use crate::state::file::StateError;
use coordinator::Coordinator;

/// How often SLOs are evaluated and gauges refreshed.
pub const EXPORT_EVERY: Duration = Duration::from_millis(500);
/// How often topics are checked for new partitions.
const DISCOVER_EVERY: Duration = Duration::from_secs(30);
/// Longest wait for one Kafka metadata, watermark or commit call.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(5);

/// Why slostream stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The metrics address is taken or not allowed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured `exporter.listen`.
        addr: std::net::SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The state directory cannot be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// A Kafka client could not be created.
    #[error("kafka client: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// An ingest worker failed or stopped unexpectedly.
    #[error("ingest worker {worker} failed: {end}")]
    Worker {
        /// The worker's number.
        worker: usize,
        /// How it ended.
        end: WorkerEnd,
    },
    /// The state directory holds a checkpoint of a newer format than this build reads.
    #[error("{}: {reason}", path.display())]
    NewerState {
        /// The checkpoint file.
        path: std::path::PathBuf,
        /// What this build cannot read in it.
        reason: String,
    },
    /// The state directory holds another deployment's checkpoint.
    #[error(
        "{}: the checkpoint there was written for consumer group {found:?}, this config is group {expected:?}; \
         point state.dir elsewhere, or run with --reset-state to move the old state aside and start empty",
        dir.display()
    )]
    ForeignState {
        /// The state directory.
        dir: std::path::PathBuf,
        /// The group the checkpoint was written for.
        found: String,
        /// The configured group.
        expected: String,
    },
    /// `--role ingest` without a member name.
    #[error("an ingest member needs a stable name: set scale.instance, pass --instance, or set HOSTNAME")]
    NoInstance,
    /// The HTTP server failed.
    #[error("http server failed: {0}")]
    Http(std::io::Error),
}

/// How an ingest worker ended when it should not have.
#[derive(Debug, thiserror::Error)]
pub enum WorkerEnd {
    /// Its Kafka client failed.
    #[error("{0}")]
    Kafka(rdkafka::error::KafkaError),
    /// It panicked.
    #[error("panicked")]
    Panicked,
    /// Its thread returned before shutdown.
    #[error("stopped unexpectedly")]
    Stopped,
}

impl RunError {
    /// The process exit code: 2 for a config that does not fit its state directory (like an
    /// invalid config), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::ForeignState { .. } | RunError::NoInstance => 2,
            _ => 1,
        }
    }
}

/// Moves every checkpoint of `config`'s state directory into `<state.dir>/discarded-<UTC time>/`
/// so that the next start begins empty, and returns where (`None` if there was nothing to move).
/// For `slostream run --reset-state`: the old state is kept, not deleted.
pub fn reset_state(config: &Config) -> Result<Option<std::path::PathBuf>, RunError> {
    let files = crate::state::file::CheckpointFiles::open(&config.state.dir)?;
    let mut stamp = String::new();
    crate::time::format_rfc3339_ms(crate::time::wall_ms(), &mut stamp);
    Ok(files.discard_all(&stamp.replace(':', ""))?)
}

/// Runs slostream until `shutdown` completes: production passes SIGTERM|SIGINT, tests a
/// oneshot or a timer.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    Coordinator::start(config).await?.run(shutdown).await
}
