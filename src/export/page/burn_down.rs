//! The burn-down series: how much of an SLO's error budget was left at each hour since its period
//! began, drawn on the status page and served by the API.
//!
//! With `b = 1 − objective` and each component's counts over the whole period (`nₖ` events),
//! the point of hour `i` is `1 − E / b`, where `E` is the SLO's combined error ratio
//! ([`attribution::error`]) over components that have all their period's events but only the
//! bad events up to the end of hour `i` (`gₖ = nₖ − badₖ(≤ i)`). The budget is what the whole
//! period's traffic allows, and the line shows how the bad events spent it: pooled, the point
//! is `1 − Σbad(≤ i) / (Σn · b)`. It starts at 1 before the period's first bad event, only ever
//! goes down, and its last point is exactly the SLO's budget remaining, for every combine method.
//!
//! The hours are the window store's coarse (1 h) buckets over the period, read under the tally's
//! lock one SLO at a time (a few microseconds each), so the workers' hand-overs never wait
//! long. Each SLO's series is recomputed once a [`REFRESH_MS`], sooner (at most every
//! [`DRIFT_GAP_MS`]) when its last point has drifted more than [`DRIFT`] from the budget
//! remaining the tick just evaluated: after a start or a catch-up, or in a steep burn, the chart
//! follows the number printed next to it within seconds. A tick recomputes at most a
//! hundredth of the SLOs, so the cost is spread over the ticks instead of spiking one.

use std::sync::Mutex;

use serde::Serialize;

use super::api::rfc3339;
use super::board::Board;
use crate::config::{Config, SloConfig};
use crate::count::{lock_tally, Tally};
use crate::slo::{attribution, SloStatus};
use crate::window::slices::SliceCounts;
use crate::window::Counts;

/// How often each SLO's series is recomputed.
pub const REFRESH_MS: i64 = 60_000;

/// How far (a share of the budget) the last point may be from the budget remaining before the
/// series is recomputed early: 0.1 % of the budget, the precision the page shows.
const DRIFT: f64 = 0.001;

/// The shortest time between two recomputations of one SLO's series.
const DRIFT_GAP_MS: i64 = 5_000;

/// Width of one point, in seconds: the coarse tier's buckets.
const STEP_SECONDS: i64 = 3600;

/// One SLO's burn-down, as the API serves it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnDown {
    /// When it was computed (RFC 3339 in JSON).
    #[serde(serialize_with = "rfc3339")]
    pub computed_at: i64,
    /// When the first hour starts: the hour holding the start of the period (RFC 3339 in JSON).
    #[serde(serialize_with = "rfc3339")]
    pub start: i64,
    /// Length of each hour, in seconds (3600).
    pub step_seconds: i64,
    /// `[i]`: the share of the period's budget left at the end of hour `i`; the last hour is the
    /// current one, up to `computed_at`.
    pub budget_remaining: Vec<f64>,
}

/// The burn-down points of `slo` from each component's hourly counts over its period (`hours[k]`
/// for component `k`, oldest first, all of one length).
pub fn series(slo: &SloConfig, hours: &[Vec<Counts>]) -> Vec<f64> {
    let budget = 1.0 - slo.objective;
    let len = hours.first().map_or(0, Vec::len);
    let mut parts: Vec<(Counts, f64)> = slo
        .components
        .iter()
        .zip(hours)
        .map(|(c, h)| {
            let total = h.iter().map(|b| b.total).sum();
            (Counts { good: total, total }, c.weight)
        })
        .collect();
    (0..len)
        .map(|i| {
            for ((part, _), h) in parts.iter_mut().zip(hours) {
                part.good -= h[i].total - h[i].good;
            }
            1.0 - attribution::error(slo.combine, &parts).unwrap_or(0.0) / budget
        })
        .collect()
}

/// The burn-down points of a time-slice SLO from its slices per hour over its period: with `S`
/// the period's counted slices and `badₕ` the hour's counted slices less its good ones, the
/// point of hour `i` is `1 − Σbad(≤ i) / (S · b)`, ending at the budget remaining.
pub fn slice_series(slo: &SloConfig, hours: &[SliceCounts]) -> Vec<f64> {
    let budget = 1.0 - slo.objective;
    let slices: u64 = hours.iter().map(|h| h.slices).sum();
    let mut bad = 0.0;
    hours
        .iter()
        .map(|h| {
            bad += h.slices as f64 - h.good;
            if slices == 0 {
                1.0
            } else {
                1.0 - bad / slices as f64 / budget
            }
        })
        .collect()
}

/// Recomputes the SLOs' series on the tick: each once a [`REFRESH_MS`] or when it drifted, a few
/// per tick.
pub struct Refresher {
    /// Per SLO, when its series was computed (`None`: never) and its last point.
    computed: Vec<Option<(i64, f64)>>,
    /// The SLO to look at first on the next tick.
    cursor: usize,
    /// Per component, the hourly counts just read (reused).
    hours: Vec<Vec<Counts>>,
    /// A time-slice SLO's slices per hour just read, and scratch for judging them (reused).
    slice_hours: Vec<SliceCounts>,
    parts: Vec<(Counts, f64)>,
}

impl Refresher {
    /// Every SLO of `config` due at once.
    pub fn new(config: &Config) -> Refresher {
        Refresher {
            computed: vec![None; config.slos.len()],
            cursor: 0,
            hours: Vec::new(),
            slice_hours: Vec::new(),
            parts: Vec::new(),
        }
    }

    /// Whether SLO `i`'s series is due at `now_ms`, with `budget` its budget remaining now.
    fn is_due(&self, i: usize, budget: f64, now_ms: i64) -> bool {
        match self.computed[i] {
            None => true,
            Some((at, last)) => {
                now_ms >= at + REFRESH_MS || (now_ms >= at + DRIFT_GAP_MS && (last - budget).abs() > DRIFT)
            }
        }
    }

    /// One ready tick at `now_ms`, which evaluated `statuses`: recomputes the due SLOs from the
    /// cursor on, at most a hundredth of all SLOs (at least one), into `board`.
    pub fn tick(&mut self, config: &Config, tally: &Mutex<Tally>, statuses: &[SloStatus], board: &Board, now_ms: i64) {
        let n = config.slos.len();
        let mut left = n.div_ceil(100);
        for _ in 0..n {
            if left == 0 {
                break;
            }
            let i = self.cursor;
            self.cursor = (i + 1) % n;
            if !self.is_due(i, statuses[i].budget_remaining, now_ms) {
                continue;
            }
            let slo = &config.slos[i];
            self.hours.resize_with(slo.components.len(), Vec::new);
            let (start, sliced) = {
                let tally = lock_tally(tally);
                let mut start = now_ms;
                // Since the period began: a calendar period's start, else now minus the period.
                let period_start = slo.period_at(now_ms).start_ms;
                let since_ms = now_ms - period_start;
                match tally.slices.of(i) {
                    Some(s) => {
                        let (store, out, parts) = (&tally.store, &mut self.slice_hours, &mut self.parts);
                        (s.hourly(store, now_ms, period_start, out, parts), true)
                    }
                    None => {
                        for (c, out) in slo.components.iter().zip(&mut self.hours) {
                            start = tally.store.hourly(c.sli, since_ms, now_ms, out);
                        }
                        (start, false)
                    }
                }
            };
            let points = if sliced {
                slice_series(slo, &self.slice_hours)
            } else {
                series(slo, &self.hours[..slo.components.len()])
            };
            self.computed[i] = Some((now_ms, points.last().copied().unwrap_or(1.0)));
            board.set_burn_down(
                i,
                BurnDown { computed_at: now_ms, start, step_seconds: STEP_SECONDS, budget_remaining: points },
            );
            left -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo;
    use crate::window::WindowStore;

    const HOUR: i64 = 3_600_000;
    /// 2026-11-26T12:00:00Z, on an hour.
    const NOW: i64 = 1_795_694_400_000;

    fn config(combine: &str) -> Config {
        let weights = if combine == "weighted" { "[{ sli: a, weight: 3 }, { sli: b, weight: 1 }]" } else { "[a, b]" };
        let slos = format!("  s: {{ objective: 99, period: \"1d\", combine: {combine}, slis: {weights} }}\n");
        super::super::tests::config_of(&["a", "b"], &slos)
    }

    fn c(good: u64, total: u64) -> Counts {
        Counts { good, total }
    }

    #[test]
    fn pooled_by_hand() {
        let config = config("pooled");
        // 100 events per component; 1 bad in hour 1, 2 bad in hour 3: b·Σn = 0.01 × 200 = 2.
        let a = vec![c(50, 50), c(24, 25), c(0, 0), c(25, 25)];
        let b = vec![c(0, 0), c(50, 50), c(0, 0), c(48, 50)];
        let points = series(&config.slos[0], &[a, b]);
        let want = [1.0, 0.5, 0.5, -0.5];
        for (p, w) in points.iter().zip(want) {
            assert!((p - w).abs() < 1e-12, "{points:?}");
        }
    }

    /// For every combine method: the series starts at 1 before any bad event, never goes up, and
    /// its last point is the budget remaining `slo::evaluate` gives for the same store and time.
    #[test]
    fn ends_at_the_budget_remaining_and_never_rises() {
        for combine in ["pooled", "weighted", "product", "min"] {
            let config = config(combine);
            let slo = &config.slos[0];
            let mut store = WindowStore::new(2, 86_400_000, 60_000);
            for h in 0..20i64 {
                let at = NOW - 22 * HOUR + h * HOUR + 17 * 60_000;
                for i in 0..40 {
                    store.record(0, at + i, !(h % 5 == 3 && i < 3));
                    store.record(1, at + i, !(h == 15 && i < 8));
                }
            }
            let mut hours = vec![Vec::new(), Vec::new()];
            for (c, out) in slo.components.iter().zip(&mut hours) {
                assert_eq!(store.hourly(c.sli, slo.period.secs * 1000, NOW, out), NOW - 24 * HOUR);
            }
            let points = series(slo, &hours);
            assert_eq!(points.len(), 25);
            assert_eq!(points[0], 1.0, "{combine}: nothing bad in the first hour");
            assert!(points.windows(2).all(|w| w[1] <= w[0]), "{combine}: {points:?}");
            let status = slo::evaluate(slo, |sli, secs| store.count(sli, secs * 1000, NOW));
            assert_eq!(*points.last().unwrap(), status.budget_remaining, "{combine}");
            assert!(status.budget_remaining < 0.9, "{combine}: the test burns some budget");
        }
    }

    /// A time-slice SLO's series is drawn from its slices, not its events, and ends at the budget
    /// remaining its slices give.
    #[test]
    fn a_time_slice_series_ends_at_the_slices_budget_remaining() {
        let slos = "  s: { objective: 90, period: \"1d\", slis: [a, b],\n       budgeting: { method: timeslices, slice: 1m, target: 95, sparse: skip } }\n";
        let config = super::super::tests::config_of(&["a", "b"], slos);
        let tally = Mutex::new(Tally::new(&config, 1, None, Vec::new()));
        {
            let mut t = lock_tally(&tally);
            let t = &mut *t;
            // Ten good events a minute over 20 hours, but every 7th minute only two, one bad: a
            // bad slice each time, though few bad events.
            for m in 0..20 * 60 {
                let ts = NOW - 22 * HOUR + m * 60_000 + 5_000;
                t.slices.freeze(&t.store, ts);
                let events = if m % 7 == 0 { 2 } else { 10 };
                for i in 0..events {
                    t.store.record((m % 2) as usize, ts + i, !(m % 7 == 0 && i == 0));
                }
            }
        }
        let now = NOW;
        let board = Board::new(&config);
        let mut refresher = Refresher::new(&config);
        let mut snapshot = crate::count::Snapshot::new(&config);
        snapshot.read_tally(&lock_tally(&tally), now);
        let mut statuses = Vec::new();
        slo::evaluate_all(&config, &snapshot, &mut statuses);
        refresher.tick(&config, &tally, &statuses, &board, now);
        let p = board.burn_downs();
        let series = p[0].as_ref().unwrap();
        let slices = statuses[0].windows.last().unwrap().slices.unwrap();
        assert_eq!(slices.slices, 20 * 60, "every minute judged");
        let remaining = statuses[0].budget_remaining;
        assert!((remaining - (1.0 - (1.0 - slices.good / 1200.0) / 0.1)).abs() < 1e-12);
        let last = *series.budget_remaining.last().unwrap();
        assert!((last - remaining).abs() < 1e-12, "{last} != {remaining}");
        assert!(series.budget_remaining.windows(2).all(|w| w[1] <= w[0]));
        assert_eq!(series.budget_remaining[0], 1.0, "no slice before the traffic");
        // 172 bad slices of 1,200 overspend the 10 % budget; the events (172 bad of 10,624)
        // would leave most of it.
        assert!(last < -0.4, "{last}");
    }

    #[test]
    fn no_events_stay_at_the_whole_budget() {
        let config = config("min");
        let points = series(&config.slos[0], &[vec![Counts::default(); 3], vec![Counts::default(); 3]]);
        assert_eq!(points, [1.0, 1.0, 1.0]);
    }

    #[test]
    fn the_refresher_spreads_slos_over_ticks_and_follows_a_drift() {
        let config = config("pooled");
        let mut two = config.clone();
        two.slos.push(config.slos[0].clone());
        let tally = Mutex::new(Tally::new(&two, 1, None, Vec::new()));
        let board = Board::new(&two);
        let mut refresher = Refresher::new(&two);
        let mut tick = |now: i64| {
            let statuses: Vec<SloStatus> = two
                .slos
                .iter()
                .map(|s| slo::evaluate(s, |sli, secs| lock_tally(&tally).store.count(sli, secs * 1000, now)))
                .collect();
            refresher.tick(&two, &tally, &statuses, &board, now);
            board.burn_downs().iter().map(|b| b.as_ref().map(|b| b.computed_at)).collect::<Vec<_>>()
        };
        lock_tally(&tally).store.record(0, NOW - HOUR, true);
        assert_eq!(tick(NOW), [Some(NOW), None], "one SLO per tick (a hundredth, at least one)");
        assert_eq!(tick(NOW + 500), [Some(NOW), Some(NOW + 500)]);
        assert_eq!(tick(NOW + 1000), [Some(NOW), Some(NOW + 500)], "nothing is due");
        // A bad event: the budget drops to -99, far from the series' last point (1): recomputed
        // at the next tick 5 s after the last computation, not a minute after.
        lock_tally(&tally).store.record(1, NOW - HOUR, false);
        assert_eq!(tick(NOW + 4999), [Some(NOW), Some(NOW + 500)]);
        assert_eq!(tick(NOW + 5000), [Some(NOW + 5000), Some(NOW + 500)]);
        assert_eq!(tick(NOW + 5500), [Some(NOW + 5000), Some(NOW + 5500)]);
        assert_eq!(tick(NOW + REFRESH_MS), [Some(NOW + 5000), Some(NOW + 5500)], "no drift, not a minute yet");
        assert_eq!(tick(NOW + 5000 + REFRESH_MS), [Some(NOW + 5000 + REFRESH_MS), Some(NOW + 5500)]);
        let p = board.burn_downs();
        let series = p[0].as_ref().unwrap();
        assert_eq!((series.start, series.step_seconds, series.budget_remaining.len()), (NOW - 24 * HOUR, 3600, 25));
        // One bad of two events: error 0.5 against a budget of 0.01.
        assert_eq!(*series.budget_remaining.last().unwrap(), 1.0 - 0.5 / (1.0 - 0.99));
    }
}
