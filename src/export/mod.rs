//! Export: shard views in, Prometheus text on `/metrics` out, plus `/ready` and `/health`.
//!
//! Once per tick the exporter locks each shard's view (held for a copy, never per event),
//! merges them into [`Merged`], evaluates the SLOs and sets gauges. Scrapes render from the
//! recorder and never touch the shards, so `/metrics` answers under full ingest load.

pub mod http;
mod sloth;
pub mod telemetry;

use hdrhistogram::Histogram;

use crate::config::Config;
use crate::pipeline::shard::{PartitionState, ShardView};
use crate::state::Counters;
use crate::window::latency::new_histogram;
use crate::window::Counts;
pub use telemetry::Telemetry;

/// All shards added together.
pub struct Merged {
    windows: usize,
    /// `[sli * windows + w]`.
    pub counts: Vec<Counts>,
    pub counters: Counters,
    pub latency: Vec<Histogram<u64>>,
    pub partitions: Vec<PartitionState>,
    pub stalls: u64,
}

impl Merged {
    pub fn new(config: &Config) -> Merged {
        let n = config.slis.len();
        Merged {
            windows: config.windows.len(),
            counts: vec![Counts::default(); n * config.windows.len()],
            counters: Counters::new(n),
            latency: (0..n).map(|_| new_histogram()).collect(),
            partitions: Vec::new(),
            stalls: 0,
        }
    }

    pub fn clear(&mut self) {
        self.counts.fill(Counts::default());
        self.counters = Counters::new(self.counters.totals.len());
        self.latency.iter_mut().for_each(Histogram::reset);
        self.partitions.clear();
        self.stalls = 0;
    }

    pub fn add(&mut self, view: &ShardView) {
        for (sum, c) in self.counts.iter_mut().zip(&view.windows) {
            sum.add(*c);
        }
        self.counters.add(&view.counters);
        for (sum, h) in self.latency.iter_mut().zip(&view.latency) {
            if let Some(h) = h {
                sum.add(h).expect("histograms share bounds");
            }
        }
        self.partitions.extend(view.partitions.iter().cloned());
        self.stalls += view.stalls;
    }

    /// Good/total of an SLI over the window at `index` in [`Config::windows`].
    pub fn window(&self, sli: usize, index: usize) -> Counts {
        self.counts[sli * self.windows + index]
    }
}
