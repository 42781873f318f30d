//! Export then import gives back the same definitions, field by field (including the ones only
//! the crate can see: conditions, labels, URLs, budgeting, calendars), for every config the
//! project ships and for calendar periods and time slices.

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::{export, import, Source};
use crate::config::{Budgeting, Config, SliceBudget, Sparse};

const EXAMPLE: &str = include_str!("../../config/example.yaml");
const DOCKER: &str = include_str!("../../config/docker.yaml");

/// Every key the export must carry: alerts, labels (with `service`), URLs, a breakdown, an SLI
/// without `match`, another timestamp field, each combine method, one SLI and several.
const EVERYTHING: &str = include_str!("../../tests/fixtures/openslo/everything.yaml");

/// Every calendar unit in several zones, both time-slice methods with their settings away from
/// the defaults, on one SLI and several, rolling and calendar.
const CALENDAR: &str = include_str!("../../tests/fixtures/openslo/calendar-and-slices.yaml");

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
    for (name, config) in [("example", EXAMPLE), ("docker", DOCKER), ("everything", EVERYTHING), ("calendar", CALENDAR)]
    {
        let (_, back) = round_trip(config);
        assert_eq!(definitions(&back), definitions(&load(config)), "{name}");
        assert_eq!(back.events.timestamp_field, load(config).events.timestamp_field, "{name}");
    }
}

#[test]
fn a_changed_definition_does_not_round_trip_equal() {
    // The comparison itself must be able to fail: the fingerprint, the weight, the alerts, the
    // calendar, the slices and their annotations.
    for (config, from, to) in [
        (EVERYTHING, "lt: 400", "lt: 401"),
        (EVERYTHING, "compositeWeight: 4.0", "compositeWeight: 5.0"),
        (EVERYTHING, "\"budget_share\":2", "\"budget_share\":3"),
        (CALENDAR, "timeZone: Europe/Paris", "timeZone: Europe/Rome"),
        (CALENDAR, "duration: 1M", "duration: 1Q"),
        (CALENDAR, "timeSliceTarget: 0.955", "timeSliceTarget: 0.96"),
        (CALENDAR, "timeSliceWindow: 2m", "timeSliceWindow: 4m"),
        (CALENDAR, "slostream.io/min-events: '20'", "slostream.io/min-events: '21'"),
        (CALENDAR, "slostream.io/sparse: skip", "slostream.io/sparse: good"),
        (CALENDAR, "budgetingMethod: Timeslices", "budgetingMethod: Occurrences"),
    ] {
        let (docs, _) = round_trip(config);
        assert!(docs.contains(from), "{from} not in:\n{docs}");
        let mut changed = docs.replacen(from, to, 1);
        if to.ends_with("Occurrences") {
            changed = without_slice_fields(&changed, "monthly-slices");
        }
        let base = Source { file: "base.yaml".into(), text: config.into() };
        let back = import(&[Source { file: "d".into(), text: changed }], Some(&base)).unwrap();
        assert_ne!(definitions(&load(&back)), definitions(&load(config)), "{from}");
    }
}

/// `docs` with the time-slice fields and annotations of SLO `slo` taken out.
fn without_slice_fields(docs: &str, slo: &str) -> String {
    let mut out = Vec::new();
    for doc in docs.split("---\n").filter(|d| !d.is_empty()) {
        let keep = |line: &&str| {
            !doc.contains(&format!("name: {slo}\n"))
                || !["timeSliceTarget", "timeSliceWindow", "slostream.io/min-events", "slostream.io/sparse"]
                    .iter()
                    .any(|k| line.trim_start().starts_with(k))
        };
        out.push(doc.lines().filter(keep).collect::<Vec<_>>().join("\n") + "\n");
    }
    out.iter().map(|d| format!("---\n{d}")).collect()
}

/// The exported documents, parsed.
fn documents(docs: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(docs).map(|d| Value::deserialize(d).unwrap()).collect()
}

/// The SLO document named `name`.
fn slo<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter().find(|d| d["kind"] == "SLO" && d["metadata"]["name"] == name).unwrap()
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

#[test]
fn a_calendar_period_is_a_calendar_aligned_window_starting_such_a_period() {
    let docs = documents(&export(CALENDAR, "c.yaml").unwrap());
    for (name, window) in [
        ("weekly", "{duration: 1w, isRolling: false, calendar: {startTime: '2020-01-06 00:00:00', timeZone: Europe/Paris}}"),
        ("monthly-slices", "{duration: 1M, isRolling: false, calendar: {startTime: '2020-01-01 00:00:00', timeZone: America/New_York}}"),
        ("quarterly-ratio", "{duration: 1Q, isRolling: false, calendar: {startTime: '2020-01-01 00:00:00', timeZone: Asia/Kolkata}}"),
        ("rolling-hourly-slices", "{duration: 28d, isRolling: true}"),
    ] {
        assert_eq!(slo(&docs, name)["spec"]["timeWindow"], Value::Sequence(vec![yaml(window)]), "{name}");
    }
}

#[test]
fn time_slices_are_the_budgeting_method_objective_fields_and_annotations() {
    let docs = documents(&export(CALENDAR, "c.yaml").unwrap());
    // (SLO, budgetingMethod, each objective's slice fields, min-events, sparse)
    for (name, method, fields, min_events, sparse) in [
        ("weekly", "Occurrences", "{}", None, None),
        ("monthly-slices", "Timeslices", "{timeSliceTarget: 0.955, timeSliceWindow: 1m}", Some("20"), Some("skip")),
        ("quarterly-ratio", "RatioTimeslices", "{timeSliceWindow: 5m}", Some("0"), Some("skip")),
        ("weekly-utc-ratio", "RatioTimeslices", "{timeSliceWindow: 2m}", Some("1"), Some("good")),
        ("rolling-hourly-slices", "Timeslices", "{timeSliceTarget: 1.0, timeSliceWindow: 1h}", Some("3"), Some("good")),
    ] {
        let d = slo(&docs, name);
        assert_eq!(d["spec"]["budgetingMethod"], method, "{name}");
        let objectives = d["spec"]["objectives"].as_sequence().unwrap();
        for o in objectives {
            let got: serde_yaml_ng::Mapping = o
                .as_mapping()
                .unwrap()
                .iter()
                .filter(|(k, _)| k.as_str().is_some_and(|k| k.starts_with("timeSlice")))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(Value::from(got), yaml(fields), "{name}");
        }
        let annotations = &d["metadata"]["annotations"];
        assert_eq!(annotations["slostream.io/min-events"].as_str(), min_events, "{name}");
        assert_eq!(annotations["slostream.io/sparse"].as_str(), sparse, "{name}");
    }
}

#[test]
fn without_the_annotations_a_time_slice_slo_takes_slostream_defaults() {
    let docs = export(CALENDAR, "c.yaml").unwrap();
    let bare: String = docs
        .lines()
        .filter(|l| !l.contains("slostream.io/min-events") && !l.contains("slostream.io/sparse"))
        .map(|l| format!("{l}\n"))
        .collect();
    let back = load(&import(&[Source { file: "d".into(), text: bare }], None).unwrap());
    let monthly = back.slos.iter().find(|s| s.name == "monthly-slices").unwrap();
    let want = SliceBudget { slice_ms: 60_000, target: Some(0.955), min_events: 1, sparse: Sparse::Good };
    assert_eq!(monthly.budgeting, Budgeting::Slices(want));
}

#[test]
fn a_time_slice_window_in_minutes_as_a_number_imports_as_the_shorthand() {
    // The spec: "Default interpretation of unit if specified as a number in minutes."
    let (docs, _) = round_trip(CALENDAR);
    let numbered = docs.replacen("timeSliceWindow: 5m", "timeSliceWindow: 5", 2);
    assert_ne!(numbered, docs);
    let base = Source { file: "base.yaml".into(), text: CALENDAR.into() };
    let back = import(&[Source { file: "d".into(), text: numbered }], Some(&base)).unwrap();
    assert_eq!(definitions(&load(&back)), definitions(&load(CALENDAR)));
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
fn objectives_of_one_slo_must_agree_on_their_slices() {
    let (docs, _) = round_trip(CALENDAR);
    let base = Source { file: "base.yaml".into(), text: CALENDAR.into() };
    for (from, to, path, says) in [
        (
            "timeSliceWindow: 1h\n    compositeWeight: 1.0",
            "timeSliceWindow: 30m\n    compositeWeight: 1.0",
            "spec.objectives[1]",
            "differs from spec.objectives[0]'s",
        ),
        ("timeSliceWindow: 5m", "timeSliceWindow: 0", "spec.objectives[0].timeSliceWindow", "positive whole number"),
        ("timeSliceWindow: 5m", "timeSliceWindow: 2.5", "spec.objectives[0].timeSliceWindow", "positive whole number"),
    ] {
        assert!(docs.contains(from), "{from} not in:\n{docs}");
        let changed = docs.replacen(from, to, 1);
        let e = import(&[Source { file: "d".into(), text: changed }], Some(&base)).unwrap_err();
        assert_eq!(e.path, path, "{e}");
        assert!(e.message.contains(says), "{e}");
    }
}

#[test]
fn a_slice_openslo_cannot_write_is_refused_naming_the_slo_and_field() {
    for slice in ["30s", "90s"] {
        let config = CALENDAR.replacen("slice: 1m,", &format!("slice: {slice},"), 1);
        assert_ne!(config, CALENDAR);
        let e = export(&config, "c.yaml").unwrap_err();
        assert_eq!(
            (e.document.as_str(), e.path.as_str()),
            ("SLO monthly-slices", "spec.objectives[0].timeSliceWindow"),
            "{e}"
        );
        assert!(e.message.contains(slice) && e.message.contains("whole number of minutes"), "{e}");
    }
}
