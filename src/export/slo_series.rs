//! The per-SLO and per-SLI series: definitions from the start, measurements once ready.
//!
//! Tens of series per SLO, hundreds of thousands for 10,000 SLOs, so they go through
//! [`Exposition`], whose render copies precomputed line prefixes. Handles are registered once;
//! each tick only stores values.

use std::sync::Arc;

use super::breakdown::BreakdownSeries;
use super::exposition::{Exposition, FamilyId, Handle};
use super::sloth::SlothHandles;
use crate::config::{Config, Severity, SloConfig};
use crate::count::Snapshot;
use crate::names::{self, label, QUANTILES};
use crate::slo::{BudgetState, SloStatus};
use crate::state::Counters;

/// The families of [`names::SLO_SERIES`], registered up front so each renders as one group in
/// that order whenever its series are registered.
pub(super) struct Families([FamilyId; names::SLO_SERIES.len()]);

impl Families {
    fn register(series: &Exposition) -> Families {
        Families(names::SLO_SERIES.map(|m| series.family(m.name, m.help, m.kind)))
    }

    pub(super) fn of(&self, metric: names::Metric) -> FamilyId {
        let i = names::SLO_SERIES.iter().position(|m| *m == metric).expect("a per-SLO or per-SLI family");
        self.0[i]
    }
}

struct WindowHandles {
    ratio: Handle,
    events: Handle,
    good: Handle,
    burn: Handle,
    /// A time-slice SLO's counted and good slices.
    slices: Option<[Handle; 2]>,
    /// Per component, in the order of the SLO's components.
    contributions: Vec<Handle>,
}

struct SloHandles {
    /// Per rule of the SLO's alerts: its factor, set every tick since a calendar period's
    /// changes with the period's length.
    thresholds: Vec<Handle>,
    period_start: Handle,
    period_end: Handle,
    budget: Handle,
    /// Indexed like [`BudgetState::ALL`].
    budget_state: [Handle; 4],
    alerts: [Handle; 2],
    windows: Vec<WindowHandles>,
    /// A time-slice SLO's late events.
    late: Option<Handle>,
    sloth: Option<SlothHandles>,
}

struct SliHandles {
    events: Handle,
    good: Handle,
    latency: Option<[Handle; 4]>,
    rebuild_progress: Handle,
    /// Once the SLI's history was rebuilt.
    history_start: Option<Handle>,
}

/// Handles of every per-SLO and per-SLI series.
pub(crate) struct SloSeries {
    series: Arc<Exposition>,
    families: Families,
    /// Empty until the first ready tick, so no SLO value is rendered before.
    slos: Vec<SloHandles>,
    slis: Vec<SliHandles>,
    /// Per SLO: whether any of its SLIs is being rebuilt.
    rebuilding: Vec<Handle>,
    breakdowns: BreakdownSeries,
}

impl SloSeries {
    /// Registers every family, and the definitions (not measurements), exported from the start
    /// because dashboards join on them.
    pub(crate) fn new(config: &Config) -> SloSeries {
        let series = Arc::new(Exposition::new());
        let families = Families::register(&series);
        let f = |m| families.of(m);
        for s in &config.slos {
            let slo = s.name.as_str();
            series.series(f(names::SLO_OBJECTIVE), &[(label::SLO, slo)]).set(s.objective);
            let info = [(label::SLO, slo), (label::PERIOD, &s.period.label), (label::COMBINE, s.combine.as_str())];
            series.series(f(names::SLO_INFO), &info).set(1.0);
            let revision = format!("{:016x}", s.revision);
            series.series(f(names::SLO_REVISION_INFO), &[(label::SLO, slo), (label::REVISION, &revision)]).set(1.0);
            for c in &s.components {
                let weight = c.weight.to_string();
                let labels = [(label::SLO, slo), (label::SLI, &config.slis[c.sli].name), (label::WEIGHT, &weight)];
                series.series(f(names::SLO_SLI_INFO), &labels).set(1.0);
            }
            // A rolling period's factors are definitions, exported from the start; a calendar
            // period's are set at each tick, for the period it is in.
            if s.calendar.is_none() {
                for (a, h) in s.alerts.iter().zip(thresholds(&series, &families, s)) {
                    h.set(a.factor);
                }
            }
        }
        let slis = config
            .slis
            .iter()
            .map(|s| SliHandles {
                events: series.series(f(names::SLI_EVENTS), &[(label::SLI, &s.name)]),
                good: series.series(f(names::SLI_GOOD_EVENTS), &[(label::SLI, &s.name)]),
                latency: None,
                rebuild_progress: series.series(f(names::SLI_REBUILD_PROGRESS), &[(label::SLI, &s.name)]),
                history_start: None,
            })
            .collect();
        let rebuilding =
            config.slos.iter().map(|s| series.series(f(names::SLO_REBUILDING), &[(label::SLO, &s.name)])).collect();
        SloSeries { series, families, slos: Vec::new(), slis, rebuilding, breakdowns: BreakdownSeries::default() }
    }

    /// The exposition `/metrics` renders.
    pub(crate) fn exposition(&self) -> Arc<Exposition> {
        self.series.clone()
    }

    /// Sets the rebuild series: each SLI's progress (1 unless rebuilding), each SLO's
    /// rebuilding flag, and the history start of every SLI rebuilt.
    pub(crate) fn set_rebuild(&mut self, config: &Config, snapshot: &Snapshot) {
        let rebuilding: Vec<bool> =
            config.slis.iter().map(|s| snapshot.rebuild.as_ref().is_some_and(|r| r.rebuilds(&s.name))).collect();
        let progress = snapshot.rebuild.as_ref().map_or(1.0, |r| r.progress());
        for (h, &on) in self.slis.iter().zip(&rebuilding) {
            h.rebuild_progress.set(if on { progress } else { 1.0 });
        }
        for (h, slo) in self.rebuilding.iter().zip(&config.slos) {
            h.set(if slo.components.iter().any(|c| rebuilding[c.sli]) { 1.0 } else { 0.0 });
        }
        for (name, ms) in &snapshot.history {
            let Some(i) = config.slis.iter().position(|s| &s.name == name) else { continue };
            let (series, family) = (&self.series, self.families.of(names::SLI_HISTORY_START));
            let h = self.slis[i].history_start.get_or_insert_with(|| series.series(family, &[(label::SLI, name)]));
            h.set(*ms as f64 / 1000.0);
        }
    }

    /// Sets every SLI's totals since the state began.
    pub(crate) fn set_totals(&mut self, c: &Counters) {
        for (h, t) in self.slis.iter().zip(&c.totals) {
            h.events.absolute(t.total);
            h.good.absolute(t.good);
        }
    }

    /// Sets each SLI's latency quantiles; an SLI's series appear once it has latencies.
    pub(crate) fn set_latency(&mut self, config: &Config, snapshot: &Snapshot) {
        for (sli, h) in self.slis.iter_mut().enumerate() {
            let Some(quantiles) = snapshot.latency[sli] else { continue };
            let gauges = h.latency.get_or_insert_with(|| {
                let family = self.families.of(names::SLI_LATENCY);
                QUANTILES.map(|(_, q)| {
                    self.series.series(family, &[(label::SLI, &config.slis[sli].name), (label::QUANTILE, q)])
                })
            });
            for (g, v) in gauges.iter().zip(quantiles) {
                g.set(v as f64 / 1e6);
            }
        }
    }

    /// Sets every SLO's window values, budget and alert state from one evaluation (registering
    /// the series on the first call).
    pub(crate) fn set_statuses(&mut self, config: &Config, statuses: &[SloStatus]) {
        if self.slos.is_empty() {
            self.register_slos(config);
        }
        for ((slo, h), status) in config.slos.iter().zip(&self.slos).zip(statuses) {
            for (i, (w, wh)) in status.windows.iter().zip(&h.windows).enumerate() {
                wh.ratio.set(w.ratio);
                wh.events.set(w.counts.total as f64);
                wh.good.set(w.counts.good as f64);
                wh.burn.set(w.burn_rate);
                if let (Some([slices, good]), Some(sc)) = (&wh.slices, w.slices) {
                    slices.set(sc.slices as f64);
                    good.set(sc.good);
                }
                for (g, c) in wh.contributions.iter().zip(status.contributions(i)) {
                    g.set(*c);
                }
            }
            for (g, f) in h.thresholds.iter().zip(&status.factors) {
                g.set(*f);
            }
            h.period_start.set(status.period.start_ms as f64 / 1000.0);
            h.period_end.set(status.period.end_ms as f64 / 1000.0);
            h.budget.set(status.budget_remaining);
            let state = status.budget_state(config.status.at_risk_below);
            for (g, s) in h.budget_state.iter().zip(BudgetState::ALL) {
                g.set(if s == state { 1.0 } else { 0.0 });
            }
            if let Some(sloth) = &h.sloth {
                sloth.update(slo, status);
            }
            for (g, firing) in h.alerts.iter().zip(status.alerts) {
                g.set(if firing { 1.0 } else { 0.0 });
            }
        }
    }

    /// Sets every time-slice SLO's late events (after [`SloSeries::set_statuses`]).
    pub(crate) fn set_slices(&mut self, snapshot: &Snapshot) {
        for view in &snapshot.slices {
            if let Some(late) = self.slos.get(view.slo).and_then(|h| h.late.as_ref()) {
                late.absolute(view.late);
            }
        }
    }

    /// Sets every breakdown series from one ready tick.
    pub(crate) fn set_breakdowns(&mut self, config: &Config, snapshot: &Snapshot, statuses: &[SloStatus]) {
        self.breakdowns.set(config, snapshot, statuses, &self.series, &self.families);
    }

    fn register_slos(&mut self, config: &Config) {
        let (series, f) = (&*self.series, |m| self.families.of(m));
        self.slos = config
            .slos
            .iter()
            .map(|s| {
                let slo = s.name.as_str();
                let windows = s
                    .windows
                    .iter()
                    .map(|w| {
                        let labels = [(label::SLO, slo), (label::WINDOW, w.label.as_str())];
                        WindowHandles {
                            ratio: series.series(f(names::SLO_SLI_RATIO), &labels),
                            events: series.series(f(names::SLO_EVENTS), &labels),
                            good: series.series(f(names::SLO_GOOD_EVENTS), &labels),
                            burn: series.series(f(names::SLO_BURN_RATE), &labels),
                            slices: s.budgeting.slices().map(|_| {
                                [names::SLO_SLICES, names::SLO_GOOD_SLICES].map(|m| series.series(f(m), &labels))
                            }),
                            contributions: s
                                .components
                                .iter()
                                .map(|c| {
                                    let sli = config.slis[c.sli].name.as_str();
                                    let labels =
                                        [(label::SLO, slo), (label::SLI, sli), (label::WINDOW, w.label.as_str())];
                                    series.series(f(names::SLO_BURN_CONTRIBUTION), &labels)
                                })
                                .collect(),
                        }
                    })
                    .collect();
                SloHandles {
                    thresholds: thresholds(series, &self.families, s),
                    period_start: series.series(f(names::SLO_PERIOD_START), &[(label::SLO, slo)]),
                    period_end: series.series(f(names::SLO_PERIOD_END), &[(label::SLO, slo)]),
                    budget: series.series(f(names::SLO_BUDGET_REMAINING), &[(label::SLO, slo)]),
                    budget_state: BudgetState::ALL.map(|state| {
                        series.series(f(names::SLO_BUDGET_STATE), &[(label::SLO, slo), (label::STATE, state.as_str())])
                    }),
                    alerts: Severity::ALL.map(|sev| {
                        series.series(f(names::SLO_ALERT), &[(label::SLO, slo), (label::SEVERITY, sev.as_str())])
                    }),
                    windows,
                    late: s
                        .budgeting
                        .slices()
                        .map(|_| series.series(f(names::SLICE_LATE_EVENTS), &[(label::SLO, slo)])),
                    // Sloth has no calendar periods, so it has no name for their window.
                    sloth: (config.exporter.sloth_compat && s.calendar.is_none())
                        .then(|| SlothHandles::register(series, s)),
                }
            })
            .collect();
    }
}

/// The handles of an SLO's alert thresholds, one per rule (the same series on every call).
fn thresholds(series: &Exposition, families: &Families, slo: &SloConfig) -> Vec<Handle> {
    slo.alerts
        .iter()
        .map(|a| {
            let labels = [
                (label::SLO, slo.name.as_str()),
                (label::SEVERITY, a.severity.as_str()),
                (label::LONG_WINDOW, &a.long.label),
                (label::SHORT_WINDOW, &a.short.label),
            ];
            series.series(families.of(names::SLO_ALERT_THRESHOLD), &labels)
        })
        .collect()
}
