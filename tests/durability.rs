//! Durability and hostile conditions, end to end: the real `slostream` binary against a real
//! Kafka broker (tests/kafka/broker.sh), with every expectation computed here from the messages
//! the test itself produced (SLI/SLO definitions restated in tests/common/truth.rs, never
//! slostream's library).
//!
//! - `kill_9_at_random_moments_loses_and_double_counts_nothing`: a producer thread writes 200k+
//!   events over 4 partitions while slostream (checkpoints every second, 2 workers) is SIGKILLed
//!   at 12 random moments (during start-up as well as while consuming) and restarted; at the end
//!   every exported count equals the ground truth exactly.
//! - `graceful_stop_and_restart_is_exact`: SIGTERM, more events while stopped, restart: no
//!   series before ready, counts restored and exact; prints the restart-to-ready time.
//! - `broker_crash_and_restart_while_consuming`: the broker is SIGKILLed while slostream
//!   consumes a live stream, restarted 10 s later; slostream resumes by itself, counts exact.
//!   Then, broker down again, SIGTERM: exit within `shutdown_grace` with a final checkpoint.
//! - `corrupt_checkpoints_fall_back_or_start_empty_loudly`: truncated / bit-flipped newest
//!   generation → previous one used, "checkpoint unusable", failure metric; both corrupt →
//!   "NO VALID CHECKPOINT" and a rebuild from the topic.
//! - `poison_pills_are_each_counted_once_and_never_logged`: hostile payloads through the broker.
//! - `dead_letter_topic_holds_exactly_the_rejects`: the dead-letter topic holds one record per
//!   rejected offset (bytes, key, reason, source headers), across SIGKILLs.
//! - `offsets_deleted_by_retention_are_reported`: DeleteRecords while stopped → `skipped=<n>`
//!   in the log and `slostream_events_skipped_total` per partition.
//! - `sasl_scram_right_wrong_and_env_password`: SCRAM-SHA-256 with the right password (literal
//!   and `${ENV}`) counts exactly; a wrong one is reported, never ready, and never printed.
//! - `second_instance_on_the_same_state_dir_fails_fast`.
//! - `broker_down_at_start_then_ready_when_it_comes`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::truth::*;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};

// ---------------------------------------------------------------------------------------------
// Payloads and what slostream must make of them. The ground truth of the example config (SLIs,
// SLOs, windows, the event model and its classification) is tests/common/truth.rs.
// ---------------------------------------------------------------------------------------------

/// Every reason slostream knows; each must be counted exactly (most often 0).
const REASONS: [&str; 9] = [
    "invalid_json",
    "not_an_object",
    "missing_timestamp",
    "invalid_timestamp",
    "too_far_in_future",
    "too_old",
    "too_large",
    "wrong_field_type",
    "invalid_latency",
];

/// `events.max_message_bytes` in every config of this file.
const MAX_BYTES: usize = 4096;

impl Ev {
    /// The JSON, with fields no SLI reads (a nested `trace.status` that must not be misread).
    fn payload(&self, id: u64) -> Vec<u8> {
        let mut s = format!(r#"{{"timestamp":{}"#, self.timestamp());
        for (field, value) in [("service", self.service), ("route", self.route), ("method", self.method)] {
            if !value.is_empty() {
                s += &format!(r#","{field}":"{value}""#);
            }
        }
        if let Some(st) = self.status {
            s += &format!(r#","status":{st}"#);
        }
        if let Some(l) = self.latency {
            s += &format!(r#","latency_ms":{l}"#);
        }
        s += &format!(r#","request_id":"{id:016x}","trace":{{"status":"n/a","spans":[1,{{"latency_ms":-1}}]}}}}"#);
        s.into_bytes()
    }
}

#[test]
fn rfc3339_is_right() {
    assert_eq!(rfc3339(1_795_694_400_123, 0), "2026-11-26T12:00:00.123Z");
    assert_eq!(rfc3339(1_795_694_400_000, 120), "2026-11-26T14:00:00.000+02:00");
}

/// What a message is, for the ground truth.
#[derive(Clone, Debug)]
enum Kind {
    Valid(Ev),
    Reject(&'static str),
}

/// One message to produce and what slostream must make of it.
#[derive(Clone, Debug)]
struct Item {
    key: Option<Vec<u8>>,
    /// `None`: a record without a value.
    payload: Option<Vec<u8>>,
    kind: Kind,
}

impl Item {
    fn record(&self, partition: i32) -> Record {
        Record { partition, key: self.key.clone(), payload: self.payload.clone() }
    }
}

/// Ages (before the reference time) of bulk events: every window from 30m up gets some, each
/// at least 9 minutes away from any window edge for a test shorter than that.
const BULK_AGES: [i64; 8] = [20 * MIN, 45 * MIN, 90 * MIN, 3 * HOUR, 10 * HOUR, 2 * DAY + 30 * MIN, 20 * DAY, 29 * DAY];
/// Ages of "fresh" events, produced last, for the 5m window.
const FRESH_AGES: [i64; 2] = [30 * SEC, 2 * MIN];

fn valid_event(rng: &mut StdRng, t_ref: i64, ages: &[i64]) -> Ev {
    let ts = t_ref - ages[rng.random_range(0..ages.len())] + rng.random_range(-15 * SEC..=15 * SEC);
    let fmt = [Fmt::Epoch, Fmt::Utc, Fmt::Plus2][rng.random_range(0..3)];
    let pick: f64 = rng.random();
    let status = |rng: &mut StdRng, list: &[i64]| Some(Num::Int(list[rng.random_range(0..list.len())]));
    // i32 draws, as ever: the seeded streams stay the same.
    let latency = |rng: &mut StdRng| {
        Some(if rng.random_bool(0.5) {
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
fn reject_payload(rng: &mut StdRng, t_ref: i64, reason: &str) -> Option<Vec<u8>> {
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
        "wrong_field_type" => pick(
            rng,
            vec![
                format!(r#"{{"timestamp":{ts},"service":"geo","status":"200"}}"#),
                format!(r#"{{"timestamp":{ts},"service":"booking","method":"POST","status":true}}"#),
            ],
        ),
        "invalid_latency" => pick(
            rng,
            vec![
                format!(
                    r#"{{"timestamp":{ts},"service":"search-api","route":"/v2/trips","status":200,"latency_ms":-5}}"#
                ),
                format!(r#"{{"timestamp":{ts},"service":"search-api","status":200,"latency_ms":"fast"}}"#),
            ],
        ),
        other => panic!("no payload for reason {other}"),
    }
}

/// `n` messages: valid events at `ages` before `t_ref`, and about `reject_share` of rejects,
/// reasons weighted unevenly (so a swapped label cannot go unnoticed).
fn stream(rng: &mut StdRng, n: usize, t_ref: i64, ages: &[i64], reject_share: f64) -> Vec<Item> {
    const WEIGHTS: [u32; 9] = [9, 5, 3, 7, 2, 6, 1, 4, 8];
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
                Item { key, payload: Some(ev.payload(id)), kind: Kind::Valid(ev) }
            }
        })
        .collect()
}

/// Round-robin over `partitions`.
fn records(items: &[Item], partitions: i32) -> Vec<Record> {
    items.iter().enumerate().map(|(i, it)| it.record(i as i32 % partitions)).collect()
}

/// What every exported count must be.
#[derive(Default)]
struct Truth {
    consumed: u64,
    rejected: BTreeMap<&'static str, u64>,
    unmatched: u64,
    /// (events, good) per SLI.
    totals: [(u64, u64); 4],
    valid: Vec<Ev>,
}

impl Truth {
    fn of(items: &[Item]) -> Truth {
        let mut t = Truth::default();
        t.add(items);
        t
    }

    fn add(&mut self, items: &[Item]) {
        for it in items {
            self.consumed += 1;
            match &it.kind {
                Kind::Reject(r) => *self.rejected.entry(r).or_default() += 1,
                Kind::Valid(ev) => {
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
}

/// Asserts every count of `m` against `truth`, at scrape time `t_scrape`: consumed, rejects per
/// reason, unmatched, per-SLI totals and per-SLO-window events and good events. Every mismatch
/// is listed. Also checks that the test data itself stays clear of window edges.
fn assert_exact(what: &str, m: &Metrics, truth: &Truth, t_scrape: i64) {
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut exact = |name: &str, labels: &[(&str, &str)], want: u64| {
        checked += 1;
        match m.get(name, labels) {
            Some(got) if got == want as f64 => {}
            got => failures.push(format!("{}: got {got:?}, want {want}", series_key(name, labels))),
        }
    };
    exact("slostream_events_consumed_total", &[], truth.consumed);
    for reason in REASONS {
        exact(
            "slostream_events_rejected_total",
            &[("reason", reason)],
            truth.rejected.get(reason).copied().unwrap_or(0),
        );
    }
    exact("slostream_events_unmatched_total", &[], truth.unmatched);
    for (sli, name) in SLI_NAMES.iter().enumerate() {
        exact("slostream_sli_events_total", &[("sli", name)], truth.totals[sli].0);
        exact("slostream_sli_good_events_total", &[("sli", name)], truth.totals[sli].1);
    }
    for ev in &truth.valid {
        for (label, w, res) in WINDOWS {
            assert!(
                edge_safe(ev.ts, t_scrape, w, res),
                "test data: event {ev:?} is too close to the {label} window edge at the scrape"
            );
        }
    }
    let windowed = window_counts(&truth.valid, t_scrape);
    for slo in &SLOS {
        for w in slo.windows() {
            let (n, g, _) = slo.window(&windowed, w);
            exact("slostream_slo_events", &[("slo", slo.name), ("window", w)], n);
            exact("slostream_slo_good_events", &[("slo", slo.name), ("window", w)], g);
        }
    }
    assert!(failures.is_empty(), "{what}: {} of {checked} checks failed:\n  {}", failures.len(), failures.join("\n  "));
    eprintln!("[durability] {what}: {checked} counts exact (consumed {})", truth.consumed);
}

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

/// One slostream deployment: a scratch dir (config, logs, `state/`), a topic and a group.
struct Deploy {
    dir: PathBuf,
    topic: String,
    group: String,
    brokers: Option<String>,
    checkpoint_interval: &'static str,
    dead_letter_topic: Option<String>,
    properties: Vec<(String, String)>,
    env: Vec<(String, String)>,
}

impl Deploy {
    fn new(name: &str, topic: &str) -> Deploy {
        Deploy {
            dir: scratch_dir(name),
            topic: topic.to_string(),
            group: unique(&format!("{name}-group")),
            brokers: None,
            checkpoint_interval: "1s",
            dead_letter_topic: None,
            properties: Vec::new(),
            env: Vec::new(),
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Writes the config with a fresh HTTP port (checked by `slostream check`), starts slostream.
    fn launch(&self) -> Slostream {
        let port = free_port();
        let properties: Vec<(&str, &str)> = self.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let config = write_config_with(
            &self.dir,
            &ConfigOpts { topic: &self.topic, group: &self.group, port, workers: 2, shutdown_grace: "5s", properties },
            &Extra {
                brokers: self.brokers.as_deref(),
                checkpoint_interval: Some(self.checkpoint_interval),
                max_message_bytes: Some(MAX_BYTES as u64),
                dead_letter_topic: self.dead_letter_topic.as_deref(),
                env: env.clone(),
            },
        );
        Slostream::start_with_env(&self.dir, &config, port, &env)
    }
}

/// Checkpoint files of a state dir, newest generation first.
fn checkpoints(state: &Path) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<(u64, PathBuf)> = fs::read_dir(state)
        .map(|d| {
            d.filter_map(|e| {
                let path = e.ok()?.path();
                let name = path.file_name()?.to_str()?.to_string();
                let g = name.strip_prefix("checkpoint-")?.strip_suffix(".bin")?.parse().ok()?;
                Some((g, path))
            })
            .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|c| std::cmp::Reverse(c.0));
    out
}

/// `consumed=N` of the "restored checkpoint" log line, if there is one.
fn restored_consumed(log: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains("restored checkpoint"))?;
    line.split_whitespace().find_map(|w| w.strip_prefix("consumed=")).and_then(|v| v.parse().ok())
}

fn slo_window_series(m: &Metrics) -> Vec<String> {
    ["slostream_slo_sli_ratio", "slostream_slo_events", "slostream_slo_good_events", "slostream_slo_burn_rate"]
        .iter()
        .flat_map(|f| m.family(f).into_iter().map(|(k, _)| k.clone()))
        .collect()
}

/// Sum of the high watermarks.
fn produced(b: &Broker, topic: &str, partitions: i32) -> u64 {
    b.high_watermarks(topic, partitions).iter().sum::<i64>() as u64
}

/// A fresh topic `name-…` of `partitions` partitions on `b`, and a deployment reading it there.
fn topic_on(b: &Broker, name: &str, partitions: i32) -> (String, Deploy) {
    let topic = unique(name);
    b.create_topic(&topic, partitions);
    let mut d = Deploy::new(name, &topic);
    d.brokers = Some(b.bootstrap.clone());
    (topic, d)
}

/// Produces `items` round-robin over the partitions of `topic` and adds them to `truth`.
fn produce_counted(b: &Broker, topic: &str, partitions: i32, items: &[Item], truth: &mut Truth) {
    b.produce_records(topic, partitions, &records(items, partitions));
    truth.add(items);
}

/// Launches `d`, waits for it to be ready (60 s) and to have consumed exactly what `truth`
/// counts (within `timeout`): the process, that scrape and its time.
fn launch_until_consumed(d: &Deploy, truth: &Truth, timeout: Duration) -> (Slostream, Metrics, i64) {
    let mut app = d.launch();
    app.wait_ready(Duration::from_secs(60));
    let (m, t_scrape) = app.wait_consumed(truth.consumed, timeout);
    (app, m, t_scrape)
}

/// SIGTERM, and a successful exit within 15 s.
fn stop(app: &mut Slostream) {
    let (status, _) = app.terminate(Duration::from_secs(15));
    assert!(status.success());
}

/// Sends `recs` a chunk of `chunk` records every `every` (from now), polling after each chunk
/// and then calling `after_chunk` with its size. Does not flush.
fn send_paced(
    p: &BaseProducer,
    topic: &str,
    recs: &[Record],
    chunk: usize,
    every: Duration,
    mut after_chunk: impl FnMut(usize),
) {
    let started = Instant::now();
    for (i, chunk) in recs.chunks(chunk).enumerate() {
        for r in chunk {
            send_record(p, topic, r);
        }
        p.poll(Duration::ZERO);
        after_chunk(chunk.len());
        let due = started + every * (i as u32 + 1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. kill -9 at random moments.
// ---------------------------------------------------------------------------------------------

#[test]
fn kill_9_at_random_moments_loses_and_double_counts_nothing() {
    const PARTITIONS: i32 = 4;
    const BULK: usize = 200_000;
    const KILLS: usize = 12;
    let test_start = Instant::now();
    let b = broker();
    let (topic, d) = topic_on(b, "kill9", PARTITIONS);

    let t0 = now_ms();
    let mut rng = StdRng::seed_from_u64(0x0D15_EA5E);
    let bulk = stream(&mut rng, BULK, t0, &BULK_AGES, 0.02);
    let mut truth = Truth::of(&bulk);

    // The producer paces the stream over ~40 s, so slostream is killed while consuming it.
    let recs = records(&bulk, PARTITIONS);
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let (topic, sent, done) = (topic.clone(), sent.clone(), done.clone());
        std::thread::spawn(move || {
            let p = broker().producer();
            send_paced(&p, &topic, &recs, 2500, Duration::from_millis(500), |n| {
                sent.fetch_add(n as u64, Ordering::Relaxed);
            });
            p.flush(Duration::from_secs(60)).expect("flush producer");
            done.store(true, Ordering::Release);
        })
    };

    let mut restored = Vec::new();
    let mut before_ready = 0;
    for k in 0..KILLS {
        let mut app = d.launch();
        // Half the kills land in start-up (restore, discovery, assignment), half while consuming.
        let delay = if k % 2 == 0 { rng.random_range(50..1200) } else { rng.random_range(1200..6000) };
        std::thread::sleep(Duration::from_millis(delay));
        let ready = app.get("/ready").map(|(s, _)| s);
        let consumed = app
            .get("/metrics")
            .and_then(|(s, body)| (s == 200).then(|| Metrics::parse(&body)))
            .and_then(|m| m.get("slostream_events_consumed_total", &[]));
        let high = produced(b, &topic, PARTITIONS);
        app.kill();
        if ready != Some(200) {
            before_ready += 1;
        }
        if let Some(c) = consumed {
            assert!(c <= high as f64, "kill {k}: consumed {c} > {high} in the topic: counted twice");
        }
        let log = app.log_text();
        assert!(!log.contains("panicked"), "kill {k}: slostream panicked:\n{log}");
        let from = restored_consumed(&log);
        restored.push(from);
        eprintln!(
            "[durability] kill -9 #{k} after {delay} ms (ready: {ready:?}): consumed {consumed:?} of {high} in the topic; this run restored {from:?}; {} checkpoint files",
            checkpoints(&d.state()).len()
        );
    }
    producer.join().expect("producer thread");
    assert!(done.load(Ordering::Acquire));
    assert_eq!(produced(b, &topic, PARTITIONS), BULK as u64, "the producer delivered a different number of records");

    // Fresh events for the 5m window, then the final run.
    let fresh = stream(&mut rng, 3000, now_ms(), &FRESH_AGES, 0.03);
    produce_counted(b, &topic, PARTITIONS, &fresh, &mut truth);
    let (mut app, m, t_scrape) = launch_until_consumed(&d, &truth, Duration::from_secs(180));
    assert_exact("after 12 SIGKILLs", &m, &truth, t_scrape);
    // Nothing more arrives later (a late re-read would show here).
    std::thread::sleep(Duration::from_secs(2));
    let again = app.scrape();
    assert_eq!(again.get("slostream_events_consumed_total", &[]), Some(truth.consumed as f64));
    let (status, _) = app.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");

    // The restarts must really have resumed from checkpoints, not all from scratch.
    let from_checkpoints = restored.iter().filter(|r| r.is_some_and(|c| c > 0)).count();
    eprintln!(
        "[durability] kill -9 loop: {KILLS} kills ({before_ready} before ready), {from_checkpoints} restarts restored a non-empty checkpoint; {:.1} s",
        test_start.elapsed().as_secs_f64()
    );
    assert!(from_checkpoints >= KILLS / 2, "only {from_checkpoints} of {KILLS} restarts restored counts: {restored:?}");
}

// ---------------------------------------------------------------------------------------------
// 2. Graceful stop and restart.
// ---------------------------------------------------------------------------------------------

#[test]
fn graceful_stop_and_restart_is_exact() {
    const PARTITIONS: i32 = 4;
    let b = broker();
    let (topic, d) = topic_on(b, "graceful", PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0x6_ACE);
    let mut truth = Truth::default();
    let first = stream(&mut rng, 30_000, now_ms(), &BULK_AGES, 0.03);
    produce_counted(b, &topic, PARTITIONS, &first, &mut truth);

    let (mut app, m, _) = launch_until_consumed(&d, &truth, Duration::from_secs(60));
    let consumed_before = m.get("slostream_events_consumed_total", &[]).expect("consumed total");
    let (status, took) = app.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}; log:\n{}", app.log_tail(30));
    assert!(took <= Duration::from_secs(5), "SIGTERM exit took {took:?} (> shutdown_grace 5s)");
    assert!(!checkpoints(&d.state()).is_empty(), "no checkpoint after a graceful stop");

    // More events while it is down, some fresh for the 5m window.
    let second = stream(&mut rng, 10_000, now_ms(), &FRESH_AGES, 0.03);
    produce_counted(b, &topic, PARTITIONS, &second, &mut truth);

    let mut app = d.launch();
    let mut early = 0;
    let to_ready = loop {
        app.assert_running();
        if let Some((status, _)) = app.get("/ready") {
            if status == 200 {
                break app.started.elapsed();
            }
            assert_eq!(status, 503);
            if let Some((200, body)) = app.get("/metrics") {
                let m = Metrics::parse(&body);
                if app.get("/ready").map(|(s, _)| s) == Some(503) {
                    early += 1;
                    assert_eq!(m.get("slostream_state_ready", &[]), Some(0.0), "state_ready before ready");
                    // The restored total from the first scrape on: a dip would be a counter reset.
                    let consumed = m.get("slostream_events_consumed_total", &[]);
                    assert!(
                        consumed.is_some_and(|c| c >= consumed_before),
                        "consumed total {consumed:?} before ready, below the restored {consumed_before}"
                    );
                    assert!(
                        slo_window_series(&m).is_empty(),
                        "SLO window series before ready: {:?}",
                        slo_window_series(&m)
                    );
                }
            }
        }
        assert!(app.started.elapsed() < Duration::from_secs(60), "not ready after 60 s; log:\n{}", app.log_tail(40));
        std::thread::sleep(Duration::from_millis(10));
    };
    let m = app.scrape();
    let at_ready = m.get("slostream_events_consumed_total", &[]).unwrap_or(-1.0);
    assert!(
        at_ready >= first.len() as f64,
        "consumed {at_ready} right after ready: the first run's {} were not restored",
        first.len()
    );
    assert_eq!(restored_consumed(&app.log_text()), Some(first.len() as u64), "restored checkpoint line");
    eprintln!(
        "[durability] graceful restart: spawn to /ready 200 in {:.3} s ({early} scrapes before ready checked)",
        to_ready.as_secs_f64()
    );
    let (m, t_scrape) = app.wait_consumed(truth.consumed, Duration::from_secs(60));
    assert_exact("after a graceful restart", &m, &truth, t_scrape);
    stop(&mut app);
}

// ---------------------------------------------------------------------------------------------
// 3. Broker crash while consuming; SIGTERM with the broker down.
// ---------------------------------------------------------------------------------------------

#[test]
fn broker_crash_and_restart_while_consuming() {
    const PARTITIONS: i32 = 4;
    let own = Broker::start_own("crash");
    let (topic, mut d) = topic_on(&own, "crash", PARTITIONS);
    // No periodic checkpoint: the one found after the SIGTERM below can only be the final one.
    d.checkpoint_interval = "1h";
    let mut rng = StdRng::seed_from_u64(0xC4A5);
    let items = stream(&mut rng, 60_000, now_ms(), &BULK_AGES, 0.02);
    let mut truth = Truth::of(&items);

    let mut app = d.launch();
    app.wait_ready(Duration::from_secs(60));

    // A live stream at ~4k/s; the broker dies in the middle of it. The idempotent producer
    // buffers through the outage; the watermarks below prove it delivered each record once.
    let recs = records(&items, PARTITIONS);
    let producer = {
        let (topic, bootstrap) = (topic.clone(), own.bootstrap.clone());
        std::thread::spawn(move || {
            let p: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("linger.ms", "5")
                .set("acks", "all")
                .set("enable.idempotence", "true")
                .set("message.timeout.ms", "240000")
                .create()
                .expect("producer");
            send_paced(&p, &topic, &recs, 1000, Duration::from_millis(250), |_| {});
            p.flush(Duration::from_secs(240)).expect("flush producer");
        })
    };
    std::thread::sleep(Duration::from_secs(4));
    let before = app.scrape().get("slostream_events_consumed_total", &[]).unwrap_or(0.0);
    own.kill();
    let killed_at = Instant::now();
    eprintln!("[durability] broker killed with {before} consumed");
    std::thread::sleep(Duration::from_secs(10));
    app.assert_running();
    let during = app.scrape().get("slostream_events_consumed_total", &[]).unwrap_or(0.0);
    own.start();
    let restarted_at = Instant::now();
    producer.join().expect("producer thread");
    assert_eq!(
        produced(&own, &topic, PARTITIONS),
        items.len() as u64,
        "producer-side loss or duplication across the broker crash"
    );
    let (_, _) = app.wait_consumed(truth.consumed, Duration::from_secs(120));
    eprintln!(
        "[durability] broker down {:.1} s; consumed {before} before, {during} during; caught up {:.1} s after the restart",
        (restarted_at - killed_at).as_secs_f64(),
        restarted_at.elapsed().as_secs_f64()
    );
    // Fresh events after the crash, then exact counts.
    let fresh = stream(&mut rng, 2000, now_ms(), &FRESH_AGES, 0.03);
    produce_counted(&own, &topic, PARTITIONS, &fresh, &mut truth);
    let (m, t_scrape) = app.wait_consumed(truth.consumed, Duration::from_secs(60));
    assert_exact("after a broker crash", &m, &truth, t_scrape);
    eprintln!("[durability] consumer stalls recovered: {:?}", m.get("slostream_consumer_stalls_total", &[]));

    // SIGTERM with the broker down: exit within shutdown_grace (5s), final checkpoint on disk.
    let generations_before = checkpoints(&d.state());
    own.kill();
    std::thread::sleep(Duration::from_secs(2));
    let sigterm_at = SystemTime::now();
    let (status, took) = app.terminate(Duration::from_secs(40));
    eprintln!("[durability] SIGTERM with the broker down: exit {status} after {:.2} s", took.as_secs_f64());
    assert!(status.success(), "exit status {status}; log:\n{}", app.log_tail(30));
    let after = checkpoints(&d.state());
    let newest =
        after.first().unwrap_or_else(|| panic!("no checkpoint after SIGTERM (before: {generations_before:?})"));
    assert!(
        generations_before.first().is_none_or(|(g, _)| newest.0 > *g),
        "no new checkpoint generation: {generations_before:?} → {after:?}"
    );
    let mtime = fs::metadata(&newest.1).and_then(|m| m.modified()).expect("checkpoint mtime");
    assert!(mtime >= sigterm_at, "newest checkpoint {newest:?} is older than the SIGTERM");
    // It holds everything: a new instance (broker still down) restores exactly that.
    let mut probe = d.launch();
    probe.wait_log("restored checkpoint", Duration::from_secs(20));
    assert_eq!(restored_consumed(&probe.log_text()), Some(truth.consumed), "the final checkpoint's counts");
    probe.wait_log("cannot reach Kafka", Duration::from_secs(30));
    assert_eq!(probe.get("/ready").map(|(s, _)| s), Some(503));
    // (slostream installs its SIGTERM handler once the first discovery attempt has failed.)
    std::thread::sleep(Duration::from_millis(500));
    let (status, _) = probe.terminate(Duration::from_secs(30));
    assert!(status.success(), "probe exit {status}");
    // Last, so that the checks above run whatever the timing.
    assert!(
        took <= Duration::from_millis(5500),
        "exit took {took:?} after SIGTERM with the broker down (shutdown_grace 5s); log:\n{}",
        app.log_tail(12)
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Corrupt checkpoints.
// ---------------------------------------------------------------------------------------------

/// Damages the checkpoint files (newest generation first) before a run.
type Corrupt = dyn Fn(&[(u64, PathBuf)]);

/// A round's log (with `FAILURES=<n>` appended) after its newest checkpoint was damaged, the
/// damage reported as `why`: it fell back to the previous generation and counted one failure.
fn assert_fell_back(log: &str, why: &str) {
    assert!(log.lines().any(|l| l.contains("ERROR") && l.contains("checkpoint unusable") && l.contains(why)), "{log}");
    assert!(!log.contains("NO VALID CHECKPOINT"), "{log}");
    assert!(log.contains("FAILURES=1"), "{log}");
}

#[test]
fn corrupt_checkpoints_fall_back_or_start_empty_loudly() {
    const PARTITIONS: i32 = 3;
    let b = broker();
    let (topic, d) = topic_on(b, "corrupt", PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0xBADC0DE);
    let mut truth = Truth::default();

    // Each round: more events, a run that counts them, a graceful stop with two generations.
    let round = |name: &str, truth: &mut Truth, rng: &mut StdRng, corrupt: &Corrupt| -> String {
        let files = checkpoints(&d.state());
        corrupt(&files);
        let items = stream(rng, 5000, now_ms(), &BULK_AGES, 0.05);
        produce_counted(b, &topic, PARTITIONS, &items, truth);
        let (mut app, m, t_scrape) = launch_until_consumed(&d, truth, Duration::from_secs(60));
        assert_exact(name, &m, truth, t_scrape);
        let failures = m.get("slostream_checkpoint_failures_total", &[]).unwrap_or(-1.0);
        // Two periodic generations after the last event, then the final one.
        std::thread::sleep(Duration::from_millis(2500));
        stop(&mut app);
        let log = app.log_text();
        eprintln!("[durability] {name}: checkpoint failures {failures}, restored {:?}", restored_consumed(&log));
        format!("{log}\nFAILURES={failures}")
    };

    let log = round("first run", &mut truth, &mut rng, &|_| {});
    assert!(log.contains("FAILURES=0"), "{log}");

    let log = round("newest truncated", &mut truth, &mut rng, &|files| {
        let (_, newest) = &files[0];
        let len = fs::metadata(newest).unwrap().len();
        fs::OpenOptions::new().write(true).open(newest).unwrap().set_len(len / 2).unwrap();
    });
    assert_fell_back(&log, "truncated");

    let log = round("newest bit-flipped", &mut truth, &mut rng, &|files| {
        let (_, newest) = &files[0];
        let mut bytes = fs::read(newest).unwrap();
        let at = bytes.len() * 2 / 3;
        for b in &mut bytes[at..at + 4] {
            *b ^= 0x5A;
        }
        fs::write(newest, bytes).unwrap();
    });
    assert_fell_back(&log, "checksum");

    // Both generations corrupt: starts empty and rebuilds from what the topic retains (all of
    // it here), so the counts are still exact — and it says so.
    let log = round("both corrupt", &mut truth, &mut rng, &|files| {
        assert_eq!(files.len(), 2, "two generations kept: {files:?}");
        for (_, f) in files {
            let mut bytes = fs::read(f).unwrap();
            let at = bytes.len() - 9;
            bytes[at] ^= 0xFF;
            fs::write(f, bytes).unwrap();
        }
    });
    assert!(log.lines().any(|l| l.contains("ERROR") && l.contains("NO VALID CHECKPOINT")), "{log}");
    assert_eq!(log.lines().filter(|l| l.contains("checkpoint unusable")).count(), 2, "{log}");
    assert!(log.contains("FAILURES=2"), "{log}");
    assert_eq!(restored_consumed(&log), None, "restored from a corrupt checkpoint?\n{log}");
}

// ---------------------------------------------------------------------------------------------
// 5. Poison pills, and the dead-letter topic.
// ---------------------------------------------------------------------------------------------

/// Marks every hostile payload: none may show up in the log.
const MARK: &str = "PoIsOn";

/// Hostile messages, each with what it must be counted as (`None`: a valid event, counted).
fn poison_corpus(t0: i64) -> Vec<Item> {
    let ts = t0 - 10 * MIN;
    let mut out: Vec<Item> = Vec::new();
    let mut reject = |payload: Option<Vec<u8>>, reason: &'static str| {
        let key = Some(format!("key-{}-{reason}", out.len()).into_bytes());
        out.push(Item { key, payload, kind: Kind::Reject(reason) });
    };
    let s = |x: String| Some(x.into_bytes());
    // Size: one byte over the limit is not parsed at all.
    let pad = |target: usize| {
        let head = format!(r#"{{"timestamp":{ts},"service":"geo","status":200,"m":"{MARK}","pad":""#);
        let mut p = head.clone() + &"y".repeat(target - head.len() - 2);
        p += "\"}";
        assert_eq!(p.len(), target);
        p
    };
    reject(s(pad(MAX_BYTES + 1)), "too_large");
    reject(s(pad(200_000)), "too_large");
    // Not UTF-8 / not JSON.
    let mut bad_utf8 = format!(r#"{{"timestamp":{ts},"service":"geo"#).into_bytes();
    bad_utf8.extend_from_slice(&[0xFF, 0xFE, 0xC3]);
    bad_utf8.extend_from_slice(format!(r#"","status":200,"m":"{MARK}"}}"#).as_bytes());
    reject(Some(bad_utf8), "invalid_json");
    let mut bad_key = format!(r#"{{"timestamp":{ts},"#).into_bytes();
    bad_key.extend_from_slice(&[b'"', 0xC0, 0xAF, b'"']);
    bad_key.extend_from_slice(format!(r#":1,"service":"geo","status":200,"m":"{MARK}"}}"#).as_bytes());
    reject(Some(bad_key), "invalid_json");
    // ... also in a field no SLI reads (unread values are still walked and validated).
    let mut bad_unused = format!(r#"{{"timestamp":{ts},"service":"geo","status":200,"blob":""#).into_bytes();
    bad_unused.extend_from_slice(&[0xFF, 0xFE, 0x80]);
    bad_unused.extend_from_slice(format!(r#"","m":"{MARK}"}}"#).as_bytes());
    reject(Some(bad_unused), "invalid_json");
    // Nesting beyond serde_json's depth limit (128), even where nothing is read: rejected, not
    // a stack overflow.
    reject(
        s(format!(
            r#"{{"timestamp":{ts},"service":"geo","status":200,"deep":{}1{},"m":"{MARK}"}}"#,
            "[".repeat(1500),
            "]".repeat(1500)
        )),
        "invalid_json",
    );
    reject(
        s(format!(
            r#"{{"timestamp":{ts},"service":"geo","status":200,"d":{}{}}}"#,
            r#"{"a":"#.repeat(600) + "0",
            "}".repeat(600)
        )),
        "invalid_json",
    );
    reject(Some(Vec::new()), "invalid_json");
    reject(None, "invalid_json"); // a record without a value
    let mut garbage: Vec<u8> = vec![0x00, 0x9F, 0x92, 0x96];
    let mut rng = StdRng::seed_from_u64(7);
    garbage.extend((0..200).map(|_| rng.random::<u8>()));
    reject(Some(garbage), "invalid_json");
    reject(Some(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03".to_vec()), "invalid_json"); // gzip header
    reject(s(format!(r#"{{"timestamp":{ts},"service":"{MARK}""#)), "invalid_json");
    reject(s(format!("{MARK} plain text")), "invalid_json");
    reject(s(format!(r#"{{"timestamp":{ts},"service":"geo","status":200,"m":"{MARK}"}}{{}}"#)), "invalid_json");
    // JSON, but not an object.
    reject(s("null".into()), "not_an_object");
    reject(s(format!(r#"[{{"timestamp":{ts},"service":"geo","status":200,"m":"{MARK}"}}]"#)), "not_an_object");
    reject(s(format!(r#""{MARK}""#)), "not_an_object");
    reject(s("12345".into()), "not_an_object");
    // Timestamps.
    reject(s(format!(r#"{{"service":"geo","status":200,"m":"{MARK}"}}"#)), "missing_timestamp");
    reject(s(format!(r#"{{"timestamp":null,"service":"geo","status":200,"m":"{MARK}"}}"#)), "missing_timestamp");
    reject(s(format!(r#"{{"timestamp":{ts}.5,"service":"geo","status":200,"m":"{MARK}"}}"#)), "invalid_timestamp");
    reject(s(format!(r#"{{"timestamp":"{MARK}","service":"geo","status":200}}"#)), "invalid_timestamp");
    reject(
        s(format!(r#"{{"timestamp":{{"ms":{ts}}},"service":"geo","status":200,"m":"{MARK}"}}"#)),
        "invalid_timestamp",
    );
    reject(
        s(format!(r#"{{"timestamp":{},"service":"geo","status":200,"m":"{MARK}"}}"#, t0 + 365 * DAY)),
        "too_far_in_future",
    );
    reject(
        s(format!(r#"{{"timestamp":{},"service":"geo","status":200,"m":"{MARK}"}}"#, i64::MAX)),
        "too_far_in_future",
    );
    reject(s(format!(r#"{{"timestamp":0,"service":"geo","status":200,"m":"{MARK}"}}"#)), "too_old");
    reject(s(format!(r#"{{"timestamp":-86400000,"service":"geo","status":200,"m":"{MARK}"}}"#)), "too_old");
    reject(s(format!(r#"{{"timestamp":{},"service":"geo","status":200,"m":"{MARK}"}}"#, i64::MIN)), "too_old");
    // Field types.
    reject(s(format!(r#"{{"timestamp":{ts},"service":"geo","status":"200","m":"{MARK}"}}"#)), "wrong_field_type");
    reject(
        s(format!(r#"{{"timestamp":{ts},"service":"booking","method":"POST","status":[201],"m":"{MARK}"}}"#)),
        "wrong_field_type",
    );
    // Nested arrays where a number is expected (50 deep: within any parser's depth limit).
    let deep_status = format!(
        r#"{{"timestamp":{ts},"service":"geo","status":{}500{},"m":"{MARK}"}}"#,
        "[".repeat(50),
        "]".repeat(50)
    );
    reject(s(deep_status), "wrong_field_type");
    reject(
        s(format!(
            r#"{{"timestamp":{ts},"service":"search-api","route":"/v2/trips","status":200,"latency_ms":-1,"m":"{MARK}"}}"#
        )),
        "invalid_latency",
    );
    reject(
        s(format!(r#"{{"timestamp":{ts},"service":"search-api","status":200,"latency_ms":"{MARK}"}}"#)),
        "invalid_latency",
    );

    // Valid, however odd.
    let valid =
        |ev: Ev, payload: String| Item { key: None, payload: Some(payload.into_bytes()), kind: Kind::Valid(ev) };
    let geo = |status: Option<i64>| Ev {
        ts,
        fmt: Fmt::Epoch,
        service: "geo",
        route: "",
        method: "",
        status: status.map(Num::Int),
        latency: None,
    };
    // Deep nesting in fields no SLI reads: within serde_json's depth limit (128) it is skipped.
    let deep = format!(
        r#"{{"timestamp":{ts},"service":"geo","status":200,"deep":{}1{},"m":"{MARK}"}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    out.push(valid(geo(Some(200)), deep));
    let deep_obj = format!(
        r#"{{"timestamp":{ts},"service":"geo","status":503,"d":{}{}}}"#,
        r#"{"a":"#.repeat(100) + "0",
        "}".repeat(100)
    );
    out.push(valid(geo(Some(503)), deep_obj));
    let exact_limit = pad(MAX_BYTES);
    out.push(valid(geo(Some(200)), exact_limit));
    out.push(valid(
        geo(Some(200)),
        format!(r#"{{"timestamp":{ts},"service":"geo","status":200,"note":"caf\u00e9 \ud83d\ude00 {MARK}"}}"#),
    ));

    out.push(valid(
        geo(Some(200)),
        format!(r#"{{"status":200,"service":"geo","timestamp":{ts},"m":"{MARK}","extra":null}}"#),
    ));
    out.push(valid(geo(None), format!(r#"{{"timestamp":{ts},"service":"geo","status":null,"m":"{MARK}"}}"#)));
    let booking = Ev {
        ts,
        fmt: Fmt::Epoch,
        service: "booking",
        route: "",
        method: "POST",
        status: Some(Num::Int(201)),
        latency: None,
    };
    out.push(valid(
        booking,
        format!(r#"{{"timestamp":{ts},"service":"booking","method":"POST","status":201.0,"m":"{MARK}"}}"#),
    ));
    out
}

#[test]
fn poison_pills_are_each_counted_once_and_never_logged() {
    const PARTITIONS: i32 = 2;
    let b = broker();
    let (topic, d) = topic_on(b, "poison", PARTITIONS);
    let t0 = now_ms();
    let mut rng = StdRng::seed_from_u64(0x9015);
    let mut items = poison_corpus(t0);
    items.extend(stream(&mut rng, 500, t0, &FRESH_AGES, 0.0));
    let mut truth = Truth::default();
    produce_counted(b, &topic, PARTITIONS, &items, &mut truth);

    let (mut app, m, t_scrape) = launch_until_consumed(&d, &truth, Duration::from_secs(60));
    assert_exact("poison pills", &m, &truth, t_scrape);
    stop(&mut app);
    let out = app.output_bytes();
    let text = String::from_utf8_lossy(&out);
    assert!(
        !text.contains(MARK),
        "payload content in slostream's output:\n{}",
        text.lines().filter(|l| l.contains(MARK)).collect::<Vec<_>>().join("\n")
    );
    assert!(!text.contains("yyyyyyyy"), "payload padding in slostream's output");
    eprintln!("[durability] poison: {} messages, rejects {:?}", truth.consumed, truth.rejected);
}

#[test]
fn dead_letter_topic_holds_exactly_the_rejects() {
    const PARTITIONS: i32 = 3;
    let b = broker();
    let (topic, mut d) = topic_on(b, "dlq-src", PARTITIONS);
    let dlq = unique("dlq");
    b.create_topic(&dlq, 2);
    d.dead_letter_topic = Some(dlq.clone());
    let t0 = now_ms();
    let mut rng = StdRng::seed_from_u64(0x0D10);
    let mut items = Vec::new();
    for _ in 0..20 {
        items.extend(poison_corpus(t0));
        items.extend(stream(&mut rng, 2000, t0, &FRESH_AGES, 0.1));
    }
    let truth = Truth::of(&items);
    let recs = records(&items, PARTITIONS);

    // A paced producer (~8 s), and two crashes while slostream consumes and dead-letters.
    let producer = {
        let (topic, recs) = (topic.clone(), recs.clone());
        std::thread::spawn(move || {
            let p = broker().producer();
            send_paced(&p, &topic, &recs, 1500, Duration::from_millis(250), |_| {});
            p.flush(Duration::from_secs(60)).expect("flush producer");
        })
    };
    for k in 0..2 {
        let mut app = d.launch();
        app.wait_ready(Duration::from_secs(60));
        // Killed while it consumes (and dead-letters): once this run has counted something.
        let base = app.scrape().get("slostream_events_consumed_total", &[]).unwrap_or(0.0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while app.scrape().get("slostream_events_consumed_total", &[]).unwrap_or(0.0) <= base {
            assert!(Instant::now() < deadline, "dlq run {k} consumed nothing in 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(200..2000)));
        let c = app.scrape().get("slostream_events_consumed_total", &[]);
        app.kill();
        eprintln!("[durability] dlq: kill -9 #{k} at consumed {c:?} of {}", truth.consumed);
    }
    producer.join().expect("producer thread");

    let src = b.read_all(&topic, PARTITIONS);
    assert_eq!(src.len(), items.len(), "records in {topic}");
    // (partition, offset) of every item: round-robin, in order within a partition (checked).
    let mut next = [0i64; PARTITIONS as usize];
    let mut at: BTreeMap<(i32, i64), &Item> = BTreeMap::new();
    for (it, r) in items.iter().zip(&recs) {
        at.insert((r.partition, next[r.partition as usize]), it);
        next[r.partition as usize] += 1;
    }
    for c in &src {
        let it = at[&(c.partition, c.offset)];
        assert_eq!(c.payload, it.payload, "source record {}/{} is not the item produced there", c.partition, c.offset);
    }

    let (mut app, m, t_scrape) = launch_until_consumed(&d, &truth, Duration::from_secs(120));
    assert_exact("dead-letter run", &m, &truth, t_scrape);
    let rejects: u64 = truth.rejected.values().sum();
    // Dead letters are produced asynchronously: give them a moment to be confirmed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let letters = loop {
        let now = app.scrape().get("slostream_dead_letters_total", &[]);
        if now == Some(rejects as f64) || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    stop(&mut app);

    let dead = b.read_all(&dlq, 2);
    let mut seen: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for r in &dead {
        let (Some(t), Some(p), Some(o), Some(reason)) = (
            r.header("slostream.source.topic"),
            r.header("slostream.source.partition").and_then(|p| p.parse::<i32>().ok()),
            r.header("slostream.source.offset").and_then(|o| o.parse::<i64>().ok()),
            r.header("slostream.reason"),
        ) else {
            failures.push(format!(
                "dead letter {}/{} without the source/reason headers: {:?}",
                r.partition, r.offset, r.headers
            ));
            continue;
        };
        if t != topic {
            failures.push(format!("dead letter {}/{}: source topic {t}", r.partition, r.offset));
            continue;
        }
        *seen.entry((p, o)).or_default() += 1;
        match at.get(&(p, o)) {
            None => failures.push(format!("dead letter for {p}/{o}, which does not exist")),
            Some(it) => {
                match it.kind {
                    Kind::Reject(want) if want == reason => {}
                    Kind::Reject(want) => failures.push(format!("{p}/{o}: reason {reason}, want {want}")),
                    Kind::Valid(_) => failures.push(format!("{p}/{o}: a valid event was dead-lettered as {reason}")),
                }
                let (got, want) = (r.payload.as_deref().unwrap_or(&[]), it.payload.as_deref().unwrap_or(&[]));
                if got != want {
                    failures.push(format!("{p}/{o}: payload differs ({} bytes, want {})", got.len(), want.len()));
                }
                if r.key != it.key {
                    failures.push(format!("{p}/{o}: key {:?}, want {:?}", r.key, it.key));
                }
            }
        }
    }
    for ((p, o), n) in &seen {
        if *n > 1 {
            failures.push(format!("{p}/{o} dead-lettered {n} times"));
        }
    }
    let missing: Vec<_> = at
        .iter()
        .filter(|(k, it)| matches!(it.kind, Kind::Reject(_)) && !seen.contains_key(k))
        .map(|(k, _)| *k)
        .collect();
    if !missing.is_empty() {
        failures.push(format!(
            "{} of {rejects} rejects missing from {dlq}, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        ));
    }
    if letters != Some(rejects as f64) {
        failures.push(format!("slostream_dead_letters_total = {letters:?}, want {rejects}"));
    }
    assert!(
        failures.is_empty(),
        "dead-letter topic {dlq} ({} records, {rejects} rejects):\n  {}",
        dead.len(),
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Offsets deleted by retention while stopped.
// ---------------------------------------------------------------------------------------------

#[test]
fn offsets_deleted_by_retention_are_reported() {
    const PARTITIONS: i32 = 3;
    let b = broker();
    let (topic, d) = topic_on(b, "retention", PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0x2E7);
    let mut truth = Truth::default();
    let first = stream(&mut rng, 300, now_ms(), &BULK_AGES, 0.0);
    produce_counted(b, &topic, PARTITIONS, &first, &mut truth);
    let (mut app, _, _) = launch_until_consumed(&d, &truth, Duration::from_secs(60));
    stop(&mut app);

    // While stopped: 60 more per partition; retention then deletes 20 of p0's new ones, all 60
    // of p1's, none of p2's. Each checkpointed next offset is 100.
    let mut second: Vec<Vec<Item>> = vec![Vec::new(); PARTITIONS as usize];
    let mut recs = Vec::new();
    for p in 0..PARTITIONS {
        second[p as usize] = stream(&mut rng, 60, now_ms(), &FRESH_AGES, 0.1);
        recs.extend(second[p as usize].iter().map(|it| it.record(p)));
    }
    b.produce_records(&topic, PARTITIONS, &recs);
    b.delete_records(&topic, &[(0, 120), (1, 160)]);
    assert_eq!(b.watermarks(&topic, PARTITIONS), vec![(120, 160), (160, 160), (0, 160)]);
    truth.add(&second[0][20..]);
    truth.add(&second[2]);

    let (mut app, m, t_scrape) = launch_until_consumed(&d, &truth, Duration::from_secs(60));
    assert_exact("after retention deleted unread events", &m, &truth, t_scrape);
    let skipped = |p: &str| m.get("slostream_events_skipped_total", &[("topic", &topic), ("partition", p)]);
    assert_eq!(skipped("0"), Some(20.0), "{:?}", m.family("slostream_events_skipped_total"));
    assert_eq!(skipped("1"), Some(60.0), "{:?}", m.family("slostream_events_skipped_total"));
    assert!(skipped("2").is_none_or(|v| v == 0.0), "p2 lost nothing: {:?}", skipped("2"));
    let log = app.log_text();
    let line = |p: i32, n: u64| {
        log.lines().any(|l| {
            l.contains("ERROR") && l.contains(&format!("partition={p}")) && l.contains(&format!("skipped={n}"))
        })
    };
    assert!(line(0, 20) && line(1, 60), "no ERROR line with skipped=<n> per partition:\n{log}");
    assert!(!log.lines().any(|l| l.contains("partition=2") && l.contains("skipped=")), "{log}");
    stop(&mut app);
}

// ---------------------------------------------------------------------------------------------
// 7. SASL/SCRAM.
// ---------------------------------------------------------------------------------------------

#[test]
fn sasl_scram_right_wrong_and_env_password() {
    const PARTITIONS: i32 = 2;
    const RIGHT: &str = "slostream-secret";
    let b = broker();
    assert_eq!(b.env("KAFKA_SASL_PASSWORD").as_deref(), Some(RIGHT));
    assert_eq!(b.env("KAFKA_SASL_USERNAME").as_deref(), Some("slostream"));
    let topic = unique("sasl");
    b.create_topic(&topic, PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0x5A51);
    let mut truth = Truth::default();
    let items = stream(&mut rng, 3000, now_ms(), &FRESH_AGES, 0.05);
    produce_counted(b, &topic, PARTITIONS, &items, &mut truth);
    let wrong = format!("Wr0ng-{}", unique("pw"));

    let deploy = |name: &str, password: &str, env: Vec<(String, String)>| {
        let mut d = Deploy::new(name, &topic);
        d.brokers = Some(b.sasl_bootstrap());
        d.properties = vec![
            ("security.protocol".into(), "SASL_PLAINTEXT".into()),
            ("sasl.mechanism".into(), "SCRAM-SHA-256".into()),
            ("sasl.username".into(), "slostream".into()),
            ("sasl.password".into(), password.into()),
        ];
        d.env = env;
        d
    };
    let right = deploy("sasl-right", RIGHT, vec![]);
    let bad = deploy("sasl-wrong", &wrong, vec![]);
    let from_env = deploy("sasl-env", "${SLOSTREAM_TEST_PW}", vec![("SLOSTREAM_TEST_PW".into(), RIGHT.into())]);

    let mut bad_app = bad.launch();
    let mut right_app = right.launch();
    let mut env_app = from_env.launch();
    for (name, app) in [("literal password", &mut right_app), ("password from the environment", &mut env_app)] {
        app.wait_ready(Duration::from_secs(60));
        let (m, t_scrape) = app.wait_consumed(truth.consumed, Duration::from_secs(60));
        assert_exact(&format!("SASL, {name}"), &m, &truth, t_scrape);
    }

    // The wrong password: a clear error, never ready, no SLO series.
    let started = Instant::now();
    let mut auth_logged = None;
    while started.elapsed() < Duration::from_secs(20) {
        assert_eq!(bad_app.get("/ready").map(|(s, _)| s), Some(503), "ready with a wrong password");
        let m = bad_app.scrape();
        assert_eq!(m.get("slostream_state_ready", &[]), Some(0.0));
        assert!(slo_window_series(&m).is_empty());
        if auth_logged.is_none() && bad_app.log_text().to_lowercase().contains("authentication") {
            auth_logged = Some(started.elapsed());
        }
        if auth_logged.is_some() && started.elapsed() > Duration::from_secs(8) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let log = bad_app.log_text();
    assert!(auth_logged.is_some(), "no authentication error in the log within 20 s:\n{log}");
    let auth_line = log.lines().find(|l| l.to_lowercase().contains("authentication")).unwrap().to_string();
    eprintln!("[durability] wrong password → {auth_line}");
    assert!(
        auth_line.contains("WARN") || auth_line.contains("ERROR"),
        "the authentication error is not a warning or error: {auth_line}"
    );

    for (name, app) in [("right", &mut right_app), ("env", &mut env_app), ("wrong", &mut bad_app)] {
        let (status, _) = app.terminate(Duration::from_secs(30));
        assert!(status.success() || name == "wrong", "{name}: exit {status}");
    }
    // The secrets appear nowhere in what slostream printed (run and check).
    for (name, app, d, secret) in [
        ("wrong", &bad_app, &bad, wrong.as_str()),
        ("right", &right_app, &right, RIGHT),
        ("env", &env_app, &from_env, RIGHT),
    ] {
        let mut all = app.output_bytes();
        all.extend(fs::read(d.dir.join("check.out")).unwrap_or_default());
        let text = String::from_utf8_lossy(&all);
        assert!(
            !text.contains(secret),
            "{name}: the password appears in slostream's output:\n{}",
            text.lines().filter(|l| l.contains(secret)).collect::<Vec<_>>().join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 8. One instance per state dir.
// ---------------------------------------------------------------------------------------------

#[test]
fn second_instance_on_the_same_state_dir_fails_fast() {
    let (_, d) = topic_on(broker(), "lock", 1);
    let mut first = d.launch();
    first.wait_ready(Duration::from_secs(60));

    let mut second = d.launch();
    let started = Instant::now();
    let status = second.wait_exit(Duration::from_secs(10)).expect("the second instance is still running after 10 s");
    let took = started.elapsed();
    assert!(!status.success(), "second instance exit status {status}");
    assert!(took < Duration::from_secs(5), "the second instance took {took:?} to give up");
    let text = String::from_utf8_lossy(&second.output_bytes()).into_owned();
    assert!(text.contains("locked by another slostream instance"), "second instance said:\n{text}");
    assert!(
        text.contains(&first.pid().to_string()),
        "the message does not name the holder's pid {}:\n{text}",
        first.pid()
    );
    eprintln!(
        "[durability] second instance: {status} after {:.2} s: {}",
        took.as_secs_f64(),
        text.lines().last().unwrap_or("")
    );
    // The first one is unaffected, and its lock goes with it.
    assert_eq!(first.get("/ready").map(|(s, _)| s), Some(200));
    stop(&mut first);
    let mut third = d.launch();
    third.wait_ready(Duration::from_secs(60));
    stop(&mut third);
}

// ---------------------------------------------------------------------------------------------
// 9. Broker down at start.
// ---------------------------------------------------------------------------------------------

#[test]
fn broker_down_at_start_then_ready_when_it_comes() {
    const PARTITIONS: i32 = 2;
    let own = Broker::reserve_own("late");
    let topic = unique("late");
    let mut d = Deploy::new("late", &topic);
    d.brokers = Some(own.bootstrap.clone());
    let mut app = d.launch();
    app.wait_status("/health", 200, Duration::from_secs(20));
    let started = Instant::now();
    let mut scrapes = 0;
    while started.elapsed() < Duration::from_secs(12) {
        assert_eq!(app.get("/ready").map(|(s, _)| s), Some(503), "ready without a broker");
        let m = app.scrape();
        assert_eq!(m.get("slostream_state_ready", &[]), Some(0.0));
        assert!(slo_window_series(&m).is_empty(), "SLO series without a broker: {:?}", slo_window_series(&m));
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = app.log_text();
    let attempts = log.lines().filter(|l| l.contains("cannot reach Kafka")).count();
    assert!(attempts >= 2, "expected repeated \"cannot reach Kafka\" while it retries:\n{log}");
    eprintln!("[durability] broker down: {scrapes} scrapes not ready, {attempts} \"cannot reach Kafka\" lines");

    own.start();
    own.create_topic(&topic, PARTITIONS);
    let came = Instant::now();
    let mut rng = StdRng::seed_from_u64(0x1A7E);
    let mut truth = Truth::default();
    let items = stream(&mut rng, 2000, now_ms(), &FRESH_AGES, 0.05);
    produce_counted(&own, &topic, PARTITIONS, &items, &mut truth);
    app.wait_ready(Duration::from_secs(90));
    eprintln!("[durability] ready {:.1} s after the broker and topic came", came.elapsed().as_secs_f64());
    let (m, t_scrape) = app.wait_consumed(truth.consumed, Duration::from_secs(60));
    assert_exact("broker late at start", &m, &truth, t_scrape);
    stop(&mut app);
    own.stop();
}
