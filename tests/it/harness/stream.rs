//! Seeded message streams and the counts they must produce: valid events of every SLI (all
//! three timestamp formats, ages spread over every window, a few with a status or latency of
//! the wrong type), rejects of every reason slostream knows, weighted unevenly so that a swapped
//! reason label cannot go unnoticed, and [`Expected`], the tally of what every exported count
//! must then be.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use slostream::names::{self, label};

use super::truth::*;
use super::{Check, Deployment, KafkaClient, Metrics, Record, Served, Slostream};

/// Every reason slostream knows; each must be counted exactly (most often 0).
pub const REASONS: [&str; 7] = [
    "invalid_json",
    "not_an_object",
    "missing_timestamp",
    "invalid_timestamp",
    "too_far_in_future",
    "too_old",
    "too_large",
];

/// Odd status values: strings written as numbers (compared as those numbers), and values of
/// the wrong type (each fails the status tests: the event counts as bad).
const ODD_STATUS: [Num; 6] = [
    Num::Text("503", Some(503.0)),
    Num::Text("200", Some(200.0)),
    Num::Text("201.0", Some(201.0)),
    Num::Text("OK", None),
    Num::Other("true"),
    Num::Other(r#"{"code":200}"#),
];

/// Odd latencies: negative (a number, so `le: 300` holds, but never recorded), strings written
/// as numbers (recorded), and values of the wrong type.
const ODD_LATENCY: [Num; 5] =
    [Num::Int(-5), Num::Text("120", Some(120.0)), Num::Text("fast", None), Num::Other("[7]"), Num::Other("false")];

/// `events.max_message_bytes` of every deployment that produces these streams (see
/// [`Deployment::max_message_bytes`](super::Deployment::max_message_bytes)).
pub const MAX_BYTES: usize = 4096;

/// The JSON of `ev`, with fields no SLI reads (a nested `trace.status` that must not be misread).
pub fn payload(ev: &Ev, id: u64) -> Vec<u8> {
    let mut s = format!(r#"{{"timestamp":{}"#, ev.timestamp());
    for (field, value) in [("service", ev.service), ("route", ev.route), ("method", ev.method)] {
        if !value.is_empty() {
            s += &format!(r#","{field}":"{value}""#);
        }
    }
    if let Some(st) = ev.status {
        s += &format!(r#","status":{st}"#);
    }
    if let Some(l) = ev.latency {
        s += &format!(r#","latency_ms":{l}"#);
    }
    s += &format!(r#","request_id":"{id:016x}","trace":{{"status":"n/a","spans":[1,{{"latency_ms":-1}}]}}}}"#);
    s.into_bytes()
}

/// What a message is, for the ground truth.
#[derive(Clone, Debug)]
pub enum Kind {
    Valid(Ev),
    Reject(&'static str),
}

/// One message to produce and what slostream must make of it.
#[derive(Clone, Debug)]
pub struct Item {
    pub key: Option<Vec<u8>>,
    /// `None`: a record without a value.
    pub payload: Option<Vec<u8>>,
    pub kind: Kind,
}

impl Item {
    pub fn record(&self, partition: i32) -> Record {
        Record { partition, key: self.key.clone(), payload: self.payload.clone() }
    }
}

/// Ages (before the reference time) of bulk events: every window from 30m up gets some, each
/// at least 9 minutes away from any window edge for a test shorter than that.
pub const BULK_AGES: [i64; 8] =
    [20 * MIN, 45 * MIN, 90 * MIN, 3 * HOUR, 10 * HOUR, 2 * DAY + 30 * MIN, 20 * DAY, 29 * DAY];
/// Ages of "fresh" events, produced last, for the 5m window.
pub const FRESH_AGES: [i64; 2] = [30 * SEC, 2 * MIN];

pub fn valid_event(rng: &mut StdRng, t_ref: i64, ages: &[i64]) -> Ev {
    let ts = t_ref - ages[rng.random_range(0..ages.len())] + rng.random_range(-15 * SEC..=15 * SEC);
    let fmt = [Fmt::Epoch, Fmt::Utc, Fmt::Plus2][rng.random_range(0..3)];
    let pick: f64 = rng.random();
    let status = |rng: &mut StdRng, list: &[i64]| {
        Some(if rng.random_bool(0.03) {
            ODD_STATUS[rng.random_range(0..ODD_STATUS.len())]
        } else {
            Num::Int(list[rng.random_range(0..list.len())])
        })
    };
    let latency = |rng: &mut StdRng| {
        Some(if rng.random_bool(0.03) {
            ODD_LATENCY[rng.random_range(0..ODD_LATENCY.len())]
        } else if rng.random_bool(0.5) {
            Num::Int(rng.random_range(1..=600_i32).into())
        } else {
            Num::Float(rng.random_range(1..600) as f64 + 0.5)
        })
    };
    if pick < 0.4 {
        let route = ["/v2/trips", "/v2/trips/{id}", "/v2/health"][rng.random_range(0..3)];
        let lat = if rng.random_bool(0.95) { latency(rng) } else { None };
        Ev {
            ts,
            fmt,
            service: "search-api",
            route,
            method: "GET",
            status: status(rng, &[200, 200, 200, 404, 500, 503]),
            latency: lat,
        }
    } else if pick < 0.65 {
        let st = if rng.random_bool(0.97) { status(rng, &[200, 200, 200, 502]) } else { None };
        Ev { ts, fmt, service: "geo", route: "/v1/geocode", method: "GET", status: st, latency: latency(rng) }
    } else if pick < 0.9 {
        let method = if rng.random_bool(0.8) { "POST" } else { ["GET", "PUT", "post"][rng.random_range(0..3)] };
        Ev {
            ts,
            fmt,
            service: "booking",
            route: "/v1/bookings",
            method,
            status: status(rng, &[201, 201, 201, 201, 429, 500]),
            latency: None,
        }
    } else {
        let service = ["payments", "notifications", "geo-v2"][rng.random_range(0..3)];
        Ev { ts, fmt, service, route: "/x", method: "GET", status: Some(Num::Int(200)), latency: latency(rng) }
    }
}

/// A payload rejected for exactly `reason` (everything else about it is fine).
pub fn reject_payload(rng: &mut StdRng, t_ref: i64, reason: &str) -> Option<Vec<u8>> {
    let ts = t_ref - 10 * MIN;
    let pick =
        |rng: &mut StdRng, options: Vec<String>| Some(options[rng.random_range(0..options.len())].clone().into_bytes());
    match reason {
        "invalid_json" => pick(
            rng,
            vec![
                format!(r#"{{"timestamp":{ts},"service":"geo""#),
                "not json at all".into(),
                String::new(),
                format!(r#"{{"timestamp":{ts},"service":"geo","status":200}} trailing"#),
            ],
        ),
        "not_an_object" => pick(
            rng,
            vec![
                format!(r#"[{{"timestamp":{ts},"service":"geo"}}]"#),
                "null".into(),
                "42".into(),
                r#""a string""#.into(),
            ],
        ),
        "missing_timestamp" => pick(
            rng,
            vec![
                r#"{"service":"geo","status":200}"#.into(),
                r#"{"timestamp":null,"service":"booking","method":"POST","status":500}"#.into(),
            ],
        ),
        "invalid_timestamp" => pick(
            rng,
            vec![
                r#"{"timestamp":1.5e12,"service":"geo","status":200}"#.into(),
                r#"{"timestamp":"yesterday","service":"geo","status":200}"#.into(),
                r#"{"timestamp":true,"service":"geo","status":200}"#.into(),
            ],
        ),
        "too_far_in_future" => pick(
            rng,
            vec![
                format!(r#"{{"timestamp":{},"service":"geo","status":200}}"#, t_ref + DAY),
                format!(r#"{{"timestamp":"{}","service":"geo","status":200}}"#, rfc3339(t_ref + 365 * DAY, 0)),
            ],
        ),
        "too_old" => pick(
            rng,
            vec![
                format!(r#"{{"timestamp":{},"service":"geo","status":200}}"#, t_ref - 40 * DAY),
                r#"{"timestamp":0,"service":"geo","status":200}"#.into(),
                r#"{"timestamp":-5000,"service":"geo","status":200}"#.into(),
            ],
        ),
        "too_large" => Some(
            format!(r#"{{"timestamp":{ts},"service":"geo","status":200,"pad":"{}"}}"#, "x".repeat(MAX_BYTES + 100))
                .into_bytes(),
        ),
        other => panic!("no payload for reason {other}"),
    }
}

/// `n` messages: valid events at `ages` before `t_ref`, and about `reject_share` of rejects,
/// reasons weighted unevenly (so a swapped label cannot go unnoticed).
pub fn stream(rng: &mut StdRng, n: usize, t_ref: i64, ages: &[i64], reject_share: f64) -> Vec<Item> {
    const WEIGHTS: [u32; 7] = [9, 5, 3, 7, 2, 6, 1];
    let total_weight: u32 = WEIGHTS.iter().sum();
    (0..n)
        .map(|_| {
            let id: u64 = rng.random();
            let key = rng.random_bool(0.5).then(|| format!("k{}", id % 1000).into_bytes());
            if rng.random_bool(reject_share) {
                let mut w = rng.random_range(0..total_weight);
                let mut i = 0;
                while w >= WEIGHTS[i] {
                    w -= WEIGHTS[i];
                    i += 1;
                }
                let reason = REASONS[i];
                Item { key, payload: reject_payload(rng, t_ref, reason), kind: Kind::Reject(reason) }
            } else {
                let ev = valid_event(rng, t_ref, ages);
                Item { key, payload: Some(payload(&ev, id)), kind: Kind::Valid(ev) }
            }
        })
        .collect()
}

/// Round-robin over `partitions`.
pub fn records(items: &[Item], partitions: i32) -> Vec<Record> {
    items.iter().enumerate().map(|(i, it)| it.record(i as i32 % partitions)).collect()
}

/// What every exported count must be after the messages added so far.
#[derive(Default)]
pub struct Expected {
    pub consumed: u64,
    pub rejected: BTreeMap<&'static str, u64>,
    pub unmatched: u64,
    /// Valid events whose latency was not recorded.
    pub latency_invalid: u64,
    /// Valid events per field holding a value of the wrong type.
    pub mismatches: BTreeMap<&'static str, u64>,
    /// (events, good) per SLI.
    pub totals: [(u64, u64); 4],
    /// Valid events counted in an SLI or as unmatched (not those in maintenance).
    pub valid: Vec<Ev>,
    /// The deployment's maintenance windows, in config order.
    pub maintenance: Vec<Maintenance>,
    /// Valid events each window claimed (indexed like `maintenance`).
    pub in_maintenance: Vec<u64>,
}

impl Expected {
    pub fn of(items: &[Item]) -> Expected {
        let mut t = Expected::default();
        t.add(items);
        t
    }

    /// No message added yet, for a deployment with these maintenance windows.
    pub fn with_maintenance(windows: &[Maintenance]) -> Expected {
        Expected { maintenance: windows.to_vec(), in_maintenance: vec![0; windows.len()], ..Expected::default() }
    }

    pub fn add(&mut self, items: &[Item]) {
        for it in items {
            self.consumed += 1;
            match &it.kind {
                Kind::Reject(r) => *self.rejected.entry(r).or_default() += 1,
                Kind::Valid(ev) => {
                    for field in ev.mismatched_fields() {
                        *self.mismatches.entry(field).or_default() += 1;
                    }
                    // Claimed by a maintenance window: in no SLI, not unmatched, no latency.
                    if let Some(w) = claimed_by(&self.maintenance, ev) {
                        self.in_maintenance[w] += 1;
                        continue;
                    }
                    self.latency_invalid += u64::from(ev.latency_invalid());
                    let slis = ev.slis();
                    if slis.is_empty() {
                        self.unmatched += 1;
                    }
                    for (sli, good) in slis {
                        self.totals[sli].0 += 1;
                        self.totals[sli].1 += u64::from(good);
                    }
                    self.valid.push(ev.clone());
                }
            }
        }
    }

    /// Asserts every count of `m`, scraped at `t_scrape`: consumed, rejects per reason (every
    /// reason slostream knows), unmatched, invalid latencies, type mismatches per field, per-SLI
    /// totals and per-SLO-window events and good
    /// events. Every mismatch is listed. Also checks that the test data itself stays clear of
    /// window edges.
    pub fn assert_scrape(&self, what: &str, m: &Metrics, t_scrape: i64) {
        let mut check = Check::new(what);
        check.exact(m, names::EVENTS_CONSUMED.name, &[], self.consumed as f64);
        for reason in REASONS {
            let want = self.rejected.get(reason).copied().unwrap_or(0);
            check.exact(m, names::EVENTS_REJECTED.name, &[(label::REASON, reason)], want as f64);
        }
        check.exact(m, names::EVENTS_UNMATCHED.name, &[], self.unmatched as f64);
        check.exact(m, names::LATENCY_INVALID.name, &[], self.latency_invalid as f64);
        for field in CONDITION_FIELDS {
            let want = self.mismatches.get(field).copied().unwrap_or(0);
            check.exact(m, names::FIELD_TYPE_MISMATCHES.name, &[(label::FIELD, field)], want as f64);
        }
        for (w, n) in self.maintenance.iter().zip(&self.in_maintenance) {
            check.exact(m, names::EVENTS_IN_MAINTENANCE.name, &[(label::MAINTENANCE, w.name)], *n as f64);
            let active = f64::from(u8::from(w.active_at(t_scrape)));
            check.exact(m, names::MAINTENANCE_ACTIVE.name, &[(label::MAINTENANCE, w.name)], active);
        }
        for (sli, name) in SLI_NAMES.iter().enumerate() {
            check.exact(m, names::SLI_EVENTS.name, &[(label::SLI, name)], self.totals[sli].0 as f64);
            check.exact(m, names::SLI_GOOD_EVENTS.name, &[(label::SLI, name)], self.totals[sli].1 as f64);
        }
        for ev in &self.valid {
            for (label, w, res) in WINDOWS {
                assert!(
                    edge_safe(ev.ts, t_scrape, w, res),
                    "test data: event {ev:?} is too close to the {label} window edge at the scrape"
                );
            }
        }
        let windowed = window_counts(&self.valid, t_scrape);
        for slo in &SLOS {
            for w in slo.windows() {
                let (n, g, _) = slo.window(&windowed, w);
                check.exact(m, names::SLO_EVENTS.name, &[(label::SLO, slo.name), (label::WINDOW, w)], n as f64);
                check.exact(m, names::SLO_GOOD_EVENTS.name, &[(label::SLO, slo.name), (label::WINDOW, w)], g as f64);
            }
        }
        eprintln!("[it] {what}: consumed {}", self.consumed);
        check.finish();
    }
}

/// Produces `items` round-robin over the partitions of `topic` on `b` and adds them to
/// `expected`.
pub fn produce_counted(b: &KafkaClient, topic: &str, partitions: i32, items: &[Item], expected: &mut Expected) {
    b.produce_records(topic, partitions, &records(items, partitions));
    expected.add(items);
}

/// The deployment every stream test runs: the tests' base config with a 5 s shutdown grace,
/// a checkpoint every second and [`MAX_BYTES`] messages.
pub fn deployment(name: &str) -> Deployment {
    Deployment::new(name).shutdown_grace("5s").checkpoint_interval("1s").max_message_bytes(MAX_BYTES)
}

/// Starts `d`, waits for it to be ready (60 s) and to have consumed exactly what `expected`
/// counts (within `timeout`): the process, that scrape and its time.
pub fn start_until_consumed(d: &Deployment, expected: &Expected, timeout: Duration) -> (Slostream, Metrics, i64) {
    let mut app = d.start();
    app.wait_ready(Duration::from_secs(60));
    let (m, t_scrape) = app.wait_consumed(expected.consumed, timeout);
    (app, m, t_scrape)
}
