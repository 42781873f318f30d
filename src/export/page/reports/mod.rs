//! The period reports as the API serves them: `GET /api/v1/reports?slo=NAME&format=json|csv`.
//!
//! The tick publishes each SLO's closed rows (when one closes) and its current period as a
//! partial row (every ready tick) to a [`ReportBoard`]; a request copies them out and renders
//! them. The figures of a row are computed here from its counts ([`Figures::of`]), the same way
//! for a closed row and a partial one:
//!
//! - events and good: Σ over the components;
//! - ratio: the SLO's combine method over the components ([`slo::combine`]), or good slices over
//!   slices for an SLO budgeted by time slices; 1 without events;
//! - met: ratio ≥ objective;
//! - budget consumed: `(1 − ratio) / (1 − objective)` as a share (1 = the whole budget), from the
//!   error terms ([`attribution::error`]);
//! - top contributors: the components by their share of the error ([`attribution::split`]),
//!   most first, those that caused none left out.
//!
//! [`csv`] renders them as CSV; [`query`] reads the request's parameters.

pub mod csv;
pub mod query;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use super::api::rfc3339;
use crate::config::Config;
use crate::report::Row;
use crate::slo::{self, attribution};
use crate::window::Counts;

/// Each SLO's rows as last published: closed ones (oldest first) and the current period.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Closed rows, oldest first.
    pub closed: Arc<Vec<Row>>,
    /// The current period so far.
    pub partial: Option<Row>,
}

/// Where the tick leaves the rows for requests; `None` before the first ready tick.
#[derive(Clone, Default)]
pub struct ReportBoard(Arc<Mutex<Option<Vec<Rows>>>>);

impl ReportBoard {
    fn lock(&self) -> MutexGuard<'_, Option<Vec<Rows>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes the partial rows (in the order of [`Config::slos`]) and, when given, new closed
    /// rows.
    pub fn publish(&self, closed: Option<Vec<Vec<Row>>>, partials: &[Option<Row>]) {
        let mut board = self.lock();
        let rows = board.get_or_insert_with(|| vec![Rows::default(); partials.len()]);
        rows.resize_with(partials.len(), Rows::default);
        if let Some(closed) = closed {
            for (r, c) in rows.iter_mut().zip(closed) {
                r.closed = Arc::new(c);
            }
        }
        for (r, p) in rows.iter_mut().zip(partials) {
            r.partial.clone_from(p);
        }
    }

    /// A copy of every SLO's rows, `None` before the first ready tick.
    pub fn copy(&self) -> Option<Vec<Rows>> {
        self.lock().clone()
    }
}

/// What a row's counts give.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Σ events.
    pub events: u64,
    /// Σ good events.
    pub good: u64,
    /// The combined ratio (slices: good slices over slices).
    pub ratio: f64,
    /// `ratio ≥ objective`.
    pub met: bool,
    /// `(1 − ratio) / (1 − objective)`: the share of the period's budget spent.
    pub budget_consumed: f64,
    /// `(SLI, share of the error)`, most first.
    pub top: Vec<(String, f64)>,
}

impl Figures {
    /// The figures of one row.
    pub fn of(row: &Row) -> Figures {
        let parts: Vec<(Counts, f64)> = row.components.iter().map(|c| (c.counts, c.weight)).collect();
        let budget = 1.0 - row.objective;
        let totals = row.totals();
        let (ratio, error) = match row.slices {
            Some(s) if s.total > 0 => (s.good / s.total as f64, (s.total as f64 - s.good) / s.total as f64),
            Some(_) => (1.0, 0.0),
            None => (
                slo::combine(row.combine, &parts).unwrap_or(1.0),
                attribution::error(row.combine, &parts).unwrap_or(0.0),
            ),
        };
        let burn = attribution::error(row.combine, &parts).unwrap_or(0.0) / budget;
        let mut shares = vec![0.0; parts.len()];
        attribution::split(row.combine, &parts, budget, burn, &mut shares);
        let mut top: Vec<(String, f64)> = row
            .components
            .iter()
            .zip(shares)
            .filter(|(_, s)| *s > 0.0)
            .map(|(c, s)| (c.sli.clone(), s / burn))
            .collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        Figures {
            events: totals.total,
            good: totals.good,
            ratio,
            met: ratio >= row.objective,
            budget_consumed: error / budget,
            top,
        }
    }
}

/// One row as JSON.
#[derive(Debug, Serialize)]
pub struct RowView {
    /// When the period began.
    #[serde(serialize_with = "rfc3339")]
    pub period_start: i64,
    /// When it ends (ended).
    #[serde(serialize_with = "rfc3339")]
    pub period_end: i64,
    /// The current period, still counting.
    pub partial: bool,
    /// As a ratio.
    pub objective: f64,
    /// The combine method.
    pub combine: &'static str,
    /// Σ events.
    pub events: u64,
    /// Σ good events.
    pub good: u64,
    /// Time slices; null for occurrence SLOs.
    pub slices: Option<u64>,
    /// Good time slices (`ratio_timeslices`: the sum of their ratios); null for occurrence SLOs.
    pub good_slices: Option<f64>,
    /// The combined ratio.
    pub ratio: f64,
    /// ratio ≥ objective.
    pub met: bool,
    /// Share of the budget spent.
    pub budget_consumed: f64,
    /// Most first.
    pub top_contributors: Vec<Contributor>,
    /// Every component's counts.
    pub components: Vec<ComponentCounts>,
}

/// A component's share of a period's error.
#[derive(Debug, Serialize)]
pub struct Contributor {
    /// The SLI.
    pub sli: String,
    /// Share of the error, 0 to 1.
    pub share: f64,
}

/// A component's counts over a period.
#[derive(Debug, Serialize)]
pub struct ComponentCounts {
    /// The SLI.
    pub sli: String,
    /// Its weight.
    pub weight: f64,
    /// Its events.
    pub events: u64,
    /// Its good events.
    pub good: u64,
}

impl RowView {
    fn new(row: &Row, partial: bool) -> RowView {
        let f = Figures::of(row);
        RowView {
            period_start: row.start_ms,
            period_end: row.end_ms,
            partial,
            objective: row.objective,
            combine: row.combine.as_str(),
            events: f.events,
            good: f.good,
            slices: row.slices.map(|s| s.total),
            good_slices: row.slices.map(|s| s.good),
            ratio: f.ratio,
            met: f.met,
            budget_consumed: f.budget_consumed,
            top_contributors: f.top.into_iter().map(|(sli, share)| Contributor { sli, share }).collect(),
            components: row
                .components
                .iter()
                .map(|c| ComponentCounts {
                    sli: c.sli.clone(),
                    weight: c.weight,
                    events: c.counts.total,
                    good: c.counts.good,
                })
                .collect(),
        }
    }
}

/// One SLO's report as JSON.
#[derive(Debug, Serialize)]
pub struct SloRows {
    /// The SLO.
    pub slo: String,
    /// `week`, `month` or `quarter`.
    pub period: &'static str,
    /// The zone the periods are cut in.
    pub time_zone: String,
    /// Closed rows oldest first, then the current period (`partial: true`).
    pub rows: Vec<RowView>,
}

/// The SLOs asked for (`slo`, or all), with their rows oldest first; `None` for an unknown name.
pub fn select(config: &Config, rows: &[Rows], slo: Option<&str>) -> Option<Vec<SloRows>> {
    let mut out = Vec::new();
    for (s, r) in config.slos.iter().zip(rows) {
        if slo.is_some_and(|n| n != s.name) {
            continue;
        }
        let calendar = s.report_calendar(&config.reports);
        let mut views: Vec<RowView> = r.closed.iter().map(|row| RowView::new(row, false)).collect();
        views.extend(r.partial.iter().map(|row| RowView::new(row, true)));
        out.push(SloRows {
            slo: s.name.clone(),
            period: calendar.unit.as_str(),
            time_zone: calendar.zone.clone(),
            rows: views,
        });
    }
    (slo.is_none() || !out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests;
