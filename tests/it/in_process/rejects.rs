//! Rejected messages, in-process: hostile payloads ([`harness::poison`](crate::harness::poison))
//! are each counted once under their reason, and the dead-letter topic of the mock cluster
//! holds exactly one record per rejected offset (bytes, key, reason and source headers), across
//! a stop and a restart. That nothing of a payload is ever logged, and dead letters across
//! SIGKILLs, stay with the binary ([`rejected_messages`](crate::rejected_messages)).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{deployment, start_until_consumed};
use crate::harness::dead_letters::{assert_dead_letters, items_by_offset, wait_dead_letters};
use crate::harness::mock::MockKafka;
use crate::harness::poison::corpus;
use crate::harness::stream::{produce_counted, records, stream, Expected, FRESH_AGES};
use crate::harness::{now_ms, unique};

#[test]
fn poison_pills_are_each_counted_once_by_reason() {
    const PARTITIONS: i32 = 2;
    let kafka = MockKafka::start();
    let d = deployment(&kafka, "poison");
    kafka.create_topic(d.topic(), PARTITIONS);
    let t0 = now_ms();
    let mut rng = StdRng::seed_from_u64(0x9015);
    let mut items = corpus(t0);
    items.extend(stream(&mut rng, 500, t0, &FRESH_AGES, 0.0));
    let mut expected = Expected::default();
    produce_counted(&kafka, d.topic(), PARTITIONS, &items, &mut expected);

    let (app, m, t_scrape) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    expected.assert_scrape("poison pills, in process", &m, t_scrape);
    app.stop();
    eprintln!("[it] poison in process: {} messages, rejects {:?}", expected.consumed, expected.rejected);
}

#[test]
fn dead_letter_topic_holds_exactly_the_rejects() {
    const PARTITIONS: i32 = 3;
    let kafka = MockKafka::start();
    let dlq = unique("dlq");
    kafka.create_topic(&dlq, 2);
    let d = deployment(&kafka, "dlq-src").dead_letter_topic(&dlq);
    kafka.create_topic(d.topic(), PARTITIONS);
    let t0 = now_ms();
    let mut rng = StdRng::seed_from_u64(0x0D10);
    let mut expected = Expected::default();
    let mut items = Vec::new();
    let mut recs = Vec::new();
    // Two rounds, each read by a run of its own: the restart must neither lose nor repeat a
    // dead letter.
    for round in 0..2 {
        let mut batch = corpus(t0);
        batch.extend(stream(&mut rng, 500, t0, &FRESH_AGES, 0.1));
        produce_counted(&kafka, d.topic(), PARTITIONS, &batch, &mut expected);
        recs.extend(records(&batch, PARTITIONS));
        items.extend(batch);
        let (mut app, m, t_scrape) = start_until_consumed(&d, &expected, Duration::from_secs(60));
        expected.assert_scrape(&format!("dead-letter run {round}"), &m, t_scrape);
        let rejects: u64 = expected.rejected.values().sum();
        let letters = wait_dead_letters(&mut app, rejects);
        app.stop();
        let at = items_by_offset(&kafka, d.topic(), &items, &recs, PARTITIONS);
        assert_dead_letters(&kafka, &dlq, d.topic(), &at, rejects, letters);
    }
}

/// Regression: the dead-letter producer used librdkafka's default context, so a dead letter the
/// broker refused for good vanished without a trace. It now counts in
/// `slostream_kafka_errors_total` like the consumers' errors.
#[test]
fn a_dead_letter_the_broker_refuses_is_counted_as_a_kafka_error() {
    use slostream::names::{self, label};

    use crate::harness::Served;
    let kafka = MockKafka::start();
    let dlq = unique("dlq-refused");
    kafka.create_topic(&dlq, 1);
    let d = deployment(&kafka, "dlq-refused").dead_letter_topic(&dlq);
    kafka.create_topic(d.topic(), 1);
    kafka.produce(d.topic(), 1, &[b"not json".to_vec()]);
    kafka.refuse_next_produce();
    let mut app = crate::harness::mock::InProcess::start(&d);
    app.wait_ready(Duration::from_secs(60));
    app.wait_consumed(1, Duration::from_secs(60));
    let started = std::time::Instant::now();
    loop {
        let m = app.scrape();
        let refused = m.get(names::KAFKA_ERRORS.name, &[(label::KIND, "authentication")]).unwrap_or(0.0);
        if refused >= 1.0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no Kafka error counted for the refused dead letter");
        std::thread::sleep(Duration::from_millis(100));
    }
    app.stop();
}
