//! Kafka at its edges: offsets deleted by retention while slostream was stopped are reported
//! (log and `slostream_events_skipped_total` per partition); SASL/SCRAM-SHA-256 with the right
//! password (literal and `${ENV}`) counts exactly, a wrong one is reported, never ready and
//! never printed; retention overtaking a running consumer is reported the same way as at
//! start-up; a broker down at start keeps slostream not ready until it comes; a broker
//! that dies while the workers read shows in the log and `slostream_kafka_errors_total`.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::harness::metrics::slo_window_series;
use crate::harness::stream::{
    deployment, produce_counted, start_until_consumed, stream, Expected, Item, BULK_AGES, FRESH_AGES,
};
use crate::harness::{broker, now_ms, unique, Broker, Deployment, Served, Slostream};
use slostream::names::{self, label};

// ---------------------------------------------------------------------------------------------
// Offsets deleted by retention while stopped.
// ---------------------------------------------------------------------------------------------

#[test]
fn offsets_deleted_by_retention_are_reported() {
    const PARTITIONS: i32 = 3;
    let b = broker();
    let d = deployment("retention");
    d.create_topic(PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0x2E7);
    let mut expected = Expected::default();
    let first = stream(&mut rng, 300, now_ms(), &BULK_AGES, 0.0);
    produce_counted(b, d.topic(), PARTITIONS, &first, &mut expected);
    let (mut app, _, _) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    app.stop();

    // While stopped: 60 more per partition; retention then deletes 20 of p0's new ones, all 60
    // of p1's, none of p2's. Each checkpointed next offset is 100.
    let mut second: Vec<Vec<Item>> = vec![Vec::new(); PARTITIONS as usize];
    let mut recs = Vec::new();
    for p in 0..PARTITIONS {
        second[p as usize] = stream(&mut rng, 60, now_ms(), &FRESH_AGES, 0.1);
        recs.extend(second[p as usize].iter().map(|it| it.record(p)));
    }
    b.produce_records(d.topic(), PARTITIONS, &recs);
    b.delete_records(d.topic(), &[(0, 120), (1, 160)]);
    assert_eq!(b.watermarks(d.topic(), PARTITIONS), vec![(120, 160), (160, 160), (0, 160)]);
    expected.add(&second[0][20..]);
    expected.add(&second[2]);

    let (mut app, m, t_scrape) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    expected.assert_scrape("after retention deleted unread events", &m, t_scrape);
    let skipped = |p: &str| m.get(names::EVENTS_SKIPPED.name, &[(label::TOPIC, d.topic()), (label::PARTITION, p)]);
    assert_eq!(skipped("0"), Some(20.0), "{:?}", m.family(names::EVENTS_SKIPPED.name));
    assert_eq!(skipped("1"), Some(60.0), "{:?}", m.family(names::EVENTS_SKIPPED.name));
    assert!(skipped("2").is_none_or(|v| v == 0.0), "p2 lost nothing: {:?}", skipped("2"));
    let log = app.log_text();
    let line = |p: i32, n: u64| {
        log.lines().any(|l| {
            l.contains("ERROR") && l.contains(&format!("partition={p}")) && l.contains(&format!("skipped={n}"))
        })
    };
    assert!(line(0, 20) && line(1, 60), "no ERROR line with skipped=<n> per partition:\n{log}");
    assert!(!log.lines().any(|l| l.contains("partition=2") && l.contains("skipped=")), "{log}");
    app.stop();
}

/// Retention overtaking a running consumer is reported as at start-up: while slostream is
/// paused (SIGSTOP), events are produced and retention deletes some of them unread; when it
/// resumes, librdkafka resets the position to the earliest retained offset, and slostream says
/// how many it skipped per partition (log and `slostream_events_skipped_total`) instead of
/// carrying on silently, and counts exactly the retained rest.
#[test]
fn retention_overtaking_a_running_consumer_is_reported() {
    const PARTITIONS: i32 = 2;
    let b = broker();
    let d = deployment("overtaken");
    d.create_topic(PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0x0E27);
    let mut expected = Expected::default();
    let first = stream(&mut rng, 200, now_ms(), &FRESH_AGES, 0.0);
    produce_counted(b, d.topic(), PARTITIONS, &first, &mut expected);
    let (mut app, _, _) = start_until_consumed(&d, &expected, Duration::from_secs(60));

    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill").args([sig, &app.pid().to_string()]).status().expect("kill");
        assert!(ok.success(), "kill {sig}");
    };
    signal("-STOP");
    // While paused: 50 more per partition; retention deletes 30 of p0's new ones, none of p1's.
    let mut recs = Vec::new();
    let mut second: Vec<Vec<Item>> = vec![Vec::new(); PARTITIONS as usize];
    for p in 0..PARTITIONS {
        second[p as usize] = stream(&mut rng, 50, now_ms(), &FRESH_AGES, 0.0);
        recs.extend(second[p as usize].iter().map(|it| it.record(p)));
    }
    b.produce_records(d.topic(), PARTITIONS, &recs);
    b.delete_records(d.topic(), &[(0, 130)]);
    assert_eq!(b.watermarks(d.topic(), PARTITIONS), vec![(130, 150), (0, 150)]);
    expected.add(&second[0][30..]);
    expected.add(&second[1]);
    signal("-CONT");

    let (m, t_scrape) = app.wait_consumed(expected.consumed, Duration::from_secs(60));
    expected.assert_scrape("after retention overtook the running consumer", &m, t_scrape);
    let started = std::time::Instant::now();
    let skipped = |m: &crate::harness::Metrics, p: &str| {
        m.get(names::EVENTS_SKIPPED.name, &[(label::TOPIC, d.topic()), (label::PARTITION, p)])
    };
    let mut m = m;
    while skipped(&m, "0") != Some(30.0) {
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", m.family(names::EVENTS_SKIPPED.name));
        std::thread::sleep(Duration::from_millis(200));
        m = app.scrape();
    }
    assert!(skipped(&m, "1").is_none_or(|v| v == 0.0), "p1 lost nothing: {:?}", skipped(&m, "1"));
    let log = app.log_text();
    assert!(
        log.lines().any(|l| l.contains("ERROR") && l.contains("partition=0") && l.contains("skipped=30")),
        "no ERROR line with skipped=30 for partition 0:\n{log}"
    );
    app.stop();
}

// ---------------------------------------------------------------------------------------------
// SASL/SCRAM.
// ---------------------------------------------------------------------------------------------

const SASL_USER: &str = "slostream";
const SASL_PASSWORD: &str = "slostream-secret";

/// A deployment reading `topic` through the SASL_PLAINTEXT listener of `b` as the SCRAM user,
/// with `password` (literal, or `${VAR}`).
fn sasl_deployment(name: &str, b: &Broker, topic: &str, password: &str) -> Deployment {
    deployment(name)
        .on_topic(topic)
        .brokers(&b.sasl_bootstrap())
        .kafka_property("security.protocol", "SASL_PLAINTEXT")
        .kafka_property("sasl.mechanism", "SCRAM-SHA-256")
        .kafka_property("sasl.username", SASL_USER)
        .kafka_property("sasl.password", password)
}

#[test]
fn sasl_scram_right_wrong_and_env_password() {
    const PARTITIONS: i32 = 2;
    let b = broker();
    assert_eq!(b.env("KAFKA_SASL_PASSWORD").as_deref(), Some(SASL_PASSWORD));
    assert_eq!(b.env("KAFKA_SASL_USERNAME").as_deref(), Some(SASL_USER));
    let topic = unique("sasl");
    b.create_topic(&topic, PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0x5A51);
    let mut expected = Expected::default();
    let items = stream(&mut rng, 3000, now_ms(), &FRESH_AGES, 0.05);
    produce_counted(b, &topic, PARTITIONS, &items, &mut expected);
    let wrong = format!("Wr0ng-{}", unique("pw"));

    let right = sasl_deployment("sasl-right", b, &topic, SASL_PASSWORD);
    let bad = sasl_deployment("sasl-wrong", b, &topic, &wrong);
    let from_env =
        sasl_deployment("sasl-env", b, &topic, "${SLOSTREAM_TEST_PW}").env("SLOSTREAM_TEST_PW", SASL_PASSWORD);

    let mut bad_app = bad.start();
    let mut right_app = right.start();
    let mut env_app = from_env.start();
    for (name, app) in [("literal password", &mut right_app), ("password from the environment", &mut env_app)] {
        app.wait_ready(Duration::from_secs(60));
        let (m, t_scrape) = app.wait_consumed(expected.consumed, Duration::from_secs(60));
        expected.assert_scrape(&format!("SASL, {name}"), &m, t_scrape);
    }
    assert_wrong_password_is_reported_and_never_ready(&mut bad_app);

    for (name, app) in [("right", &mut right_app), ("env", &mut env_app), ("wrong", &mut bad_app)] {
        let (status, _) = app.terminate(Duration::from_secs(30));
        assert!(status.success() || name == "wrong", "{name}: exit {status}");
    }
    // The secrets appear nowhere in what slostream printed (run and check).
    for (name, app, d, secret) in [
        ("wrong", &bad_app, &bad, wrong.as_str()),
        ("right", &right_app, &right, SASL_PASSWORD),
        ("env", &env_app, &from_env, SASL_PASSWORD),
    ] {
        let mut all = app.output_bytes();
        all.extend(d.check_output());
        let text = String::from_utf8_lossy(&all);
        assert!(
            !text.contains(secret),
            "{name}: the password appears in slostream's output:\n{}",
            text.lines().filter(|l| l.contains(secret)).collect::<Vec<_>>().join("\n")
        );
    }
}

/// The wrong password: an authentication warning or error in the log within 20 s; never ready
/// and no SLO series, watched for at least 8 s.
fn assert_wrong_password_is_reported_and_never_ready(bad_app: &mut Slostream) {
    let started = Instant::now();
    let mut auth_logged = None;
    while started.elapsed() < Duration::from_secs(20) {
        assert_eq!(bad_app.get("/ready").map(|(s, _)| s), Some(503), "ready with a wrong password");
        let m = bad_app.scrape();
        assert_eq!(m.get(names::STATE_READY.name, &[]), Some(0.0));
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
    eprintln!("[it] wrong password → {auth_line}");
    assert!(
        auth_line.contains("WARN") || auth_line.contains("ERROR"),
        "the authentication error is not a warning or error: {auth_line}"
    );
}

// ---------------------------------------------------------------------------------------------
// Broker down at start.
// ---------------------------------------------------------------------------------------------

#[test]
fn broker_down_at_start_then_ready_when_it_comes() {
    const PARTITIONS: i32 = 2;
    let own = Broker::reserve_own("late");
    let d = deployment("late").on(&own);
    let mut app = d.start();
    app.wait_status("/health", 200, Duration::from_secs(20));
    let started = Instant::now();
    let mut scrapes = 0;
    while started.elapsed() < Duration::from_secs(12) {
        assert_eq!(app.get("/ready").map(|(s, _)| s), Some(503), "ready without a broker");
        let m = app.scrape();
        assert_eq!(m.get(names::STATE_READY.name, &[]), Some(0.0));
        assert!(slo_window_series(&m).is_empty(), "SLO series without a broker: {:?}", slo_window_series(&m));
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = app.log_text();
    let attempts = log.lines().filter(|l| l.contains("cannot reach Kafka")).count();
    assert!(attempts >= 2, "expected repeated \"cannot reach Kafka\" while it retries:\n{log}");
    eprintln!("[it] broker down: {scrapes} scrapes not ready, {attempts} \"cannot reach Kafka\" lines");

    own.start();
    d.create_topic(PARTITIONS);
    let came = Instant::now();
    let mut rng = StdRng::seed_from_u64(0x1A7E);
    let mut expected = Expected::default();
    let items = stream(&mut rng, 2000, now_ms(), &FRESH_AGES, 0.05);
    produce_counted(&own, d.topic(), PARTITIONS, &items, &mut expected);
    app.wait_ready(Duration::from_secs(90));
    eprintln!("[it] ready {:.1} s after the broker and topic came", came.elapsed().as_secs_f64());
    let (m, t_scrape) = app.wait_consumed(expected.consumed, Duration::from_secs(60));
    expected.assert_scrape("broker late at start", &m, t_scrape);
    app.stop();
    own.stop();
}

// ---------------------------------------------------------------------------------------------
// The broker dies while the workers read.
// ---------------------------------------------------------------------------------------------

/// Every worker's Kafka client reports the lost broker through slostream: a `kafka error` log
/// line naming the worker, and `slostream_kafka_errors_total{kind}`. (Read in batches, a
/// worker's client-level errors used to reach only librdkafka's own stderr lines, so neither
/// the log nor a counter showed that the workers could not read.)
#[test]
fn worker_kafka_errors_reach_the_log_and_a_counter_when_the_broker_dies() {
    const PARTITIONS: i32 = 2;
    let own = Broker::start_own("dies");
    let d = deployment("dies").on(&own).workers(2);
    d.create_topic(PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0xDEAD);
    let mut expected = Expected::default();
    let items = stream(&mut rng, 500, now_ms(), &FRESH_AGES, 0.0);
    produce_counted(&own, d.topic(), PARTITIONS, &items, &mut expected);
    let (mut app, m, _) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    let errors =
        |m: &crate::harness::Metrics| -> f64 { m.family(names::KAFKA_ERRORS.name).iter().map(|(_, v)| v).sum() };
    assert_eq!(errors(&m), 0.0, "Kafka errors while the broker was up");

    own.kill();
    for worker in 0..2 {
        let needle = format!("client={worker} ");
        let started = Instant::now();
        loop {
            let log = app.log_text();
            if log.lines().any(|l| l.contains("kafka error") && l.contains(&needle)) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no `kafka error` log line from worker {worker} within 60 s of the broker's death:\n{}",
                app.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let m = app.scrape();
    let lost = ["all_brokers_down", "transport"]
        .iter()
        .map(|kind| m.get(names::KAFKA_ERRORS.name, &[(label::KIND, kind)]).unwrap_or(0.0))
        .sum::<f64>();
    assert!(lost > 0.0, "{} shows no lost broker: {:?}", names::KAFKA_ERRORS.name, m.family(names::KAFKA_ERRORS.name));
    // The counts stay exact meanwhile; nothing is re-counted.
    assert_eq!(m.get(names::EVENTS_CONSUMED.name, &[]), Some(expected.consumed as f64));
    app.terminate(Duration::from_secs(30));
}
