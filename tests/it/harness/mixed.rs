//! The mixed event set of the exact-counts tests, and everything expected of it.
//!
//! Hand-made events carry the alert design (book-a-ride pages, search-a-ride does not; a 2h
//! burn that tickets without paging; events only in one SLO's period), seeded bulk traffic
//! fills every window, and messages to reject cover six reasons with different counts (3, 2, 2,
//! 4, 3, 5) so a swapped label cannot go unnoticed. Unmatched events, three timestamp formats,
//! event times from 30 s to 29 days old, shuffled so times arrive out of order.
//!
//! The `check_*` functions compare a scrape with the ground truth ([`super::truth`]): every
//! counter, every SLO window's counts, ratio and burn rate, budgets, objectives, alert states
//! and latency quantiles, exactly (floats within 1e-9 relative).

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use slostream::names::{self, label};

use super::truth::*;
use super::{series_key, Check, Metrics};

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

/// The JSON of `ev`: its fields, then fields no SLI reads (`noise` varies them).
fn payload(ev: &Ev, noise: u64) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("timestamp".into(), ev.timestamp());
    for (field, value) in [("service", ev.service), ("route", ev.route), ("method", ev.method)] {
        if !value.is_empty() {
            m.insert(field.into(), json!(value));
        }
    }
    if let Some(status) = ev.status {
        m.insert("status".into(), status.json());
    }
    if let Some(latency) = ev.latency {
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
pub fn handmade_events(t0: i64) -> Vec<Ev> {
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
pub fn bulk_events(rng: &mut StdRng, count: usize, t0: i64) -> Vec<Ev> {
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
pub fn rejected_messages(t0: i64) -> Vec<(Vec<u8>, &'static str)> {
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

pub const REASONS: [&str; 6] =
    ["invalid_json", "not_an_object", "missing_timestamp", "invalid_timestamp", "too_far_in_future", "too_old"];

/// The mixed set: valid events (hand-made, then 600 bulk) and messages to reject, as shuffled
/// payloads.
pub struct MixedSet {
    /// The reference time every event's age counts back from.
    pub t0: i64,
    pub valid: Vec<Ev>,
    /// Each rejected message with the reason it must be counted under.
    pub rejects: Vec<(Vec<u8>, &'static str)>,
    /// Every message, valid or not, in production order (shuffled).
    pub payloads: Vec<Vec<u8>>,
}

impl MixedSet {
    /// The set at `t0`, seeded: the same events every run, only the times move.
    pub fn new(t0: i64) -> MixedSet {
        let mut rng = StdRng::seed_from_u64(0x5105_2026);
        let mut valid = handmade_events(t0);
        valid.extend(bulk_events(&mut rng, 600, t0));
        let rejects = rejected_messages(t0);
        let mut messages: Vec<(Vec<u8>, Option<usize>)> =
            valid.iter().enumerate().map(|(i, e)| (payload(e, rng.random()), Some(i))).collect();
        messages.extend(rejects.iter().map(|(p, _)| (p.clone(), None)));
        // Out-of-order event times within and across partitions.
        messages.shuffle(&mut rng);
        let payloads = messages.into_iter().map(|(p, _)| p).collect();
        MixedSet { t0, valid, rejects, payloads }
    }

    /// How many messages there are.
    pub fn total(&self) -> u64 {
        self.payloads.len() as u64
    }

    /// The data design must be edge-safe over the whole run: same window membership at the
    /// production time and at the scrape, and never close to a bucket edge.
    pub fn assert_edge_safe(&self, t_produced: i64, t_scrape: i64) {
        for e in &self.valid {
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
        assert!(t_scrape - self.t0 < 4 * MIN, "too slow for the latency window design");
    }

    /// Consumed, rejects per reason (and no other reason), unmatched.
    pub fn check_counters(&self, check: &mut Check, m: &Metrics) {
        check.exact(m, names::EVENTS_CONSUMED.name, &[], self.total() as f64);
        for reason in REASONS {
            let want = self.rejects.iter().filter(|(_, r)| *r == reason).count();
            check.exact(m, names::EVENTS_REJECTED.name, &[(label::REASON, reason)], want as f64);
        }
        // slostream may know more reasons than these six; the data triggers none of them.
        for (series, value) in m.family(names::EVENTS_REJECTED.name) {
            if !REASONS.iter().any(|r| *series == series_key(names::EVENTS_REJECTED.name, &[(label::REASON, r)])) {
                check.that(
                    (value != 0.0).then(|| format!("{series}: got {value}, want 0 (no such rejects in the data)")),
                );
            }
        }
        let unmatched = self.valid.iter().filter(|e| e.slis().is_empty()).count();
        check.exact(m, names::EVENTS_UNMATCHED.name, &[], unmatched as f64);
    }

    /// Per SLI: since-start events and good events.
    pub fn check_sli_totals(&self, check: &mut Check, m: &Metrics) {
        let mut totals = [(0u64, 0u64); 4];
        for e in &self.valid {
            for (sli, good) in e.slis() {
                totals[sli].0 += 1;
                totals[sli].1 += u64::from(good);
            }
        }
        for (sli, name) in SLI_NAMES.iter().enumerate() {
            check.exact(m, names::SLI_EVENTS.name, &[(label::SLI, name)], totals[sli].0 as f64);
            check.exact(m, names::SLI_GOOD_EVENTS.name, &[(label::SLI, name)], totals[sli].1 as f64);
        }
    }

    /// Per SLO and window at `t_scrape`: counts, ratio, burn rate, and no window series beyond
    /// the SLO's own; then budget, objective and the alert of each severity. Returns whether each
    /// (SLO, severity) fires; asserts the data keeps every burn rate clear of its factor.
    pub fn check_slos(
        &self,
        check: &mut Check,
        m: &Metrics,
        t_scrape: i64,
    ) -> BTreeMap<(&'static str, &'static str), bool> {
        let windowed = window_counts(&self.valid, t_scrape);
        let mut alert_state = BTreeMap::new();
        for slo in &SLOS {
            let labels_of = |w: &'static str| [(label::SLO, slo.name), (label::WINDOW, w)];
            let mut burn: BTreeMap<&str, f64> = BTreeMap::new();
            let mut ratio_of: BTreeMap<&str, f64> = BTreeMap::new();
            for w in slo.windows() {
                let (events, good, ratio) = slo.window(&windowed, w);
                let b = slo.burn_rate(ratio);
                burn.insert(w, b);
                ratio_of.insert(w, ratio);
                check.exact(m, names::SLO_EVENTS.name, &labels_of(w), events as f64);
                check.exact(m, names::SLO_GOOD_EVENTS.name, &labels_of(w), good as f64);
                check.close(m, names::SLO_SLI_RATIO.name, &labels_of(w), ratio);
                check.close(m, names::SLO_BURN_RATE.name, &labels_of(w), b);
                for (&(sli, _), c) in slo.components.iter().zip(slo.contributions(&windowed, w)) {
                    let labels = [(label::SLO, slo.name), (label::SLI, SLI_NAMES[sli]), (label::WINDOW, w)];
                    check.close(m, names::SLO_BURN_CONTRIBUTION.name, &labels, c);
                }
            }
            // No window series beyond the SLO's own windows.
            let rendered: BTreeSet<String> = m
                .family(names::SLO_SLI_RATIO.name)
                .into_iter()
                .filter(|(k, _)| k.contains(&format!("{}=\"{}\"", label::SLO, slo.name)))
                .map(|(k, _)| k.clone())
                .collect();
            let expected: BTreeSet<String> =
                slo.windows().into_iter().map(|w| series_key(names::SLO_SLI_RATIO.name, &labels_of(w))).collect();
            assert_eq!(rendered, expected, "{}: window series", slo.name);

            let budget = 1.0 - slo.burn_rate(ratio_of[slo.period]);
            check.close(m, names::SLO_BUDGET_REMAINING.name, &[(label::SLO, slo.name)], budget);
            let state = Slo::budget_state(budget, slo.window(&windowed, slo.period).0);
            for s in ["healthy", "at_risk", "exhausted", "no_data"] {
                let labels = [(label::SLO, slo.name), (label::STATE, s)];
                check.exact(m, names::SLO_BUDGET_STATE.name, &labels, if s == state { 1.0 } else { 0.0 });
            }
            check.close(m, names::SLO_OBJECTIVE.name, &[(label::SLO, slo.name)], slo.objective);

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
                let labels = [(label::SLO, slo.name), (label::SEVERITY, severity)];
                check.exact(m, names::SLO_ALERT.name, &labels, if firing { 1.0 } else { 0.0 });
            }
            eprintln!("[it] {}: burn {:?}, budget {budget:.4}", slo.name, burn);
        }
        alert_state
    }

    /// Latency quantiles: per SLI, every latency of an event in the last five minutes of event
    /// time (by minute), nearest rank ceil(q·n), as HdrHistogram with 2 significant digits
    /// reports it: the bucket's highest equivalent value, at most 1% above the true value.
    pub fn check_latency_quantiles(&self, check: &mut Check, m: &Metrics, t_scrape: i64) {
        let minute = |ms: i64| ms.div_euclid(MIN);
        for (sli, name) in SLI_NAMES.iter().enumerate() {
            let mut lat: Vec<f64> = self
                .valid
                .iter()
                .filter(|e| e.slis().iter().any(|(s, _)| *s == sli))
                .filter(|e| minute(e.ts) > minute(t_scrape) - 5 && e.ts <= t_scrape)
                .filter_map(Ev::recorded_latency)
                .collect();
            lat.sort_by(f64::total_cmp);
            for q in ["0.5", "0.9", "0.99", "0.999"] {
                let got = m.get(names::SLI_LATENCY.name, &[(label::SLI, name), (label::QUANTILE, q)]);
                if lat.is_empty() {
                    check.that(
                        got.map(|g| format!("{name} q{q}: latency series rendered without latencies: {:?}", Some(g))),
                    );
                    continue;
                }
                let qf: f64 = q.parse().unwrap();
                let rank = ((qf * lat.len() as f64).ceil() as usize).max(1);
                let want = lat[rank - 1] / 1000.0;
                check.that(match got {
                    Some(g) if g >= want * (1.0 - 1e-9) && g <= want * 1.01 => None,
                    _ => Some(format!("{name} q{q}: got {got:?} s, want {want} s (+1%) from {lat:?} ms")),
                });
            }
        }
    }
}

/// The data is designed so that one SLO pages and the other does not.
pub fn assert_alert_design(alert_state: &BTreeMap<(&str, &str), bool>) {
    assert!(alert_state[&("book-a-ride", "page")], "test data: book-a-ride should page");
    assert!(!alert_state[&("search-a-ride", "page")], "test data: search-a-ride should not page");
    eprintln!("[it] alerts: {alert_state:?}");
}

/// search-latency's p50 is 120 ms by design (hand-made latencies 50, 120, 120.0, 120, 300).
pub fn assert_search_latency_p50(m: &Metrics) {
    assert!(m.get(names::SLI_LATENCY.name, &[(label::SLI, "search-latency"), (label::QUANTILE, "0.5")]).is_some());
    assert!(
        (m.get(names::SLI_LATENCY.name, &[(label::SLI, "search-latency"), (label::QUANTILE, "0.5")]).unwrap() - 0.120)
            .abs()
            < 0.0013,
        "search-latency p50 is 120 ms by design"
    );
}
