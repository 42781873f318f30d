//! A worker's classified events on their way to the one shared window store.
//!
//! Window counts for 30 days are 17.4 KB per SLI (17,416 bytes, as the test
//! `memory_per_sli_for_30_days_is_17_kb` in `window/tests.rs` computes); a copy per ingest worker
//! would multiply that by the number of workers (and every checkpoint copied it again). So workers
//! do not count into windows themselves: each appends `(sli, event time, good, latency bin)` to
//! its own batch, which costs one 16-byte write per matched SLI and takes no lock, and hands the
//! whole batch to the shared store a few times a second under one lock (`Batch::drain_into`).
//! Adding is exact and order-free, so counting a batch later gives the same counts as counting
//! each event as it arrived.
//!
//! The batch keeps its capacity between hand-overs, so steady-state ingest allocates nothing.

use super::delta::Delta;
use super::latency::{Bin, LatencyWindows};
use super::slices::Slices;
use super::WindowStore;
use crate::window::Counts;

/// One matched event of one SLI, packed in 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Pending {
    ts_ms: i64,
    sli: u32,
    /// Bit 0: good; bit 1: has a latency; bits 2..: the latency's [`Bin`].
    bits: u32,
}

const GOOD: u32 = 1;
const HAS_LATENCY: u32 = 2;

/// A worker's matched events not yet counted into the shared windows.
#[derive(Debug, Default)]
pub struct Batch {
    pending: Vec<Pending>,
}

impl Batch {
    /// Room for `events` matched events before the batch grows.
    pub(crate) fn with_capacity(events: usize) -> Batch {
        Batch { pending: Vec::with_capacity(events) }
    }

    /// Adds one matched event of `sli`, with its latency's bin when it has one.
    #[inline]
    pub(crate) fn push(&mut self, sli: usize, ts_ms: i64, good: bool, latency: Option<Bin>) {
        let bits = u32::from(good) | latency.map_or(0, |b| HAS_LATENCY | (u32::from(b.0) << 2));
        self.pending.push(Pending { ts_ms, sli: sli as u32, bits });
    }

    /// Events pending.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Moves every pending event into `delta` (what an ingest member keeps instead of windows),
    /// and empties the batch (keeping its capacity).
    pub(crate) fn drain_into_delta(&mut self, delta: &mut Delta) {
        for p in self.pending.drain(..) {
            let latency = (p.bits & HAS_LATENCY != 0).then_some(Bin((p.bits >> 2) as u16));
            delta.record(p.sli as usize, p.ts_ms, p.bits & GOOD != 0, latency);
        }
    }

    /// Counts every pending event into the windows, the latency windows and the per-SLI totals,
    /// notes those late for a time-slice SLO in `slices`, and empties the batch (keeping its
    /// capacity).
    pub(crate) fn drain_into(
        &mut self,
        store: &mut WindowStore,
        latency: &mut LatencyWindows,
        totals: &mut [Counts],
        slices: &mut Slices,
    ) {
        let mut located = None;
        for p in self.pending.drain(..) {
            // Events of one message share a time: locate it once for all of its SLIs.
            let at = match located {
                Some((ts, at)) if ts == p.ts_ms => at,
                _ => {
                    // Slices this event's time makes the store let go are judged first.
                    slices.before(store, p.ts_ms);
                    let at = store.locate(p.ts_ms);
                    located = Some((p.ts_ms, at));
                    at
                }
            };
            let (sli, good) = (p.sli as usize, p.bits & GOOD != 0);
            store.add(sli, at, good);
            slices.observe(sli, p.ts_ms);
            totals[sli].total += 1;
            totals[sli].good += u64::from(good);
            if p.bits & HAS_LATENCY != 0 {
                latency.record_bin(sli, p.ts_ms, Bin((p.bits >> 2) as u16));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_694_400_000;

    /// Batched counting equals counting each event straight into the windows, in any split.
    #[test]
    fn batches_count_like_direct_recording() {
        let (slis, day) = (3, 86_400_000);
        let mut direct =
            (WindowStore::new(slis, 30 * day, 60_000), LatencyWindows::new(slis), vec![Counts::default(); slis]);
        let mut batched =
            (WindowStore::new(slis, 30 * day, 60_000), LatencyWindows::new(slis), vec![Counts::default(); slis]);
        let mut batch = Batch::with_capacity(64);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ts = T0 + i * 50 - (x % (3 * day as u64)) as i64 * i64::from(x.is_multiple_of(5));
            let (sli, good) = ((x >> 20) as usize % slis, x & 1 == 0);
            let latency = (!x.is_multiple_of(3)).then(|| ((x >> 30) % 5_000_000) as f64 / 1000.0);
            direct.0.record(sli, ts, good);
            direct.2[sli].total += 1;
            direct.2[sli].good += u64::from(good);
            if let Some(ms) = latency {
                direct.1.record(sli, ts, ms);
            }
            batch.push(sli, ts, good, latency.map(Bin::of_ms));
            if x.is_multiple_of(97) {
                batch.drain_into(&mut batched.0, &mut batched.1, &mut batched.2, &mut Slices::default());
                assert_eq!(batch.len(), 0);
            }
        }
        batch.drain_into(&mut batched.0, &mut batched.1, &mut batched.2, &mut Slices::default());
        let now = T0 + 10_000 * 50;
        assert_eq!(direct.2, batched.2);
        for sli in 0..slis {
            for w in [300_000, 3_600_000, 6 * 3_600_000, day, 3 * day, 30 * day] {
                assert_eq!(direct.0.count(sli, w, now), batched.0.count(sli, w, now), "sli {sli} window {w}");
            }
            let q = [0.5, 0.99];
            assert_eq!(direct.1.quantiles(sli, now, q), batched.1.quantiles(sli, now, q), "sli {sli}");
            assert!(direct.1.quantiles(sli, now, q).is_some());
        }
    }
}
