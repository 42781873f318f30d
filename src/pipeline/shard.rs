//! One worker's hot path: payload → decode → classify → window, into counters it owns alone.
//!
//! A shard is never shared while it counts: no lock, no atomic, no `metrics` call and no
//! allocation per event. Once per publish tick it copies what the exporter needs into a
//! [`ShardView`] (the only lock, taken once per tick, not per event).

use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

use crate::classify::Classifier;
use crate::config::Config;
use crate::decode::{Decoder, Reject, SlotBuffer};
use crate::state::Counters;
use crate::window::latency::{new_histogram, LatencyWindows};
use crate::window::{Counts, WindowSet, WindowStore};

/// A partition this shard reads, as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    /// High watermark minus the consumer position; `None` until both are known.
    pub lag: Option<i64>,
}

/// What the exporter reads from a shard, refreshed every publish tick.
#[derive(Debug, Default)]
pub struct ShardView {
    pub at_ms: i64,
    /// `[sli * windows + w]`, windows as in [`Config::windows`].
    pub windows: Vec<Counts>,
    /// Consumed, rejected, unmatched and per-SLI totals since the first start.
    pub counters: Counters,
    /// Per SLI, the last five minutes of latency (empty histogram when none).
    pub latency: Vec<Option<Histogram<u64>>>,
    /// Per SLI, what `latency` was last built from: `(shard, latencies recorded, now minute)`.
    /// A histogram whose source has not changed is not rebuilt.
    latency_from: Vec<Option<(u64, u64, i64)>>,
    pub partitions: Vec<PartitionState>,
    /// Times the worker's consumer was recreated after a stall.
    pub stalls: u64,
}

#[derive(Debug)]
pub struct Shard {
    decoder: Decoder,
    classifier: Classifier,
    store: WindowStore,
    slots: SlotBuffer,
    counters: Counters,
    latency: LatencyWindows,
    /// Tells views apart from those of another shard (see [`ShardView::latency_from`]).
    id: u64,
    /// The configured windows, grouped by the tier that answers them.
    windows: WindowSet,
}

impl Shard {
    pub fn new(config: &Config) -> Shard {
        let decoder = Decoder::new(config);
        let classifier = Classifier::new(config, &decoder);
        let n = config.slis.len();
        let store = WindowStore::new(n, config.max_period_secs() * 1000, config.events.max_future_ms);
        let windows_ms: Vec<i64> = config.windows.iter().map(|w| w.secs * 1000).collect();
        Shard {
            windows: store.window_set(&windows_ms),
            store,
            decoder,
            classifier,
            slots: SlotBuffer::default(),
            counters: Counters::new(n),
            latency: LatencyWindows::new(n),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Counts one message; returns why it was rejected, if it was. `now_ms` is the wall clock,
    /// read by the caller (not per event).
    #[inline]
    pub fn process(&mut self, payload: &[u8], now_ms: i64) -> Option<Reject> {
        self.counters.consumed += 1;
        let Shard { decoder, classifier, store, slots, counters, latency, .. } = self;
        let Counters { totals, rejected, unmatched, .. } = counters;
        slots.with(|slots| match decoder.decode(payload, now_ms, slots) {
            Err(reason) => {
                rejected[reason.index()] += 1;
                Some(reason)
            }
            Ok(event) => {
                let at = store.locate(event.ts_ms);
                let matched = classifier.classify(slots, |sli, good| {
                    store.add(sli, at, good);
                    totals[sli].total += 1;
                    totals[sli].good += u64::from(good);
                    if let Some(ms) = event.latency_ms {
                        latency.record(sli, event.ts_ms, ms);
                    }
                });
                if matched == 0 {
                    *unmatched += 1;
                }
                None
            }
        })
    }

    pub fn count_dead_letter(&mut self) {
        self.counters.dead_letters += 1;
    }

    pub fn consumed(&self) -> u64 {
        self.counters.consumed
    }

    pub fn store(&self) -> &WindowStore {
        &self.store
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Copies the durable part of the state (windows and counters) into `store` and `counters`,
    /// reusing their allocations.
    pub fn snapshot_into(&self, store: &mut WindowStore, counters: &mut Counters) {
        store.clone_from(&self.store);
        counters.clone_from(&self.counters);
    }

    /// Replaces the durable state with a restored checkpoint's.
    pub fn restore(&mut self, store: WindowStore, counters: Counters) {
        self.store = store;
        self.counters = counters;
    }

    /// Copies window sums at `now_ms`, totals and counters into `view`, reusing its buffers.
    pub fn publish(&self, now_ms: i64, view: &mut ShardView) {
        let n = self.counters.totals.len();
        view.at_ms = now_ms;
        view.windows.resize(n * self.windows.len(), Counts::default());
        if !self.windows.is_empty() {
            for (sli, out) in view.windows.chunks_exact_mut(self.windows.len()).enumerate() {
                self.store.sums(sli, &self.windows, now_ms, out);
            }
        }
        view.counters.clone_from(&self.counters);
        view.latency.resize_with(n, || None);
        view.latency_from.resize(n, None);
        let minute = now_ms.div_euclid(60_000);
        for (sli, (slot, from)) in view.latency.iter_mut().zip(&mut view.latency_from).enumerate() {
            let source = Some((self.id, self.latency.recorded(sli), minute));
            if *from == source {
                continue;
            }
            *from = source;
            if let Some(h) = slot {
                h.reset();
            }
            let mut fresh = None;
            let target = match slot {
                Some(h) => h,
                None => fresh.insert(new_histogram()),
            };
            if self.latency.merge_into(sli, now_ms, target) && slot.is_none() {
                *slot = fresh;
            }
        }
    }

    /// Memory per SLI of the latency histograms now (it grows with the spread of latencies).
    pub fn latency_bytes_per_sli(&self) -> usize {
        self.latency.bytes_per_sli()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);
