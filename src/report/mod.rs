//! Period reports: each SLO's good/total per closed period, for product and tech reviews.
//!
//! A calendar SLO reports per its own calendar period; a rolling SLO per calendar month in
//! `reports.time_zone`. The rows are counted as events arrive, not recomputed afterwards: the
//! window store's hourly (coarse) ring only spans the longest SLO period, so a rolling 30-day
//! SLO's ring cannot answer for a 31-day month once the month is over.
//!
//! # Exactness
//!
//! Every hourly bucket is, at any instant, either still in the coarse ring or already pushed
//! out of it, never both: the ring holds the hours `(head − len, head]` and its head only moves
//! forward. The store hands every non-empty bucket it pushes out to [`Reports::fold_evicted`]
//! (under the tally's lock, in the hand-over that moved the head), which adds it to the open
//! period holding the hour's start; a period's counts are then its folded hours plus the hours
//! of it the ring still holds ([`WindowStore::hours`]). So no hour is counted twice and none is
//! missed, and a late event the windows still accept lands in the report too. Hour `k` belongs
//! to the period holding its first instant: a row covers the hours from the first hour edge at
//! or after its start (the start itself in every zone with a whole-hour offset).
//!
//! A period closes on the first evaluation tick at or after its end ([`Reports::close_due`]):
//! its counts become a [`Row`], which never changes again, and the period is never closed a
//! second time (`closed_through` moves past it). The accumulators and rows live in the tally,
//! so a checkpoint holds them in the same cut as the window counts and offsets: after a
//! `kill -9`, the restart resumes from a checkpoint where each row and each hour is exactly
//! where it was, neither lost nor doubled.
//!
//! Time is always an argument: nothing here reads a clock.

pub mod row;

use std::collections::VecDeque;

use crate::config::{Calendar, Config, PeriodBounds};
use crate::window::slices::Slices as TimeSlices;
use crate::window::{Counts, WindowStore};
pub use row::{Row, RowComponent, Slices};

/// One hourly bucket, in ms.
const HOUR_MS: i64 = 3_600_000;

/// A period not closed yet, with the hours of it already pushed out of the ring.
#[derive(Debug, Clone, PartialEq)]
pub struct Open {
    /// The period.
    pub bounds: PeriodBounds,
    /// Per component (in the SLO's order), the folded hours' counts.
    pub folded: Vec<Counts>,
}

/// One SLO's report: its open periods and its closed rows.
#[derive(Debug, Clone)]
pub struct SloReport {
    /// The SLO's name (a checkpoint's reports are restored by it).
    pub name: String,
    /// The periods the rows cover.
    pub calendar: Calendar,
    /// Per component, its SLI id.
    slis: Vec<usize>,
    /// Periods with folded hours, oldest first (one, bar a catch-up after a long stop).
    pub open: Vec<Open>,
    /// Every period ending at or before this instant is closed; `None` until the first tick,
    /// which starts the report at the period it falls in.
    pub closed_through: Option<i64>,
    /// The period starting at `closed_through` (the current one), kept so that a tick need not
    /// look the calendar up again.
    current: Option<PeriodBounds>,
    /// Closed rows, oldest first, at most `reports.keep`.
    pub closed: VecDeque<Row>,
}

/// Every SLO's report, in the order of [`Config::slos`].
#[derive(Debug, Clone)]
pub struct Reports {
    /// Per SLO.
    pub slos: Vec<SloReport>,
    keep: usize,
    /// Rows closed since start: changes whenever a row is added.
    generation: u64,
}

/// The hour indices `[first, last]` of the hours whose first instant is in `period`.
fn hours_of(period: PeriodBounds) -> (i64, i64) {
    (period.start_ms.div_euclid(HOUR_MS) + i64::from(period.start_ms.rem_euclid(HOUR_MS) != 0), {
        let end = period.end_ms;
        end.div_euclid(HOUR_MS) + i64::from(end.rem_euclid(HOUR_MS) != 0) - 1
    })
}

impl Reports {
    /// Nothing counted yet, for every SLO of `config`.
    pub fn new(config: &Config) -> Reports {
        let slos = config
            .slos
            .iter()
            .map(|s| SloReport {
                name: s.name.clone(),
                calendar: s.report_calendar(&config.reports).clone(),
                slis: s.components.iter().map(|c| c.sli).collect(),
                open: Vec::new(),
                closed_through: None,
                current: None,
                closed: VecDeque::new(),
            })
            .collect();
        Reports { slos, keep: config.reports.keep, generation: 0 }
    }

    /// Changes whenever a row closes: when to publish the closed rows again.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Folds every hour the store pushed out of its coarse ring since the last call into the
    /// open period holding it; hours of closed periods are dropped (their rows are final).
    pub fn fold_evicted(&mut self, store: &mut WindowStore) {
        for (sli, hour, counts) in store.take_evicted() {
            for report in &mut self.slos {
                report.fold(sli, hour, counts);
            }
        }
    }

    /// Closes every period that ended at or before `now_ms` (each exactly once, oldest first),
    /// from its folded hours and the ring's; returns whether any closed. The first call starts
    /// every report at the period holding `now_ms`.
    pub fn close_due(&mut self, config: &Config, store: &WindowStore, slices: &TimeSlices, now_ms: i64) -> bool {
        let mut closed = false;
        for (i, (report, slo)) in self.slos.iter_mut().zip(&config.slos).enumerate() {
            let through = *report.closed_through.get_or_insert_with(|| report.calendar.bounds(now_ms).start_ms);
            let mut period = match report.current {
                Some(p) if p.start_ms == through => p,
                _ => {
                    report.open.retain(|o| o.bounds.start_ms >= through);
                    report.calendar.bounds(through)
                }
            };
            while period.end_ms <= now_ms {
                let counts = report.counts(period, store);
                report.open.retain(|o| o.bounds != period);
                let sliced = period_slices(slices, i, store, period, now_ms);
                report.closed.push_back(Row::new(config, slo, period, &counts, sliced));
                while report.closed.len() > self.keep {
                    report.closed.pop_front();
                }
                period = report.calendar.bounds(period.end_ms);
                closed = true;
            }
            report.closed_through = Some(period.start_ms);
            report.current = Some(period);
        }
        if closed {
            self.generation += 1;
        }
        closed
    }

    /// Each SLO's current period as a partial row, as of now (`None` before the first
    /// [`Reports::close_due`] since start or restore), into `out`.
    pub fn partials(
        &self,
        config: &Config,
        store: &WindowStore,
        slices: &TimeSlices,
        now_ms: i64,
        out: &mut Vec<Option<Row>>,
    ) {
        out.clear();
        out.extend(self.slos.iter().zip(&config.slos).enumerate().map(|(i, (report, slo))| {
            let period = report.current?;
            let sliced = period_slices(slices, i, store, period, now_ms);
            Some(Row::new(config, slo, period, &report.counts(period, store), sliced))
        }));
    }
}

/// The slices of the time-slice SLO at index `slo` over `period` (up to `now_ms` while it is
/// open); `None` for an occurrence SLO.
fn period_slices(
    slices: &TimeSlices,
    slo: usize,
    store: &WindowStore,
    period: PeriodBounds,
    now_ms: i64,
) -> Option<Slices> {
    let s = slices.of(slo)?.between(store, now_ms, period.start_ms, period.end_ms);
    Some(Slices { good: s.good, total: s.slices })
}

impl SloReport {
    /// Adds hour `hour` of `sli` (pushed out of the ring) to the open period holding it.
    fn fold(&mut self, sli: usize, hour: i64, counts: Counts) {
        if !self.slis.contains(&sli) {
            return;
        }
        let at = hour * HOUR_MS;
        if self.closed_through.is_some_and(|through| at < through) {
            return;
        }
        let i = match self.open.iter().position(|o| o.bounds.start_ms <= at && at < o.bounds.end_ms) {
            Some(i) => i,
            None => {
                let bounds = self.calendar.bounds(at);
                let i = self.open.partition_point(|o| o.bounds.start_ms < bounds.start_ms);
                self.open.insert(i, Open { bounds, folded: vec![Counts::default(); self.slis.len()] });
                i
            }
        };
        for (c, s) in self.open[i].folded.iter_mut().zip(&self.slis) {
            if *s == sli {
                c.add(counts);
            }
        }
    }

    /// Each component's counts over `period`: its folded hours plus those the ring holds.
    fn counts(&self, period: PeriodBounds, store: &WindowStore) -> Vec<Counts> {
        let (first, last) = hours_of(period);
        let folded = self.open.iter().find(|o| o.bounds == period);
        self.slis
            .iter()
            .enumerate()
            .map(|(i, &sli)| {
                let mut c = store.hours(sli, first, last);
                if let Some(o) = folded {
                    c.add(o.folded[i]);
                }
                c
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
