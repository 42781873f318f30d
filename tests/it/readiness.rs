//! What `/ready` and `/metrics` show before and while events flow.
//!
//! - Started on a topic that does not exist yet: `/ready` 503 and no SLO window series (only
//!   the static objectives); once the topic is created: 200, every window series, exact ratios.
//! - Under a steady trickle of 20 messages a second, `/metrics` never lags the stream by more
//!   than 2.5 s (guards the worker's housekeeping against waiting for a batch of messages).

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::harness::metrics::SLO_WINDOW_FAMILIES;
use crate::harness::truth::{SEC, SLOS};
use crate::harness::{now_ms, Deployment, Served};

#[test]
fn not_ready_and_no_slo_series_until_partitions_are_assigned() {
    let test_start = Instant::now();
    // Its topic does not exist yet (consumers never auto-create topics); a short metadata
    // refresh so the subscription notices the topic once it is created.
    let d = Deployment::new("ready").kafka_property("topic.metadata.refresh.interval.ms", "1000");
    let mut app = d.start();
    app.wait_status("/health", 200, Duration::from_secs(20));

    let slo_families = ["slostream_slo_error_budget_remaining_ratio", "slostream_slo_alert"];
    let until = Instant::now() + Duration::from_secs(5);
    let mut scrapes = 0;
    while Instant::now() < until {
        let ready = app.get("/ready").map(|(s, _)| s);
        assert_eq!(ready, Some(503), "/ready before the topic exists");
        let m = app.scrape();
        for f in SLO_WINDOW_FAMILIES.iter().chain(&slo_families) {
            assert!(m.family(f).is_empty(), "{f} rendered before ready: {:?}", m.family(f));
        }
        assert_eq!(m.get("slostream_state_ready", &[]), Some(0.0));
        // Objectives are static: they are there from the start.
        assert_eq!(m.get("slostream_slo_objective_ratio", &[("slo", "book-a-ride")]), Some(0.999));
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("[it] ready: 503 and no SLO series over {scrapes} scrapes");

    d.create_topic(2);
    let took = app.wait_ready(Duration::from_secs(60));
    eprintln!("[it] ready: 200 {:.1} s after the topic was created", took.as_secs_f64());
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
    d.broker().produce(d.topic(), 2, &events);
    let (m, _) = app.wait_consumed(10, Duration::from_secs(60));
    assert_eq!(m.get("slostream_state_ready", &[]), Some(1.0));
    for slo in &SLOS {
        for w in slo.windows() {
            for f in SLO_WINDOW_FAMILIES {
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
    eprintln!("[it] readiness test took {:.1} s", test_start.elapsed().as_secs_f64());
}

/// Under a steady trickle (20 messages a second, each arriving before the worker's 100 ms poll
/// times out) the worker must still publish about twice a second: `/metrics` should never lag
/// the stream by more than a couple of seconds.
/// Regression guard: the worker once did its housekeeping only every 256 messages unless a
/// 100 ms poll came back empty, so at 20 msg/s the count stood still for 12.8 s.
#[test]
fn metrics_stay_fresh_under_a_steady_trickle() {
    let d = Deployment::new("trickle").workers(1);
    d.create_topic(1);
    let mut app = d.start();
    app.wait_ready(Duration::from_secs(60));

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &d.broker().bootstrap)
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
        producer.send(BaseRecord::<(), str>::to(d.topic()).payload(&payload)).expect("send");
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
