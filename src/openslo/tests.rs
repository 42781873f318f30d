//! Export then import gives back the same definitions, field by field (including the ones only
//! the crate can see: conditions, labels, URLs), for every config the project ships.

use super::{export, import, Source};
use crate::config::Config;

const EXAMPLE: &str = include_str!("../../config/example.yaml");
const DOCKER: &str = include_str!("../../config/docker.yaml");

/// Every key the export must carry: alerts, labels (with `service`), URLs, a breakdown, an SLI
/// without `match`, another timestamp field, each combine method, one SLI and several.
pub(crate) const EVERYTHING: &str = r#"
kafka: { brokers: "127.0.0.1:9092", topics: [requests], group_id: "Checkout Team" }
events: { timestamp_field: "ts" }
slis:
  any-ok:
    good: { status: { lt: 500 } }
  pay-ok:
    description: "payments succeed"
    match: { service: payments, method: [POST, PUT] }
    good: { any: [ { status: { lt: 400 } }, { status: 404 } ] }
    breakdown: [region, plan]
    max_values: 20
    breakdown_windows: [1h, 7d]
  pay-fast:
    match: { service: payments }
    good: { latency_ms: { le: 250.5 } }
slos:
  pay:
    description: "A member can pay"
    objective: 99.95
    period: 7d
    combine: product
    slis: [pay-ok, pay-fast]
    alerts:
      - { severity: page, long: 1h, short: 5m, budget_share: 2 }
      - { severity: ticket, long: 1d, short: 2h, factor: 1.5 }
    labels: { service: payments, team: checkout }
    runbook_url: "https://runbooks.example/pay"
    dashboard_url: "https://grafana.example/d/pay"
  worst:
    objective: 99
    period: 90m
    combine: min
    slis: [any-ok, pay-fast]
  mixed:
    objective: 99.9
    period: 4w
    combine: weighted
    slis: [ { sli: pay-ok, weight: 0.25 }, { sli: any-ok, weight: 4 } ]
  one:
    objective: 99.999
    period: 30d
    combine: pooled
    slis: [pay-ok]
  pooled-two:
    objective: 95
    period: 1d
    slis: [pay-ok, any-ok]
"#;

fn load(text: &str) -> Config {
    Config::from_yaml_with_env(text, "t.yaml", |_| Some("x".into())).unwrap()
}

/// Export `config`, import the documents onto `config` as base, and load the result.
fn round_trip(config: &str) -> (String, Config) {
    let docs = export(config, "t.yaml").unwrap();
    let base = Source { file: "base.yaml".into(), text: config.into() };
    let imported = import(&[Source { file: "docs.yaml".into(), text: docs.clone() }], Some(&base)).unwrap();
    (docs, load(&imported))
}

/// Everything an SLI and SLO definition is made of, as comparable text.
pub(crate) fn definitions(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for s in &c.slis {
        out.push(format!(
            "sli {} {:?} fp={:x} match={:?} good={:?} breakdown={:?}",
            s.name, s.description, s.fingerprint, s.matches, s.good, s.breakdown
        ));
    }
    for s in &c.slos {
        let components: Vec<(usize, f64)> = s.components.iter().map(|p| (p.sli, p.weight)).collect();
        let alerts: Vec<String> =
            s.alerts.iter().map(|a| format!("{} {} {} {}", a.severity.as_str(), a.long, a.short, a.factor)).collect();
        out.push(format!(
            "slo {} {:?} {} {} {} {} {:?} {:?} {:?} {:?} {:?}",
            s.name,
            s.description,
            s.objective,
            s.objective_percent,
            s.period.label,
            s.combine.as_str(),
            components,
            alerts,
            s.labels,
            s.runbook_url,
            s.dashboard_url
        ));
    }
    out
}

#[test]
fn every_shipped_config_round_trips_to_the_same_definitions() {
    for (name, config) in [("example", EXAMPLE), ("docker", DOCKER), ("everything", EVERYTHING)] {
        let (_, back) = round_trip(config);
        assert_eq!(definitions(&back), definitions(&load(config)), "{name}");
        assert_eq!(back.events.timestamp_field, load(config).events.timestamp_field, "{name}");
    }
}

#[test]
fn a_changed_definition_does_not_round_trip_equal() {
    // The comparison itself must be able to fail: the fingerprint, the weight, the alerts.
    let (docs, _) = round_trip(EVERYTHING);
    for (from, to) in [
        ("lt: 400", "lt: 401"),
        ("compositeWeight: 4.0", "compositeWeight: 5.0"),
        ("\"budget_share\":2", "\"budget_share\":3"),
    ] {
        assert!(docs.contains(from), "{from} not in:\n{docs}");
        let changed = docs.replacen(from, to, 1);
        let base = Source { file: "base.yaml".into(), text: EVERYTHING.into() };
        let back = import(&[Source { file: "d".into(), text: changed }], Some(&base)).unwrap();
        assert_ne!(definitions(&load(&back)), definitions(&load(EVERYTHING)), "{from}");
    }
}

#[test]
fn without_a_base_the_brokers_are_a_variable_check_names() {
    let docs = export(EXAMPLE, "example.yaml").unwrap();
    let out = import(&[Source { file: "d".into(), text: docs }], None).unwrap();
    assert!(out.contains("brokers: ${KAFKA_BROKERS}"), "{out}");
    let unset = Config::from_yaml_with_env(&out, "i.yaml", |_| None).unwrap_err();
    assert!(unset.to_string().contains("KAFKA_BROKERS"), "{unset}");
    let set = Config::from_yaml_with_env(&out, "i.yaml", |_| Some("127.0.0.1:9092".into())).unwrap();
    assert_eq!(definitions(&set), definitions(&load(EXAMPLE)));
}

#[test]
fn a_non_default_timestamp_field_is_written_without_a_base() {
    let docs = export(EVERYTHING, "t.yaml").unwrap();
    let out = import(&[Source { file: "d".into(), text: docs }], None).unwrap();
    let c = load(&out);
    assert_eq!(c.events.timestamp_field, "ts");
    assert_eq!(definitions(&c), definitions(&load(EVERYTHING)));
    assert_eq!(c.kafka.group_id, "slostream", "several services: the default group");
}
