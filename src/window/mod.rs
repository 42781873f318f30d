//! Window: `(sli, event time, good)` in, exact good/total over rolling windows out.
//!
//! Counts are keyed by the event's own timestamp, never by arrival time, so a restart with lag
//! or a late event lands in the bucket it belongs to. Three tiers share the work:
//!
//! | tier | bucket | answers windows up to |
//! |------|--------|-----------------------|
//! | fine   | 10 s | 1 h (5m, 30m, 1h)        |
//! | medium | 1 min | 6 h (2h, 6h)            |
//! | coarse | 1 h | the longest period (1d, 3d, 28d, 30d) |
//!
//! Every event is added to each tier whose ring still holds its time, so no roll-up is needed
//! and late events are as exact as on-time ones. A window `(now - W, now]` is answered from the
//! finest tier that spans it by summing the buckets that overlap it. The only error is at the
//! edges: events in the one bucket holding `now - W` that are older than `now - W`, and events in
//! the bucket holding `now` that are newer than `now` (at most `max_future` ahead). An event
//! strictly inside the window is always counted, for any `max_future` and whatever events ahead
//! of `now` were accepted: each ring also keeps `max_future` of buckets ahead of `now`, and a
//! tier answers only the windows it spans without them (a tier chosen by its whole length once
//! lost a 2 h window's oldest half hour to one event 30 min ahead). Memory per SLI is fixed,
//! whatever the traffic:
//! `8 B × (ceil(1h/10s) + ceil(6h/1m)) + 16 B × ceil(P/1h) + (3×2 + future buckets) × width`
//! (32-bit counts up to 1-minute buckets, see `tier`): 17.4 KB for a 30-day period and a minute
//! of future, 20.7 KB at the longest `max_future` ([`MAX_FUTURE_MS`]), one copy for all ingest
//! workers.
//!
//! Time is always an argument: nothing here reads a clock.

pub mod batch;
pub mod breakdown;
pub mod combine;
pub mod delta;
pub mod latency;
pub mod slices;
mod tier;

use tier::Tier;

pub use crate::config::MAX_FUTURE_MS;

/// Good and total events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events the SLI's `good:` held for.
    pub good: u64,
    /// Every event of the SLI.
    pub total: u64,
}

impl Counts {
    /// Adds `other` in, field by field.
    pub(crate) fn add(&mut self, other: Counts) {
        self.good += other.good;
        self.total += other.total;
    }
}

/// Where one event time lands in each tier (`None`: older than that tier holds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Location([Option<usize>; 3]);

/// A list of windows grouped by the tier that answers each, made by [`WindowStore::window_set`].
#[derive(Debug, Clone, Default)]
pub struct WindowSet {
    /// Per tier, `(position in the list, window_ms)` by ascending length.
    by_tier: [Vec<(usize, i64)>; 3],
    len: usize,
}

/// Tiered event-time buckets for a fixed set of SLIs.
#[derive(Debug, Clone)]
pub struct WindowStore {
    tiers: [Tier; 3],
}

impl WindowStore {
    /// `max_period_ms` sizes the coarse tier; `max_future_ms` is how far ahead of `now` an
    /// accepted event may be (any value keeps the counts whole; memory grows with it, hence
    /// [`MAX_FUTURE_MS`]).
    pub fn new(slis: usize, max_period_ms: i64, max_future_ms: i64) -> WindowStore {
        let hour = 3_600_000;
        WindowStore {
            tiers: [
                Tier::new(slis, 10_000, hour, max_future_ms, true),
                Tier::new(slis, 60_000, 6 * hour, max_future_ms, true),
                Tier::new(slis, hour, max_period_ms.max(6 * hour), max_future_ms, false),
            ],
        }
    }

    /// Finds an event time's buckets once, for all the SLIs the event belongs to.
    #[inline]
    pub(crate) fn locate(&mut self, ts_ms: i64) -> Location {
        let [a, b, c] = &mut self.tiers;
        Location([a.locate(ts_ms), b.locate(ts_ms), c.locate(ts_ms)])
    }

    /// Counts one event of `sli` at a [`WindowStore::locate`]d time.
    #[inline]
    pub(crate) fn add(&mut self, sli: usize, at: Location, good: bool) {
        for (tier, slot) in self.tiers.iter_mut().zip(at.0) {
            if let Some(slot) = slot {
                tier.add(sli, slot, good);
            }
        }
    }

    /// Counts one event of `sli` at its event time.
    pub fn record(&mut self, sli: usize, ts_ms: i64, good: bool) {
        let at = self.locate(ts_ms);
        self.add(sli, at, good);
    }

    /// Good/total of `sli` over `(now - window, now]`, from the finest tier spanning the window.
    pub fn count(&self, sli: usize, window_ms: i64, now_ms: i64) -> Counts {
        self.tier_for(window_ms).sum(sli, window_ms, now_ms)
    }

    /// Groups windows by the tier that answers them, for [`WindowStore::sums`].
    pub fn window_set(&self, windows_ms: &[i64]) -> WindowSet {
        let mut by_tier: [Vec<(usize, i64)>; 3] = Default::default();
        for (i, &w) in windows_ms.iter().enumerate() {
            by_tier[self.tier_index(w)].push((i, w));
        }
        for windows in &mut by_tier {
            windows.sort_by_key(|&(_, w)| w);
        }
        WindowSet { by_tier, len: windows_ms.len() }
    }

    /// [`WindowStore::count`] of `sli` for every window of `set` at once, into `out` (in the
    /// order the windows were given): one backward pass per tier, since windows ending at the
    /// same `now` are nested and share their newest buckets.
    pub fn sums(&self, sli: usize, set: &WindowSet, now_ms: i64, out: &mut [Counts]) {
        assert_eq!(out.len(), set.len, "one output per window");
        for (tier, windows) in self.tiers.iter().zip(&set.by_tier) {
            tier.sums(sli, now_ms, windows, out);
        }
    }

    /// Good/total of `sli` per hour over `(now - window, now]`, oldest first, into `out`: the
    /// coarse tier's buckets, one per hour from the one holding `now - window` to the one holding
    /// `now` (zero where nothing was counted). Returns when the first hour starts, in ms. For a
    /// window the coarse tier answers (longer than 6 h), they add up to [`WindowStore::count`].
    /// What the status page's burn-down chart is drawn from.
    pub fn hourly(&self, sli: usize, window_ms: i64, now_ms: i64, out: &mut Vec<Counts>) -> i64 {
        let coarse = &self.tiers[2];
        coarse.each(sli, window_ms, now_ms, out) * coarse.res_ms
    }

    /// Good/total of `sli` over the hourly buckets with absolute indices `[first, last]` (hour
    /// `k` holds event times `[k h, (k + 1) h)`) that the coarse tier still holds.
    pub fn hours(&self, sli: usize, first: i64, last: i64) -> Counts {
        self.tiers[2].sum_indices(sli, first, last)
    }

    /// From now on, keeps every non-empty hourly bucket the coarse tier pushes out of its ring,
    /// for [`WindowStore::take_evicted`]: what the period reports fold before it is gone.
    pub fn keep_evicted(&mut self) {
        self.tiers[2].keep_evicted();
    }

    /// The hourly buckets pushed out of the coarse ring since the last call, as
    /// `(sli, hour index, counts)`, oldest first for each SLI; none unless kept.
    pub fn take_evicted(&mut self) -> impl Iterator<Item = (usize, i64, Counts)> + '_ {
        self.tiers[2].take_evicted()
    }

    /// Bucket width used for a window: the most a window can be off by is the events of one
    /// such bucket at each edge.
    #[cfg(test)]
    pub(crate) fn resolution_ms(&self, window_ms: i64) -> i64 {
        self.tier_for(window_ms).res_ms
    }

    fn tier_for(&self, window_ms: i64) -> &Tier {
        &self.tiers[self.tier_index(window_ms)]
    }

    /// The finest tier spanning the window (the coarse one for anything longer), by the span it
    /// was built for: its extra buckets for `max_future` may hold events ahead of `now` instead.
    fn tier_index(&self, window_ms: i64) -> usize {
        self.tiers.iter().position(|t| t.span_ms() >= window_ms).unwrap_or(2)
    }

    /// Events of `sli` in the buckets of tier `tier` starting in `[from_ms, to_ms)` (both on
    /// that tier's bucket edges), as far as it still holds them.
    pub(crate) fn sum_between(&self, tier: usize, sli: usize, from_ms: i64, to_ms: i64) -> Counts {
        self.tiers[tier].sum_between(sli, from_ms, to_ms)
    }

    /// Where the newest 10-second bucket any event reached ends; `None` before the first event.
    pub fn newest_end_ms(&self) -> Option<i64> {
        self.tiers[0].newest_end_ms()
    }

    /// How far back from the end of its newest bucket tier `tier` holds every bucket, whatever
    /// the next event moves its head by up to one bucket.
    pub(crate) fn held_ms(&self, tier: usize) -> i64 {
        let t = &self.tiers[tier];
        (t.len - 2) * t.res_ms
    }

    /// Bucket widths of the tiers, finest first.
    pub fn resolutions(&self) -> [i64; 3] {
        self.tiers.each_ref().map(|t| t.res_ms)
    }

    /// Non-empty buckets of one SLI in one tier, as `(absolute bucket index, counts)`.
    pub(crate) fn buckets(&self, tier: usize, sli: usize) -> impl Iterator<Item = (i64, Counts)> + '_ {
        self.tiers[tier].buckets(sli)
    }

    /// Adds counts into a bucket by absolute index: how checkpoints are restored.
    pub fn add_bucket(&mut self, tier: usize, sli: usize, index: i64, counts: Counts) {
        self.tiers[tier].add_bucket(sli, index, counts);
    }

    /// Empties every bucket of one row (a breakdown slot handed to another combination).
    pub(crate) fn clear(&mut self, sli: usize) {
        self.tiers.iter_mut().for_each(|t| t.clear(sli));
    }

    /// Fixed memory per SLI, in bytes.
    pub fn bytes_per_sli(&self) -> usize {
        self.tiers.iter().map(Tier::bytes_per_sli).sum()
    }
}

#[cfg(test)]
mod tests;
