//! Count: decoded, classified events in; exact good/total counts with the offsets they cover out.
//!
//! - [`shard`]: one worker's hot path (decode → classify → batch) into buffers it owns alone:
//!   no lock, atomic, `metrics` call or allocation per event.
//! - [`tally`]: every worker's counts added together, once, with the offsets they cover; a
//!   consistent cut at every moment, so a checkpoint is the tally written out.
//! - [`snapshot`]: what one evaluation tick reads from the tally and the workers' views.
//!
//! Nothing here reads a clock: the caller passes the time in (`src/layering.rs` checks it).

pub mod combination;
pub mod shard;
pub mod snapshot;
pub mod tally;

pub use shard::Shard;
pub use snapshot::{BreakdownView, PartitionState, SliceView, Snapshot, WorkerView};
/// Taking the shared tally's lock (the process ends on a poisoned one).
pub use tally::{lock as lock_tally, try_lock as try_lock_tally};
pub use tally::{Cut, NotCheckpointable, Tally};
