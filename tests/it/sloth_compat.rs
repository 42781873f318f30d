//! `exporter.compat: sloth`: Sloth's series names, labels and values, for a known stream run
//! through the real decode → classify → window → slo → export code and rendered as Prometheus
//! text. Expected values are worked out by hand below. Sloth's names are the point here, so they
//! are spelled out as Sloth's dashboards query them, and `slostream::names` is checked against
//! them.

use std::collections::BTreeMap;

use slostream::config::Config;
use slostream::count::{Cut, Shard, Snapshot, Tally};
use slostream::export::Telemetry;
use slostream::ingest::KafkaErrors;
use slostream::names::{self, label};
use slostream::slo;

const NOW: i64 = 1_795_694_400_000;

/// Prometheus text → `name{labels sorted by name}` → value (label values here hold no commas).
fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| {
            let key = match k.split_once('{') {
                Some((name, labels)) => {
                    let mut parts: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                    parts.sort();
                    format!("{name}{{{}}}", parts.join(","))
                }
                None => k.to_string(),
            };
            (key, v.parse().unwrap())
        })
        .collect()
}

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// The example with `exporter.compat: sloth` and `from` replaced by `to`.
fn sloth_config(from: &str, to: &str) -> Config {
    let yaml = include_str!("../../config/example.yaml")
        .replace("listen: \"127.0.0.1:9464\"", "listen: \"127.0.0.1:9464\"\n  compat: sloth")
        .replace(from, to);
    Config::from_yaml(&yaml, "sloth.yaml").unwrap()
}

/// `/metrics` after one evaluation of search requests a minute old, one per status given.
fn scrape(config: &Config, statuses: impl Iterator<Item = u16>) -> BTreeMap<String, f64> {
    let mut shard = Shard::new(config);
    for status in statuses {
        let e = format!(
            r#"{{"timestamp":{},"service":"search-api","route":"/v2/trips","status":{status},"latency_ms":100}}"#,
            NOW - 60_000
        );
        assert!(shard.process(e.as_bytes(), NOW).is_none());
    }
    let mut tally = Tally::new(config, 1, None, Vec::new());
    shard.hand_over(&mut tally, 0, Cut { positions: &[], acknowledged: true, now: std::time::Instant::now() });
    let mut snapshot = Snapshot::new(config);
    snapshot.read_tally(&tally, NOW);
    let mut telemetry = Telemetry::new(config);
    let mut statuses = Vec::new();
    slo::evaluate_all(config, &snapshot, &mut statuses);
    telemetry.publish(config, &snapshot, &KafkaErrors::default(), Some(&statuses), NOW);
    parse(&telemetry.handle().render())
}

#[test]
fn sloth_series_carry_slostreams_values() {
    let config = sloth_config("combine: pooled ", "labels: { service: rides, team: search }\n    combine: pooled ");
    // search-a-ride (99.5%, 28d, pooled over search-availability, search-latency, geo-availability):
    // 10 search requests a minute ago, 2 of them 503 → availability 8/10, latency 10/10, no geo:
    // ratio 18/20 = 0.9, error ratio 0.1 in every window, burn 0.1 / 0.005 = 20.
    let m = scrape(&config, (0..10).map(|i| if i < 2 { 503 } else { 200 }));

    let base = [
        ("sloth_id", "rides-search-a-ride"),
        ("sloth_service", "rides"),
        ("sloth_slo", "search-a-ride"),
        ("team", "search"),
    ];
    let get = |name: &str, extra: &[(&str, &str)]| {
        let mut labels: Vec<(&str, &str)> = base.to_vec();
        labels.extend_from_slice(extra);
        labels.sort();
        let key = series(name, &labels);
        *m.get(&key).unwrap_or_else(|| {
            panic!("missing {key}; have:\n{:#?}", m.keys().filter(|k| k.starts_with("slo")).collect::<Vec<_>>())
        })
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // Sloth names windows as Prometheus prints durations: the 28d period is `4w`.
    for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "4w"] {
        let v = get(&format!("slo:sli_error:ratio_rate{w}"), &[("sloth_window", w)]);
        assert!(close(v, 0.1), "{w}: {v}");
    }
    assert!(close(get("slo:objective:ratio", &[]), 0.995));
    assert!(close(get("slo:error_budget:ratio", &[]), 0.005));
    assert!(close(get("slo:time_period:days", &[]), 28.0));
    assert!(close(get("slo:current_burn_rate:ratio", &[]), 20.0));
    assert!(close(get("slo:period_burn_rate:ratio", &[]), 20.0));
    assert!(close(get("slo:period_error_budget_remaining:ratio", &[]), -19.0));
    let info = get(
        "sloth_slo_info",
        &[
            ("sloth_mode", "slostream"),
            ("sloth_objective", "99.5"),
            ("sloth_spec", "prometheus/v1"),
            ("sloth_version", env!("CARGO_PKG_VERSION")),
        ],
    );
    assert_eq!(info, 1.0);
    // The native series agree.
    let burn = series(names::SLO_BURN_RATE.name, &[(label::SLO, "search-a-ride"), (label::WINDOW, "5m")]);
    assert!(close(m[&burn], 20.0));

    // book-a-ride has no `service` label: Sloth's service defaults to slostream; no events: error 0.
    let key = series(
        "slo:sli_error:ratio_rate30d",
        &[
            ("sloth_id", "slostream-book-a-ride"),
            ("sloth_service", "slostream"),
            ("sloth_slo", "book-a-ride"),
            ("sloth_window", "30d"),
        ],
    );
    assert_eq!(m.get(&key), Some(&0.0), "{key}");

    // The library's names (which the dashboards test looks up) are Sloth's, as spelled above.
    assert_eq!(
        (names::SLOTH_ERROR_RATIO_PREFIX, names::SLOTH.map(|m| m.name)),
        (
            "slo:sli_error:ratio_rate",
            [
                "slo:objective:ratio",
                "slo:error_budget:ratio",
                "slo:time_period:days",
                "sloth_slo_info",
                "slo:current_burn_rate:ratio",
                "slo:period_burn_rate:ratio",
                "slo:period_error_budget_remaining:ratio",
            ]
        )
    );
}

#[test]
fn without_compat_no_sloth_series() {
    let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
    let mut telemetry = Telemetry::new(&config);
    let snapshot = Snapshot::new(&config);
    let mut statuses = Vec::new();
    slo::evaluate_all(&config, &snapshot, &mut statuses);
    telemetry.publish(&config, &snapshot, &KafkaErrors::default(), Some(&statuses), NOW);
    let text = telemetry.handle().render();
    assert!(text.contains(names::SLO_BURN_RATE.name));
    assert!(!text.contains("slo:") && !text.contains("sloth_"), "{text}");
}

/// The error ratio is `(n - g) / n`, not `1 - g / n`: 99 good of 100 is exactly 0.01, where
/// `1 - 0.99` exported 0.010000000000000009.
#[test]
fn sloth_error_ratio_of_99_good_in_100_is_exactly_one_percent() {
    let config =
        sloth_config("slis: [search-availability, search-latency, geo-availability]", "slis: [search-availability]");
    let m = scrape(&config, (0..100).map(|i| if i == 0 { 503 } else { 200 }));
    let key = series(
        "slo:sli_error:ratio_rate5m",
        &[
            ("sloth_id", "slostream-search-a-ride"),
            ("sloth_service", "slostream"),
            ("sloth_slo", "search-a-ride"),
            ("sloth_window", "5m"),
        ],
    );
    assert_eq!(m.get(&key), Some(&0.01), "{key}");
}
