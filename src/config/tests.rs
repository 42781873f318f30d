//! `${NAME}` expansion with the environment handed in, so that no test sets a process-wide
//! variable that another test thread may be reading.

use proptest::prelude::*;

use super::{duration, Config};

const EXAMPLE: &str = include_str!("../../config/example.yaml");

fn with_password(value: &str) -> String {
    let with = format!("client.id: \"slostream\"\n    sasl.password: \"{value}\"");
    EXAMPLE.replacen("client.id: \"slostream\"", &with, 1)
}

fn env(name: &str) -> Option<String> {
    (name == "KAFKA_PASSWORD").then(|| "s3cr3t".to_string())
}

#[test]
fn a_property_is_expanded_from_the_injected_environment() {
    let c = Config::from_yaml_with_env(&with_password("${KAFKA_PASSWORD}"), "x.yaml", env).unwrap();
    let props: Vec<(&str, &str)> = c.kafka.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(props, [("client.id", "slostream"), ("sasl.password", "s3cr3t")]);
    assert_eq!(c.kafka.secret_values(), ["s3cr3t"]);
}

#[test]
fn an_unset_variable_names_the_key_and_the_variable() {
    let err = Config::from_yaml_with_env(&with_password("${KAFKA_PASSWORD}"), "x.yaml", |_| None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.yaml: kafka.properties.sasl.password: environment variable KAFKA_PASSWORD is not set"
    );
}

#[test]
fn only_the_injected_environment_is_read() {
    // PATH is set in any process that runs tests; the injected environment has nothing.
    let yaml = EXAMPLE.replacen("brokers: \"127.0.0.1:9092\"", "brokers: \"${PATH}\"", 1);
    let err = Config::from_yaml_with_env(&yaml, "x.yaml", |_| None).unwrap_err();
    assert_eq!(err.to_string(), "x.yaml: kafka.brokers: environment variable PATH is not set");
}

/// Two configs on one host with no `state:` block must not share a state directory: each
/// consumer group gets its own (a second config once restored the first one's checkpoint).
#[test]
fn the_default_state_dir_is_per_consumer_group() {
    let with_group = |group: &str| {
        let yaml = include_str!("../../config/example.yaml")
            .replace("group_id: \"slostream\"", &format!("group_id: {group:?}"));
        assert_ne!(yaml, include_str!("../../config/example.yaml"), "the example's group_id line moved");
        Config::from_yaml(&yaml, "example.yaml").unwrap().state.dir
    };
    assert_eq!(with_group("checkout-slos"), std::path::Path::new("/var/lib/slostream/checkout-slos"));
    assert_eq!(with_group("search_slos"), std::path::Path::new("/var/lib/slostream/search_slos"));
    assert_eq!(with_group("../etc/x y"), std::path::Path::new("/var/lib/slostream/___etc_x_y"));
    let explicit = include_str!("../../config/example.yaml").to_string() + "state:\n  dir: /data/slo\n";
    assert_eq!(Config::from_yaml(&explicit, "example.yaml").unwrap().state.dir, std::path::Path::new("/data/slo"));
}

/// Windows as users might write or mistype them: mostly well-formed lengths in any unit (so
/// that many configs load), sometimes signs, spaces, odd units or zeros.
fn window_text(well_formed: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![3 => well_formed, 1 => "[+ -]?[0-9]{0,4}(ms|s|m|h|d|w|y|)[ ]?"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever mutation of the example's period and alert windows the config accepts, every
    /// window it keeps has a non-empty label, the canonical one of its length.
    #[test]
    fn accepted_windows_have_canonical_labels(
        period in window_text("0?[1-9]{1,2}(d|w)|[1-9][0-9]{2}h|2419200s"),
        long in window_text("[1-9][0-9]{0,2}(m|h)|[1-9]d|[1-9][0-9]{3,4}s"),
        short in window_text("[1-9][0-9]{0,1}(s|m)|[1-9][0-9]{3}(s|000ms)"),
    ) {
        let alerts = format!("alerts: [{{ severity: page, long: \"{long}\", short: \"{short}\", factor: 2 }}]");
        let yaml = EXAMPLE.replacen("period: \"28d\"", &format!("period: \"{period}\"\n    {alerts}"), 1);
        if let Ok(config) = Config::from_yaml(&yaml, "x.yaml") {
            for slo in &config.slos {
                let rules = slo.alerts.iter().flat_map(|a| [&a.long, &a.short]);
                for w in slo.windows.iter().chain(rules).chain([&slo.period]) {
                    prop_assert!(!w.label.is_empty(), "{:?}", w);
                    prop_assert_eq!(&w.label, &duration::label(w.secs));
                    prop_assert_eq!(duration::parse_secs(&w.label), Ok(w.secs));
                }
            }
        }
    }
}

/// `hunter2` at cost 4, as `htpasswd -nbBC 4 "" hunter2` prints it.
const HASH: &str = "$2y$04$AOgl9VdymsrQW/EQIYm.LOSsK7B3ddoRUBQUDTcax2Sykh5ruJXqq";

/// The example with `exporter.<key>: <value>` (flow YAML) added.
fn with_exporter(key: &str, value: &str) -> String {
    let yaml = EXAMPLE.replacen("exporter:\n", &format!("exporter:\n  {key}: {value}\n"), 1);
    assert_ne!(yaml, EXAMPLE, "the example has no exporter section");
    yaml
}

fn exporter_error(key: &str, value: &str, env: impl Fn(&str) -> Option<String>) -> String {
    Config::from_yaml_with_env(&with_exporter(key, value), "x.yaml", env).unwrap_err().to_string()
}

#[test]
fn basic_auth_takes_its_hash_from_the_yaml_the_environment_or_a_file() {
    let auth = |value: &str, env: fn(&str) -> Option<String>| {
        Config::from_yaml_with_env(&with_exporter("basic_auth", value), "x.yaml", env).unwrap()
    };
    let inline = auth(&format!("{{ username: prometheus, password_hash: \"{HASH}\" }}"), |_| None);
    assert_eq!(inline.exporter.basic_auth.as_ref().unwrap().username, "prometheus");
    assert!(inline.exporter.tls.is_none());
    assert_eq!(inline.secret_values(), [HASH]);
    let shown = format!("{inline:?}");
    assert!(!shown.contains(HASH) && shown.contains("password_hash: \"<redacted>\""), "{shown}");

    let from_env = auth("{ username: \"${SCRAPE_USER}\", password_hash: \"${SCRAPE_HASH}\" }", |name| match name {
        "SCRAPE_USER" => Some("prom".into()),
        "SCRAPE_HASH" => Some(HASH.into()),
        _ => None,
    });
    assert_eq!(from_env.exporter.basic_auth.as_ref().unwrap().username, "prom");
    assert_eq!(from_env.secret_values(), [HASH]);

    let path = std::env::temp_dir().join(format!("slostream-hash-{}", std::process::id()));
    std::fs::write(&path, format!("{HASH}\n")).unwrap();
    let value = format!("{{ username: prometheus, password_hash: \"${{file:{}}}\" }}", path.display());
    let from_file = Config::from_yaml_with_env(&with_exporter("basic_auth", &value), "x.yaml", |_| None);
    std::fs::remove_file(path).unwrap();
    assert_eq!(from_file.unwrap().secret_values(), [HASH]);
}

#[test]
fn exporter_errors_name_the_key_and_never_show_the_hash() {
    let none = |_: &str| None;
    let auth = |user: &str, hash: &str| format!("{{ username: {user:?}, password_hash: {hash:?} }}");
    let cases = [
        (
            "basic_auth",
            auth("prometheus", "hunter2-plain"),
            "x.yaml: exporter.basic_auth.password_hash: not a bcrypt hash",
        ),
        ("basic_auth", auth("", HASH), "x.yaml: exporter.basic_auth.username: empty"),
        (
            "basic_auth",
            auth("prom:etheus", HASH),
            "x.yaml: exporter.basic_auth.username: \"prom:etheus\" contains \":\"",
        ),
        ("basic_auth", "{ username: prometheus }".into(), "x.yaml: exporter.basic_auth: missing field `password_hash`"),
        (
            "basic_auth",
            format!("{{ password_hash: {HASH:?} }}"),
            "x.yaml: exporter.basic_auth: missing field `username`",
        ),
        (
            "basic_auth",
            auth("prometheus", "${SCRAPE_HASH}"),
            "x.yaml: exporter.basic_auth.password_hash: environment variable SCRAPE_HASH is not set",
        ),
        ("tls", "{ cert_file: /nonexistent/cert.pem }".into(), "x.yaml: exporter.tls: missing field `key_file`"),
        (
            "tls",
            "{ cert_file: /nonexistent/cert.pem, key_file: /nonexistent/key.pem }".into(),
            "x.yaml: exporter.tls.cert_file: cannot read \"/nonexistent/cert.pem\": ",
        ),
        (
            "tls",
            "{ cert_file: \"${TLS_DIR}/cert.pem\", key_file: /nonexistent/key.pem }".into(),
            "x.yaml: exporter.tls.cert_file: environment variable TLS_DIR is not set",
        ),
        (
            "tls",
            "{ cert_file: c, key_file: k, ca_file: x }".into(),
            "x.yaml: exporter.tls.ca_file: unknown field `ca_file`",
        ),
    ];
    for (key, value, want) in cases {
        let err = exporter_error(key, &value, none);
        assert!(err.starts_with(want), "{value}: {err}");
        assert!(!err.contains("hunter2") && !err.contains(HASH), "{err}");
    }
    // The key file is read (and named) when the certificate was.
    let cert = std::env::temp_dir().join(format!("slostream-cert-{}", std::process::id()));
    std::fs::write(&cert, "").unwrap();
    let err = exporter_error("tls", &format!("{{ cert_file: {:?}, key_file: /nonexistent/key.pem }}", cert), none);
    std::fs::remove_file(cert).unwrap();
    assert!(err.starts_with("x.yaml: exporter.tls.key_file: cannot read \"/nonexistent/key.pem\": "), "{err}");
}

/// An SLO's revision changes with every edit of what it measures or alerts on, and only then.
#[test]
fn an_slo_revision_follows_its_definition() {
    let base = include_str!("../../config/example.yaml");
    let revision = |yaml: &str| {
        let c = Config::from_yaml(yaml, "x.yaml").unwrap();
        c.slos.iter().find(|s| s.name == "book-a-ride").unwrap().revision
    };
    let before = revision(base);
    assert_eq!(revision(base), before, "stable");
    for (what, from, to) in [
        ("objective", "objective: 99.9", "objective: 99.8"),
        ("period", "period: \"30d\"", "period: \"28d\""),
        ("weight", "weight: 3 }", "weight: 4 }"),
        (
            "an SLI's good",
            "match: { service: \"geo\" }\n    good:\n      status: { lt: 500 }",
            "match: { service: \"geo\" }\n    good:\n      status: { lt: 400 }",
        ),
        ("budgeting", "    combine: weighted", "    combine: weighted\n    budgeting: { method: ratio_timeslices }"),
        ("labels", "    combine: weighted", "    combine: weighted\n    labels: { team: rides }"),
        (
            "alerts",
            "    combine: weighted",
            "    combine: weighted\n    alerts: [{ severity: page, long: 1h, short: 5m, factor: 10 }]",
        ),
    ] {
        let edited = base.replacen(from, to, 1);
        assert_ne!(edited, base, "{what}: the edit applies");
        assert_ne!(revision(&edited), before, "{what}");
    }
    let described = base.replacen(
        "  book-a-ride:\n",
        "  book-a-ride:\n    description: \"x\"\n    runbook_url: \"https://r\"\n",
        1,
    );
    assert_eq!(revision(&described), before, "a description or a link is no edit of the definition");
}
