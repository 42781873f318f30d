//! Export: shard views in, Prometheus text on `/metrics` out, plus `/ready` and `/health`.
//!
//! Once per tick the exporter locks each shard's view (held for a copy, never per event),
//! merges them into [`Merged`], evaluates the SLOs and sets gauges. Scrapes render from the
//! recorder and never touch the shards, so `/metrics` answers under full ingest load.

pub mod http;
pub mod telemetry;

use hdrhistogram::Histogram;

use crate::config::Config;
use crate::decode::Reject;
use crate::pipeline::shard::{PartitionState, ShardView};
use crate::window::latency::new_histogram;
use crate::window::Counts;
pub use telemetry::Telemetry;

/// All shards added together.
pub struct Merged {
    windows: usize,
    /// `[sli * windows + w]`.
    pub counts: Vec<Counts>,
    pub totals: Vec<Counts>,
    pub latency: Vec<Histogram<u64>>,
    pub rejected: [u64; Reject::COUNT],
    pub consumed: u64,
    pub unmatched: u64,
    pub partitions: Vec<PartitionState>,
    /// Every shard has had its partition assignment.
    pub assigned: bool,
}

impl Merged {
    pub fn new(config: &Config) -> Merged {
        let n = config.slis.len();
        Merged {
            windows: config.windows.len(),
            counts: vec![Counts::default(); n * config.windows.len()],
            totals: vec![Counts::default(); n],
            latency: (0..n).map(|_| new_histogram()).collect(),
            rejected: [0; Reject::COUNT],
            consumed: 0,
            unmatched: 0,
            partitions: Vec::new(),
            assigned: true,
        }
    }

    pub fn clear(&mut self) {
        self.counts.fill(Counts::default());
        self.totals.fill(Counts::default());
        self.latency.iter_mut().for_each(Histogram::reset);
        self.rejected = [0; Reject::COUNT];
        self.consumed = 0;
        self.unmatched = 0;
        self.partitions.clear();
        self.assigned = true;
    }

    pub fn add(&mut self, view: &ShardView) {
        for (sum, c) in self.counts.iter_mut().zip(&view.windows) {
            sum.add(*c);
        }
        for (sum, c) in self.totals.iter_mut().zip(&view.totals) {
            sum.add(*c);
        }
        for (sum, h) in self.latency.iter_mut().zip(&view.latency) {
            if let Some(h) = h {
                sum.add(h).expect("histograms share bounds");
            }
        }
        for (sum, r) in self.rejected.iter_mut().zip(view.rejected) {
            *sum += r;
        }
        self.consumed += view.consumed;
        self.unmatched += view.unmatched;
        self.partitions.extend(view.partitions.iter().cloned());
        self.assigned &= view.assigned;
    }

    /// Good/total of an SLI over the window at `index` in [`Config::windows`].
    pub fn window(&self, sli: usize, index: usize) -> Counts {
        self.counts[sli * self.windows + index]
    }
}
