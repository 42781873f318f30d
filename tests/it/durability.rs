//! Durability: whatever stops slostream (SIGTERM, SIGKILL at any moment, a broker crash, a
//! damaged checkpoint), nothing counted is lost and nothing is counted twice. Every expectation
//! comes from the messages the test itself produced ([`harness::stream`]).
//!
//! - kill -9 at 12 random moments (during start-up and while consuming a paced 200k-event
//!   stream): every exported count exact at the end, and every SLO's report row for the current
//!   month; most restarts resumed from a checkpoint.
//!   stream, some of it claimed by maintenance windows): every exported count exact at the end,
//!   the maintenance counts included; most restarts resumed from a checkpoint.
//! - SIGTERM: a clean exit within the grace period and a final checkpoint, which the restart
//!   restores (it says so in its log). That the restart shows no SLO series before ready and
//!   counts exactly across both runs is asserted by the fast tier
//!   ([`in_process::restart`](crate::in_process::restart)).
//! - The broker SIGKILLed while consuming a live stream: slostream resumes by itself; SIGTERM
//!   with the broker down still exits within the grace period with a final checkpoint.
//! - A truncated or bit-flipped newest checkpoint: the previous generation is used, loudly; both
//!   corrupt: "NO VALID CHECKPOINT" and a rebuild from the topic.

use std::fs;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use slostream::names;

use crate::harness::broker::send_paced;
use crate::harness::stream::{
    deployment, produce_counted, records, start_until_consumed, stream, Expected, BULK_AGES, FRESH_AGES,
};
use crate::harness::truth::maintenance_windows;
use crate::harness::{broker, now_ms, Broker, Deployment, Metrics, Record, Served, Slostream};

/// `consumed=N` of the "restored checkpoint" log line, if there is one.
fn restored_consumed(log: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains("restored checkpoint"))?;
    line.split_whitespace().find_map(|w| w.strip_prefix("consumed=")).and_then(|v| v.parse().ok())
}

/// A producer thread sending `recs` to `topic`, `chunk` records every `every`, then flushing
/// (within `flush`). It returns how many records it sent, once all are flushed.
fn paced_producer(
    producer: BaseProducer,
    topic: &str,
    recs: Vec<Record>,
    (chunk, every, flush): (usize, Duration, Duration),
) -> JoinHandle<u64> {
    let topic = topic.to_string();
    std::thread::spawn(move || {
        let mut sent = 0;
        send_paced(&producer, &topic, &recs, chunk, every, |n| sent += n as u64);
        producer.flush(flush).expect("flush producer");
        sent
    })
}

// ---------------------------------------------------------------------------------------------
// kill -9 at random moments.
// ---------------------------------------------------------------------------------------------

#[test]
fn kill_9_at_random_moments_loses_and_double_counts_nothing() {
    const PARTITIONS: i32 = 4;
    const BULK: usize = 200_000;
    const KILLS: usize = 12;
    let test_start = Instant::now();
    let b = broker();
    let t0 = now_ms();
    // Maintenance windows claim some events: their counts must be as exact as the SLIs'.
    let windows = maintenance_windows(t0);
    let d = deployment("kill9").maintenance(&windows);
    d.create_topic(PARTITIONS);

    let mut rng = StdRng::seed_from_u64(0x0D15_EA5E);
    let bulk = stream(&mut rng, BULK, t0, &BULK_AGES, 0.02);
    let mut expected = Expected::with_maintenance(&windows);
    expected.add(&bulk);
    assert!(expected.in_maintenance.iter().all(|&n| n > 0), "test data: {:?}", expected.in_maintenance);

    // The producer paces the stream over ~40 s, so slostream is killed while consuming it.
    let pacing = (2500, Duration::from_millis(500), Duration::from_secs(60));
    let producer = paced_producer(b.producer(), d.topic(), records(&bulk, PARTITIONS), pacing);

    let mut restored = Vec::new();
    let mut before_ready = 0;
    for k in 0..KILLS {
        // Half the kills land in start-up (restore, discovery, assignment), half while consuming.
        let delay = if k % 2 == 0 { rng.random_range(50..1200) } else { rng.random_range(1200..6000) };
        let kill = kill_after(&d, k, delay, PARTITIONS);
        before_ready += usize::from(kill.ready != Some(200));
        restored.push(kill.restored);
    }
    let sent = producer.join().expect("producer thread");
    assert_eq!(sent, BULK as u64, "the producer thread did not send (and flush) the whole stream");
    assert_eq!(b.produced(d.topic(), PARTITIONS), BULK as u64, "the producer delivered a different number of records");

    // Fresh events for the 5m window, then the final run.
    let fresh = stream(&mut rng, 3000, now_ms(), &FRESH_AGES, 0.03);
    produce_counted(b, d.topic(), PARTITIONS, &fresh, &mut expected);
    let (mut app, m, t_scrape) = start_until_consumed(&d, &expected, Duration::from_secs(180));
    expected.assert_scrape("after 12 SIGKILLs", &m, t_scrape);
    // Nothing more arrives later (a late re-read would show here).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(app.consumed(), Some(expected.consumed as f64));
    assert_month_reports(&mut app, &expected, t0);
    let (status, _) = app.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");

    // The restarts must really have resumed from checkpoints, not all from scratch.
    let from_checkpoints = restored.iter().filter(|r| r.is_some_and(|c| c > 0)).count();
    eprintln!(
        "[it] kill -9 loop: {KILLS} kills ({before_ready} before ready), {from_checkpoints} restarts restored a non-empty checkpoint; {:.1} s",
        test_start.elapsed().as_secs_f64()
    );
    assert!(from_checkpoints >= KILLS / 2, "only {from_checkpoints} of {KILLS} restarts restored counts: {restored:?}");
}

/// The first instant of the UTC month holding `ms`, and of the next one.
fn utc_month(ms: i64) -> (i64, i64) {
    let (y, m, _) = crate::harness::truth::civil_from_days(ms.div_euclid(86_400_000));
    let first = |y: i64, m: i64| slostream::time::days_from_civil(y, m, 1) * 86_400_000;
    (first(y, m), if m == 12 { first(y + 1, 1) } else { first(y, m + 1) })
}

/// Every SLO's current report row (its rolling period reports per UTC month) holds, per
/// component, exactly the valid events of this month: the kills lost and doubled nothing in the
/// reports either. Skipped when the run crossed a month's end (the row would be a new month's).
fn assert_month_reports(app: &mut Slostream, expected: &Expected, t0: i64) {
    let (start, end) = utc_month(now_ms());
    if utc_month(t0) != (start, end) {
        eprintln!("[it] the run crossed a month's end: the report rows are not checked");
        return;
    }
    for slo in &crate::harness::truth::SLOS {
        let want: Vec<(u64, u64)> = slo
            .components
            .iter()
            .map(|&(sli, _)| {
                let month = expected.valid.iter().filter(|e| (start..end).contains(&e.ts));
                month
                    .flat_map(|e| e.slis())
                    .filter(|(s, _)| *s == sli)
                    .fold((0, 0), |(n, g), (_, good)| (n + 1, g + u64::from(good)))
            })
            .collect();
        // The partial rows are recomputed every 2 s.
        let started = Instant::now();
        loop {
            let (status, body) = app.get(&format!("/api/v1/reports?slo={}", slo.name)).expect("reports answer");
            assert_eq!(status, 200, "{body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let row = v["reports"][0]["rows"].as_array().and_then(|r| r.last().cloned()).unwrap_or_default();
            let got: Vec<(u64, u64)> = row["components"]
                .as_array()
                .map(|cs| cs.iter().map(|c| (c["events"].as_u64().unwrap(), c["good"].as_u64().unwrap())).collect())
                .unwrap_or_default();
            if got == want {
                assert_eq!(row["partial"], true, "{}: {row}", slo.name);
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{}: report row {got:?}, want {want:?}", slo.name);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// What one killed run had shown.
struct Killed {
    /// `/ready` just before the kill.
    ready: Option<u16>,
    /// `consumed=` of its "restored checkpoint" line.
    restored: Option<u64>,
}

/// Starts `d`, SIGKILLs it `delay_ms` later, and checks it had never counted more than the topic
/// held, nor panicked.
fn kill_after(d: &Deployment, k: usize, delay_ms: u64, partitions: i32) -> Killed {
    let mut app = d.start();
    std::thread::sleep(Duration::from_millis(delay_ms));
    let ready = app.get("/ready").map(|(s, _)| s);
    let consumed = app
        .get("/metrics")
        .and_then(|(s, body)| (s == 200).then(|| Metrics::parse(&body)))
        .and_then(|m| m.get(names::EVENTS_CONSUMED.name, &[]));
    let high = d.broker().produced(d.topic(), partitions);
    app.kill();
    if let Some(c) = consumed {
        assert!(c <= high as f64, "kill {k}: consumed {c} > {high} in the topic: counted twice");
    }
    let log = app.log_text();
    assert!(!log.contains("panicked"), "kill {k}: slostream panicked:\n{log}");
    let restored = restored_consumed(&log);
    eprintln!(
        "[it] kill -9 #{k} after {delay_ms} ms (ready: {ready:?}): consumed {consumed:?} of {high} in the topic; this run restored {restored:?}; {} checkpoint files",
        d.checkpoints().len()
    );
    Killed { ready, restored }
}

// ---------------------------------------------------------------------------------------------
// Graceful stop and restart.
// ---------------------------------------------------------------------------------------------

#[test]
fn sigterm_then_restart_restores_the_final_checkpoint() {
    const PARTITIONS: i32 = 4;
    let b = broker();
    let d = deployment("graceful");
    d.create_topic(PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0x6_ACE);
    let mut expected = Expected::default();
    let first = stream(&mut rng, 30_000, now_ms(), &BULK_AGES, 0.03);
    produce_counted(b, d.topic(), PARTITIONS, &first, &mut expected);

    let (mut app, _, _) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    let (status, took) = app.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}; log:\n{}", app.log_tail(30));
    assert!(took <= Duration::from_secs(5), "SIGTERM exit took {took:?} (> shutdown_grace 5s)");
    assert!(!d.checkpoints().is_empty(), "no checkpoint after a graceful stop");

    let mut app = d.start();
    let to_ready = app.wait_ready(Duration::from_secs(60));
    assert_eq!(restored_consumed(&app.log_text()), Some(first.len() as u64), "restored checkpoint line");
    eprintln!("[it] graceful restart: spawn to /ready 200 in {:.3} s", to_ready.as_secs_f64());
    app.stop();
}

// ---------------------------------------------------------------------------------------------
// Broker crash while consuming; SIGTERM with the broker down.
// ---------------------------------------------------------------------------------------------

#[test]
fn broker_crash_and_restart_while_consuming() {
    const PARTITIONS: i32 = 4;
    let own = Broker::start_own("crash");
    // No periodic checkpoint: the one found after the SIGTERM below can only be the final one.
    let d = deployment("crash").on(&own).checkpoint_interval("1h");
    d.create_topic(PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0xC4A5);
    let items = stream(&mut rng, 60_000, now_ms(), &BULK_AGES, 0.02);
    let mut expected = Expected::of(&items);

    let mut app = d.start();
    app.wait_ready(Duration::from_secs(60));
    let restarted_at = crash_the_broker_during_a_live_stream(&own, &mut app, d.topic(), records(&items, PARTITIONS));
    assert_eq!(
        own.produced(d.topic(), PARTITIONS),
        items.len() as u64,
        "producer-side loss or duplication across the broker crash"
    );
    app.wait_consumed(expected.consumed, Duration::from_secs(120));
    eprintln!("[it] caught up {:.1} s after the broker restart", restarted_at.elapsed().as_secs_f64());

    // Fresh events after the crash, then exact counts.
    let fresh = stream(&mut rng, 2000, now_ms(), &FRESH_AGES, 0.03);
    produce_counted(&own, d.topic(), PARTITIONS, &fresh, &mut expected);
    let (m, t_scrape) = app.wait_consumed(expected.consumed, Duration::from_secs(60));
    expected.assert_scrape("after a broker crash", &m, t_scrape);
    eprintln!("[it] consumer stalls recovered: {:?}", m.get(names::CONSUMER_STALLS.name, &[]));

    sigterm_with_the_broker_down_writes_a_final_checkpoint(&own, &d, &mut app, &expected);
}

/// A live stream at ~4k/s; the broker is SIGKILLed in the middle of it and restarted 10 s later,
/// slostream running throughout. The idempotent producer buffers through the outage (the
/// caller's watermark check proves it delivered each record once). Returns when the broker was
/// back, once the producer has flushed.
fn crash_the_broker_during_a_live_stream(own: &Broker, app: &mut Slostream, topic: &str, recs: Vec<Record>) -> Instant {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &own.bootstrap)
        .set("linger.ms", "5")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "240000")
        .create()
        .expect("producer");
    let pacing = (1000, Duration::from_millis(250), Duration::from_secs(240));
    let producer = paced_producer(p, topic, recs, pacing);
    std::thread::sleep(Duration::from_secs(4));
    let before = app.consumed().unwrap_or(0.0);
    own.kill();
    let killed_at = Instant::now();
    eprintln!("[it] broker killed with {before} consumed");
    std::thread::sleep(Duration::from_secs(10));
    app.assert_running();
    let during = app.consumed().unwrap_or(0.0);
    own.start();
    let restarted_at = Instant::now();
    producer.join().expect("producer thread");
    eprintln!(
        "[it] broker down {:.1} s; consumed {before} before, {during} during",
        (restarted_at - killed_at).as_secs_f64()
    );
    restarted_at
}

/// SIGTERM with the broker down: exit within shutdown_grace (5s), a new checkpoint generation
/// written after the SIGTERM that holds everything (a new instance, broker still down, restores
/// exactly `expected`), and that instance not ready and still stoppable.
fn sigterm_with_the_broker_down_writes_a_final_checkpoint(
    own: &Broker,
    d: &Deployment,
    app: &mut Slostream,
    expected: &Expected,
) {
    let generations_before = d.checkpoints();
    own.kill();
    std::thread::sleep(Duration::from_secs(2));
    let sigterm_at = SystemTime::now();
    let (status, took) = app.terminate(Duration::from_secs(40));
    eprintln!("[it] SIGTERM with the broker down: exit {status} after {:.2} s", took.as_secs_f64());
    assert!(status.success(), "exit status {status}; log:\n{}", app.log_tail(30));
    let after = d.checkpoints();
    let newest =
        after.first().unwrap_or_else(|| panic!("no checkpoint after SIGTERM (before: {generations_before:?})"));
    assert!(
        generations_before.first().is_none_or(|(g, _)| newest.0 > *g),
        "no new checkpoint generation: {generations_before:?} → {after:?}"
    );
    let mtime = fs::metadata(&newest.1).and_then(|m| m.modified()).expect("checkpoint mtime");
    assert!(mtime >= sigterm_at, "newest checkpoint {newest:?} is older than the SIGTERM");
    // It holds everything: a new instance (broker still down) restores exactly that.
    let mut probe = d.start();
    probe.wait_log("restored checkpoint", Duration::from_secs(20));
    assert_eq!(restored_consumed(&probe.log_text()), Some(expected.consumed), "the final checkpoint's counts");
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
// Corrupt checkpoints.
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

fn truncate_newest(files: &[(u64, PathBuf)]) {
    let (_, newest) = &files[0];
    let len = fs::metadata(newest).unwrap().len();
    fs::OpenOptions::new().write(true).open(newest).unwrap().set_len(len / 2).unwrap();
}

fn bit_flip_newest(files: &[(u64, PathBuf)]) {
    let (_, newest) = &files[0];
    let mut bytes = fs::read(newest).unwrap();
    let at = bytes.len() * 2 / 3;
    for b in &mut bytes[at..at + 4] {
        *b ^= 0x5A;
    }
    fs::write(newest, bytes).unwrap();
}

fn corrupt_both_generations(files: &[(u64, PathBuf)]) {
    assert_eq!(files.len(), 2, "two generations kept: {files:?}");
    for (_, f) in files {
        let mut bytes = fs::read(f).unwrap();
        let at = bytes.len() - 9;
        bytes[at] ^= 0xFF;
        fs::write(f, bytes).unwrap();
    }
}

#[test]
fn corrupt_checkpoints_fall_back_or_start_empty_loudly() {
    const PARTITIONS: i32 = 3;
    let b = broker();
    let d = deployment("corrupt");
    d.create_topic(PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0xBADC0DE);
    let mut expected = Expected::default();

    // Each round: more events, a run that counts them, a graceful stop with two generations.
    let mut round = |name: &str, corrupt: &Corrupt| -> String {
        let files = d.checkpoints();
        corrupt(&files);
        let items = stream(&mut rng, 5000, now_ms(), &BULK_AGES, 0.05);
        produce_counted(b, d.topic(), PARTITIONS, &items, &mut expected);
        let (mut app, m, t_scrape) = start_until_consumed(&d, &expected, Duration::from_secs(60));
        expected.assert_scrape(name, &m, t_scrape);
        let failures = m.get(names::CHECKPOINT_FAILURES.name, &[]).unwrap_or(-1.0);
        // Two periodic generations after the last event, then the final one.
        std::thread::sleep(Duration::from_millis(2500));
        app.stop();
        let log = app.log_text();
        eprintln!("[it] {name}: checkpoint failures {failures}, restored {:?}", restored_consumed(&log));
        format!("{log}\nFAILURES={failures}")
    };

    let log = round("first run", &|_| {});
    assert!(log.contains("FAILURES=0"), "{log}");

    let log = round("newest truncated", &truncate_newest);
    assert_fell_back(&log, "truncated");

    let log = round("newest bit-flipped", &bit_flip_newest);
    assert_fell_back(&log, "checksum");

    // Both generations corrupt: starts empty and rebuilds from what the topic retains (all of
    // it here), so the counts are still exact — and it says so.
    let log = round("both corrupt", &corrupt_both_generations);
    assert!(log.lines().any(|l| l.contains("ERROR") && l.contains("NO VALID CHECKPOINT")), "{log}");
    assert_eq!(log.lines().filter(|l| l.contains("checkpoint unusable")).count(), 2, "{log}");
    assert!(log.contains("FAILURES=2"), "{log}");
    assert_eq!(restored_consumed(&log), None, "restored from a corrupt checkpoint?\n{log}");
}
