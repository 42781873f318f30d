//! Readiness waits for partitions: started before its topic exists, the pipeline answers
//! `/health` but not `/ready` (503), nor the status page and its API (503), exports
//! `slostream_state_ready` 0, the static objectives and no SLO window, budget or alert series; once the mock cluster creates the topic and the
//! partitions are assigned: ready, every window series of every SLO, exact ratios.

use std::time::{Duration, Instant};

use slostream::names::{self, label};

use crate::harness::metrics::SLO_WINDOW_FAMILIES;
use crate::harness::mock::{InProcess, MockKafka};
use crate::harness::truth::{SEC, SLOS};
use crate::harness::{now_ms, Deployment, Served};

#[test]
fn not_ready_and_no_slo_series_until_partitions_are_assigned() {
    let kafka = MockKafka::start();
    // Its topic does not exist yet (consumers never auto-create topics); a short metadata
    // refresh so the subscription notices the topic once it is created.
    let d =
        Deployment::new("ready").brokers(&kafka.bootstrap).kafka_property("topic.metadata.refresh.interval.ms", "1000");
    let mut app = InProcess::start(&d);
    app.wait_status("/health", 200, Duration::from_secs(20));

    let slo_families = [names::SLO_BUDGET_REMAINING.name, names::SLO_ALERT.name];
    let until = Instant::now() + Duration::from_secs(5);
    let mut scrapes = 0;
    while Instant::now() < until {
        let ready = app.get("/ready").map(|(s, _)| s);
        assert_eq!(ready, Some(503), "/ready before the topic exists");
        let m = app.scrape();
        for f in SLO_WINDOW_FAMILIES.iter().chain(&slo_families) {
            assert!(m.family(f).is_empty(), "{f} rendered before ready: {:?}", m.family(f));
        }
        assert_eq!(m.get(names::STATE_READY.name, &[]), Some(0.0));
        // The status page and its API say so too.
        assert_eq!(app.get("/").map(|(s, _)| s), Some(503), "the status page before ready");
        assert_eq!(app.get("/api/v1/slos").map(|(s, _)| s), Some(503), "the API before ready");
        // Objectives are static: they are there from the start.
        assert_eq!(m.get(names::SLO_OBJECTIVE.name, &[(label::SLO, "book-a-ride")]), Some(0.999));
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("[it] ready: 503 and no SLO series over {scrapes} scrapes");

    kafka.create_topic(d.topic(), 2);
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
    kafka.produce(d.topic(), 2, &events);
    let (m, _) = app.wait_consumed(10, Duration::from_secs(60));
    assert_eq!(m.get(names::STATE_READY.name, &[]), Some(1.0));
    assert_eq!(app.get("/").map(|(s, _)| s), Some(200), "the status page once ready");
    assert_eq!(app.get("/api/v1/slos").map(|(s, _)| s), Some(200), "the API once ready");
    for slo in &SLOS {
        for w in slo.windows() {
            for f in SLO_WINDOW_FAMILIES {
                assert!(
                    m.get(f, &[(label::SLO, slo.name), (label::WINDOW, w)]).is_some(),
                    "{f}{{slo={},window={w}}} missing once ready",
                    slo.name
                );
            }
        }
    }
    let book = |w| [(label::SLO, "book-a-ride"), (label::WINDOW, w)];
    let search = |w| [(label::SLO, "search-a-ride"), (label::WINDOW, w)];
    // 9 of 10 good, one component live: weighted ratio 0.9 in every window of book-a-ride.
    assert_eq!(m.get(names::SLO_EVENTS.name, &book("5m")), Some(10.0));
    let r = m.get(names::SLO_SLI_RATIO.name, &book("5m")).unwrap();
    assert!((r - 0.9).abs() < 1e-9, "book-a-ride 5m ratio {r}");
    // search-a-ride saw nothing: ratio 1, burn 0.
    assert_eq!(m.get(names::SLO_SLI_RATIO.name, &search("28d")), Some(1.0));
    assert_eq!(m.get(names::SLO_BURN_RATE.name, &search("5m")), Some(0.0));
    app.stop();
}
