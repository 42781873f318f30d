//! End-to-end: the real `slostream` binary against a real Kafka broker (tests/kafka/broker.sh).
//!
//! Every expectation is computed here, from the events the test itself builds, with the SLI and
//! SLO definitions restated in `tests/common/truth.rs` (never with slostream's library). See
//! `tests/common/mod.rs` for the broker/process harness.
//!
//! - `exact_counts_ratios_budgets_and_alerts`: a hand-made plus seeded-random event set over 4
//!   partitions (all reject reasons, unmatched events, three timestamp formats, event times from
//!   30 s to 29 days old, shuffled so times arrive out of order) → every counter, every SLO
//!   window's counts/ratio/burn rate, budgets, objectives, alert states and latency quantiles are
//!   asserted exactly (floats within 1e-9 relative).
//! - `sigterm_commits_counted_offsets`: 3000 `slostream loadgen` events over 3 partitions →
//!   SIGTERM → exit 0 within the grace period, committed offsets == high watermarks, and a
//!   restart of the same group counts only new events.
//! - `not_ready_and_no_slo_series_until_partitions_are_assigned`: started on a topic that does
//!   not exist yet → `/ready` 503 and no SLO window series; topic created → 200 and series.
//! - `metrics_stay_fresh_under_a_steady_trickle`: at 20 msg/s `/metrics` never lags > 2.5 s
//!   (guards the worker's housekeeping against waiting for a batch of messages).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::truth::*;
use common::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Events: this file's payloads. The ground truth (SLIs, SLOs, windows, the event model and its
// classification) is tests/common/truth.rs.
// ---------------------------------------------------------------------------------------------

/// Builds events by age before `t0`: `(age_ms, fmt, service, route, method, status, latency)`,
/// `""` for an absent string field.
fn aged(t0: i64) -> impl Fn(i64, Fmt, &'static str, &'static str, &'static str, Option<Num>, Option<Num>) -> Ev {
    move |age_ms, fmt, service, route, method, status, latency| Ev {
        ts: t0 - age_ms,
        fmt,
        service,
        route,
        method,
        status,
        latency,
    }
}

impl Ev {
    /// This file's JSON for the event: its fields, then fields no SLI reads (`noise` varies them).
    fn payload(&self, noise: u64) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("timestamp".into(), self.timestamp());
        for (field, value) in [("service", self.service), ("route", self.route), ("method", self.method)] {
            if !value.is_empty() {
                m.insert(field.into(), json!(value));
            }
        }
        if let Some(status) = self.status {
            m.insert("status".into(), status.json());
        }
        if let Some(latency) = self.latency {
            m.insert("latency_ms".into(), latency.json());
        }
        // Fields no SLI reads, including nested ones that must be skipped, not misread.
        m.insert("region".into(), json!(["eu-west-1", "us-east-1"][(noise % 2) as usize]));
        m.insert("request_id".into(), json!(format!("{noise:016x}")));
        m.insert(
            "trace".into(),
            json!({"status": 999, "sampled": noise.is_multiple_of(3), "spans": [1, {"latency_ms": 1e9}]}),
        );
        serde_json::to_vec(&Value::Object(m)).unwrap()
    }
}

#[test]
fn timestamp_formatting_is_right() {
    // Independent anchors (not slostream's parser): 2026-11-26T12:00:00Z = 1795694400000.
    assert_eq!(rfc3339(1_795_694_400_123, 0), "2026-11-26T12:00:00.123Z");
    assert_eq!(rfc3339(1_795_694_400_000, 120), "2026-11-26T14:00:00.000+02:00");
    assert_eq!(rfc3339(1_709_164_800_000, 0), "2024-02-29T00:00:00.000Z");
    assert_eq!(rfc3339(0, 120), "1970-01-01T02:00:00.000+02:00");
}

const S30: i64 = 30 * SEC;
const M2: i64 = 2 * MIN;
const M20: i64 = 20 * MIN;
const M45: i64 = 45 * MIN;
const M90: i64 = 90 * MIN;
const H3: i64 = 3 * HOUR;
const H10: i64 = 10 * HOUR;
const D2: i64 = 2 * DAY + 30 * MIN;
const D20: i64 = 20 * DAY;
const D29: i64 = 29 * DAY;

/// The hand-made valid events: the alert design lives here.
fn handmade_events(t0: i64) -> Vec<Ev> {
    use Fmt::*;
    let ev = aged(t0);
    let n = |v: i64| Some(Num::Int(v));
    let f = |v: f64| Some(Num::Float(v));
    let none = None;
    vec![
        // Recent search traffic, all good, latencies 50,120,120.0,120,300 → p50 = 120 ms.
        ev(S30, Utc, "search-api", "/v2/trips", "GET", n(200), n(50)),
        ev(S30, Plus2, "search-api", "/v2/trips/{id}", "GET", n(200), n(120)),
        ev(M2, Epoch, "search-api", "/v2/trips", "GET", n(200), f(120.0)),
        ev(M2, Utc, "search-api", "/v2/health", "GET", n(200), n(120)), // search-latency only
        ev(M2, Plus2, "search-api", "/v2/trips", "GET", n(404), n(300)), // 404 < 500, 300 <= 300: good
        ev(S30, Utc, "geo", "/v1/geocode", "GET", n(200), n(20)),
        ev(M2, Epoch, "geo", "/v1/geocode", "GET", n(200), f(15.5)),
        // Recent booking burst: 3 good of 6 → book-a-ride pages.
        ev(S30, Utc, "booking", "/v1/bookings", "POST", n(201), none),
        ev(S30, Plus2, "booking", "/v1/bookings", "POST", n(500), none),
        ev(S30, Epoch, "booking", "/v1/bookings", "POST", n(503), none),
        ev(M2, Utc, "booking", "/v1/bookings", "POST", n(429), none),
        ev(M2, Plus2, "booking", "/v1/bookings", "POST", n(201), none),
        ev(M2, Epoch, "booking", "/v1/bookings", "POST", n(201), none),
        ev(M2, Utc, "booking", "/v1/bookings", "GET", n(500), none), // GET: unmatched
        ev(M20, Plus2, "search-api", "/v2/trips", "GET", n(200), n(80)),
        ev(M20, Utc, "geo", "/v1/geocode", "GET", n(200), n(10)),
        ev(M20, Epoch, "booking", "/v1/bookings", "POST", n(201), none),
        ev(M45, Epoch, "search-api", "/v2/trips/{id}", "GET", n(200), n(250)),
        ev(M45, Utc, "booking", "/v1/bookings", "POST", n(201), none),
        // 90 minutes ago: search errors (2h window burns, 1h does not) → a ticket, not a page.
        ev(M90, Utc, "search-api", "/v2/trips", "GET", n(503), n(301)),
        ev(M90, Plus2, "search-api", "/v2/trips", "GET", n(200), n(100)),
        ev(M90, Epoch, "geo", "/v1/geocode", "GET", n(200), none),
        ev(H3, Utc, "geo", "/v1/geocode", "GET", n(502), none),
        ev(H3, Epoch, "search-api", "/v2/trips", "GET", n(200), n(200)),
        ev(H10, Plus2, "geo", "/v1/geocode", "GET", n(504), none),
        ev(H10, Utc, "booking", "/v1/bookings", "POST", n(201), none),
        ev(H10, Utc, "search-api", "/v2/trips/{id}", "GET", n(500), n(40)),
        ev(H10, Epoch, "booking", "/v1/bookings", "PUT", n(200), none), // unmatched
        ev(D2, Epoch, "search-api", "/v2/trips", "GET", n(200), n(310)),
        ev(D2, Utc, "booking", "/v1/bookings", "POST", n(429), none),
        ev(D2, Utc, "geo", "/v1/geocode", "GET", n(200), none),
        ev(D20, Plus2, "search-api", "/v2/trips", "GET", n(200), n(100)),
        ev(D20, Epoch, "booking", "/v1/bookings", "POST", n(201), none),
        ev(D29, Utc, "geo", "/v1/geocode", "GET", n(500), none), // only in book-a-ride's 30d
        ev(D29, Plus2, "booking", "/v1/bookings", "POST", n(201), none),
        ev(D29, Utc, "search-api", "/v2/trips", "GET", n(200), n(100)), // beyond search-a-ride's 28d
        ev(M2, Utc, "payments", "/v1/pay", "POST", n(200), n(30)),      // unmatched
        ev(M20, Epoch, "booking", "/v1/bookings", "post", n(201), none), // case matters: unmatched
        ev(M45, Utc, "", "/v2/trips", "", n(200), n(5)),                // no service: unmatched
        ev(H3, Plus2, "geo", "", "", none, none),                       // geo, missing status: bad
    ]
}

/// Seeded bulk traffic at ages from 20 minutes up, ±15 s jitter. Search and geo stay healthy in
/// the last day (so search-a-ride does not page), booking fails often (book-a-ride does).
fn bulk_events(rng: &mut StdRng, count: usize, t0: i64) -> Vec<Ev> {
    let ev = aged(t0);
    let ages = [M20, M45, M90, H3, H10, D2, D20, D29];
    let fmts = [Fmt::Utc, Fmt::Plus2, Fmt::Epoch];
    (0..count)
        .map(|_| {
            let age = ages[rng.random_range(0..ages.len())] + rng.random_range(-15 * SEC..=15 * SEC);
            let fmt = fmts[rng.random_range(0..3)];
            let old = age >= DAY;
            let pick: f64 = rng.random();
            let pick_status = |rng: &mut StdRng, list: &[i64]| Some(Num::Int(list[rng.random_range(0..list.len())]));
            if pick < 0.4 {
                let routes = ["/v2/trips", "/v2/trips/{id}", "/v2/health", "/v1/legacy"];
                let route = routes[rng.random_range(0..routes.len())];
                let status = if old {
                    pick_status(rng, &[200, 200, 200, 404, 500, 503])
                } else {
                    pick_status(rng, &[200, 200, 404])
                };
                let max_latency: i32 = if old { 600 } else { 300 }; // i32: the seeded draws stay the same
                let latency = if rng.random_bool(0.5) {
                    Num::Int(rng.random_range(1..=max_latency).into())
                } else {
                    Num::Float(rng.random_range(1..max_latency) as f64 + 0.5)
                };
                ev(age, fmt, "search-api", route, "GET", status, Some(latency))
            } else if pick < 0.65 {
                let status = if old { pick_status(rng, &[200, 200, 200, 502]) } else { Some(Num::Int(200)) };
                ev(age, fmt, "geo", "/v1/geocode", "GET", status, Some(Num::Int(rng.random_range(1..100_i32).into())))
            } else if pick < 0.9 {
                let method = if rng.random_bool(0.8) { "POST" } else { ["GET", "PUT"][rng.random_range(0..2)] };
                let status = pick_status(rng, &[201, 201, 201, 201, 201, 429, 500]);
                ev(age, fmt, "booking", "/v1/bookings", method, status, None)
            } else {
                let service = ["payments", "notifications", "geo-v2"][rng.random_range(0..3)];
                ev(age, fmt, service, "/x", "GET", Some(Num::Int(200)), Some(Num::Int(12)))
            }
        })
        .collect()
}

/// Messages slostream must reject, with the reason label each must be counted under. Counts
/// per reason differ (3, 2, 2, 4, 3, 5) so a swapped label cannot go unnoticed.
fn rejected_messages(t0: i64) -> Vec<(Vec<u8>, &'static str)> {
    let s = |x: String| x.into_bytes();
    vec![
        (s("this is not json".into()), "invalid_json"),
        (s(format!(r#"{{"timestamp":{t0},"service":"geo""#)), "invalid_json"), // truncated
        (Vec::new(), "invalid_json"),                                          // empty payload
        (s(format!(r#"[{{"timestamp":{t0},"service":"geo","status":200}}]"#)), "not_an_object"),
        (s("42".into()), "not_an_object"),
        (s(r#"{"service":"geo","status":200}"#.into()), "missing_timestamp"),
        (s(r#"{"timestamp":null,"service":"booking","method":"POST","status":500}"#.into()), "missing_timestamp"),
        (s(r#"{"timestamp":"yesterday","service":"geo","status":200}"#.into()), "invalid_timestamp"),
        (s(r#"{"timestamp":"2026-13-01T00:00:00Z","service":"geo","status":200}"#.into()), "invalid_timestamp"),
        (s(r#"{"timestamp":1.5e12,"service":"geo","status":200}"#.into()), "invalid_timestamp"),
        (s(r#"{"timestamp":true,"service":"geo","status":200}"#.into()), "invalid_timestamp"),
        (s(format!(r#"{{"timestamp":{},"service":"geo","status":200}}"#, t0 + 10 * MIN)), "too_far_in_future"),
        (
            s(format!(r#"{{"timestamp":"{}","service":"geo","status":200}}"#, rfc3339(t0 + 10 * MIN, 0))),
            "too_far_in_future",
        ),
        (
            s(format!(
                r#"{{"timestamp":"{}","service":"booking","method":"POST","status":201}}"#,
                rfc3339(t0 + DAY, 120)
            )),
            "too_far_in_future",
        ),
        (s(format!(r#"{{"timestamp":{},"service":"geo","status":200}}"#, t0 - 40 * DAY)), "too_old"),
        (s(format!(r#"{{"timestamp":"{}","service":"geo","status":200}}"#, rfc3339(t0 - 40 * DAY, 0))), "too_old"),
        (
            s(format!(r#"{{"timestamp":{},"service":"search-api","latency_ms":5}}"#, t0 - 30 * DAY - 2 * HOUR)),
            "too_old",
        ),
        (s(r#"{"timestamp":0,"service":"geo","status":200}"#.into()), "too_old"),
        (s(r#"{"timestamp":"1999-12-31T23:59:59+02:00","service":"geo","status":200}"#.into()), "too_old"),
    ]
}

const REASONS: [&str; 6] =
    ["invalid_json", "not_an_object", "missing_timestamp", "invalid_timestamp", "too_far_in_future", "too_old"];

/// Accumulates every mismatch, so one run shows all of them.
struct Check {
    failures: Vec<String>,
    checked: usize,
}

impl Check {
    fn exact(&mut self, m: &Metrics, name: &str, labels: &[(&str, &str)], want: f64) {
        self.checked += 1;
        match m.get(name, labels) {
            Some(got) if got == want => {}
            got => self.failures.push(format!("{}: got {got:?}, want {want}", series_key(name, labels))),
        }
    }

    fn close(&mut self, m: &Metrics, name: &str, labels: &[(&str, &str)], want: f64) {
        self.checked += 1;
        match m.get(name, labels) {
            Some(got) if (got - want).abs() <= 1e-9 * want.abs().max(1.0) => {}
            got => self.failures.push(format!("{}: got {got:?}, want {want}", series_key(name, labels))),
        }
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} checks failed:\n  {}",
            self.failures.len(),
            self.checked,
            self.failures.join("\n  ")
        );
        eprintln!("[e2e] {} metric checks passed", self.checked);
    }
}

#[test]
fn exact_counts_ratios_budgets_and_alerts() {
    let test_start = Instant::now();
    let dir = scratch_dir("exact");
    let topic = unique("exact");
    let group = unique("exact-group");
    create_topic(&topic, 4);

    let t0 = now_ms();
    let mut rng = StdRng::seed_from_u64(0x5105_2026);
    let mut valid = handmade_events(t0);
    valid.extend(bulk_events(&mut rng, 600, t0));
    let rejects = rejected_messages(t0);

    let mut messages: Vec<(Vec<u8>, Option<usize>)> =
        valid.iter().enumerate().map(|(i, e)| (e.payload(rng.random()), Some(i))).collect();
    messages.extend(rejects.iter().map(|(p, _)| (p.clone(), None)));
    // Out-of-order event times within and across partitions.
    messages.shuffle(&mut rng);
    let payloads: Vec<Vec<u8>> = messages.iter().map(|(p, _)| p.clone()).collect();
    let total = payloads.len() as u64;
    let per_partition = produce(&topic, 4, &payloads);
    let t_produced = now_ms();
    eprintln!("[e2e] produced {total} messages {per_partition:?} ({} valid, {} to reject)", valid.len(), rejects.len());

    let port = free_port();
    let config = write_config(
        &dir,
        &ConfigOpts { topic: &topic, group: &group, port, workers: 2, shutdown_grace: "10s", properties: vec![] },
    );
    let mut app = Slostream::start(&dir, &config, port);
    app.wait_status("/health", 200, Duration::from_secs(20));
    assert_eq!(app.get("/health").map(|(_, b)| b.trim().to_string()), Some("ok".into()));
    app.wait_ready(Duration::from_secs(60));
    let (m, t_scrape) = app.wait_consumed(total, Duration::from_secs(60));
    eprintln!("[e2e] consumed all {total} after {:.1} s", (t_scrape - t_produced) as f64 / 1000.0);

    // The data design must be edge-safe over the whole run: same window membership at the
    // production time and at the scrape, and never close to a bucket edge.
    for e in &valid {
        let ts = e.ts;
        for (label, w, res) in WINDOWS {
            for now in [t_produced, t_scrape] {
                assert!(edge_safe(ts, now, w, res), "test data: event {e:?} too close to the {label} edge");
            }
            assert_eq!(
                in_window(ts, t_produced, w),
                in_window(ts, t_scrape, w),
                "test data: {e:?} crossed the {label} edge"
            );
        }
    }
    assert!(t_scrape - t0 < 4 * MIN, "too slow for the latency window design");

    // ---- ground truth ----
    let mut check = Check { failures: Vec::new(), checked: 0 };
    check.exact(&m, "slostream_events_consumed_total", &[], total as f64);
    for reason in REASONS {
        let want = rejects.iter().filter(|(_, r)| *r == reason).count();
        check.exact(&m, "slostream_events_rejected_total", &[("reason", reason)], want as f64);
    }
    // slostream may know more reasons than these six; the data triggers none of them.
    for (series, value) in m.family("slostream_events_rejected_total") {
        if !REASONS.iter().any(|r| *series == series_key("slostream_events_rejected_total", &[("reason", r)])) {
            check.checked += 1;
            if value != 0.0 {
                check.failures.push(format!("{series}: got {value}, want 0 (no such rejects in the data)"));
            }
        }
    }
    let unmatched = valid.iter().filter(|e| e.slis().is_empty()).count();
    check.exact(&m, "slostream_events_unmatched_total", &[], unmatched as f64);

    // Per SLI: since-start totals and per-window counts.
    let mut totals = [(0u64, 0u64); 4];
    for e in &valid {
        for (sli, good) in e.slis() {
            totals[sli].0 += 1;
            totals[sli].1 += u64::from(good);
        }
    }
    let windowed = window_counts(&valid, t_scrape);
    for (sli, name) in SLI_NAMES.iter().enumerate() {
        check.exact(&m, "slostream_sli_events_total", &[("sli", name)], totals[sli].0 as f64);
        check.exact(&m, "slostream_sli_good_events_total", &[("sli", name)], totals[sli].1 as f64);
    }

    // Per SLO and window: counts, ratio, burn; then budget, objective and alerts.
    let mut alert_state: BTreeMap<(&str, &str), bool> = BTreeMap::new();
    for slo in &SLOS {
        let labels_of = |w: &'static str| [("slo", slo.name), ("window", w)];
        let mut burn: BTreeMap<&str, f64> = BTreeMap::new();
        let mut ratio_of: BTreeMap<&str, f64> = BTreeMap::new();
        for w in slo.windows() {
            let (events, good, ratio) = slo.window(&windowed, w);
            let b = slo.burn_rate(ratio);
            burn.insert(w, b);
            ratio_of.insert(w, ratio);
            check.exact(&m, "slostream_slo_events", &labels_of(w), events as f64);
            check.exact(&m, "slostream_slo_good_events", &labels_of(w), good as f64);
            check.close(&m, "slostream_slo_sli_ratio", &labels_of(w), ratio);
            check.close(&m, "slostream_slo_burn_rate", &labels_of(w), b);
        }
        // No window series beyond the SLO's own windows.
        let rendered: BTreeSet<String> = m
            .family("slostream_slo_sli_ratio")
            .into_iter()
            .filter(|(k, _)| k.contains(&format!("slo=\"{}\"", slo.name)))
            .map(|(k, _)| k.clone())
            .collect();
        let expected: BTreeSet<String> =
            slo.windows().into_iter().map(|w| series_key("slostream_slo_sli_ratio", &labels_of(w))).collect();
        assert_eq!(rendered, expected, "{}: window series", slo.name);

        let budget = 1.0 - slo.burn_rate(ratio_of[slo.period]);
        check.close(&m, "slostream_slo_error_budget_remaining_ratio", &[("slo", slo.name)], budget);
        check.close(&m, "slostream_slo_objective_ratio", &[("slo", slo.name)], slo.objective);

        for severity in ["page", "ticket"] {
            let mut firing = false;
            for (long, short, factor) in slo.alert_rules(severity) {
                for w in [long, short] {
                    assert!(
                        (burn[w] - factor).abs() > 1e-6,
                        "test data: {} burn({w}) = {} sits on factor {factor}",
                        slo.name,
                        burn[w]
                    );
                }
                firing |= burn[long] > factor && burn[short] > factor;
            }
            alert_state.insert((slo.name, severity), firing);
            check.exact(
                &m,
                "slostream_slo_alert",
                &[("slo", slo.name), ("severity", severity)],
                if firing { 1.0 } else { 0.0 },
            );
        }
        eprintln!("[e2e] {}: burn {:?}, budget {budget:.4}", slo.name, burn);
    }
    // The data is designed so that one SLO pages and the other does not.
    assert!(alert_state[&("book-a-ride", "page")], "test data: book-a-ride should page");
    assert!(!alert_state[&("search-a-ride", "page")], "test data: search-a-ride should not page");
    eprintln!("[e2e] alerts: {alert_state:?}");

    // Latency quantiles: per SLI, every latency of an event in the last five minutes of event
    // time (by minute), nearest rank ceil(q·n), as HdrHistogram with 2 significant digits
    // reports it: the bucket's highest equivalent value, at most 1% above the true value.
    let minute = |ms: i64| ms.div_euclid(MIN);
    for (sli, name) in SLI_NAMES.iter().enumerate() {
        let mut lat: Vec<f64> = valid
            .iter()
            .filter(|e| e.slis().iter().any(|(s, _)| *s == sli))
            .filter(|e| minute(e.ts) > minute(t_scrape) - 5 && e.ts <= t_scrape)
            .filter_map(|e| e.latency.map(Num::as_f64))
            .collect();
        lat.sort_by(f64::total_cmp);
        for q in ["0.5", "0.9", "0.99", "0.999"] {
            let got = m.get("slostream_sli_latency_seconds", &[("sli", name), ("quantile", q)]);
            if lat.is_empty() {
                check.checked += 1;
                if got.is_some() {
                    check.failures.push(format!("{name} q{q}: latency series rendered without latencies: {got:?}"));
                }
                continue;
            }
            let qf: f64 = q.parse().unwrap();
            let rank = ((qf * lat.len() as f64).ceil() as usize).max(1);
            let want = lat[rank - 1] / 1000.0;
            check.checked += 1;
            match got {
                Some(g) if g >= want * (1.0 - 1e-9) && g <= want * 1.01 => {}
                _ => check.failures.push(format!("{name} q{q}: got {got:?} s, want {want} s (+1%) from {lat:?} ms")),
            }
        }
    }
    assert!(m.get("slostream_sli_latency_seconds", &[("sli", "search-latency"), ("quantile", "0.5")]).is_some());
    assert!(
        (m.get("slostream_sli_latency_seconds", &[("sli", "search-latency"), ("quantile", "0.5")]).unwrap() - 0.120)
            .abs()
            < 0.0013,
        "search-latency p50 is 120 ms by design"
    );

    check.exact(&m, "slostream_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    check.exact(&m, "slostream_state_ready", &[], 1.0);
    check.finish();

    // Consumer lag: one series per partition of the topic, all reaching 0.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = app.scrape();
        let lags: Vec<(String, f64)> = (0..4)
            .map(|p| {
                (
                    p.to_string(),
                    m.get("slostream_consumer_lag", &[("topic", &topic), ("partition", &p.to_string())])
                        .unwrap_or(-1.0),
                )
            })
            .collect();
        if lags.iter().all(|(_, l)| *l == 0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "consumer lag per partition did not reach 0: {lags:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(app.get("/health").map(|(s, _)| s), Some(200));

    let (status, took) = app.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    eprintln!(
        "[e2e] exact_counts: exit after {:.1} s, test took {:.1} s",
        took.as_secs_f64(),
        test_start.elapsed().as_secs_f64()
    );
}

#[test]
fn sigterm_commits_counted_offsets() {
    const N: u64 = 3000;
    let test_start = Instant::now();
    let dir = scratch_dir("sigterm");
    let topic = unique("sigterm");
    let group = unique("sigterm-group");
    create_topic(&topic, 3);

    // The binary's own load generator writes the events (keyed, so spread over the partitions).
    let out = Command::new(env!("CARGO_BIN_EXE_slostream"))
        .args([
            "loadgen",
            "--brokers",
            &broker().bootstrap,
            "--topic",
            &topic,
            "--rate",
            "0",
            "--count",
            &N.to_string(),
            "--incident-every",
            "0",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run slostream loadgen");
    assert!(out.status.success(), "loadgen failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let high = high_watermarks(&topic, 3);
    assert_eq!(high.iter().sum::<i64>(), N as i64, "loadgen delivered {high:?}");
    assert!(high.iter().all(|&h| h > 0), "every partition should get events: {high:?}");

    let grace = Duration::from_secs(10);
    let port = free_port();
    let config = write_config(
        &dir,
        &ConfigOpts { topic: &topic, group: &group, port, workers: 2, shutdown_grace: "10s", properties: vec![] },
    );
    let mut app = Slostream::start(&dir, &config, port);
    app.wait_ready(Duration::from_secs(60));
    let (m, _) = app.wait_consumed(N, Duration::from_secs(60));
    let rejected: f64 = m.family("slostream_events_rejected_total").iter().map(|(_, v)| v).sum();
    assert_eq!(rejected, 0.0, "loadgen events are all valid");
    // Immediately: no waiting for an auto-commit to have happened first.
    let (status, took) = app.terminate(grace + Duration::from_secs(5));
    assert!(status.success(), "exit status after SIGTERM: {status}; log:\n{}", app.log_tail(40));
    assert!(took <= grace, "exit took {took:?}, longer than the {grace:?} grace period");
    let log = app.log_text();
    assert!(!log.contains("grace period ran out"), "log:\n{log}");
    eprintln!("[e2e] sigterm: exited {status} after {:.2} s", took.as_secs_f64());

    let committed = committed_offsets(&group, &topic, 3);
    let as_offsets: Vec<i64> = committed.iter().map(|c| c.unwrap_or(-1)).collect();
    assert_eq!(as_offsets, high, "committed offsets per partition must equal the high watermarks");
    assert_eq!(as_offsets.iter().sum::<i64>(), N as i64);

    // Restart with the same group and the same state directory, then add 7 events: whatever the
    // instance resumes from (the group's committed offsets, or a local checkpoint that also
    // restores the counters), it must count exactly the 7 new events on top of what it starts
    // with, and start with either nothing (no restored counters) or exactly the first run's N.
    let extra: Vec<Vec<u8>> = (0..7)
        .map(|i| format!(r#"{{"timestamp":{},"service":"geo","status":200,"i":{i}}}"#, now_ms()).into_bytes())
        .collect();
    let port = free_port();
    let config = write_config(
        &dir,
        &ConfigOpts { topic: &topic, group: &group, port, workers: 2, shutdown_grace: "10s", properties: vec![] },
    );
    let mut again = Slostream::start(&dir, &config, port);
    again.wait_ready(Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2)); // a re-read of committed events would show by now
    let base = again.scrape();
    let consumed0 = base.get("slostream_events_consumed_total", &[]).unwrap_or(-1.0);
    let geo0 = base.get("slostream_sli_events_total", &[("sli", "geo-availability")]).unwrap_or(0.0);
    assert!(
        consumed0 == 0.0 || consumed0 == N as f64,
        "restarted instance starts at consumed {consumed0}: it re-read committed events"
    );
    eprintln!(
        "[e2e] sigterm: restarted instance starts at consumed {consumed0} ({})",
        if consumed0 == 0.0 { "resumed from the group's offsets" } else { "restored its checkpoint" }
    );
    produce(&topic, 3, &extra);
    let want = consumed0 as u64 + extra.len() as u64;
    again.wait_consumed(want, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let m = again.scrape();
    assert_eq!(
        m.get("slostream_events_consumed_total", &[]),
        Some(want as f64),
        "the restarted instance re-read committed events"
    );
    assert_eq!(m.get("slostream_sli_events_total", &[("sli", "geo-availability")]), Some(geo0 + extra.len() as f64));
    let (status, _) = again.terminate(grace + Duration::from_secs(5));
    assert!(status.success(), "second exit status {status}");
    let high = high_watermarks(&topic, 3);
    let committed: Vec<i64> = committed_offsets(&group, &topic, 3).iter().map(|c| c.unwrap_or(-1)).collect();
    assert_eq!(committed, high, "after the second run");
    eprintln!("[e2e] sigterm test took {:.1} s", test_start.elapsed().as_secs_f64());
}

#[test]
fn not_ready_and_no_slo_series_until_partitions_are_assigned() {
    let test_start = Instant::now();
    let dir = scratch_dir("ready");
    let topic = unique("ready"); // does not exist yet; consumers never auto-create topics
    let group = unique("ready-group");
    let port = free_port();
    // A short metadata refresh so the subscription notices the topic once it is created.
    let config = write_config(
        &dir,
        &ConfigOpts {
            topic: &topic,
            group: &group,
            port,
            workers: 2,
            shutdown_grace: "10s",
            properties: vec![("topic.metadata.refresh.interval.ms", "1000")],
        },
    );
    let mut app = Slostream::start(&dir, &config, port);
    app.wait_status("/health", 200, Duration::from_secs(20));

    let slo_window_families =
        ["slostream_slo_sli_ratio", "slostream_slo_events", "slostream_slo_good_events", "slostream_slo_burn_rate"];
    let slo_families = ["slostream_slo_error_budget_remaining_ratio", "slostream_slo_alert"];
    let until = Instant::now() + Duration::from_secs(5);
    let mut scrapes = 0;
    while Instant::now() < until {
        let ready = app.get("/ready").map(|(s, _)| s);
        assert_eq!(ready, Some(503), "/ready before the topic exists");
        let m = app.scrape();
        for f in slo_window_families.iter().chain(&slo_families) {
            assert!(m.family(f).is_empty(), "{f} rendered before ready: {:?}", m.family(f));
        }
        assert_eq!(m.get("slostream_state_ready", &[]), Some(0.0));
        // Objectives are static: they are there from the start.
        assert_eq!(m.get("slostream_slo_objective_ratio", &[("slo", "book-a-ride")]), Some(0.999));
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("[e2e] ready: 503 and no SLO series over {scrapes} scrapes");

    create_topic(&topic, 2);
    let took = app.wait_ready(Duration::from_secs(60));
    eprintln!("[e2e] ready: 200 {:.1} s after the topic was created", took.as_secs_f64());
    let events: Vec<Vec<u8>> = (0..10)
        .map(|i| {
            format!(
                r#"{{"timestamp":{},"service":"booking","method":"POST","status":{}}}"#,
                now_ms() - 90 * SEC,
                if i < 9 { 201 } else { 500 }
            )
            .into_bytes()
        })
        .collect();
    produce(&topic, 2, &events);
    let (m, _) = app.wait_consumed(10, Duration::from_secs(60));
    assert_eq!(m.get("slostream_state_ready", &[]), Some(1.0));
    for slo in &SLOS {
        for w in slo.windows() {
            for f in slo_window_families {
                assert!(
                    m.get(f, &[("slo", slo.name), ("window", w)]).is_some(),
                    "{f}{{slo={},window={w}}} missing once ready",
                    slo.name
                );
            }
        }
    }
    // 9 of 10 good, one component live: weighted ratio 0.9 in every window of book-a-ride.
    assert_eq!(m.get("slostream_slo_events", &[("slo", "book-a-ride"), ("window", "5m")]), Some(10.0));
    let r = m.get("slostream_slo_sli_ratio", &[("slo", "book-a-ride"), ("window", "5m")]).unwrap();
    assert!((r - 0.9).abs() < 1e-9, "book-a-ride 5m ratio {r}");
    // search-a-ride saw nothing: ratio 1, burn 0.
    assert_eq!(m.get("slostream_slo_sli_ratio", &[("slo", "search-a-ride"), ("window", "28d")]), Some(1.0));
    assert_eq!(m.get("slostream_slo_burn_rate", &[("slo", "search-a-ride"), ("window", "5m")]), Some(0.0));
    let (status, _) = app.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    eprintln!("[e2e] readiness test took {:.1} s", test_start.elapsed().as_secs_f64());
}

/// Under a steady trickle (20 messages a second, each arriving before the worker's 100 ms poll
/// times out) the worker must still publish about twice a second: `/metrics` should never lag
/// the stream by more than a couple of seconds.
/// Regression guard: the worker once did its housekeeping only every 256 messages unless a
/// 100 ms poll came back empty, so at 20 msg/s the count stood still for 12.8 s.
#[test]
fn metrics_stay_fresh_under_a_steady_trickle() {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let dir = scratch_dir("trickle");
    let topic = unique("trickle");
    let group = unique("trickle-group");
    create_topic(&topic, 1);
    let port = free_port();
    let config = write_config(
        &dir,
        &ConfigOpts { topic: &topic, group: &group, port, workers: 1, shutdown_grace: "10s", properties: vec![] },
    );
    let mut app = Slostream::start(&dir, &config, port);
    app.wait_ready(Duration::from_secs(60));

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker().bootstrap)
        .set("linger.ms", "0")
        .create()
        .expect("producer");
    let interval = Duration::from_millis(50);
    let run_for = Duration::from_secs(16);
    let started = Instant::now();
    let mut sent = 0u64;
    let mut samples: Vec<(f64, f64)> = Vec::new(); // (seconds since start, consumed)
    let mut next_scrape = started;
    while started.elapsed() < run_for {
        let payload = format!(r#"{{"timestamp":{},"service":"geo","status":200}}"#, now_ms());
        producer.send(BaseRecord::<(), str>::to(&topic).payload(&payload)).expect("send");
        producer.poll(Duration::ZERO);
        sent += 1;
        if Instant::now() >= next_scrape {
            next_scrape += Duration::from_millis(250);
            let c = app.scrape().get("slostream_events_consumed_total", &[]).unwrap_or(0.0);
            samples.push((started.elapsed().as_secs_f64(), c));
        }
        let due = started + interval * sent as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
    app.wait_consumed(sent, Duration::from_secs(60));

    // Longest stretch during which the count did not move (events flowed from the start).
    let mut longest = 0.0f64;
    let mut since = samples[0];
    for s in &samples {
        if s.1 != since.1 {
            since = *s;
        }
        longest = longest.max(s.0 - since.0);
    }
    eprintln!(
        "[e2e] trickle: {sent} messages in {:.1} s; /metrics count stood still for at most {longest:.2} s",
        run_for.as_secs_f64()
    );
    assert!(
        longest <= 2.5,
        "slostream_events_consumed_total stood still for {longest:.2} s while 20 msg/s flowed: {samples:?}"
    );
    let (status, _) = app.terminate(Duration::from_secs(30));
    assert!(status.success());
}
