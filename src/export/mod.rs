//! Export: the tally and worker views in, Prometheus text on `/metrics` out, plus `/ready` and
//! `/health`.
//!
//! Once per tick the exporter reads the tally's windows under its lock (a sum per window, never
//! per event) and each worker's view, evaluates the SLOs and sets gauges. Scrapes render the
//! recorder's and the exposition's series and never touch the tally, so `/metrics` answers under
//! full ingest load.

pub mod exposition;
pub mod http;
mod sloth;
pub mod telemetry;

use crate::config::Config;
use crate::pipeline::shard::{PartitionState, ShardView};
use crate::pipeline::tally::Tally;
use crate::state::Counters;
use crate::window::{Counts, WindowSet};
pub use telemetry::Telemetry;

/// What one export tick reads: the tally's window sums, counters and latency quantiles, and the
/// workers' partitions.
pub struct Merged {
    windows_ms: Vec<i64>,
    /// The configured windows grouped by tier (made from the tally's store on first read).
    set: Option<WindowSet>,
    /// `[sli * windows + w]`.
    pub counts: Vec<Counts>,
    pub counters: Counters,
    /// Per SLI, the [`telemetry::QUANTILES`] of the last five minutes of latency, in µs.
    pub latency: Vec<Option<[u64; 4]>>,
    /// Per SLI, the [`LatencyWindows::stamp`](crate::window::latency::LatencyWindows::stamp)
    /// `latency` was computed at: while it is unchanged, so are the quantiles.
    latency_from: Vec<(u64, i64)>,
    pub partitions: Vec<PartitionState>,
    pub stalls: u64,
}

impl Merged {
    pub fn new(config: &Config) -> Merged {
        let n = config.slis.len();
        Merged {
            windows_ms: config.windows.iter().map(|w| w.secs * 1000).collect(),
            set: None,
            counts: vec![Counts::default(); n * config.windows.len()],
            counters: Counters::new(n),
            latency: vec![None; n],
            latency_from: vec![(0, i64::MIN); n],
            partitions: Vec::new(),
            stalls: 0,
        }
    }

    /// Reads every SLI's window sums at `now_ms`, the counters and the changed latency quantiles.
    pub fn read_tally(&mut self, tally: &Tally, now_ms: i64) {
        let set = self.set.get_or_insert_with(|| tally.store.window_set(&self.windows_ms));
        if !set.is_empty() {
            for (sli, out) in self.counts.chunks_exact_mut(set.len()).enumerate() {
                tally.store.sums(sli, set, now_ms, out);
            }
        }
        self.counters.clone_from(&tally.counters);
        let qs = telemetry::QUANTILES.map(|(q, _)| q);
        for (sli, (out, from)) in self.latency.iter_mut().zip(&mut self.latency_from).enumerate() {
            let source = tally.latency.stamp(sli, now_ms);
            if *from != source {
                *from = source;
                *out = tally.latency.quantiles(sli, now_ms, qs);
            }
        }
    }

    pub fn add_view(&mut self, view: &ShardView) {
        self.partitions.extend(view.partitions.iter().cloned());
        self.stalls += view.stalls;
    }

    /// Good/total of an SLI over the window at `index` in [`Config::windows`].
    pub fn window(&self, sli: usize, index: usize) -> Counts {
        self.counts[sli * self.windows_ms.len() + index]
    }
}
