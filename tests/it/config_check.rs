//! `slostream check`: the example loads, and every invalid case names file, key path, bad value
//! and what was expected, with exit code 2.

use std::process::Command;

use slostream::config::Config;

const EXAMPLE: &str = include_str!("../../config/example.yaml");

fn check(yaml: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!("slostream-check-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("slostream.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slostream")).args(["check", "--config"]).arg(&file).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn example_config_loads_exactly_as_written() {
    let c = Config::from_yaml(EXAMPLE, "config/example.yaml").unwrap();
    assert_eq!(c.kafka.topics, ["requests"]);
    assert_eq!(c.kafka.properties, [("client.id".to_string(), "slostream".to_string())]);
    assert_eq!(c.events.max_future_ms, 60_000);
    assert_eq!(c.exporter.listen.to_string(), "127.0.0.1:9464");
    let names: Vec<&str> = c.slis.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["booking-availability", "geo-availability", "search-availability", "search-latency"]);
    let book = c.slos.iter().find(|s| s.name == "book-a-ride").unwrap();
    assert_eq!(book.objective, 0.999);
    assert_eq!(book.period.secs, 30 * 86_400);
    let weights: Vec<(String, f64)> = book.components.iter().map(|p| (c.slis[p.sli].name.clone(), p.weight)).collect();
    assert_eq!(weights, [("booking-availability".into(), 3.0), ("geo-availability".into(), 1.0)]);
    let labels: Vec<&str> = c.windows.iter().map(|w| w.label.as_str()).collect();
    assert_eq!(labels, ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "28d", "30d"]);

    let (code, stdout, _) = check(EXAMPLE);
    assert_eq!(code, 0);
    assert!(stdout.contains("search-a-ride: objective 99.5% over 28d, combine pooled"), "{stdout}");
    assert!(stdout.contains("page: burn(1h) > 14.4000 and burn(5m) > 14.4000"), "{stdout}");

    // Regression guard: the percent is shown as written, not as ratio × 100 (99.99900000000001).
    let (code, stdout, _) = check(&EXAMPLE.replacen("objective: 99.9\n", "objective: 99.999\n", 1));
    assert_eq!(code, 0);
    assert!(stdout.contains("book-a-ride: objective 99.999% over 30d"), "{stdout}");
}

/// Each case: a replacement applied to the example, then what the error must contain.
const INVALID: &[(&str, &str, &[&str])] = &[
    (
        "  group_id: \"slostream\"",
        "  group_id: \"slostream\"\n  brokerz: x",
        &["kafka", "unknown field `brokerz`", "expected one of"],
    ),
    (
        "slis: [search-availability, search-latency, geo-availability]",
        "slis: [search-availability, search-latncy]",
        &["slos.search-a-ride.slis[1]", "unknown SLI \"search-latncy\"", "defined: booking-availability"],
    ),
    (
        "slis: [search-availability, search-latency, geo-availability]",
        "slis: []",
        &["slos.search-a-ride.slis", "expected at least one SLI"],
    ),
    ("objective: 99.5 ", "objective: 100 ", &["slos.search-a-ride.objective", "100", "0 < objective < 100"]),
    ("objective: 99.5 ", "objective: 0 ", &["slos.search-a-ride.objective", "0 < objective < 100"]),
    ("period: \"28d\"", "period: \"0d\"", &["slos.search-a-ride.period", "\"0d\"", "greater than zero"]),
    ("period: \"28d\"", "period: \"-28d\"", &["slos.search-a-ride.period", "greater than zero"]),
    // Rounds to an objective of 1: no budget, so burn and budget would be NaN or infinite.
    (
        "objective: 99.5 ",
        "objective: 99.99999999999 ",
        &["slos.search-a-ride.objective", "99.99999999999", "no error budget"],
    ),
    // Durations are digits then a unit: a sign or a space is refused, not read past.
    ("period: \"28d\"", "period: \"+28d\"", &["slos.search-a-ride.period", "\"+28d\"", "not a duration"]),
    ("period: \"28d\"", "period: \" 28d\"", &["slos.search-a-ride.period", "\" 28d\"", "not a duration"]),
    ("period: \"28d\"", "period: \"28 d\"", &["slos.search-a-ride.period", "\"28 d\"", "not a duration"]),
    ("period: \"28d\"", "period: \"d\"", &["slos.search-a-ride.period", "\"d\"", "not a duration"]),
    ("max_future: \"1m\"", "max_future: \"0s\"", &["events.max_future", "greater than zero"]),
    (
        "    match: { service: \"geo\" }\n",
        "    match: { service: \"geo\" }\n    breakdown: [route, window]\n",
        &["slis.geo-availability.breakdown[1]", "\"window\" cannot be a label", "other than slo, sli, window"],
    ),
    (
        "    match: { service: \"geo\" }\n",
        "    match: { service: \"geo\" }\n    breakdown: [a, b, c, d]\n",
        &["slis.geo-availability.breakdown", "4 fields", "expected 1 to 3"],
    ),
    (
        "    match: { service: \"geo\" }\n",
        "    match: { service: \"geo\" }\n    breakdown: [route]\n    max_values: 0\n",
        &["slis.geo-availability.max_values", "0", "expected 1 to 1000"],
    ),
    (
        "    match: { service: \"geo\" }\n",
        "    match: { service: \"geo\" }\n    max_values: 10\n",
        &["slis.geo-availability.max_values", "without breakdown"],
    ),
    (
        "    match: { service: \"geo\" }\n",
        "    match: { service: \"geo\" }\n    breakdown: [route]\n    breakdown_windows: [1h, 31d]\n",
        &["slis.geo-availability.breakdown_windows[1]", "\"31d\"", "longer than the longest SLO period"],
    ),
    ("\nslis:\n", "\nstatus:\n  at_risk_below: 120\nslis:\n", &["status.at_risk_below", "120", "expected 0 to 100"]),
    (
        "{ sli: booking-availability, weight: 3 }",
        "{ sli: booking-availability, weight: 0 }",
        &["slos.book-a-ride.slis[0].weight", "0", "weight > 0"],
    ),
    (
        "{ sli: booking-availability, weight: 3 }",
        "{ sli: booking-availability, weight: -1 }",
        &["slos.book-a-ride.slis[0].weight", "-1"],
    ),
    (
        "combine: weighted",
        "combine: pooled",
        &["slos.book-a-ride.slis[0].weight", "combine is pooled", "combine: weighted"],
    ),
    ("combine: pooled ", "combine: average ", &["slos.search-a-ride.combine", "unknown variant `average`", "pooled"]),
    (
        "latency_ms: { le: 300 }",
        "latency_ms: { regex: \"([\" }",
        &["slis.search-latency.good.latency_ms.regex", "bad regex \"([\""],
    ),
    (
        "latency_ms: { le: 300 }",
        "latency_ms: { below: 300 }",
        &[
            "slis.search-latency.good.latency_ms.below",
            "unknown operator \"below\"",
            "eq, ne, lt, le, gt, ge, in, not_in, prefix, regex",
        ],
    ),
    ("listen: \"127.0.0.1:9464\"", "listen: \"localhost\"", &["exporter.listen", "\"localhost\"", "ip:port"]),
    (
        "listen: \"127.0.0.1:9464\"",
        "listen: \"127.0.0.1:9464\"\n  tls: { cert_file: /nonexistent/cert.pem, key_file: /nonexistent/key.pem }",
        &["exporter.tls.cert_file", "cannot read \"/nonexistent/cert.pem\""],
    ),
    (
        "listen: \"127.0.0.1:9464\"",
        "listen: \"127.0.0.1:9464\"\n  basic_auth: { username: prometheus, password_hash: hunter2 }",
        &["exporter.basic_auth.password_hash", "not a bcrypt hash", "htpasswd -nbBC 10"],
    ),
    (
        "listen: \"127.0.0.1:9464\"",
        "listen: \"127.0.0.1:9464\"\n  basic_auth: { username: prometheus }",
        &["exporter.basic_auth", "missing field `password_hash`"],
    ),
    (
        "exporter:\n",
        "maintenance:\n  - { name: db, start: \"2026-12-03T22:00:00+01:00\", duration: 2h, every: 1h }\nexporter:\n",
        &["maintenance[0].every", "\"1h\" is shorter than duration \"2h\"", "occurrences would overlap"],
    ),
    (
        "exporter:\n",
        "maintenance:\n  - { name: db, start: \"2026-12-03 22:00\", duration: 2h }\nexporter:\n",
        &["maintenance[0].start", "\"2026-12-03 22:00\"", "RFC 3339 time with an offset"],
    ),
];

/// A valid maintenance window is shown by `check`.
#[test]
fn check_prints_maintenance_windows() {
    let yaml = EXAMPLE.replacen(
        "exporter:\n",
        "maintenance:\n  - { name: db-upgrade, match: { service: booking }, start: \"2026-12-03T22:00:00+01:00\", duration: 2h, every: 1w, until: \"2027-03-01T00:00:00Z\" }\nexporter:\n",
        1,
    );
    let (code, stdout, stderr) = check(&yaml);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("  db-upgrade: from 2026-12-03T21:00:00.000Z for 2h every 168h until 2027-03-01T00:00:00.000Z"),
        "{stdout}"
    );
}

#[test]
fn every_invalid_case_names_file_path_value_and_expectation_with_exit_code_2() {
    for (from, to, wants) in INVALID {
        assert!(EXAMPLE.contains(from), "fixture out of date: {from}");
        let yaml = EXAMPLE.replacen(from, to, 1);
        let (code, stdout, stderr) = check(&yaml);
        assert_eq!(code, 2, "{to}: {stderr}");
        assert!(stdout.is_empty(), "nothing printed as a summary: {stdout}");
        assert!(stderr.contains("slostream.yaml: "), "names the file: {stderr}");
        for want in *wants {
            assert!(stderr.contains(want), "{to}: expected {want:?} in {stderr}");
        }
    }
}

#[test]
fn alert_overrides_are_validated() {
    let with =
        |alerts: &str| EXAMPLE.replacen("combine: pooled ", &format!("alerts: {alerts}\n    combine: pooled "), 1);
    let ok = Config::from_yaml(&with("[{ severity: page, long: 2h, short: 10m, factor: 10 }, { severity: ticket, long: 3d, short: 6h, budget_share: 10 }]"), "x.yaml").unwrap();
    let slo = ok.slos.iter().find(|s| s.name == "search-a-ride").unwrap();
    assert_eq!(slo.alerts.len(), 2);
    assert!((slo.alerts[1].factor - 0.1 * 28.0 / 3.0).abs() < 1e-9);
    assert!(slo.windows.iter().any(|w| w.label == "10m"), "override windows are computed");
    for (alerts, want) in [
        ("[{ severity: sms, long: 1h, short: 5m, factor: 1 }]", "expected page or ticket"),
        ("[{ severity: page, long: 5m, short: 1h, factor: 1 }]", "not shorter than long window"),
        ("[{ severity: page, long: 28d, short: 1h, factor: 1 }]", "not shorter than the period"),
        ("[{ severity: page, long: 1h, short: 5m }]", "exactly one of factor or budget_share"),
        ("[{ severity: page, long: 1h, short: 5m, factor: 0 }]", "expected > 0"),
        ("[{ severity: page, long: 1h, short: 5m, budget_share: 150 }]", "0 < share <= 100"),
    ] {
        let err = Config::from_yaml(&with(alerts), "x.yaml").unwrap_err().to_string();
        assert!(err.starts_with("x.yaml: slos.search-a-ride.alerts"), "{err}");
        assert!(err.contains(want), "{alerts}: {err}");
    }
}

#[test]
fn secrets_never_appear_in_debug_output_or_errors() {
    let yaml = EXAMPLE.replacen(
        "client.id: \"slostream\"",
        "client.id: \"slostream\"\n    sasl.password: \"hunter2-secret\"",
        1,
    );
    let c = Config::from_yaml(&yaml, "x.yaml").unwrap();
    let shown = format!("{:?}", c.kafka);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted>"));
    let bad =
        EXAMPLE.replacen("client.id: \"slostream\"", "client.id: \"slostream\"\n    sasl.password: [\"hunter2\"]", 1);
    let err = Config::from_yaml(&bad, "x.yaml").unwrap_err().to_string();
    assert!(err.contains("kafka.properties.sasl.password") && !err.contains("hunter2"), "{err}");
}

/// Regression: `slostream check | head -1` panicked ("failed printing to stdout: Broken pipe")
/// once the reader had gone. The printing commands now end on SIGPIPE, quietly, as `cat` does.
#[test]
fn printing_commands_end_quietly_when_the_reader_has_gone() {
    use std::os::unix::process::ExitStatusExt;
    for args in [
        &["check", "--config", "config/example.yaml"][..],
        &["rules", "--config", "config/example.yaml"],
        &["openslo", "export", "--config", "config/example.yaml"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader); // every write to stdout now fails
        let out = Command::new(env!("CARGO_BIN_EXE_slostream"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{args:?}: {:?} {stderr}", out.status);
    }
}
