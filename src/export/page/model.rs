//! The status page's data: every SLO as a product team reads it, worst first.
//!
//! Built on request from what the tick published ([`Published`]); the HTML pages and the JSON API
//! both render these types, so the page and the API cannot disagree, and the JSON's field names
//! are the ones below (the stable schema the README documents). Every number is the one
//! `/metrics` exports from the same evaluation.
//!
//! "Worst first": budget state exhausted, then at risk, healthy, no data; within a state, the
//! least budget remaining first; then by name.

use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::api::rfc3339;
use super::board::Published;
use super::burn_down::BurnDown;
use crate::config::{Config, SloConfig};
use crate::export::breakdown::{share, OTHER};
use crate::slo::{BudgetState, SloStatus};

/// The rankings "what to fix first" shows besides the period's: the last day.
const RECENT_SECS: i64 = 86_400;

/// Every SLO at one evaluation.
#[derive(Debug, Serialize)]
pub struct Overview {
    /// When the SLOs were evaluated (RFC 3339).
    #[serde(serialize_with = "rfc3339")]
    pub evaluated_at: i64,
    /// Worst first.
    pub slos: Vec<SloView>,
}

/// One SLO at one evaluation.
#[derive(Debug, Serialize)]
pub struct Detail {
    /// When it was evaluated (RFC 3339).
    #[serde(serialize_with = "rfc3339")]
    pub evaluated_at: i64,
    /// The SLO.
    pub slo: SloView,
    /// Its period reports, for the page's history table (not part of `/api/v1/slos`: the
    /// reports have their own route).
    #[serde(skip)]
    pub history: Option<super::reports::SloRows>,
}

/// One SLO: its definition, where its budget stands, and what burned it.
#[derive(Debug, Serialize)]
pub struct SloView {
    /// The `slo` label value.
    pub name: String,
    /// As configured, if it is.
    pub description: Option<String>,
    /// As a ratio (0.999).
    pub objective: f64,
    /// The period's window label (`30d`).
    pub period: String,
    /// The period, in seconds.
    pub period_seconds: i64,
    /// `pooled`, `weighted`, `product` or `min`.
    pub combine: &'static str,
    /// `occurrences`, `timeslices` or `ratio_timeslices`.
    pub budgeting: &'static str,
    /// `healthy`, `at_risk`, `exhausted` or `no_data`.
    #[serde(serialize_with = "state_name")]
    pub budget_state: BudgetState,
    /// Share of the period's budget left, negative once overspent.
    pub budget_remaining: f64,
    /// The combined ratio over the period.
    pub ratio: f64,
    /// Events over the period, all components.
    pub events: u64,
    /// Good events over the period, all components.
    pub good_events: u64,
    /// Whether a page or ticket alert fires.
    pub alerts: Alerts,
    /// Every multiwindow rule, in the config's order.
    pub alert_rules: Vec<RuleView>,
    /// Every window, shortest first; the period is last.
    pub windows: Vec<WindowView>,
    /// Every component, in the config's order.
    pub components: Vec<ComponentView>,
    /// Components ranked by their part of the burn: over the period, then over the last day
    /// (when the SLO has a `1d` window shorter than its period).
    pub what_to_fix_first: Vec<Ranking>,
    /// `null` until first computed (within a minute of the first ready tick).
    #[serde(serialize_with = "shared")]
    pub burn_down: Option<Arc<BurnDown>>,
    /// While the history of any of its SLIs is being rebuilt from the topics: the share read,
    /// 0 to 1 (its alerts are held meanwhile); `null` otherwise.
    pub rebuild_progress: Option<f64>,
    /// When its windows hold less than the period because a rebuilt SLI's history starts later
    /// (retention had deleted the rest): from when (RFC 3339); `null` otherwise.
    #[serde(serialize_with = "rfc3339_or_null")]
    pub history_since: Option<i64>,
}

/// Which severities fire: `slostream_slo_alert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Alerts {
    /// A page alert fires.
    pub page: bool,
    /// A ticket alert fires.
    pub ticket: bool,
}

/// One multiwindow burn-rate rule.
#[derive(Debug, Serialize)]
pub struct RuleView {
    /// `page` or `ticket`.
    pub severity: &'static str,
    /// The long window's label.
    pub long_window: String,
    /// The short window's label.
    pub short_window: String,
    /// Burn rate above which it fires over both windows.
    pub factor: f64,
    /// Both windows burn faster than the factor.
    pub firing: bool,
}

/// The SLO over one window.
#[derive(Debug, Serialize)]
pub struct WindowView {
    /// The window label (`5m`).
    pub window: String,
    /// Its length, in seconds.
    pub seconds: i64,
    /// The combined ratio (1 without events).
    pub ratio: f64,
    /// Events, all components.
    pub events: u64,
    /// Good events, all components.
    pub good_events: u64,
    /// `(1 − ratio) / (1 − objective)`.
    pub burn_rate: f64,
    /// Time-slice SLOs: the closed slices counted over the window (`null` otherwise).
    pub slices: Option<u64>,
    /// Time-slice SLOs: the good slices (`ratio_timeslices`: the sum of their ratios).
    pub good_slices: Option<f64>,
}

/// One component SLI of the SLO.
#[derive(Debug, Serialize)]
pub struct ComponentView {
    /// The `sli` label value.
    pub sli: String,
    /// Its weight (1 unless `combine: weighted` sets one).
    pub weight: f64,
    /// Over each of the SLO's windows, in the SLO's window order.
    pub windows: Vec<ComponentWindow>,
    /// Its `breakdown:` fields' label names; empty without a breakdown.
    pub breakdown_fields: Vec<String>,
    /// Per breakdown window that is also one of the SLO's windows: every value combination,
    /// most burning first (`__other__` included).
    pub breakdown: Vec<BreakdownWindow>,
}

/// A component's value combinations over one window.
#[derive(Debug, Serialize)]
pub struct BreakdownWindow {
    /// The window label.
    pub window: String,
    /// Most burning first, then most events.
    pub values: Vec<BreakdownValue>,
}

/// One value combination of a component over one window.
#[derive(Debug, Clone, Serialize)]
pub struct BreakdownValue {
    /// One value per breakdown field; every one `__other__` for the untracked combinations.
    pub values: Vec<String>,
    /// Its events.
    pub events: u64,
    /// Its good events.
    pub good_events: u64,
    /// Its part of the SLO's burn rate: `slostream_slo_burn_contribution_breakdown`.
    pub contribution: f64,
    /// `contribution / burn_rate`, 0 to 1; `null` when the window does not burn.
    pub share: Option<f64>,
}

/// One component over one window.
#[derive(Debug, Serialize)]
pub struct ComponentWindow {
    /// The window label.
    pub window: String,
    /// Good over all of its events; `null` without events.
    pub ratio: Option<f64>,
    /// Its events.
    pub events: u64,
    /// Its good events.
    pub good_events: u64,
    /// Its part of the SLO's burn rate: `slostream_slo_burn_contribution`.
    pub contribution: f64,
    /// `contribution / burn_rate`, 0 to 1; `null` when the window does not burn.
    pub share: Option<f64>,
}

/// The components that burned the budget over one window, most first.
#[derive(Debug, Serialize)]
pub struct Ranking {
    /// The window label.
    pub window: String,
    /// Components that contributed, most first (ties in config order); empty when nothing burned.
    pub ranked: Vec<Ranked>,
}

/// One entry of a ranking.
#[derive(Debug, Serialize)]
pub struct Ranked {
    /// The component's `sli` label value.
    pub sli: String,
    /// Its part of the burn rate.
    pub contribution: f64,
    /// Its share of the burn, 0 to 1.
    pub share: f64,
    /// With a breakdown over this window: its value combinations that burned, most first.
    pub breakdown: Vec<BreakdownValue>,
}

/// A series shared with the board, serialised as itself.
fn shared<S: Serializer>(series: &Option<Arc<BurnDown>>, s: S) -> Result<S::Ok, S::Error> {
    series.as_deref().serialize(s)
}

fn rfc3339_or_null<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => rfc3339(ms, s),
        None => s.serialize_none(),
    }
}

fn state_name<S: Serializer>(state: &BudgetState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.as_str())
}

/// Where a state sorts: the worst first.
fn severity(state: BudgetState) -> u8 {
    match state {
        BudgetState::Exhausted => 0,
        BudgetState::AtRisk => 1,
        BudgetState::Healthy => 2,
        BudgetState::NoData => 3,
    }
}

impl Overview {
    /// Every SLO of what was published, worst first.
    pub fn new(config: &Config, p: &Published) -> Overview {
        let mut slos: Vec<SloView> = (0..config.slos.len()).map(|i| SloView::new(config, p, i)).collect();
        slos.sort_by(|a, b| {
            severity(a.budget_state)
                .cmp(&severity(b.budget_state))
                .then(a.budget_remaining.total_cmp(&b.budget_remaining))
                .then_with(|| a.name.cmp(&b.name))
        });
        Overview { evaluated_at: p.at_ms.unwrap_or_default(), slos }
    }
}

impl Detail {
    /// The SLO named `name`, if there is one.
    pub fn new(config: &Config, p: &Published, name: &str) -> Option<Detail> {
        let i = config.slos.iter().position(|s| s.name == name)?;
        Some(Detail { evaluated_at: p.at_ms.unwrap_or_default(), slo: SloView::new(config, p, i), history: None })
    }
}

impl SloView {
    /// SLO `i` of `config`, from what was published.
    fn new(config: &Config, p: &Published, i: usize) -> SloView {
        let slo = &config.slos[i];
        let status = &p.statuses[i];
        let period = status.windows.last().expect("the period is always a window");
        SloView {
            name: slo.name.clone(),
            description: slo.description.clone(),
            objective: slo.objective,
            period: slo.period.label.clone(),
            // A calendar period's length is the current one's, not the window store's longest.
            period_seconds: if slo.calendar.is_some() { status.period.len_secs() } else { slo.period.secs },
            combine: slo.combine.as_str(),
            budgeting: slo.budgeting.as_str(),
            budget_state: status.budget_state(config.status.at_risk_below),
            budget_remaining: status.budget_remaining,
            ratio: period.ratio,
            events: period.counts.total,
            good_events: period.counts.good,
            alerts: {
                let [page, ticket] = status.alerts;
                Alerts { page, ticket }
            }, // Severity::ALL's order
            alert_rules: slo
                .alerts
                .iter()
                .zip(&status.fired)
                .zip(&status.factors)
                .map(|((r, &firing), &factor)| RuleView {
                    severity: r.severity.as_str(),
                    long_window: r.long.label.clone(),
                    short_window: r.short.label.clone(),
                    factor,
                    firing,
                })
                .collect(),
            windows: slo
                .windows
                .iter()
                .zip(&status.windows)
                .map(|(w, s)| WindowView {
                    window: w.label.clone(),
                    seconds: if slo.calendar.is_some() && *w == slo.period { status.period.len_secs() } else { w.secs },
                    ratio: s.ratio,
                    events: s.counts.total,
                    good_events: s.counts.good,
                    burn_rate: s.burn_rate,
                    slices: s.slices.map(|c| c.slices),
                    good_slices: s.slices.map(|c| c.good),
                })
                .collect(),
            what_to_fix_first: rankings(config, p, slo, status),
            components: components(config, p, slo, status),
            burn_down: p.burn_downs.get(i).cloned().flatten(),
            rebuild_progress: p
                .rebuild
                .as_ref()
                .filter(|r| slo.components.iter().any(|c| r.rebuilds(&config.slis[c.sli].name)))
                .map(|r| r.progress()),
            history_since: slo
                .components
                .iter()
                .filter_map(|c| p.history.iter().find(|(s, _)| *s == config.slis[c.sli].name).map(|(_, ms)| *ms))
                .max()
                .filter(|&since| since > status.period.start_ms),
        }
    }
}

fn components(config: &Config, p: &Published, slo: &SloConfig, status: &SloStatus) -> Vec<ComponentView> {
    slo.components
        .iter()
        .enumerate()
        .map(|(k, c)| ComponentView {
            sli: config.slis[c.sli].name.clone(),
            weight: c.weight,
            windows: slo
                .windows
                .iter()
                .enumerate()
                .map(|(w, window)| {
                    let counts = p.window(config, c.sli, window.secs);
                    let contribution = status.contributions(w)[k];
                    let burn = status.windows[w].burn_rate;
                    ComponentWindow {
                        window: window.label.clone(),
                        ratio: (counts.total > 0).then(|| counts.good as f64 / counts.total as f64),
                        events: counts.total,
                        good_events: counts.good,
                        contribution,
                        share: (burn > 0.0).then(|| contribution / burn),
                    }
                })
                .collect(),
            breakdown_fields: config.slis[c.sli].breakdown.as_ref().map(|b| b.labels.clone()).unwrap_or_default(),
            breakdown: (0..slo.windows.len())
                .filter_map(|w| {
                    let values = breakdown(config, p, slo, status, k, w)?;
                    Some(BreakdownWindow { window: slo.windows[w].label.clone(), values })
                })
                .collect(),
        })
        .collect()
}

/// Component `k`'s value combinations over SLO window `w`, most burning first, when it has a
/// breakdown exported for that window.
fn breakdown(
    config: &Config,
    p: &Published,
    slo: &SloConfig,
    status: &SloStatus,
    k: usize,
    w: usize,
) -> Option<Vec<BreakdownValue>> {
    let sli = slo.components[k].sli;
    let b = config.slis[sli].breakdown.as_ref()?;
    let bw = b.windows.iter().position(|x| x.secs == slo.windows[w].secs)?;
    let view = p.breakdowns.iter().find(|v| v.sli == sli)?;
    let (whole, burn) = (status.contributions(w)[k], status.windows[w].burn_rate);
    let all = p.window(config, sli, slo.windows[w].secs);
    let mut values: Vec<BreakdownValue> = view
        .rows
        .iter()
        .map(|(values, counts)| {
            let c = counts[bw];
            let contribution = share(whole, c, all);
            BreakdownValue {
                values: match values {
                    Some(v) => v.iter().map(|t| t.to_string()).collect(),
                    None => vec![OTHER.to_string(); b.labels.len()],
                },
                events: c.total,
                good_events: c.good,
                contribution,
                share: (burn > 0.0).then(|| contribution / burn),
            }
        })
        .collect();
    values.sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(b.events.cmp(&a.events)));
    Some(values)
}

/// The period's ranking, then the last day's when the SLO has that window besides its period.
fn rankings(config: &Config, p: &Published, slo: &SloConfig, status: &SloStatus) -> Vec<Ranking> {
    let period = slo.windows.len() - 1;
    let recent = slo.windows.iter().position(|w| w.secs == RECENT_SECS).filter(|&w| w != period);
    [Some(period), recent]
        .into_iter()
        .flatten()
        .map(|w| Ranking {
            window: slo.windows[w].label.clone(),
            ranked: status
                .ranked(w)
                .into_iter()
                .map(|(k, share)| Ranked {
                    sli: config.slis[slo.components[k].sli].name.clone(),
                    contribution: status.contributions(w)[k],
                    share,
                    breakdown: breakdown(config, p, slo, status, k, w)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|v| v.contribution > 0.0)
                        .collect(),
                })
                .collect(),
        })
        .collect()
}
