//! Exact counts, end to end: the mixed event set ([`harness::mixed`]) produced over 4 partitions
//! of the real broker, consumed by the real binary: healthy at once, ready, every message
//! counted exactly once, consumer lag 0 on every partition, and a clean exit; and a partition
//! written with each compression codec (none, gzip, snappy, lz4, zstd), each counted exactly.
//!
//! What the pipeline makes of the set (every counter, every SLO window's counts/ratio/burn rate,
//! budgets, objectives, alert states and latency quantiles, exactly) is asserted by the fast
//! tier on the same set, [`in_process::counting`](crate::in_process::counting); this test keeps
//! what only a real broker and the real binary show.

use std::time::{Duration, Instant};

use slostream::names::{self, label};

use crate::harness::mixed::MixedSet;
use crate::harness::{now_ms, Check, Deployment, Served, Slostream};

const PARTITIONS: i32 = 4;

#[test]
fn mixed_events_through_a_real_broker_are_each_counted_once() {
    let test_start = Instant::now();
    let d = Deployment::new("exact");
    d.create_topic(PARTITIONS);
    let set = MixedSet::new(now_ms());
    let per_partition = d.broker().produce(d.topic(), PARTITIONS, &set.payloads);
    let t_produced = now_ms();
    eprintln!(
        "[it] produced {} messages {per_partition:?} ({} valid, {} to reject)",
        set.total(),
        set.valid.len(),
        set.rejects.len()
    );

    let mut app = d.start();
    assert_healthy_then_ready(&mut app);
    let (m, t_scrape) = app.wait_consumed(set.total(), Duration::from_secs(60));
    eprintln!("[it] consumed all {} after {:.1} s", set.total(), (t_scrape - t_produced) as f64 / 1000.0);
    let mut check = Check::new("the binary on a real broker");
    check.exact(&m, names::BUILD_INFO.name, &[(label::VERSION, env!("CARGO_PKG_VERSION"))], 1.0);
    check.exact(&m, names::STATE_READY.name, &[], 1.0);
    check.finish();
    assert_lag_reaches_zero_on_every_partition(&mut app, d.topic());
    assert_eq!(app.get("/health").map(|(s, _)| s), Some(200));

    let (status, took) = app.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    eprintln!(
        "[it] exact_counts: exit after {:.1} s, test took {:.1} s",
        took.as_secs_f64(),
        test_start.elapsed().as_secs_f64()
    );
}

/// `/health` answers `ok` from the start, `/ready` once partitions are assigned.
fn assert_healthy_then_ready(app: &mut Slostream) {
    app.wait_status("/health", 200, Duration::from_secs(20));
    assert_eq!(app.get("/health").map(|(_, b)| b.trim().to_string()), Some("ok".into()));
    app.wait_ready(Duration::from_secs(60));
}

/// Consumer lag: one series per partition of the topic, all reaching 0 within 15 s.
fn assert_lag_reaches_zero_on_every_partition(app: &mut Slostream, topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = app.scrape();
        let lags: Vec<(String, f64)> = (0..PARTITIONS)
            .map(|p| {
                (
                    p.to_string(),
                    m.get(names::CONSUMER_LAG.name, &[(label::TOPIC, topic), (label::PARTITION, &p.to_string())])
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
}

/// Producers compress as they like, per batch: a partition written with each codec librdkafka
/// knows (none, gzip, snappy, lz4, zstd) is read and counted exactly. A build without one of
/// them (zstd needs its own feature) would fail the fetch of that partition, and never count it.
#[test]
fn every_compression_codec_is_read_and_counted_exactly() {
    use rand::SeedableRng;
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, Producer};

    use crate::harness::broker::send_record;
    use crate::harness::stream::{deployment, start_until_consumed, stream, Expected, BULK_AGES, FRESH_AGES};

    const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
    let d = deployment("codecs");
    d.create_topic(CODECS.len() as i32);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xC0DEC);
    let mut items = stream(&mut rng, 5_000, now_ms(), &BULK_AGES, 0.02);
    items.extend(stream(&mut rng, 500, now_ms(), &FRESH_AGES, 0.02));
    for (p, codec) in CODECS.iter().enumerate() {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &d.broker().bootstrap)
            .set("compression.type", *codec)
            .set("linger.ms", "5")
            .create()
            .unwrap_or_else(|e| panic!("a {codec} producer: {e}"));
        for item in items.iter().skip(p).step_by(CODECS.len()) {
            send_record(&producer, d.topic(), &item.record(p as i32));
        }
        producer.flush(Duration::from_secs(30)).unwrap_or_else(|e| panic!("flush the {codec} producer: {e}"));
    }
    let (mut app, m, t_scrape) = start_until_consumed(&d, &Expected::of(&items), Duration::from_secs(60));
    Expected::of(&items).assert_scrape("one partition per compression codec", &m, t_scrape);
    let (status, _) = app.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
}
