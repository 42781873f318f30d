//! What `/metrics` shows while events flow through a real broker: under a steady trickle of 20
//! messages a second, it never lags the stream by more than 2.5 s (guards the worker's
//! housekeeping against waiting for a batch of messages).
//!
//! What `/ready` and `/metrics` show before the topic exists and once its partitions are
//! assigned is asserted by the fast tier ([`in_process::readiness`](crate::in_process::readiness)).

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use slostream::names;

use crate::harness::{now_ms, Deployment, Served};

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
            let c = app.consumed().unwrap_or(0.0);
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
        "{} stood still for {longest:.2} s while 20 msg/s flowed: {samples:?}",
        names::EVENTS_CONSUMED.name
    );
    let (status, _) = app.terminate(Duration::from_secs(30));
    assert!(status.success());
}
