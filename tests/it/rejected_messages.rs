//! Rejected messages through the real broker and the real binary: hostile payloads
//! ([`harness::poison`]) never show up in what slostream prints; with a dead-letter topic, it
//! holds exactly one record per rejected offset (bytes, key, reason and source headers), across
//! SIGKILLs while dead-lettering.
//!
//! That each poison pill is counted once under its reason, and the dead-letter topic of a run
//! without crashes, are asserted by the fast tier ([`in_process::rejects`](crate::in_process::rejects)).

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::producer::Producer;

use crate::harness::broker::send_paced;
use crate::harness::dead_letters::{assert_dead_letters, items_by_offset, wait_dead_letters};
use crate::harness::poison::{corpus, MARK};
use crate::harness::stream::{
    deployment, produce_counted, records, start_until_consumed, stream, Expected, FRESH_AGES,
};
use crate::harness::{broker, now_ms, unique, Deployment, Record, Served};

#[test]
fn poison_pills_are_never_logged() {
    const PARTITIONS: i32 = 2;
    let b = broker();
    let d = deployment("poison");
    d.create_topic(PARTITIONS);
    let t0 = now_ms();
    let mut rng = StdRng::seed_from_u64(0x9015);
    let mut items = corpus(t0);
    items.extend(stream(&mut rng, 500, t0, &FRESH_AGES, 0.0));
    let mut expected = Expected::default();
    produce_counted(b, d.topic(), PARTITIONS, &items, &mut expected);

    // Every message read: whatever slostream would print about them, it has printed.
    let (mut app, _, _) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    app.stop();
    let out = app.output_bytes();
    let text = String::from_utf8_lossy(&out);
    assert!(
        !text.contains(MARK),
        "payload content in slostream's output:\n{}",
        text.lines().filter(|l| l.contains(MARK)).collect::<Vec<_>>().join("\n")
    );
    assert!(!text.contains("yyyyyyyy"), "payload padding in slostream's output");
    eprintln!("[it] poison: {} messages, rejects {:?}", expected.consumed, expected.rejected);
}

#[test]
fn dead_letter_topic_holds_exactly_the_rejects() {
    const PARTITIONS: i32 = 3;
    let b = broker();
    let dlq = unique("dlq");
    b.create_topic(&dlq, 2);
    let d = deployment("dlq-src").dead_letter_topic(&dlq);
    d.create_topic(PARTITIONS);
    let t0 = now_ms();
    let mut rng = StdRng::seed_from_u64(0x0D10);
    let mut items = Vec::new();
    for _ in 0..20 {
        items.extend(corpus(t0));
        items.extend(stream(&mut rng, 2000, t0, &FRESH_AGES, 0.1));
    }
    let expected = Expected::of(&items);
    let recs = records(&items, PARTITIONS);

    produce_while_killing_twice(&d, &recs, &expected, &mut rng);
    let at = items_by_offset(b, d.topic(), &items, &recs, PARTITIONS);

    let (mut app, m, t_scrape) = start_until_consumed(&d, &expected, Duration::from_secs(120));
    expected.assert_scrape("dead-letter run", &m, t_scrape);
    let rejects: u64 = expected.rejected.values().sum();
    let letters = wait_dead_letters(&mut app, rejects);
    app.stop();
    assert_dead_letters(b, &dlq, d.topic(), &at, rejects, letters);
}

/// A paced producer (~8 s), and two crashes while slostream consumes and dead-letters: each run
/// is SIGKILLed a random 0.2–2 s after it has counted something.
fn produce_while_killing_twice(d: &Deployment, recs: &[Record], expected: &Expected, rng: &mut StdRng) {
    let producer = {
        let (topic, recs) = (d.topic().to_string(), recs.to_vec());
        let p = d.broker().producer();
        std::thread::spawn(move || {
            send_paced(&p, &topic, &recs, 1500, Duration::from_millis(250), |_| {});
            p.flush(Duration::from_secs(60)).expect("flush producer");
        })
    };
    for k in 0..2 {
        let mut app = d.start();
        app.wait_ready(Duration::from_secs(60));
        // Killed while it consumes (and dead-letters): once this run has counted something.
        let base = app.consumed().unwrap_or(0.0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while app.consumed().unwrap_or(0.0) <= base {
            assert!(Instant::now() < deadline, "dlq run {k} consumed nothing in 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(200..2000)));
        let c = app.consumed();
        app.kill();
        eprintln!("[it] dlq: kill -9 #{k} at consumed {c:?} of {}", expected.consumed);
    }
    producer.join().expect("producer thread");
}
