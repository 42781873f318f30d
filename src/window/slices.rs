//! Time slices: the verdict on every slice of each time-slice SLO, judged from the window store
//! while its buckets still hold the slice, then kept per hour for as long as the SLO's period.
//!
//! A slice's verdict is the SLO's combined ratio over the events of that slice
//! ([`SliceBudget::verdict`]): good or bad for `timeslices`, its ratio for `ratio_timeslices`,
//! good or skipped when sparse. The store keeps 10-second buckets for an hour and 1-minute
//! buckets for six hours, so a slice that is a whole number of minutes is judged from the
//! minute tier, any other from the 10-second tier, and its verdict may still change with late
//! events for as long as that tier holds it (the *horizon*: about 6 h, or 1 h for slices that
//! are not whole minutes, plus `events.max_future`).
//!
//! Just before the tier lets a slice go, the slice is *frozen*: its verdict is added to the
//! SLO's hourly ring (slices counted, good slices), which spans the SLO's period. Freezing
//! follows the event times the store counts, never a clock, so it happens at the same point of
//! the data on a live run and on a replay after a restart, whatever the hand-overs' batch
//! boundaries; it runs as an event's time is about to move the tier's head past a slice, so no
//! slice is ever judged on a tier that already dropped part of it. An event arriving for a frozen slice is *late*:
//! it is counted in the windows as usual but changes no verdict, and is counted per SLO in
//! [`SloSlices::late`] (`slostream_slice_late_events_total`).
//!
//! A window `(now - W, now]` holds the closed slices (ending at or before `now`) starting at or
//! after `now - W`: the live ones judged afresh from the tier on every evaluation, the frozen ones
//! from the hourly ring, whole hours at a time, so a window reaching past the horizon counts the
//! slices of the whole hour holding its start (the same edge a long window's event counts have).
//! A calendar period's window starts at the period's start, an edge of both slices and hours.
//!
//! Slices begin with the first event an empty store counts; an SLO added (or whose definition
//! changed) while the store holds events begins with the slices the store still holds at slice
//! resolution. Older slices are not judged, and events for them count as late.
//!
//! Memory per time-slice SLO: 16 B per hour of its period, or of 32 days for a rolling period
//! shorter than that (so a report month's slices are held until it closes): 12.3 KB for 30
//! days, 35.7 KB for a quarter, whatever the slice length.

use super::combine::combine;
use super::{Counts, WindowStore};
use crate::config::{Calendar, Combine, Config, SliceBudget, SliceVerdict, SloConfig};

const HOUR_MS: i64 = 3_600_000;
/// The longest report month (31 days) and a day of margin for its close.
const REPORT_MONTH_MS: i64 = 32 * 24 * HOUR_MS;
/// How much sooner than the tier would drop it a slice is frozen: room for a hand-over whose
/// batch moves the head by up to a minute past where the previous one left it.
const MARGIN_MS: i64 = 60_000;

/// Counted slices and good slices over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SliceCounts {
    /// Slices counted (sparse ones skipped with `sparse: skip` are not).
    pub slices: u64,
    /// Good slices (`timeslices`), or the sum of the counted slices' ratios (`ratio_timeslices`):
    /// either way, `good / slices` is the window's ratio.
    pub good: f64,
}

impl SliceCounts {
    fn add(&mut self, v: SliceVerdict, times: u64) {
        self.slices += u64::from(v.counted) * times;
        self.good += v.good * times as f64;
    }

    /// The window's ratio: 1 when no slice was counted.
    pub fn ratio(&self) -> f64 {
        if self.slices == 0 {
            1.0
        } else {
            self.good / self.slices as f64
        }
    }
}

/// The frozen slices of one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Hour {
    /// Slices counted.
    pub counted: u32,
    /// Good slices, or the sum of their ratios.
    pub good: f64,
}

/// One time-slice SLO's frozen slices and where freezing stands.
#[derive(Debug, Clone)]
pub struct SloSlices {
    /// Index of the SLO in [`Config::slos`].
    pub slo: usize,
    /// The SLO's name, for checkpoints.
    pub name: String,
    /// Changes with anything that changes a verdict: the slice settings, the combine method,
    /// and each SLI's definition and weight.
    pub fingerprint: u64,
    budget: SliceBudget,
    combine: Combine,
    /// `(sli, weight)`.
    components: Vec<(usize, f64)>,
    calendar: Option<Calendar>,
    /// The store's tier the slices are judged from: 0 (10 s) or 1 (1 min).
    tier: usize,
    /// Slices ending this long before the newest bucket's end are frozen.
    horizon_ms: i64,
    /// Every slice ending at or before this instant is frozen; `None` before the first event.
    frozen_until: Option<i64>,
    /// Events that arrived for a slice already frozen.
    pub late: u64,
    /// Absolute index of the newest hour in `hours` (`i64::MIN`: none yet); the ring holds
    /// `(head - len, head]`.
    head: i64,
    hours: Vec<Hour>,
}

/// What a checkpoint keeps of one time-slice SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedSlices {
    /// The SLO's name.
    pub name: String,
    /// [`SloSlices::fingerprint`] when saved: a different one starts the SLO's slices afresh.
    pub fingerprint: u64,
    /// [`SloSlices::frozen_until`].
    pub frozen_until: Option<i64>,
    /// [`SloSlices::late`].
    pub late: u64,
    /// Non-empty hours as `(absolute hour index, hour)`, oldest first.
    pub hours: Vec<(i64, Hour)>,
}

/// Every time-slice SLO of a config.
#[derive(Debug, Clone, Default)]
pub struct Slices {
    /// In the order of [`Config::slos`].
    pub slos: Vec<SloSlices>,
    /// Per SLI: events older than this are late for at least one of its SLOs (`i64::MIN`: for
    /// none, which is every SLI in no time-slice SLO).
    late_before: Vec<i64>,
    /// Per SLI: indices into `slos` of the SLOs it is part of.
    by_sli: Vec<Vec<usize>>,
    /// The event time from which the next slice must be frozen before the store counts it
    /// (`i64::MAX`: never, with no time-slice SLO).
    freeze_at: i64,
    /// Scratch: one slice's counts per component.
    parts: Vec<(Counts, f64)>,
}

impl Slices {
    /// Every time-slice SLO of `config`, with nothing frozen yet.
    pub fn new(config: &Config, store: &WindowStore) -> Slices {
        let mut slos = Vec::new();
        let mut by_sli = vec![Vec::new(); config.slis.len()];
        for (index, slo) in config.slos.iter().enumerate() {
            let Some(budget) = slo.budgeting.slices() else { continue };
            for c in &slo.components {
                by_sli[c.sli].push(slos.len());
            }
            slos.push(SloSlices::new(index, slo, *budget, config, store));
        }
        let mut slices = Slices {
            late_before: vec![i64::MIN; config.slis.len()],
            by_sli,
            slos,
            freeze_at: i64::MAX,
            parts: Vec::new(),
        };
        slices.update_late_before();
        slices
    }

    /// Called with each event time before the store counts it: freezes the slices that time
    /// would make the store let go. One comparison unless a slice is due.
    #[inline]
    pub(crate) fn before(&mut self, store: &WindowStore, ts_ms: i64) {
        if ts_ms >= self.freeze_at {
            self.freeze(store, ts_ms);
        }
    }

    /// Freezes every slice the store is about to let go once it holds an event at `ts_ms`.
    #[cold]
    pub fn freeze(&mut self, store: &WindowStore, ts_ms: i64) {
        for slo in &mut self.slos {
            slo.freeze(store, ts_ms, &mut self.parts);
        }
        self.update_late_before();
    }

    fn update_late_before(&mut self) {
        for (late_before, slos) in self.late_before.iter_mut().zip(&self.by_sli) {
            *late_before = slos.iter().filter_map(|&i| self.slos[i].frozen_until).max().unwrap_or(i64::MIN);
        }
        self.freeze_at = self.slos.iter().map(SloSlices::next_freeze_at).min().unwrap_or(i64::MAX);
    }

    /// Counts an event of `sli` at `ts_ms` as late for each time-slice SLO that froze its slice.
    #[inline]
    pub(crate) fn observe(&mut self, sli: usize, ts_ms: i64) {
        self.observe_n(sli, ts_ms, 1);
    }

    /// [`Slices::observe`] for `n` events of `sli` at `ts_ms` (a folded bucket's).
    #[inline]
    pub(crate) fn observe_n(&mut self, sli: usize, ts_ms: i64, n: u64) {
        if self.late_before.get(sli).is_some_and(|&before| ts_ms < before) {
            self.count_late(sli, ts_ms, n);
        }
    }

    #[cold]
    fn count_late(&mut self, sli: usize, ts_ms: i64, n: u64) {
        for &i in &self.by_sli[sli] {
            let slo = &mut self.slos[i];
            if slo.frozen_until.is_some_and(|f| ts_ms < f) {
                slo.late += n;
            }
        }
    }

    /// What a checkpoint keeps.
    pub fn saved(&self) -> Vec<SavedSlices> {
        self.slos.iter().map(SloSlices::saved).collect()
    }

    /// Takes back what a checkpoint kept, for each SLO of the same name and fingerprint.
    pub fn restore(&mut self, saved: &[SavedSlices]) {
        for slo in &mut self.slos {
            if let Some(s) = saved.iter().find(|s| s.name == slo.name && s.fingerprint == slo.fingerprint) {
                slo.frozen_until = s.frozen_until;
                slo.late = s.late;
                for &(index, hour) in &s.hours {
                    slo.put(index, hour);
                }
            }
        }
        self.update_late_before();
    }

    /// The time-slice SLO at index `slo` of [`Config::slos`], if it is one.
    pub fn of(&self, slo: usize) -> Option<&SloSlices> {
        self.slos.iter().find(|s| s.slo == slo)
    }
}

impl SloSlices {
    fn new(index: usize, slo: &SloConfig, budget: SliceBudget, config: &Config, store: &WindowStore) -> SloSlices {
        let tier = if budget.slice_ms % 60_000 == 0 { 1 } else { 0 };
        let horizon_ms = store.held_ms(tier) - MARGIN_MS - budget.slice_ms;
        // A rolling SLO reports per calendar month, which may outlast its period: the ring holds
        // the longer of the two, so a month's slices are still there when it closes.
        let span_ms = match slo.calendar {
            Some(_) => slo.period.secs * 1000,
            None => (slo.period.secs * 1000).max(REPORT_MONTH_MS),
        };
        let hours = (span_ms + HOUR_MS - 1) / HOUR_MS + 2;
        SloSlices {
            slo: index,
            name: slo.name.clone(),
            fingerprint: fingerprint(slo, &budget, config),
            budget,
            combine: slo.combine,
            components: slo.components.iter().map(|c| (c.sli, c.weight)).collect(),
            calendar: slo.calendar.clone(),
            tier,
            horizon_ms,
            // A store that already holds events (restored, under a changed definition) judges
            // every slice it still holds; an empty one begins with the first event.
            frozen_until: store
                .newest_end_ms()
                .map(|end| slice_start(end - horizon_ms, anchor(slo.calendar.as_ref(), end), budget.slice_ms)),
            late: 0,
            head: i64::MIN,
            hours: vec![Hour::default(); hours as usize],
        }
    }

    /// The slice length.
    pub fn slice_ms(&self) -> i64 {
        self.budget.slice_ms
    }

    /// Every slice ending at or before this instant is frozen; `None` before the first event.
    pub fn frozen_until(&self) -> Option<i64> {
        self.frozen_until
    }

    /// The event time at which the next slice is due to be frozen.
    fn next_freeze_at(&self) -> i64 {
        self.frozen_until.map_or(i64::MIN, |f| f + self.budget.slice_ms + self.horizon_ms)
    }

    /// Slices start on this offset into each hour: 0, or a calendar period's start (in a zone
    /// whose offset is not whole hours).
    fn anchor(&self, at_ms: i64) -> i64 {
        anchor(self.calendar.as_ref(), at_ms)
    }

    fn slice_start(&self, t: i64, anchor: i64) -> i64 {
        slice_start(t, anchor, self.budget.slice_ms)
    }

    fn verdict(&self, store: &WindowStore, start: i64, parts: &mut Vec<(Counts, f64)>) -> SliceVerdict {
        let end = start + self.budget.slice_ms;
        parts.clear();
        parts.extend(self.components.iter().map(|&(sli, w)| (store.sum_between(self.tier, sli, start, end), w)));
        let events = parts.iter().map(|(c, _)| c.total).sum();
        self.budget.verdict(events, combine(self.combine, parts))
    }

    fn freeze(&mut self, store: &WindowStore, ts_ms: i64, parts: &mut Vec<(Counts, f64)>) {
        let anchor = self.anchor(ts_ms);
        let target = self.slice_start(ts_ms - self.horizon_ms, anchor);
        let s = self.budget.slice_ms;
        let Some(mut from) = self.frozen_until else {
            // The first event: slices begin with it.
            self.frozen_until = Some(self.slice_start(ts_ms, anchor));
            return;
        };
        // Slices older than the ring of hours holds would be dropped anyway.
        let oldest = target - self.hours.len() as i64 * HOUR_MS;
        if from < oldest {
            from = self.slice_start(oldest, anchor);
        }
        while from + s <= target {
            let v = self.verdict(store, from, parts);
            self.put((from - anchor).div_euclid(HOUR_MS), Hour { counted: v.counted, good: v.good });
            from += s;
        }
        self.frozen_until = Some(from);
    }

    /// Adds a frozen hour's slices (ignored when older than the ring holds).
    fn put(&mut self, index: i64, hour: Hour) {
        let len = self.hours.len() as i64;
        if self.head == i64::MIN || index > self.head {
            let from = if self.head == i64::MIN { index } else { (self.head + 1).max(index - len + 1) };
            for i in from..=index {
                self.hours[i.rem_euclid(len) as usize] = Hour::default();
            }
            self.head = index;
        } else if index <= self.head - len {
            return;
        }
        let cell = &mut self.hours[index.rem_euclid(len) as usize];
        cell.counted += hour.counted;
        cell.good += hour.good;
    }

    /// Slices counted and good over each window, by the window's start (`starts`; a rolling
    /// window's `now - W`, a calendar period's start), into `out`.
    pub fn windows(
        &self,
        store: &WindowStore,
        now_ms: i64,
        starts: &[i64],
        out: &mut [SliceCounts],
        parts: &mut Vec<(Counts, f64)>,
    ) {
        out.fill(SliceCounts::default());
        let Some(frozen_until) = self.frozen_until else { return };
        let s = self.budget.slice_ms;
        let anchor = self.anchor(now_ms);
        let closed_end = self.slice_start(now_ms, anchor);
        // Live slices while the store has events; the rest up to `now` are empty.
        let data_end = store.newest_end_ms().unwrap_or(frozen_until);
        let mut t = frozen_until;
        while t + s <= closed_end && t < data_end {
            let v = self.verdict(store, t, parts);
            for (o, &from) in out.iter_mut().zip(starts) {
                if t >= from {
                    o.add(v, 1);
                }
            }
            t += s;
        }
        if t < closed_end {
            let empty = self.budget.verdict(0, None);
            for (o, &from) in out.iter_mut().zip(starts) {
                let first = t.max(self.slice_start(from + s - 1, anchor));
                if first < closed_end {
                    o.add(empty, ((closed_end - first) / s) as u64);
                }
            }
        }
        for (o, &from) in out.iter_mut().zip(starts) {
            if from < frozen_until {
                let (slices, good) = self.frozen_since((from - anchor).div_euclid(HOUR_MS));
                o.slices += slices;
                o.good += good;
            }
        }
    }

    /// Counted and good slices starting in `[from_ms, to_ms)` that are closed at `now_ms`: a
    /// report period's. Frozen slices are taken whole hours at a time from the hours holding
    /// each end (exact for a period that starts and ends on an hour's edge).
    pub fn between(&self, store: &WindowStore, now_ms: i64, from_ms: i64, to_ms: i64) -> SliceCounts {
        let mut since = [SliceCounts::default(); 2];
        self.windows(store, now_ms, &[from_ms, to_ms], &mut since, &mut Vec::new());
        SliceCounts { slices: since[0].slices - since[1].slices, good: since[0].good - since[1].good }
    }

    /// Counted and good slices per hour (hours start on the anchor), from the hour holding
    /// `from_ms` to the one holding `now_ms`, oldest first, into `out`; returns when the first
    /// hour starts. They add up to [`SloSlices::windows`] from that hour's start.
    pub fn hourly(
        &self,
        store: &WindowStore,
        now_ms: i64,
        from_ms: i64,
        out: &mut Vec<SliceCounts>,
        parts: &mut Vec<(Counts, f64)>,
    ) -> i64 {
        let anchor = self.anchor(now_ms);
        let (first, last) = ((from_ms - anchor).div_euclid(HOUR_MS), (now_ms - anchor).div_euclid(HOUR_MS));
        // Slices from each hour's start on; one hour's are the difference of two.
        let starts: Vec<i64> = (first..=last + 1).map(|h| anchor + h * HOUR_MS).collect();
        let mut since = vec![SliceCounts::default(); starts.len()];
        self.windows(store, now_ms, &starts, &mut since, parts);
        out.clear();
        out.extend(
            since.windows(2).map(|w| SliceCounts { slices: w[0].slices - w[1].slices, good: w[0].good - w[1].good }),
        );
        anchor + first * HOUR_MS
    }

    /// The frozen slices of hour `first` and every later hour.
    fn frozen_since(&self, first: i64) -> (u64, f64) {
        if self.head == i64::MIN {
            return (0, 0.0);
        }
        let len = self.hours.len() as i64;
        let (mut slices, mut good) = (0u64, 0.0);
        for i in first.max(self.head - len + 1)..=self.head {
            let h = self.hours[i.rem_euclid(len) as usize];
            slices += u64::from(h.counted);
            good += h.good;
        }
        (slices, good)
    }

    fn saved(&self) -> SavedSlices {
        let len = self.hours.len() as i64;
        let hours = if self.head == i64::MIN {
            Vec::new()
        } else {
            (self.head - len + 1..=self.head)
                .map(|i| (i, self.hours[i.rem_euclid(len) as usize]))
                .filter(|(_, h)| h.counted > 0)
                .collect()
        };
        SavedSlices {
            name: self.name.clone(),
            fingerprint: self.fingerprint,
            frozen_until: self.frozen_until,
            late: self.late,
            hours,
        }
    }

    /// Bytes of the hourly ring.
    pub fn bytes(&self) -> usize {
        self.hours.len() * std::mem::size_of::<Hour>()
    }
}

/// Slices and frozen hours start this far into each hour: 0, or the offset of the calendar
/// period holding `at_ms` (in a zone whose offset is not whole hours).
fn anchor(calendar: Option<&Calendar>, at_ms: i64) -> i64 {
    calendar.map_or(0, |c| c.bounds(at_ms).start_ms.rem_euclid(HOUR_MS))
}

/// The start of the slice of `slice_ms` holding `t`.
fn slice_start(t: i64, anchor: i64, slice_ms: i64) -> i64 {
    t - (t - anchor).rem_euclid(slice_ms)
}

/// FNV-1a over the settings that decide a verdict.
fn fingerprint(slo: &SloConfig, budget: &SliceBudget, config: &Config) -> u64 {
    let mut text = format!(
        "slice={};target={:?};min_events={};sparse={};combine={};calendar={:?}",
        budget.slice_ms,
        budget.target,
        budget.min_events,
        budget.sparse.as_str(),
        slo.combine.as_str(),
        slo.calendar.as_ref().map(|c| (c.unit.as_str(), c.zone.as_str())),
    );
    for c in &slo.components {
        text.push_str(&format!(";{}:{:x}:{}", config.slis[c.sli].name, config.slis[c.sli].fingerprint, c.weight));
    }
    crate::config::fnv1a(text.as_bytes())
}

#[cfg(test)]
mod tests;
