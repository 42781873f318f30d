//! `slostream openslo export` and `import` through the real binary: every config the project
//! ships and tests with exports, imports and loads back to the same definitions (equal SLI
//! fingerprints, equal SLOs, equal generated rules); the exported documents have what the
//! OpenSLO v1 specification requires, checked here against its text rather than slostream's
//! code; documents written from the specification with calendar-aligned windows and time slices
//! import to the periods and budgeting they describe; and each rule of the reference SDK (or of
//! what slostream can count) broken in a hand-written fixture exits 2 naming the document and the
//! field.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml_ng::Value;
use slostream::config::Config;
use slostream::rules::{self, Format};

use crate::harness::truth::EXAMPLE_SLIS_AND_SLOS;

const EXAMPLE: &str = include_str!("../../config/example.yaml");
const DOCKER: &str = include_str!("../../config/docker.yaml");
const EVERYTHING: &str = include_str!("../fixtures/openslo/everything.yaml");
/// Valid documents written from the specification.
const CHECKOUT: &str = include_str!("../fixtures/openslo/checkout.yaml");
/// Every calendar unit, several zones, both time-slice methods with non-default settings.
const CALENDAR: &str = include_str!("../fixtures/openslo/calendar-and-slices.yaml");
/// Valid documents written from the specification: calendar windows and time slices.
const CALENDAR_SLICES: &str = include_str!("../fixtures/openslo/calendar-slices.yaml");

/// The configs the project ships and its tests run with.
fn configs() -> Vec<(&'static str, String)> {
    let tests =
        format!("kafka: {{ brokers: \"127.0.0.1:9092\", topics: [requests], group_id: it }}\n{EXAMPLE_SLIS_AND_SLOS}");
    vec![
        ("config/example.yaml", EXAMPLE.to_string()),
        ("config/docker.yaml", DOCKER.to_string()),
        ("harness EXAMPLE_SLIS_AND_SLOS", tests),
        ("fixtures/openslo/everything.yaml", EVERYTHING.to_string()),
        ("fixtures/openslo/calendar-and-slices.yaml", CALENDAR.to_string()),
    ]
}

struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("slostream-openslo-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary: (exit code, stdout, stderr).
fn slostream(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slostream"));
    cmd.args(args).env_remove("KAFKA_BROKERS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What an SLO and its SLIs are, by name (ids may differ), from public fields; the rules file
/// adds labels, runbook and dashboard URLs and the alert thresholds as Prometheus sees them.
fn definitions(c: &Config) -> (Vec<String>, String) {
    let mut out = Vec::new();
    for s in &c.slis {
        out.push(format!("sli {} fingerprint {:x} {:?}", s.name, s.fingerprint, s.description));
    }
    for s in &c.slos {
        let components: Vec<(&str, f64)> =
            s.components.iter().map(|p| (c.slis[p.sli].name.as_str(), p.weight)).collect();
        let alerts: Vec<String> =
            s.alerts.iter().map(|a| format!("{} {} {} {}", a.severity.as_str(), a.long, a.short, a.factor)).collect();
        let calendar = s.calendar.as_ref().map(|c| (c.unit, c.zone.as_str()));
        out.push(format!(
            "slo {} {} {} {} {}s {:?} {:?} {} {:?} {:?}",
            s.name,
            s.objective,
            s.objective_percent,
            s.period.label,
            s.period.secs,
            calendar,
            s.budgeting,
            s.combine.as_str(),
            components,
            alerts
        ));
    }
    (out, rules::render(c, "slostream", Format::Prometheus))
}

/// `config` written to `dir` and exported by the binary: (the config's path, the documents).
fn exported(dir: &Dir, name: &str, config: &str) -> (PathBuf, String) {
    let file = dir.write("slostream.yaml", config);
    let (code, docs, err) = slostream(&["openslo", "export", "--config", arg(&file)], &[]);
    assert_eq!(code, 0, "{name}: {err}");
    (file, docs)
}

#[test]
fn openslo_export_then_import_gives_the_same_definitions() {
    for (name, config) in configs() {
        let dir = Dir::new();
        let (original, docs) = exported(&dir, name, &config);
        let docs_file = dir.write("openslo.yaml", &docs);

        let (code, imported, err) = slostream(&["openslo", "import", arg(&docs_file), "--base", arg(&original)], &[]);
        assert_eq!(code, 0, "{name}: {err}");
        let imported_file = dir.write("imported.yaml", &imported);
        let (code, _, err) = slostream(&["check", "--config", arg(&imported_file)], &[]);
        assert_eq!(code, 0, "{name}: check refused the import: {err}\n{imported}");
        let before = Config::from_yaml(&config, "before").unwrap();
        let after = Config::from_yaml(&imported, "after").unwrap();
        assert_eq!(definitions(&after), definitions(&before), "{name}");

        // Without a base: the brokers are left to a variable that check names.
        let (code, bare, err) = slostream(&["openslo", "import", arg(&docs_file)], &[]);
        assert_eq!(code, 0, "{name}: {err}");
        let bare_file = dir.write("bare.yaml", &bare);
        let (code, _, err) = slostream(&["check", "--config", arg(&bare_file)], &[]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains("kafka.brokers") && err.contains("KAFKA_BROKERS"), "{name}: {err}");
        let (code, _, err) = slostream(&["check", "--config", arg(&bare_file)], &[("KAFKA_BROKERS", "127.0.0.1:9092")]);
        assert_eq!(code, 0, "{name}: {err}");
    }
}

/// The spec's `metadata.name` rule (RFC 1123 label).
fn is_dns_label(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&s.len()) && s.starts_with(alnum) && s.ends_with(alnum) && s.chars().all(|c| alnum(c) || c == '-')
}

/// The spec's `metadata.labels` key rule, which is also an annotation key's name segment.
fn is_key_name(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// A duration shorthand: a positive integer and one of m, h, d, w, M, Q, Y.
fn is_shorthand(s: &str) -> bool {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    n.parse::<u64>().is_ok_and(|n| n > 0) && ["m", "h", "d", "w", "M", "Q", "Y"].contains(&unit)
}

/// A calendar's `startTime`: `YYYY-MM-DD HH:MM:SS`, the layout the reference SDK checks it with.
fn is_date_time(s: &str) -> bool {
    s.len() == 19
        && s.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            _ => c.is_ascii_digit(),
        })
}

/// The OpenSLO v1 rules a document breaks, read from the specification's README (and, for time
/// slices and calendars, the reference SDK's rules).
fn spec_violations(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let names = |kind: &str| -> Vec<String> {
        docs.iter()
            .filter(|d| d["kind"] == kind)
            .filter_map(|d| d["metadata"]["name"].as_str().map(String::from))
            .collect()
    };
    let (services, slis) = (names("Service"), names("SLI"));
    for d in docs {
        let name = d["metadata"]["name"].as_str().unwrap_or("?").to_string();
        let mut bad = |rule: &str| out.push(format!("{} {name}: {rule}", d["kind"].as_str().unwrap_or("?")));
        if d["apiVersion"] != "openslo/v1" {
            bad("apiVersion is openslo/v1");
        }
        if !["Service", "SLI", "SLO"].contains(&d["kind"].as_str().unwrap_or("")) {
            bad("kind is Service, SLI or SLO");
        }
        if !is_dns_label(&name) {
            bad("metadata.name is an RFC 1123 label");
        }
        if let Some(labels) = d["metadata"]["labels"].as_mapping() {
            for (k, v) in labels {
                if !k.as_str().is_some_and(is_key_name) || !(v.is_string() || v.is_sequence()) {
                    bad("label keys follow the key rule, values are strings or lists of strings");
                }
            }
        }
        if let Some(annotations) = d["metadata"]["annotations"].as_mapping() {
            for (k, v) in annotations {
                let key = k.as_str().unwrap_or("");
                let (prefix, key_name) = key.rsplit_once('/').unwrap_or(("", key));
                let prefix_ok = prefix.is_empty() || (prefix.len() <= 253 && prefix.split('.').all(is_dns_label));
                if !is_key_name(key_name) || !prefix_ok || prefix == "openslo.com" || !v.is_string() {
                    bad("annotation keys are [dns-subdomain/]name (openslo.com/ reserved), values strings");
                }
            }
        }
        let spec = &d["spec"];
        if spec["description"].as_str().is_some_and(|s| s.chars().count() > 1050) {
            bad("description has at most 1050 characters");
        }
        match d["kind"].as_str() {
            Some("SLI") => {
                let ratio = &spec["ratioMetric"];
                if ratio.is_null() == spec["thresholdMetric"].is_null() {
                    bad("exactly one of ratioMetric or thresholdMetric");
                }
                if ratio["good"].is_null() == ratio["bad"].is_null() || ratio["total"].is_null() {
                    bad("ratioMetric has good or bad, and total");
                }
                for part in ["good", "total"] {
                    let source = &ratio[part]["metricSource"];
                    if source["spec"].is_null() || (source["type"].is_null() && source["metricSourceRef"].is_null()) {
                        bad("a metricSource has a spec and a type (or a metricSourceRef)");
                    }
                }
            }
            Some("SLO") => {
                if !spec["service"].as_str().is_some_and(|s| services.iter().any(|x| x == s)) {
                    bad("spec.service names a Service");
                }
                if !["Occurrences", "Timeslices", "RatioTimeslices"]
                    .contains(&spec["budgetingMethod"].as_str().unwrap_or(""))
                {
                    bad("budgetingMethod is Occurrences, Timeslices or RatioTimeslices");
                }
                let windows = spec["timeWindow"].as_sequence().cloned().unwrap_or_default();
                if windows.len() != 1 {
                    bad("exactly one timeWindow");
                }
                for w in &windows {
                    if !w["duration"].as_str().is_some_and(is_shorthand) {
                        bad("timeWindow duration is a duration shorthand");
                    }
                    let rolling = w["isRolling"].as_bool().unwrap_or(false);
                    if rolling != w["calendar"].is_null() {
                        bad("calendar is set exactly when isRolling is false");
                    }
                    let calendar = &w["calendar"];
                    if !calendar.is_null()
                        && (!calendar["startTime"].as_str().is_some_and(is_date_time)
                            || calendar["timeZone"].as_str().is_none_or(str::is_empty))
                    {
                        bad("calendar has a startTime YYYY-MM-DD HH:MM:SS and a timeZone");
                    }
                }
                let objectives = spec["objectives"].as_sequence().cloned().unwrap_or_default();
                if objectives.is_empty() {
                    bad("at least one objective");
                }
                let on_spec = !spec["indicatorRef"].is_null() || !spec["indicator"].is_null();
                for o in &objectives {
                    let composite = !o["indicatorRef"].is_null() || !o["indicator"].is_null();
                    if composite == on_spec {
                        bad("indicatorRef on the spec or on every objective, not both");
                    }
                    if !o["op"].is_null() || !o["value"].is_null() {
                        bad("no op or value on a ratio objective");
                    }
                    if !o["targetPercent"].is_null() || !o["target"].as_f64().is_some_and(|t| (0.0..1.0).contains(&t)) {
                        bad("target in [0, 1), no targetPercent beside it");
                    }
                    let method = spec["budgetingMethod"].as_str().unwrap_or("");
                    if method == "Timeslices" && !o["timeSliceTarget"].as_f64().is_some_and(|t| t > 0.0 && t <= 1.0) {
                        bad("timeSliceTarget in (0, 1] on every objective of a Timeslices SLO");
                    }
                    if (method == "Timeslices" || method == "RatioTimeslices")
                        && !o["timeSliceWindow"].as_str().is_some_and(is_shorthand)
                    {
                        bad("timeSliceWindow, a duration shorthand, on every objective of a time-slice SLO");
                    }
                    let weight = &o["compositeWeight"];
                    if !(weight.is_null() || composite && weight.as_f64().is_some_and(|w| w > 0.0)) {
                        bad("compositeWeight > 0, on composite objectives");
                    }
                }
                let refs = std::iter::once(&spec["indicatorRef"]).chain(objectives.iter().map(|o| &o["indicatorRef"]));
                for r in refs.filter_map(Value::as_str) {
                    if !slis.iter().any(|s| s == r) {
                        bad("every indicatorRef names an SLI");
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn stream(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn openslo_exported_documents_have_what_the_spec_requires() {
    for (name, config) in configs() {
        let docs = stream(&exported(&Dir::new(), name, &config).1);
        let c = Config::from_yaml(&config, name).unwrap();
        assert_eq!(docs.iter().filter(|d| d["kind"] == "SLI").count(), c.slis.len(), "{name}");
        assert_eq!(docs.iter().filter(|d| d["kind"] == "SLO").count(), c.slos.len(), "{name}");
        assert_eq!(spec_violations(&docs), Vec::<String>::new(), "{name}");
    }
    // The checker catches what it checks: the hand-written fixture passes, a broken copy does not.
    assert_eq!(
        spec_violations(&stream(CHECKOUT)).len(),
        1,
        "targetPercent is valid OpenSLO but not what export writes"
    );
    let broken = CHECKOUT.replace("service: checkout\n  budgetingMethod", "service: nowhere\n  budgetingMethod");
    assert!(spec_violations(&stream(&broken)).iter().any(|v| v.contains("spec.service")));
    assert_eq!(spec_violations(&stream(CALENDAR_SLICES)), Vec::<String>::new());
    for (from, to, rule) in [
        ("      timeSliceTarget: 0.95\n", "", "timeSliceTarget"),
        ("      timeSliceWindow: 5m\n", "", "timeSliceWindow"),
        ("startTime: 2024-01-01 00:00:00", "startTime: 2024-01-01", "startTime"),
    ] {
        let broken = CALENDAR_SLICES.replacen(from, to, 1);
        assert_ne!(broken, CALENDAR_SLICES, "{from}");
        assert!(spec_violations(&stream(&broken)).iter().any(|v| v.contains(rule)), "{rule}");
    }
}

/// The config the binary imports [`CHECKOUT`] to; the fixture must be valid.
fn imported_fixture(dir: &Dir) -> String {
    let file = dir.write("checkout.yaml", CHECKOUT);
    let (code, out, err) = slostream(&["openslo", "import", arg(&file)], &[]);
    assert_eq!(code, 0, "the fixture is valid OpenSLO: {err}");
    out
}

#[test]
fn openslo_fixture_written_from_the_spec_imports() {
    let c = Config::from_yaml_with_brokers(&imported_fixture(&Dir::new()));
    let book = c.slos.iter().find(|s| s.name == "book").unwrap();
    let weights: Vec<(&str, f64)> = book.components.iter().map(|p| (c.slis[p.sli].name.as_str(), p.weight)).collect();
    assert_eq!(weights, [("pay-ok", 3.0), ("book-ok", 1.0)]);
    assert_eq!((book.objective_percent, book.period.label.as_str(), book.combine.as_str()), (99.5, "30d", "weighted"));
    let pay = c.slos.iter().find(|s| s.name == "pay").unwrap();
    assert_eq!((pay.objective_percent, pay.period.secs, pay.combine.as_str()), (99.9, 28 * 86_400, "pooled"));
    assert_eq!(c.kafka.group_id, "checkout");
}

#[test]
fn openslo_calendar_windows_and_time_slices_written_from_the_spec_import() {
    use slostream::config::{Budgeting, CalendarUnit, SliceBudget, Sparse};
    let dir = Dir::new();
    let file = dir.write("calendar-slices.yaml", CALENDAR_SLICES);
    let (code, out, err) = slostream(&["openslo", "import", arg(&file)], &[]);
    assert_eq!(code, 0, "the fixture is valid OpenSLO: {err}");
    let c = Config::from_yaml_with_brokers(&out);
    let got: Vec<_> = c
        .slos
        .iter()
        .map(|s| {
            let calendar = s.calendar.as_ref().map(|c| (c.unit, c.zone.as_str()));
            (s.name.as_str(), s.objective_percent, calendar, s.budgeting)
        })
        .collect();
    // No slostream.io annotations: min_events 1 and sparse good, slostream's defaults.
    let slices =
        |slice_ms, target| Budgeting::Slices(SliceBudget { slice_ms, target, min_events: 1, sparse: Sparse::Good });
    assert_eq!(
        got,
        [
            ("monthly-ratio", 99.5, Some((CalendarUnit::Month, "America/Chicago")), slices(300_000, None)),
            ("quarterly", 99.9, Some((CalendarUnit::Quarter, "Asia/Tokyo")), Budgeting::Occurrences),
            ("weekly-slices", 99.0, Some((CalendarUnit::Week, "Europe/Berlin")), slices(60_000, Some(0.95))),
        ]
    );
}

trait WithBrokers {
    fn from_yaml_with_brokers(text: &str) -> Config;
}

impl WithBrokers for Config {
    /// The import's placeholder brokers, set.
    fn from_yaml_with_brokers(text: &str) -> Config {
        Config::from_yaml(&text.replace("${KAFKA_BROKERS}", "127.0.0.1:9092"), "imported").unwrap()
    }
}

/// Each case: a replacement in [`CHECKOUT`], the document and field the error must name, and
/// a word of the reason.
const INVALID: &[(&str, &str, &str, &str)] = &[
    ("apiVersion: openslo/v1\nkind: Service", "apiVersion: openslo/v1alpha\nkind: Service", "document 1: apiVersion", "openslo/v1"),
    ("kind: Service\n", "kind: Servise\n", "document 1: kind", "not an OpenSLO v1 kind"),
    ("  name: checkout\n  displayName", "  displayName", "document 1: metadata.name", "missing"),
    ("  name: pay\n", "  name: Pay_Now\n", "document 3: metadata.name", "not a name"),
    ("  service: checkout\n  indicatorRef", "  indicatorRef", "SLO pay: spec.service", "missing"),
    ("  budgetingMethod: Occurrences\n  timeWindow:\n    - duration: 4w", "  timeWindow:\n    - duration: 4w", "SLO pay: spec.budgetingMethod", "missing"),
    ("budgetingMethod: Occurrences\n  timeWindow:\n    - duration: 4w", "budgetingMethod: Timeslices\n  timeWindow:\n    - duration: 4w", "SLO pay: spec.objectives[0].timeSliceTarget", "missing (required when budgetingMethod is Timeslices"),
    ("budgetingMethod: Occurrences\n  timeWindow:\n    - duration: 4w", "budgetingMethod: RatioTimeslices\n  timeWindow:\n    - duration: 4w", "SLO pay: spec.objectives[0].timeSliceWindow", "missing (required when budgetingMethod is Timeslices or RatioTimeslices"),
    ("budgetingMethod: Occurrences\n  timeWindow:\n    - duration: 4w", "budgetingMethod: Timeslice\n  timeWindow:\n    - duration: 4w", "SLO pay: spec.budgetingMethod", "not one of Occurrences, Timeslices, RatioTimeslices"),
    ("    - duration: 4w\n      isRolling: true\n", "    - duration: 4w\n      isRolling: true\n    - duration: 1d\n      isRolling: true\n", "SLO pay: spec.timeWindow", "exactly one"),
    ("  timeWindow:\n    - duration: 4w\n      isRolling: true\n", "  timeWindow: []\n", "SLO pay: spec.timeWindow", "exactly one"),
    ("    - duration: 4w\n      isRolling: true\n", "    - duration: 4w\n      isRolling: false\n", "SLO pay: spec.timeWindow[0].calendar", "must be set when 'isRolling' is false"),
    ("    - duration: 4w\n      isRolling: true\n", "    - duration: 4w\n      isRolling: true\n      calendar: { startTime: \"2026-01-01 00:00:00\", timeZone: Europe/Paris }\n", "SLO pay: spec.timeWindow[0].calendar", "cannot be set when 'isRolling' is true"),
    ("    - duration: 4w\n      isRolling: true\n", "    - duration: 1Y\n      calendar: { startTime: \"2026-01-01 00:00:00\", timeZone: Europe/Paris }\n", "SLO pay: spec.timeWindow[0].duration", "1w, 1M or 1Q"),
    ("    - duration: 4w\n", "    - duration: 4 weeks\n", "SLO pay: spec.timeWindow[0].duration", "not a duration shorthand"),
    ("    - duration: 4w\n", "    - duration: 1Q\n", "SLO pay: spec.timeWindow[0].duration", "not supported yet"),
    ("      targetPercent: 99.9\n", "      targetPercent: 99.9\n      op: gte\n", "SLO pay: spec.objectives[0].op", "thresholdMetric"),
    ("      targetPercent: 99.9\n", "      targetPercent: 99.9\n      value: 1\n", "SLO pay: spec.objectives[0].value", "thresholdMetric"),
    ("      targetPercent: 99.9\n", "      targetPercent: 100\n", "SLO pay: spec.objectives[0].targetPercent", "out of range"),
    ("      targetPercent: 99.9\n", "      targetPercent: 99.9\n      target: 0.999\n", "SLO pay: spec.objectives[0]", "mutually exclusive"),
    ("      target: 0.995\n      compositeWeight", "      target: 1\n      compositeWeight", "SLO book: spec.objectives[0].target", "out of range"),
    ("      target: 0.995\n      compositeWeight", "      target: 0\n      compositeWeight", "SLO book: spec.objectives[0].target", "out of range"),
    ("      compositeWeight: 3\n", "      compositeWeight: 0\n", "SLO book: spec.objectives[0].compositeWeight", "weight > 0"),
    ("  indicatorRef: pay-ok\n", "  indicatorRef: pay-slow\n", "SLO pay: spec.indicatorRef", "no SLI named \"pay-slow\""),
    ("  indicatorRef: pay-ok\n", "", "SLO pay: spec", "but none were provided"),
    ("  service: checkout\n  budgetingMethod", "  service: checkout\n  indicatorRef: pay-ok\n  budgetingMethod", "SLO book: spec", "but not both"),
    ("        type: slostream\n        spec:\n          match: { service: payments }\n          good", "        type: Prometheus\n        spec:\n          match: { service: payments }\n          good", "SLI pay-ok: spec.ratioMetric.good.metricSource.type", "not supported yet"),
    ("  ratioMetric:\n    counter: true\n", "  thresholdMetric:\n    metricSource: { type: slostream, spec: {} }\n  ratioMetric:\n    counter: true\n", "SLI pay-ok: spec", "mutually exclusive"),
    ("    good:\n      metricSource:\n        type: slostream\n        spec:\n          match: { service: payments }\n", "    bad:\n      metricSource:\n        type: slostream\n        spec:\n          match: { service: payments }\n", "SLI pay-ok: spec.ratioMetric.bad", "not supported yet"),
    ("          match: { service: payments }\n          good", "          match: { service: refunds }\n          good", "SLI pay-ok: spec.ratioMetric.good.metricSource.spec.match", "differs from total"),
    ("  description: Payments succeed\n", "  descripton: Payments succeed\n", "SLO pay: spec.descripton", "unknown field"),
    ("  labels:\n    team: checkout\nspec:\n  description: Payments succeed", "  labels:\n    team: [checkout, payments]\nspec:\n  description: Payments succeed", "SLO pay: metadata.labels.team", "not supported yet"),
];

/// Like [`INVALID`], in [`CALENDAR_SLICES`]: time slices and calendar windows.
const INVALID_CALENDAR_SLICES: &[(&str, &str, &str, &str)] = &[
    (
        "      timeSliceTarget: 0.95\n",
        "",
        "SLO weekly-slices: spec.objectives[0].timeSliceTarget",
        "missing (required when budgetingMethod is Timeslices",
    ),
    (
        "      timeSliceTarget: 0.95\n",
        "      timeSliceTarget: 0\n",
        "SLO weekly-slices: spec.objectives[0].timeSliceTarget",
        "out of range (expected 0 < timeSliceTarget <= 1",
    ),
    (
        "      timeSliceTarget: 0.95\n",
        "      timeSliceTarget: 1.5\n",
        "SLO weekly-slices: spec.objectives[0].timeSliceTarget",
        "out of range (expected 0 < timeSliceTarget <= 1",
    ),
    (
        "      timeSliceWindow: 1m\n",
        "",
        "SLO weekly-slices: spec.objectives[0].timeSliceWindow",
        "missing (required when budgetingMethod is Timeslices",
    ),
    (
        "      timeSliceWindow: 5m\n",
        "",
        "SLO monthly-ratio: spec.objectives[0].timeSliceWindow",
        "missing (required when budgetingMethod is Timeslices or RatioTimeslices",
    ),
    (
        "      timeSliceWindow: 5m\n",
        "      timeSliceWindow: 5m\n      timeSliceTarget: 0.9\n",
        "SLO monthly-ratio: spec.objectives[0].timeSliceTarget",
        "not used by RatioTimeslices",
    ),
    (
        "      timeSliceWindow: 1m\n",
        "      timeSliceWindow: 7m\n",
        "SLO weekly-slices: spec.objectives[0].timeSliceWindow",
        "slices divide an hour",
    ),
    (
        "      timeSliceWindow: 1m\n",
        "      timeSliceWindow: 1d\n",
        "SLO weekly-slices: spec.objectives[0].timeSliceWindow",
        "slices divide an hour",
    ),
    (
        "      timeSliceWindow: 1m\n",
        "      timeSliceWindow: 30s\n",
        "SLO weekly-slices: spec.objectives[0].timeSliceWindow",
        "not a duration shorthand",
    ),
    (
        "      timeSliceWindow: 5m\n",
        "      timeSliceWindow: 10m\n",
        "SLO monthly-ratio: spec.objectives[0].timeSliceWindow",
        "short window 5m",
    ),
    (
        "    - target: 0.999\n",
        "    - target: 0.999\n      timeSliceWindow: 1m\n",
        "SLO quarterly: spec.objectives[0].timeSliceWindow",
        "only used with budgetingMethod Timeslices or RatioTimeslices",
    ),
    (
        "  name: quarterly\n",
        "  name: quarterly\n  annotations:\n    slostream.io/min-events: \"5\"\n",
        "SLO quarterly: metadata.annotations.slostream.io/min-events",
        "only used with budgetingMethod Timeslices",
    ),
    (
        "  name: weekly-slices\n",
        "  name: weekly-slices\n  annotations:\n    slostream.io/sparse: bad\n",
        "SLO weekly-slices: metadata.annotations.slostream.io/sparse",
        "expected good or skip",
    ),
    (
        "  name: weekly-slices\n",
        "  name: weekly-slices\n  annotations:\n    slostream.io/min-events: some\n",
        "SLO weekly-slices: metadata.annotations.slostream.io/min-events",
        "not a whole number",
    ),
    (
        "      isRolling: false\n      calendar:\n        startTime: 2024-01-01",
        "      isRolling: true\n      calendar:\n        startTime: 2024-01-01",
        "SLO weekly-slices: spec.timeWindow[0].calendar",
        "cannot be set when 'isRolling' is true",
    ),
    (
        "startTime: 2024-01-01 00:00:00",
        "startTime: 2024-01-02 00:00:00",
        "SLO weekly-slices: spec.timeWindow[0].calendar.startTime",
        "weeks start on a Monday at 00:00",
    ),
    (
        "startTime: 2024-01-01 00:00:00",
        "startTime: 2024-01-01 06:00:00",
        "SLO weekly-slices: spec.timeWindow[0].calendar.startTime",
        "weeks start on a Monday at 00:00",
    ),
    (
        "startTime: 2024-03-01 00:00:00",
        "startTime: 2024-03-15 00:00:00",
        "SLO monthly-ratio: spec.timeWindow[0].calendar.startTime",
        "months start on the 1st of a month",
    ),
    (
        "startTime: 2025-07-01 00:00:00",
        "startTime: 2025-08-01 00:00:00",
        "SLO quarterly: spec.timeWindow[0].calendar.startTime",
        "January, April, July or October 1st",
    ),
    (
        "startTime: 2024-01-01 00:00:00",
        "startTime: 2024-01-01T00:00:00",
        "SLO weekly-slices: spec.timeWindow[0].calendar.startTime",
        "YYYY-MM-DD HH:MM:SS",
    ),
    (
        "        startTime: 2024-01-01 00:00:00\n",
        "",
        "SLO weekly-slices: spec.timeWindow[0].calendar.startTime",
        "missing",
    ),
    (
        "timeZone: Europe/Berlin",
        "timeZone: Mars/Olympus",
        "SLO weekly-slices: spec.timeWindow[0].calendar.timeZone",
        "not a time zone",
    ),
    ("    - duration: 1w\n", "    - duration: 2w\n", "SLO weekly-slices: spec.timeWindow[0].duration", "1w, 1M or 1Q"),
    ("    - duration: 1M\n", "    - duration: 1Y\n", "SLO monthly-ratio: spec.timeWindow[0].duration", "1w, 1M or 1Q"),
];

#[test]
fn openslo_invalid_documents_exit_2_naming_the_document_and_the_field() {
    let dir = Dir::new();
    imported_fixture(&dir);
    let mut failures = Vec::new();
    let cases =
        INVALID.iter().map(|c| (CHECKOUT, c)).chain(INVALID_CALENDAR_SLICES.iter().map(|c| (CALENDAR_SLICES, c)));
    for (i, (fixture, (from, to, field, reason))) in cases.enumerate() {
        assert!(fixture.contains(from), "case {i}: {from:?} is not in the fixture");
        let file = dir.write(&format!("case-{i}.yaml"), &fixture.replacen(from, to, 1));
        let (code, _, err) = slostream(&["openslo", "import", arg(&file)], &[]);
        let expected = format!("{}: {field}: ", arg(&file));
        if code != 2 || !err.contains(&expected) || !err.contains(reason) {
            failures.push(format!("case {i} ({field}): exit {code}, expected {expected:?} and {reason:?} in: {err}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn openslo_import_of_a_missing_file_or_a_second_definition_exits_2() {
    let dir = Dir::new();
    let a = dir.write("a.yaml", CHECKOUT);
    let (code, _, err) = slostream(&["openslo", "import", arg(&a), arg(&dir.0.join("missing.yaml"))], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing.yaml: cannot read"), "{err}");
    let (code, _, err) = slostream(&["openslo", "import", arg(&a), arg(&a)], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Service checkout: metadata.name: defined twice"), "{err}");
}
