//! Which alerts to send to Alertmanager now: pure bookkeeping over evaluations and time.
//!
//! One alert per SLO and multiwindow rule. A rule that starts firing is sent at once, re-sent
//! every `resend_interval` while it fires, and sent once more with `endsAt` = now when it
//! clears. Like Prometheus, firing alerts carry `endsAt` = now + 3 × `resend_interval`: while
//! slostream runs the re-sends keep the alert open, and if it stops, the alert expires on its
//! own after three missed re-sends instead of depending on Alertmanager's `resolve_timeout`.
//! An alert that could not be delivered stays pending and goes with the next batch.

use serde_json::{json, Value};

use crate::config::{AlertRule, Config, SloConfig};
use crate::names::{label, ALERT_NAME};
use crate::slo::SloStatus;
use crate::time::format_rfc3339_ms;

#[derive(Debug, Clone, Default)]
struct Rule {
    /// When it started firing (epoch ms), while it fires.
    since: Option<i64>,
    last_sent: Option<i64>,
    /// A resolution that still has to reach Alertmanager, with its end time.
    resolved: Option<(i64, i64)>,
}

/// Alert state for every SLO rule, indexed `[slo][rule]`.
#[derive(Debug, Clone)]
pub struct AlertBook {
    rules: Vec<Vec<Rule>>,
    resend_ms: i64,
}

impl AlertBook {
    /// Nothing firing yet; a firing alert is re-sent every `resend_ms`.
    pub fn new(config: &Config, resend_ms: i64) -> AlertBook {
        AlertBook { rules: config.slos.iter().map(|s| vec![Rule::default(); s.alerts.len()]).collect(), resend_ms }
    }

    /// Folds in the latest evaluation and returns the alerts due now (Alertmanager v2 JSON).
    pub fn due(&mut self, config: &Config, statuses: &[SloStatus], now_ms: i64) -> Vec<Value> {
        let mut out = Vec::new();
        for ((slo, status), rules) in config.slos.iter().zip(statuses).zip(&mut self.rules) {
            for (i, (state, &fired)) in rules.iter_mut().zip(&status.fired).enumerate() {
                match (fired, state.since) {
                    (true, None) => {
                        *state = Rule { since: Some(now_ms), last_sent: None, resolved: None };
                    }
                    (false, Some(since)) => {
                        *state = Rule { since: None, last_sent: None, resolved: Some((since, now_ms)) };
                    }
                    _ => {}
                }
                if let Some(since) = state.since {
                    if state.last_sent.is_none_or(|t| now_ms - t >= self.resend_ms) {
                        out.push(alert(config, slo, i, status, since, now_ms + 3 * self.resend_ms));
                    }
                } else if let Some((since, ended)) = state.resolved {
                    out.push(alert(config, slo, i, status, since, ended));
                }
            }
        }
        out
    }

    /// This process just became the one that pushes alerts: every firing alert is due at once,
    /// whatever the previous pusher last sent (Alertmanager deduplicates the overlap).
    pub fn taken_over(&mut self) {
        for state in self.rules.iter_mut().flatten() {
            state.last_sent = None;
        }
    }

    /// Records that everything returned by the last [`AlertBook::due`] was delivered.
    pub fn delivered(&mut self, now_ms: i64) {
        for state in self.rules.iter_mut().flatten() {
            if state.since.is_some() && state.last_sent.is_none_or(|t| now_ms - t >= self.resend_ms) {
                state.last_sent = Some(now_ms);
            }
            state.resolved = None;
        }
    }
}

fn time(ms: i64) -> String {
    let mut s = String::with_capacity(24);
    format_rfc3339_ms(ms, &mut s);
    s
}

/// The labels of one SLO rule's alert besides `alertname`: the same for the pushed alert and
/// for the Prometheus rule of `slostream rules`, so Alertmanager sees one alert, not two.
pub fn rule_labels<'a>(slo: &'a SloConfig, rule: &'a AlertRule) -> Vec<(&'a str, &'a str)> {
    let mut labels = vec![
        (label::SLO, slo.name.as_str()),
        (label::SEVERITY, rule.severity.as_str()),
        (label::LONG_WINDOW, rule.long.label.as_str()),
        (label::SHORT_WINDOW, rule.short.label.as_str()),
    ];
    labels.extend(slo.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    labels
}

/// How many components `top_contributors` names.
const TOP_CONTRIBUTORS: usize = 3;

/// The components that burned most of the budget over the rule's long window, as the on-call
/// reads it: `geo-availability 71%, search-availability 29% (1h)`.
fn top_contributors(config: &Config, slo: &SloConfig, rule: &AlertRule, status: &SloStatus) -> String {
    let window = slo.windows.iter().position(|w| w.secs == rule.long.secs).expect("alert windows are SLO windows");
    let top: Vec<String> = status
        .ranked(window)
        .into_iter()
        .take(TOP_CONTRIBUTORS)
        .map(|(c, share)| format!("{} {:.0}%", config.slis[slo.components[c].sli].name, share * 100.0))
        .collect();
    format!("{} ({})", top.join(", "), rule.long)
}

/// The alert of rule `i` of `slo`.
fn alert(config: &Config, slo: &SloConfig, i: usize, status: &SloStatus, since: i64, ends: i64) -> Value {
    let rule = &slo.alerts[i];
    let mut labels = serde_json::Map::new();
    labels.insert(label::ALERTNAME.into(), ALERT_NAME.into());
    for (k, v) in rule_labels(slo, rule) {
        labels.insert(k.into(), v.into());
    }
    let (long, short) = (status.burn_rate(slo, rule.long.secs), status.burn_rate(slo, rule.short.secs));
    // The factor of the period the status is in (a calendar period's changes with its length).
    let factor = status.factors.get(i).copied().unwrap_or(rule.factor);
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        "summary".into(),
        format!("{} is burning its error budget {:.1}x too fast ({})", slo.name, long, rule.severity.as_str()).into(),
    );
    annotations.insert(
        "description".into(),
        format!(
            "Burn rate {long:.2} over {} and {short:.2} over {} (threshold {:.2}). Error budget remaining: {:.1}% of the {} budget. Objective: {}%.",
            rule.long,
            rule.short,
            factor,
            status.budget_remaining * 100.0,
            slo.period,
            slo.objective_percent
        )
        .into(),
    );
    annotations.insert("top_contributors".into(), top_contributors(config, slo, rule, status).into());
    if let Some(url) = &slo.runbook_url {
        annotations.insert("runbook_url".into(), url.clone().into());
    }
    if let Some(url) = &slo.dashboard_url {
        annotations.insert("dashboard_url".into(), url.clone().into());
    }
    json!({ "labels": labels, "annotations": annotations, "startsAt": time(since), "endsAt": time(ends) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::Counts;

    fn setup() -> (Config, Vec<SloStatus>) {
        let yaml = include_str!("../../config/example.yaml").replace(
            "combine: weighted",
            "combine: weighted\n    labels: { team: booking }\n    runbook_url: \"https://runbooks/book\"",
        );
        let config = Config::from_yaml(&yaml, "x.yaml").unwrap();
        let statuses = config.slos.iter().map(|s| crate::slo::evaluate(s, |_, _| Counts::default())).collect();
        (config, statuses)
    }

    #[test]
    fn fires_resends_and_resolves() {
        let (config, mut statuses) = setup();
        let mut book = AlertBook::new(&config, 60_000);
        let t0 = 1_795_694_400_000;
        assert!(book.due(&config, &statuses, t0).is_empty());

        statuses[0].fired[0] = true; // book-a-ride, page 1h/5m
        let sent = book.due(&config, &statuses, t0 + 1000);
        assert_eq!(sent.len(), 1);
        let a = &sent[0];
        assert_eq!(a["labels"]["alertname"], "SLOBurnRateHigh");
        assert_eq!(a["labels"]["slo"], "book-a-ride");
        assert_eq!(a["labels"]["severity"], "page");
        assert_eq!(a["labels"]["long_window"], "1h");
        assert_eq!(a["labels"]["short_window"], "5m");
        assert_eq!(a["labels"]["team"], "booking");
        assert_eq!(a["annotations"]["runbook_url"], "https://runbooks/book");
        assert_eq!(a["startsAt"], "2026-11-26T12:00:01.000Z");
        assert_eq!(a["endsAt"], "2026-11-26T12:03:01.000Z", "expires after three missed re-sends");

        // Not delivered: it goes again with the next batch.
        assert_eq!(book.due(&config, &statuses, t0 + 2000).len(), 1);
        book.delivered(t0 + 2000);
        assert!(book.due(&config, &statuses, t0 + 3000).is_empty(), "nothing new until the resend interval");
        assert_eq!(book.due(&config, &statuses, t0 + 62_000).len(), 1, "re-sent while firing");
        book.delivered(t0 + 62_000);

        statuses[0].fired[0] = false;
        let sent = book.due(&config, &statuses, t0 + 70_000);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["endsAt"], "2026-11-26T12:01:10.000Z");
        assert_eq!(sent[0]["startsAt"], "2026-11-26T12:00:01.000Z");
        book.delivered(t0 + 70_000);
        assert!(book.due(&config, &statuses, t0 + 80_000).is_empty());
    }

    /// A merge member that did not push kept the same book; when it takes over, every firing
    /// alert is due at once (not a resend interval later), and a resolution after the hand-over
    /// is still sent, because the book knew the alert fired.
    #[test]
    fn a_member_taking_over_sends_every_firing_alert_at_once() {
        let (config, mut statuses) = setup();
        let mut shadow = AlertBook::new(&config, 60_000);
        let t0 = 1_795_694_400_000;
        statuses[0].fired[0] = true;
        assert_eq!(shadow.due(&config, &statuses, t0).len(), 1);
        shadow.delivered(t0); // what a member that does not push does
        assert!(shadow.due(&config, &statuses, t0 + 10_000).is_empty());
        shadow.taken_over();
        let sent = shadow.due(&config, &statuses, t0 + 10_000);
        assert_eq!(sent.len(), 1, "firing alerts go at once after a take-over");
        assert_eq!(sent[0]["startsAt"], "2026-11-26T12:00:00.000Z", "since when it fires is kept");
        shadow.delivered(t0 + 10_000);
        statuses[0].fired[0] = false;
        let sent = shadow.due(&config, &statuses, t0 + 20_000);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["endsAt"], "2026-11-26T12:00:20.000Z", "the resolution is sent");
    }

    /// The alert names what burned the budget over its long window, largest share first.
    #[test]
    fn names_the_top_contributors_of_the_long_window() {
        let (config, _) = setup();
        let book = &config.slos[0];
        assert_eq!(book.name, "book-a-ride");
        let (booking, geo) =
            (config.sli_id("booking-availability").unwrap(), config.sli_id("geo-availability").unwrap());
        // Weighted 3:1: booking errs 1 %, geo 10 %: shares 0.03 and 0.1 of 0.13.
        let status = crate::slo::evaluate(book, |sli, _| match sli {
            s if s == booking => Counts { good: 990, total: 1000 },
            s if s == geo => Counts { good: 900, total: 1000 },
            _ => Counts::default(),
        });
        assert!(status.fired.iter().all(|f| *f), "every rule of book-a-ride fires");
        let mut statuses = vec![status, crate::slo::evaluate(&config.slos[1], |_, _| Counts::default())];
        let mut alerts = AlertBook::new(&config, 60_000);
        let sent = alerts.due(&config, &statuses, 1_795_694_400_000);
        let top: Vec<&str> = sent.iter().map(|a| a["annotations"]["top_contributors"].as_str().unwrap()).collect();
        assert_eq!(top[0], "geo-availability 77%, booking-availability 23% (1h)");
        assert_eq!(top[3], "geo-availability 77%, booking-availability 23% (3d)", "each rule names its long window");
        statuses[0].fired.fill(false);
        let sent = alerts.due(&config, &statuses, 1_795_694_401_000);
        assert_eq!(sent.len(), 4, "the resolutions carry it too");
        assert_eq!(sent[0]["annotations"]["top_contributors"], "geo-availability 77%, booking-availability 23% (1h)");
    }
}
