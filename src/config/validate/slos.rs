//! The `slos` section: objective and period, labels, the SLIs combined, the alert rules and the
//! windows each SLO needs, in that order of checking.

use std::collections::BTreeMap;

use super::{bad, Invalid};
use crate::config::raw::{RawAlert, RawCombine, RawPeriod, RawSliRef, RawSlo};
use crate::config::{
    burn_factor, duration, AlertRule, Calendar, CalendarUnit, Combine, Component, Severity, SliConfig, SloConfig,
    Window, ALERT_WINDOWS, DEFAULT_ALERTS, MAX_PERIOD_SECS, RESERVED_ALERT_LABELS,
};

/// The SLOs in name order, and every window any of them needs, distinct by length, shortest first.
pub(super) fn slos(
    raw: &BTreeMap<String, RawSlo>,
    slis: &[SliConfig],
) -> Result<(Vec<SloConfig>, Vec<Window>), Invalid> {
    if raw.is_empty() {
        return Err(bad("slos", "no SLO defined (expected at least one)".into()));
    }
    let mut slos = Vec::with_capacity(raw.len());
    let mut all_windows: BTreeMap<i64, Window> = BTreeMap::new();
    for (name, slo) in raw {
        let slo = slo_config(name, slo, slis)?;
        for w in &slo.windows {
            let known = all_windows.entry(w.secs).or_insert_with(|| w.clone());
            // Windows are found by length: a calendar period's (its longest) must be no other's.
            if known.label != w.label {
                return Err(bad(
                    &format!("slos.{name}.period"),
                    format!(
                        "windows {} and {} have the same length, {}s (a {} period holds the window store's {}s; \
                         expected any other rolling window)",
                        known.label, w.label, w.secs, w.label, w.secs
                    ),
                ));
            }
        }
        slos.push(slo);
    }
    Ok((slos, all_windows.into_values().collect()))
}

fn slo_config(name: &str, slo: &RawSlo, slis: &[SliConfig]) -> Result<SloConfig, Invalid> {
    let at = format!("slos.{name}");
    if !(slo.objective > 0.0 && slo.objective < 100.0) {
        return Err(bad(
            &format!("{at}.objective"),
            format!("{} is out of range (expected a percent, 0 < objective < 100, e.g. 99.9)", slo.objective),
        ));
    }
    let objective = objective_ratio(slo.objective, &at)?;
    let (period, calendar) = period(&slo.period, &format!("{at}.period"))?;
    // Alert windows must fit in the shortest period: a calendar period's length changes.
    let shortest = calendar.as_ref().map_or(period.secs, |c| c.unit.min_secs());
    if slo.slis.is_empty() {
        return Err(bad(&format!("{at}.slis"), "empty (expected at least one SLI)".into()));
    }
    labels(&slo.labels, &at)?;
    let combine = combine(slo.combine);
    let components = components(&slo.slis, combine, slis, &at)?;
    let alerts = match &slo.alerts {
        None => default_alerts(&period, shortest),
        Some(list) => alert_rules(list, &period, shortest, &at)?,
    };
    let windows = windows(&period, &alerts);
    let budgeting = super::budgeting::budgeting(slo.budgeting.as_ref(), &alerts, &at)?;
    let revision =
        revision(objective, &period, calendar.as_ref(), combine, &budgeting, &components, slis, &alerts, &slo.labels);
    Ok(SloConfig {
        revision,
        name: name.to_string(),
        description: slo.description.clone(),
        objective,
        objective_percent: slo.objective,
        period,
        calendar,
        combine,
        budgeting,
        components,
        alerts,
        windows,
        labels: slo.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        runbook_url: slo.runbook_url.clone(),
        dashboard_url: slo.dashboard_url.clone(),
    })
}

/// [`SloConfig::revision`]: FNV-1a over the definition written out.
#[allow(clippy::too_many_arguments, reason = "every part of the definition, named")]
fn revision(
    objective: f64,
    period: &Window,
    calendar: Option<&Calendar>,
    combine: Combine,
    budgeting: &crate::config::Budgeting,
    components: &[Component],
    slis: &[SliConfig],
    alerts: &[AlertRule],
    labels: &BTreeMap<String, String>,
) -> u64 {
    let mut text = format!(
        "objective={objective};period={};calendar={:?};combine={};budgeting={budgeting:?};",
        period.label,
        calendar.map(|c| (c.unit.as_str(), c.zone.as_str())),
        combine.as_str()
    );
    for c in components {
        text.push_str(&format!("sli={}:{:016x}:{};", slis[c.sli].name, slis[c.sli].fingerprint, c.weight));
    }
    for a in alerts {
        text.push_str(&format!(
            "alert={}:{}:{}:{}:{:?};",
            a.severity.as_str(),
            a.long,
            a.short,
            a.factor,
            a.budget_share
        ));
    }
    for (k, v) in labels {
        text.push_str(&format!("label={k:?}={v:?};"));
    }
    crate::config::fnv1a(text.as_bytes())
}

/// The objective as a ratio, rounded so that 99.9 exports as 0.999, not 0.9990000000000001.
/// The budget is checked after rounding: an objective within 1e-12 of 100 rounds to 1, and a
/// zero budget makes every burn rate and the budget remaining NaN or infinite.
fn objective_ratio(percent: f64, at: &str) -> Result<f64, Invalid> {
    let objective = (percent / 100.0 * 1e12).round() / 1e12;
    let budget = 1.0 - objective;
    if !(budget > 0.0 && budget.is_finite()) {
        return Err(bad(
            &format!("{at}.objective"),
            format!("{percent} leaves no error budget once rounded (expected at most 10 decimal places, e.g. 99.9999)"),
        ));
    }
    Ok(objective)
}

/// A rolling period of at most 90 days, or a calendar one: its window (labelled `week`, `month`
/// or `quarter`, as long as such a period can last) and its calendar.
fn period(raw: &RawPeriod, path: &str) -> Result<(Window, Option<Calendar>), Invalid> {
    match raw {
        RawPeriod::Rolling(text) => {
            let period = window(text, path)?;
            if period.secs > MAX_PERIOD_SECS {
                return Err(bad(path, format!("{text:?} is longer than the maximum of 90d")));
            }
            Ok((period, None))
        }
        RawPeriod::Calendar(c) => {
            let Some(unit) = CalendarUnit::ALL.into_iter().find(|u| u.as_str() == c.calendar) else {
                return Err(bad(
                    &format!("{path}.calendar"),
                    format!("{:?} is not a calendar period (expected week, month or quarter)", c.calendar),
                ));
            };
            let calendar = Calendar::new(unit, &c.time_zone).map_err(|e| bad(&format!("{path}.time_zone"), e))?;
            let window = Window { secs: unit.max_secs(), label: unit.as_str().to_string() };
            Ok((window, Some(calendar)))
        }
    }
}

fn window(text: &str, path: &str) -> Result<Window, Invalid> {
    let secs = duration::parse_secs(text).map_err(|e| bad(path, e.to_string()))?;
    Ok(Window::from_secs(secs))
}

/// The SLO's labels go on its alerts, so each must be a Prometheus label name and not one of
/// the labels slostream sets itself.
fn labels(labels: &BTreeMap<String, String>, at: &str) -> Result<(), Invalid> {
    for key in labels.keys() {
        let valid = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid || RESERVED_ALERT_LABELS.contains(&key.as_str()) {
            return Err(bad(
                &format!("{at}.labels.{key}"),
                format!(
                    "{key:?} is not allowed (expected a Prometheus label name other than {})",
                    RESERVED_ALERT_LABELS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn combine(raw: RawCombine) -> Combine {
    match raw {
        RawCombine::Pooled => Combine::Pooled,
        RawCombine::Product => Combine::Product,
        RawCombine::Weighted => Combine::Weighted,
        RawCombine::Min => Combine::Min,
    }
}

/// Each SLI named once and known; weights only where `combine: weighted` reads them.
fn components(refs: &[RawSliRef], combine: Combine, slis: &[SliConfig], at: &str) -> Result<Vec<Component>, Invalid> {
    let mut components: Vec<Component> = Vec::with_capacity(refs.len());
    for (i, r) in refs.iter().enumerate() {
        let here = format!("{at}.slis[{i}]");
        let (sli_name, given) = match r {
            RawSliRef::Name(n) => (n.as_str(), None),
            RawSliRef::Weighted(w) => (w.sli.as_str(), w.weight),
        };
        let Some(sli) = slis.iter().position(|s| s.name == sli_name) else {
            let defined = slis.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
            return Err(bad(&here, format!("unknown SLI {sli_name:?} (defined: {defined})")));
        };
        if components.iter().any(|c| c.sli == sli) {
            return Err(bad(&here, format!("SLI {sli_name:?} is listed twice")));
        }
        let weight = weight(given, combine, &here)?;
        components.push(Component { sli, weight });
    }
    Ok(components)
}

fn weight(given: Option<f64>, combine: Combine, here: &str) -> Result<f64, Invalid> {
    match (given, combine) {
        (Some(w), Combine::Weighted) if w > 0.0 && w.is_finite() => Ok(w),
        (Some(w), Combine::Weighted) => {
            Err(bad(&format!("{here}.weight"), format!("{w} is not allowed (expected a weight > 0)")))
        }
        (Some(w), other) => Err(bad(
            &format!("{here}.weight"),
            format!("weight {w} given but combine is {} (weights need combine: weighted)", other.as_str()),
        )),
        (None, _) => Ok(1.0),
    }
}

/// [`DEFAULT_ALERTS`] whose long window fits in the period (its shortest, `shortest` seconds).
fn default_alerts(period: &Window, shortest: i64) -> Vec<AlertRule> {
    DEFAULT_ALERTS
        .iter()
        .map(|&(long, short, share, severity)| AlertRule {
            severity,
            long: Window::standard(long),
            short: Window::standard(short),
            factor: burn_factor(share, period.secs, Window::standard(long).secs),
            budget_share: Some(share),
        })
        .filter(|a| a.long.secs < shortest)
        .collect()
}

/// Rules as written replace [`DEFAULT_ALERTS`] entirely.
fn alert_rules(list: &[RawAlert], period: &Window, shortest: i64, at: &str) -> Result<Vec<AlertRule>, Invalid> {
    list.iter().enumerate().map(|(i, a)| alert_rule(a, period, shortest, &format!("{at}.alerts[{i}]"))).collect()
}

fn alert_rule(a: &RawAlert, period: &Window, shortest: i64, here: &str) -> Result<AlertRule, Invalid> {
    let severity = match a.severity.as_str() {
        "page" => Severity::Page,
        "ticket" => Severity::Ticket,
        other => {
            return Err(bad(
                &format!("{here}.severity"),
                format!("{other:?} is not a severity (expected page or ticket)"),
            ))
        }
    };
    let long = window(&a.long, &format!("{here}.long"))?;
    let short = window(&a.short, &format!("{here}.short"))?;
    if short.secs >= long.secs {
        return Err(bad(&format!("{here}.short"), format!("{short} is not shorter than long window {long}")));
    }
    if long.secs >= shortest {
        let shortest = if shortest == period.secs {
            String::new()
        } else {
            format!(" at its shortest, {}", Window::from_secs(shortest))
        };
        return Err(bad(&format!("{here}.long"), format!("{long} is not shorter than the period {period}{shortest}")));
    }
    let factor = factor(a, period, &long, here)?;
    Ok(AlertRule { severity, long, short, factor, budget_share: a.budget_share })
}

/// A rule gives its burn rate directly or as the share of the budget spent over the long window.
fn factor(a: &RawAlert, period: &Window, long: &Window, here: &str) -> Result<f64, Invalid> {
    match (a.factor, a.budget_share) {
        (Some(f), None) if f > 0.0 && f.is_finite() => Ok(f),
        (None, Some(s)) if s > 0.0 && s <= 100.0 => Ok(burn_factor(s, period.secs, long.secs)),
        (Some(f), None) => Err(bad(&format!("{here}.factor"), format!("{f} is not allowed (expected > 0)"))),
        (None, Some(s)) => Err(bad(
            &format!("{here}.budget_share"),
            format!("{s} is out of range (expected a percent, 0 < share <= 100)"),
        )),
        _ => Err(bad(here, "expected exactly one of factor or budget_share".into())),
    }
}

/// The period, and every built-in or rule window shorter than it, distinct by length, shortest first.
fn windows(period: &Window, alerts: &[AlertRule]) -> Vec<Window> {
    let mut windows: Vec<Window> = ALERT_WINDOWS
        .iter()
        .map(|w| Window::standard(w))
        .chain(alerts.iter().flat_map(|a| [a.long.clone(), a.short.clone()]))
        .filter(|w| w.secs < period.secs)
        .collect();
    windows.push(period.clone());
    windows.sort_by_key(|w| w.secs);
    windows.dedup_by_key(|w| w.secs);
    windows
}
