//! Export then import gives back the same definitions, field by field (including the ones only
//! the crate can see: conditions, labels, URLs), for every config the project ships.

use super::{export, import, Source};
use crate::config::Config;

const EXAMPLE: &str = include_str!("../../config/example.yaml");
const DOCKER: &str = include_str!("../../config/docker.yaml");

/// Every key the export must carry: alerts, labels (with `service`), URLs, a breakdown, an SLI
/// without `match`, another timestamp field, each combine method, one SLI and several.
const EVERYTHING: &str = include_str!("../../tests/fixtures/openslo/everything.yaml");

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

/// Everything an SLI and SLO definition is made of, fields the crate alone sees included:
/// parsed conditions, fingerprints, breakdowns, alert rules, labels and URLs.
fn definitions(c: &Config) -> Vec<String> {
    let slis = c.slis.iter().map(|s| format!("{s:?}"));
    slis.chain(c.slos.iter().map(|s| format!("{s:?}"))).collect()
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

#[test]
fn a_calendar_period_is_refused_rather_than_exported_as_rolling() {
    let config = EXAMPLE.replacen("period: \"30d\"", "period: { calendar: month, time_zone: \"Europe/Paris\" }", 1);
    let e = export(&config, "c.yaml").unwrap_err();
    assert_eq!((e.document.as_str(), e.path.as_str()), ("SLO book-a-ride", "spec.timeWindow[0]"), "{e}");
    assert!(e.message.contains("not supported yet") && e.message.contains("Europe/Paris"), "{e}");
}
