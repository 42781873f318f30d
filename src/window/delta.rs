//! Delta: the window counts one process made since it last handed them on, in the finest
//! resolution the windows have, so that another process can fold them into its own windows as
//! if it had counted the events itself.
//!
//! The unit of the two-stage deployment: an ingest member keeps a delta instead of windows and
//! commits it; a merge member folds every member's deltas into its window store. Folding is
//! exact because a 10-second bucket lies inside exactly one bucket of every tier (1 min, 1 h),
//! and latencies inside exactly one minute: adding a delta's bucket to each tier gives the
//! counts recording its events one by one gives. The window store and the latency windows keep
//! the newest buckets their rings hold whatever the order counts arrive in, so the deltas of
//! any number of members, folded in any order and any number of pieces, end in the same windows
//! as one process counting every event (`fold_equals_counting`, below).

use std::collections::HashMap;

use super::breakdown::Breakdowns;
use super::latency::{Bin, LatencyWindows};
use super::slices::Slices;
use super::{Counts, WindowStore};

/// The finest bucket: the window store's first tier.
pub const BUCKET_MS: i64 = 10_000;
/// Latencies are kept per event minute.
pub const LATENCY_MINUTE_MS: i64 = 60_000;

type Fixed = foldhash::fast::FixedState;

/// Good/total per (SLI, 10-second bucket) and latency counts per (SLI, minute, bin), since the
/// delta was last cleared; for SLIs with a `breakdown:`, good/total per (breakdown, value
/// combination, 10-second bucket) and the texts of the combinations announced meanwhile.
#[derive(Debug, Clone, Default)]
pub struct Delta {
    buckets: HashMap<(u32, i64), Counts, Fixed>,
    latency: HashMap<(u32, i64, u16), u32, Fixed>,
    /// Counts and the newest event time per (breakdown, combination, bucket).
    breakdown: HashMap<(u32, u64, i64), (Counts, i64), Fixed>,
    /// `(breakdown, hash, field texts)` of combinations announced since the last clear.
    pub combinations: Vec<Combination>,
    /// The clock of the newest event counted (combinations quiet for a period before it free
    /// their slot when the delta is folded).
    pub now_ms: i64,
    /// Events recorded, for the caller's flush decisions.
    events: u64,
}

/// A value combination's texts: `(breakdown, hash, one text per field)`.
pub type Combination = (u32, u64, Vec<Box<str>>);
/// One breakdown bucket, as encoded: `(breakdown, combination hash, bucket index, counts, time
/// of its newest event)`; the time keeps a combination's slot for a period after its last event
/// exactly as counting the events one by one does.
pub type BreakdownEntry = (u32, u64, i64, Counts, i64);

/// One delta bucket, as encoded: `(sli, bucket index, counts)`.
pub type BucketEntry = (u32, i64, Counts);
/// One delta latency count, as encoded: `(sli, minute index, bin, count)`.
pub type LatencyEntry = (u32, i64, u16, u32);

impl Delta {
    /// Counts one event of `sli` at `ts_ms`, with its latency bin if it has one.
    #[inline]
    pub(crate) fn record(&mut self, sli: usize, ts_ms: i64, good: bool, latency: Option<Bin>) {
        let sli = sli as u32;
        let c = self.buckets.entry((sli, ts_ms.div_euclid(BUCKET_MS))).or_default();
        c.total += 1;
        c.good += u64::from(good);
        if let Some(bin) = latency {
            let n = self.latency.entry((sli, ts_ms.div_euclid(LATENCY_MINUTE_MS), bin.0)).or_default();
            *n = n.saturating_add(1);
        }
        self.events += 1;
    }

    /// Counts one event of value combination `hash` of breakdown `bd` at `ts_ms`.
    pub(crate) fn record_breakdown(&mut self, bd: u32, hash: u64, ts_ms: i64, good: bool) {
        let (c, last) =
            self.breakdown.entry((bd, hash, ts_ms.div_euclid(BUCKET_MS))).or_insert((Counts::default(), i64::MIN));
        c.total += 1;
        c.good += u64::from(good);
        *last = (*last).max(ts_ms);
    }

    /// The breakdown buckets, sorted by breakdown, hash and bucket.
    pub fn breakdown_entries(&self) -> Vec<BreakdownEntry> {
        let mut out: Vec<BreakdownEntry> =
            self.breakdown.iter().map(|(&(b, h, k), &(c, last))| (b, h, k, c, last)).collect();
        out.sort_unstable_by_key(|&(b, h, k, _, _)| (b, h, k));
        out
    }

    /// Adds breakdown entries read back from an encoding.
    pub fn add_breakdown_entries(&mut self, entries: &[BreakdownEntry]) {
        for &(b, h, k, c, last) in entries {
            let (sum, newest) = self.breakdown.entry((b, h, k)).or_insert((Counts::default(), i64::MIN));
            sum.add(c);
            *newest = (*newest).max(last);
        }
    }

    /// Renumbers the SLIs (`sli[i]` is the id of SLI `i`) and breakdowns (`bd[i]` likewise):
    /// a delta counted under a config holding some of the SLIs (a history rebuild's), made a
    /// delta of the whole config's.
    pub fn renumber(&mut self, sli: &[u32], bd: &[u32]) {
        let (s, b) = (|i: u32| sli[i as usize], |i: u32| bd[i as usize]);
        self.buckets = self.buckets.drain().map(|((i, k), c)| ((s(i), k), c)).collect();
        self.latency = self.latency.drain().map(|((i, m, bin), n)| ((s(i), m, bin), n)).collect();
        self.breakdown = self.breakdown.drain().map(|((i, h, k), v)| ((b(i), h, k), v)).collect();
        for c in &mut self.combinations {
            c.0 = b(c.0);
        }
    }

    /// Events recorded since the last clear.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether nothing was recorded since the last clear.
    pub fn is_empty(&self) -> bool {
        self.events == 0 && self.buckets.is_empty() && self.latency.is_empty() && self.breakdown.is_empty()
    }

    /// Forgets everything, keeping the maps' capacity.
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.latency.clear();
        self.breakdown.clear();
        self.combinations.clear();
        self.now_ms = i64::MIN;
        self.events = 0;
    }

    /// The buckets, sorted by SLI then bucket (the encoding's order).
    pub fn bucket_entries(&self) -> Vec<BucketEntry> {
        let mut out: Vec<BucketEntry> = self.buckets.iter().map(|(&(s, k), &c)| (s, k, c)).collect();
        out.sort_unstable_by_key(|&(s, k, _)| (s, k));
        out
    }

    /// The latency counts, sorted by SLI, minute and bin.
    pub fn latency_entries(&self) -> Vec<LatencyEntry> {
        let mut out: Vec<LatencyEntry> = self.latency.iter().map(|(&(s, m, b), &n)| (s, m, b, n)).collect();
        out.sort_unstable_by_key(|&(s, m, b, _)| (s, m, b));
        out
    }

    /// Adds entries read back from an encoding.
    pub fn add_entries(&mut self, buckets: &[BucketEntry], latency: &[LatencyEntry]) {
        for &(s, k, c) in buckets {
            self.buckets.entry((s, k)).or_default().add(c);
            self.events += c.total;
        }
        for &(s, m, b, n) in latency {
            let cell = self.latency.entry((s, m, b)).or_default();
            *cell = cell.saturating_add(n);
        }
    }

    /// Adds the delta into `store`, `latency` and the per-SLI `totals`, as if each of its events
    /// had been counted there, oldest bucket first so that time slices are frozen as they would
    /// be for its events in time order (and events for slices already frozen counted late). SLI
    /// ids out of range (a delta from another config) are skipped.
    pub fn fold_into(
        &self,
        store: &mut WindowStore,
        latency: &mut LatencyWindows,
        totals: &mut [Counts],
        slices: &mut Slices,
        breakdowns: &mut Breakdowns,
        period_ms: i64,
    ) {
        if !self.breakdown.is_empty() || !self.combinations.is_empty() {
            breakdowns.fold(&self.combinations, &self.breakdown_entries(), self.now_ms, period_ms);
        }
        let resolutions = store.resolutions();
        let mut buckets: Vec<(i64, u32, Counts)> = self.buckets.iter().map(|(&(s, k), &c)| (k, s, c)).collect();
        buckets.sort_unstable_by_key(|&(k, s, _)| (k, s));
        for (k, sli, c) in buckets {
            let sli = sli as usize;
            if sli >= totals.len() {
                continue;
            }
            let start = k * BUCKET_MS;
            slices.before(store, start);
            for (tier, res) in resolutions.iter().enumerate() {
                store.add_bucket(tier, sli, start.div_euclid(*res), c);
            }
            slices.observe_n(sli, start, c.total);
            totals[sli].add(c);
        }
        for (&(sli, minute, bin), &n) in &self.latency {
            if (sli as usize) < totals.len() {
                latency.record_bins(sli as usize, minute * LATENCY_MINUTE_MS, Bin(bin), n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const HOUR: i64 = 3_600_000;

    /// A rebuild's delta, counted under a config of SLIs 1 and 3 (breakdown 0 of that config is
    /// breakdown 2 of the whole), carries the whole config's ids after renumbering.
    #[test]
    fn renumbering_maps_every_key() {
        let mut d = Delta::default();
        d.record(0, 10_000, true, None);
        d.record(1, 20_000, false, Some(Bin(7)));
        d.record_breakdown(0, 42, 30_000, true);
        d.combinations.push((0, 42, vec!["eu".into()]));
        d.renumber(&[1, 3], &[2]);
        let c = |good, total| Counts { good, total };
        assert_eq!(d.bucket_entries(), vec![(1, 1, c(1, 1)), (3, 2, c(0, 1))]);
        assert_eq!(d.latency_entries(), vec![(3, 0, 7, 1)]);
        assert_eq!(d.breakdown_entries(), vec![(2, 42, 3, c(1, 1), 30_000)]);
        assert_eq!(d.combinations, vec![(2, 42, vec![Box::from("eu")])]);
        assert_eq!(d.events(), 2);
    }
    const DAY: i64 = 24 * HOUR;
    const T0: i64 = 1_795_694_400_000;
    const SLIS: usize = 3;
    const PERIOD: i64 = 30 * DAY;

    /// One event: `(sli, ts, good, latency bin)`.
    type Event = (usize, i64, bool, Option<u16>);

    fn event() -> impl Strategy<Value = Event> {
        // Mostly the last hours, some days old, a few older than the 30-day ring.
        let age = prop_oneof![4 => 0..10 * 60_000i64, 4 => 0..2 * HOUR, 2 => 0..7 * DAY, 1 => 0..40 * DAY];
        (0..SLIS, age, any::<bool>(), proptest::option::of(0u16..40)).prop_map(|(s, a, g, l)| (s, T0 - a, g, l))
    }

    /// Every bucket of every tier and the latency quantiles, comparable (not the latency
    /// windows' change stamp, which counts latencies recorded before a newer minute replaced
    /// them and so depends on the order).
    fn state(store: &WindowStore, latency: &LatencyWindows) -> Vec<Vec<(i64, Counts)>> {
        let mut out = Vec::new();
        for sli in 0..SLIS {
            for tier in 0..3 {
                out.push(store.buckets(tier, sli).collect());
            }
            for now in [T0, T0 - 180_000] {
                let q = latency.quantiles(sli, now, [0.1, 0.5, 0.9, 0.99, 1.0]);
                out.push(q.into_iter().flatten().map(|v| (v as i64, Counts::default())).collect());
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Any split of an event stream among members, each flushing its delta any number of
        /// times, folded in any order, equals one process counting every event: every bucket of
        /// every tier, the latency bins and the totals.
        #[test]
        fn fold_equals_counting(
            events in proptest::collection::vec(event(), 0..400),
            members in 1usize..5,
            owner in proptest::collection::vec(0usize..5, 400),
            flush_every in 1usize..60,
            fold_order in any::<u64>(),
        ) {
            let mut one = (WindowStore::new(SLIS, PERIOD, 60_000), LatencyWindows::new(SLIS), vec![Counts::default(); SLIS]);
            for &(sli, ts, good, bin) in &events {
                one.0.record(sli, ts, good);
                one.2[sli].total += 1;
                one.2[sli].good += u64::from(good);
                if let Some(b) = bin {
                    one.1.record_bin(sli, ts, Bin(b));
                }
            }
            // Each member's deltas, flushed every `flush_every` of its events.
            let mut flushed: Vec<Delta> = Vec::new();
            let mut open = vec![Delta::default(); members];
            for (i, &(sli, ts, good, bin)) in events.iter().enumerate() {
                let m = owner[i] % members;
                open[m].record(sli, ts, good, bin.map(Bin));
                if open[m].events() as usize >= flush_every {
                    flushed.push(std::mem::take(&mut open[m]));
                }
            }
            flushed.extend(open.into_iter().filter(|d| !d.is_empty()));
            // Folded in a shuffled order, each through its entries (as an encoding carries them).
            let mut x = fold_order | 1;
            for i in (1..flushed.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                flushed.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut merged = (WindowStore::new(SLIS, PERIOD, 60_000), LatencyWindows::new(SLIS), vec![Counts::default(); SLIS]);
            for d in &flushed {
                let mut carried = Delta::default();
                carried.add_entries(&d.bucket_entries(), &d.latency_entries());
                prop_assert_eq!(carried.events(), d.events());
                carried.fold_into(&mut merged.0, &mut merged.1, &mut merged.2, &mut Slices::default(), &mut Breakdowns::default(), PERIOD);
            }
            prop_assert_eq!(&merged.2, &one.2);
            prop_assert_eq!(state(&merged.0, &merged.1), state(&one.0, &one.1));
            for w in [300_000, HOUR, 6 * HOUR, DAY, PERIOD] {
                for sli in 0..SLIS {
                    prop_assert_eq!(merged.0.count(sli, w, T0), one.0.count(sli, w, T0));
                }
            }
        }
    }

    #[test]
    fn a_delta_holds_ten_second_buckets_and_latency_minutes() {
        let mut d = Delta::default();
        d.record(1, 25_000, true, Some(Bin(7)));
        d.record(1, 29_999, false, Some(Bin(7)));
        d.record(1, 30_000, true, None);
        d.record(0, -1, true, Some(Bin(2)));
        assert_eq!(d.events(), 4);
        assert_eq!(
            d.bucket_entries(),
            [
                (0, -1, Counts { good: 1, total: 1 }),
                (1, 2, Counts { good: 1, total: 2 }),
                (1, 3, Counts { good: 1, total: 1 }),
            ]
        );
        assert_eq!(d.latency_entries(), [(0, -1, 2, 1), (1, 0, 7, 2)]);
        d.clear();
        assert!(d.is_empty());
    }
}
