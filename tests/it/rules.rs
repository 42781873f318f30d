//! `slostream rules` checked by the real promtool: the file is valid, and unit tests feed
//! series and expect each alert to fire, and not to fire, exactly when it should.

use std::path::Path;
use std::process::Command;

use serde_yaml_ng::Value;
use slostream::names::{self, label};

use crate::harness::series_key;

fn dir() -> std::path::PathBuf {
    crate::harness::scratch_dir("rules")
}

/// What `slostream rules --config CONFIG EXTRA...` prints.
pub fn generate(config: &str, extra: &[&str]) -> String {
    let out =
        Command::new(env!("CARGO_BIN_EXE_slostream")).args(["rules", "--config", config]).args(extra).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn parse(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

/// The example's rule file, as printed, in `rules.yml` in `dir` for promtool.
fn rules(dir: &Path) -> Value {
    let text = generate("config/example.yaml", &[]);
    std::fs::write(dir.join("rules.yml"), &text).unwrap();
    parse(&text)
}

/// How many rules `groups` holds.
fn count(groups: &Value) -> usize {
    groups.as_sequence().unwrap().iter().map(|g| g["rules"].as_sequence().unwrap().len()).sum()
}

/// promtool's `check rules` accepts a rule file of `groups` and finds every rule in it.
pub fn promtool_accepts(groups: &Value) {
    let d = dir();
    let file = map(vec![("groups", groups.clone())]);
    std::fs::write(d.join("groups.yml"), serde_yaml_ng::to_string(&file).unwrap()).unwrap();
    let (ok, out) = promtool(&["check", "rules", "groups.yml"], &d);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("SUCCESS: {} rules found", count(groups))), "{out}");
}

fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool must be installed (tests/run.sh installs Debian's prometheus package)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The annotations of the generated rule with these labels, for promtool's exact comparison.
fn annotations(rules: &Value, alert: &str, labels: &[(&str, &str)]) -> Value {
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            if rule["alert"].as_str() == Some(alert)
                && labels.iter().all(|(k, v)| rule["labels"][*k].as_str() == Some(*v))
            {
                return rule["annotations"].clone();
            }
        }
    }
    panic!("no {alert} rule with {labels:?}");
}

#[test]
fn generated_rules_pass_promtool_check() {
    let d = dir();
    let r = rules(&d);
    // Four burn alerts for each of the example's two SLOs, three health alerts.
    assert_eq!(count(&r["groups"]), 4 * 2 + 3);
    let (ok, out) = promtool(&["check", "rules", "rules.yml"], &d);
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS: 11 rules found"), "{out}");
}

/// `--format prometheus-operator`: a `PrometheusRule` whose spec is the rule file's groups,
/// which promtool accepts as they are (the Operator hands them to Prometheus unchanged).
#[test]
fn prometheus_rule_object_holds_the_rule_files_groups() {
    let file = parse(&generate("config/example.yaml", &["--job", "kube-slostream"]));
    let text = generate("config/example.yaml", &["--job", "kube-slostream", "--format", "prometheus-operator"]);
    let object = parse(&text);
    assert_eq!(object["apiVersion"].as_str(), Some("monitoring.coreos.com/v1"));
    assert_eq!(object["kind"].as_str(), Some("PrometheusRule"));
    assert_eq!(object["spec"]["groups"], file["groups"]);
    assert!(text.contains(r#"up{job=\"kube-slostream\"}"#), "the --job reaches the health alerts");
    promtool_accepts(&object["spec"]["groups"]);
    assert_eq!(generate("config/example.yaml", &["--format", "prometheus"]), generate("config/example.yaml", &[]));
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Mapping(pairs.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
}

/// One expected alert: exactly its labels, plus `job` for the health alerts (a burn alert has
/// the pushed alert's labels only, so one Alertmanager sees one alert), and the annotations the
/// generated rule carries.
fn expect(rules: &Value, alert: &str, pairs: &[(&str, &str)]) -> Value {
    let mut all: Vec<(&str, Value)> = pairs.iter().map(|(k, v)| (*k, Value::from(*v))).collect();
    if alert != names::ALERT_NAME {
        all.push(("job", Value::from("slostream")));
    }
    map(vec![("exp_labels", map(all)), ("exp_annotations", annotations(rules, alert, pairs))])
}

/// A series as Prometheus scrapes it from slostream (`job="slostream"`), for promtool's input.
fn scraped(name: &str, labels: &[(&str, &str)]) -> String {
    let mut all = vec![("job", "slostream")];
    all.extend_from_slice(labels);
    series_key(name, &all)
}

/// `promtool test rules` of `rules.yml` in `d`: `series` (name, values) scraped each minute,
/// `checks` the expected alerts at their times.
fn promtool_test(d: &Path, series: &[(String, &str)], checks: Vec<Value>) {
    let input: Vec<Value> =
        series.iter().map(|(s, v)| map(vec![("series", s.as_str().into()), ("values", (*v).into())])).collect();
    let test = map(vec![
        ("rule_files", Value::Sequence(vec!["rules.yml".into()])),
        ("evaluation_interval", "1m".into()),
        (
            "tests",
            Value::Sequence(vec![map(vec![
                ("interval", "1m".into()),
                ("input_series", Value::Sequence(input)),
                ("alert_rule_test", Value::Sequence(checks)),
            ])]),
        ),
    ]);
    let text = serde_yaml_ng::to_string(&test).unwrap();
    std::fs::write(d.join("rules_test.yml"), &text).unwrap();
    let (ok, out) = promtool(&["test", "rules", "rules_test.yml"], d);
    assert!(ok, "promtool test rules failed:\n{out}\n--- test file ---\n{text}");
}

fn check(at: &str, alert: &str, alerts: Vec<Value>) -> Value {
    map(vec![("eval_time", at.into()), ("alertname", alert.into()), ("exp_alerts", Value::Sequence(alerts))])
}

#[test]
fn each_alert_fires_and_stays_quiet_exactly_when_it_should() {
    let d = dir();
    let r = rules(&d);
    let mut series: Vec<(String, &str)> = Vec::new();
    let burn = |slo: &str, w: &str| scraped(names::SLO_BURN_RATE.name, &[(label::SLO, slo), (label::WINDOW, w)]);
    // book-a-ride (30d): 1h burns at 20 (> 14.4) throughout, 5m only from minute 10: page from then.
    for (w, v) in [
        ("5m", "1x9 20x20"),
        ("30m", "1x30"),
        ("1h", "20x30"),
        ("2h", "1x30"),
        ("6h", "1x30"),
        ("1d", "1x30"),
        ("3d", "1x30"),
        ("30d", "1x30"),
    ] {
        series.push((burn("book-a-ride", w), v));
    }
    // search-a-ride (28d): 3d and 6h at 0.95 (> 0.9333) → ticket; 1d and 2h at 2 (< 2.8) → not that one.
    for (w, v) in [
        ("5m", "0x30"),
        ("30m", "0x30"),
        ("1h", "0x30"),
        ("2h", "2x30"),
        ("6h", "0.95x30"),
        ("1d", "2x30"),
        ("3d", "0.95x30"),
        ("28d", "0.5x30"),
    ] {
        series.push((burn("search-a-ride", w), v));
    }
    series.push((scraped("up", &[]), "1x4 0x25"));
    series.push((scraped(names::STATE_READY.name, &[]), "1x30"));
    // 1000 events a minute; 5 rejected a minute (0.5%) for 10 minutes, then 50 (5%).
    series.push((scraped(names::EVENTS_CONSUMED.name, &[]), "0+1000x60"));
    series.push((scraped(names::EVENTS_REJECTED.name, &[(label::REASON, "invalid_json")]), "0+5x10 50+50x50"));
    // status holds values of the wrong type from minute 10 on; route never does.
    let mismatches = |field| scraped(names::FIELD_TYPE_MISMATCHES.name, &[(label::FIELD, field)]);
    series.push((mismatches("status"), "0x10 0+3x50"));
    series.push((mismatches("route"), "0x60"));

    let page = [("slo", "book-a-ride"), ("severity", "page"), ("long_window", "1h"), ("short_window", "5m")];
    let ticket = [("slo", "search-a-ride"), ("severity", "ticket"), ("long_window", "3d"), ("short_window", "6h")];
    let burn_alert = "SLOBurnRateHigh";
    // One alert per field, which its summary names (a template promtool renders).
    let mismatch = "SLOStreamFieldTypeMismatch";
    let mut mismatch_alert = expect(&r, mismatch, &[("severity", "ticket")]);
    mismatch_alert["exp_labels"]["field"] = "status".into();
    let summary =
        mismatch_alert["exp_annotations"]["summary"].as_str().unwrap().replace("{{ $labels.field }}", "status");
    assert!(summary.contains("field status"), "{summary}");
    mismatch_alert["exp_annotations"]["summary"] = summary.into();
    let checks = vec![
        check("5m", burn_alert, vec![expect(&r, burn_alert, &ticket)]),
        check("12m", burn_alert, vec![expect(&r, burn_alert, &page), expect(&r, burn_alert, &ticket)]),
        check("3m", "SLOStreamDown", vec![]),
        check("12m", "SLOStreamDown", vec![expect(&r, "SLOStreamDown", &[("severity", "page")])]),
        check("20m", "SLOStreamEventsRejected", vec![]),
        check("40m", "SLOStreamEventsRejected", vec![expect(&r, "SLOStreamEventsRejected", &[("severity", "ticket")])]),
        check("20m", mismatch, vec![]),
        check("40m", mismatch, vec![mismatch_alert]),
    ];
    promtool_test(&d, &series, checks);
}

/// A calendar SLO's factor follows the month's length, so its burn rule compares with the
/// exported threshold series, not a constant: with both windows burning at 14 throughout, the
/// page fires while the threshold is February's (13.44) and stops once it is a 31-day month's
/// (14.88).
#[test]
fn calendar_rules_follow_the_exported_threshold() {
    let d = dir();
    let example = std::fs::read_to_string("config/example.yaml").unwrap();
    let calendar = example.replace("period: \"30d\"", "period: {calendar: month, time_zone: \"Europe/Paris\"}");
    assert_ne!(calendar, example, "book-a-ride's period is replaced");
    let config = d.join("calendar.yaml");
    std::fs::write(&config, calendar).unwrap();
    let text = generate(config.to_str().unwrap(), &[]);
    std::fs::write(d.join("rules.yml"), &text).unwrap();
    let r = parse(&text);
    let book = r["groups"].as_sequence().unwrap().iter().find(|g| g["name"] == "slostream-slo-book-a-ride").unwrap();
    for rule in book["rules"].as_sequence().unwrap() {
        let expr = rule["expr"].as_str().unwrap();
        assert!(expr.contains(names::SLO_ALERT_THRESHOLD.name), "{expr}");
        assert!(!expr.contains("14.4"), "{expr}");
    }
    promtool_accepts(&r["groups"]);

    let burn = |w: &str| scraped(names::SLO_BURN_RATE.name, &[(label::SLO, "book-a-ride"), (label::WINDOW, w)]);
    let page = [("slo", "book-a-ride"), ("severity", "page"), ("long_window", "1h"), ("short_window", "5m")];
    let threshold = scraped(names::SLO_ALERT_THRESHOLD.name, &page);
    let series: Vec<(String, &str)> =
        vec![(burn("1h"), "14x30"), (burn("5m"), "14x30"), (threshold, "13.44x10 14.88x20")];
    let alert = names::ALERT_NAME;
    let checks = vec![
        check("5m", alert, vec![expect(&r, alert, &page)]),
        check("15m", alert, vec![]),
        check("25m", alert, vec![]),
    ];
    promtool_test(&d, &series, checks);
}
