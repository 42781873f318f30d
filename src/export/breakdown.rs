//! The breakdown series: for each SLI with a `breakdown:`, every tracked value combination's (and
//! `__other__`'s) events and good events per breakdown window, and its part of each SLO
//! component's burn contribution.
//!
//! A combination's part of its component's contribution is the contribution split by bad events:
//! `cₖ · badⱼ / badₖ`. The rows of a breakdown hold exactly the SLI's events, so the parts add up
//! to `slostream_slo_burn_contribution` for every combine method.
//!
//! Combinations come and go, so their series are registered when one first appears and unset
//! (no longer rendered) when it gives its slot up.

use std::collections::HashMap;

use super::exposition::{Exposition, Handle};
use super::slo_series::Families;
use crate::config::Config;
use crate::count::Snapshot;
use crate::names::{self, label};
use crate::slo::SloStatus;
use crate::window::breakdown::Values;
use crate::window::Counts;

/// The label value of every field in the `__other__` row.
pub const OTHER: &str = "__other__";

/// Handles of every breakdown series, in the snapshot's breakdown order.
#[derive(Default)]
pub(crate) struct BreakdownSeries {
    per_sli: Vec<HashMap<Values, Row>>,
}

struct Row {
    /// Per breakdown window.
    events: Vec<Handle>,
    good: Vec<Handle>,
    contributions: Vec<Contribution>,
    seen: bool,
}

/// One `slostream_slo_burn_contribution_breakdown` series.
struct Contribution {
    slo: usize,
    component: usize,
    /// Index into the SLO's windows.
    slo_window: usize,
    /// Index into the breakdown's windows.
    window: usize,
    handle: Handle,
}

impl BreakdownSeries {
    /// Sets every breakdown series from one tick's snapshot and evaluation.
    pub(crate) fn set(
        &mut self,
        config: &Config,
        snapshot: &Snapshot,
        statuses: &[SloStatus],
        series: &Exposition,
        families: &Families,
    ) {
        self.per_sli.resize_with(snapshot.breakdowns.len(), HashMap::new);
        for (view, rows) in snapshot.breakdowns.iter().zip(&mut self.per_sli) {
            rows.values_mut().for_each(|r| r.seen = false);
            for (values, counts) in &view.rows {
                let row =
                    rows.entry(values.clone()).or_insert_with(|| register(config, view.sli, values, series, families));
                row.seen = true;
                for ((e, g), c) in row.events.iter().zip(&row.good).zip(counts) {
                    e.set(c.total as f64);
                    g.set(c.good as f64);
                }
                for c in &row.contributions {
                    let slo = &config.slos[c.slo];
                    let whole = statuses[c.slo].contributions(c.slo_window)[c.component];
                    let sli = snapshot.window(view.sli, config.window_index(slo.windows[c.slo_window].secs));
                    c.handle.set(share(whole, counts[c.window], sli));
                }
            }
            rows.retain(|_, row| {
                if !row.seen {
                    row.events
                        .iter()
                        .chain(&row.good)
                        .chain(row.contributions.iter().map(|c| &c.handle))
                        .for_each(Handle::unset);
                }
                row.seen
            });
        }
    }
}

/// The part of `whole` (a component's contribution) caused by `part`'s bad events out of the
/// component's `all`.
pub(super) fn share(whole: f64, part: Counts, all: Counts) -> f64 {
    let bad = |c: Counts| c.total.saturating_sub(c.good);
    match bad(all) {
        0 => 0.0,
        n => whole * bad(part) as f64 / n as f64,
    }
}

fn register(config: &Config, sli: usize, values: &Values, series: &Exposition, families: &Families) -> Row {
    let s = &config.slis[sli];
    let b = s.breakdown.as_ref().expect("a breakdown view belongs to an SLI with a breakdown");
    let fields: Vec<(&str, &str)> =
        b.labels.iter().enumerate().map(|(i, l)| (l.as_str(), values.as_ref().map_or(OTHER, |v| &*v[i]))).collect();
    fn labels<'a>(lead: &[(&'a str, &'a str)], fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        lead.iter().chain(fields).copied().collect()
    }
    let per_window = |metric: names::Metric| -> Vec<Handle> {
        b.windows
            .iter()
            .map(|w| {
                series
                    .series(families.of(metric), &labels(&[(label::SLI, &s.name), (label::WINDOW, &w.label)], &fields))
            })
            .collect()
    };
    let mut contributions = Vec::new();
    for (slo_id, slo) in config.slos.iter().enumerate() {
        for (component, _) in slo.components.iter().enumerate().filter(|(_, c)| c.sli == sli) {
            for (window, w) in b.windows.iter().enumerate() {
                let Some(slo_window) = slo.windows.iter().position(|sw| sw == w) else { continue };
                let lead =
                    [(label::SLO, slo.name.as_str()), (label::SLI, s.name.as_str()), (label::WINDOW, w.label.as_str())];
                let handle =
                    series.series(families.of(names::SLO_BURN_CONTRIBUTION_BREAKDOWN), &labels(&lead, &fields));
                contributions.push(Contribution { slo: slo_id, component, slo_window, window, handle });
            }
        }
    }
    Row {
        events: per_window(names::SLI_BREAKDOWN_EVENTS),
        good: per_window(names::SLI_BREAKDOWN_GOOD_EVENTS),
        contributions,
        seen: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_its_share_of_the_bad_events() {
        let c = |good, total| Counts { good, total };
        assert_eq!(share(3.0, c(5, 6), c(10, 14)), 0.75);
        assert_eq!(share(3.0, c(6, 6), c(10, 14)), 0.0);
        assert_eq!(share(3.0, c(6, 6), c(10, 10)), 0.0, "no bad event anywhere");
    }
}
