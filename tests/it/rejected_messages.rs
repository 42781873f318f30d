//! Rejected messages: hostile payloads ([`harness::poison`]) through the real broker are each
//! counted once under their reason and never show up in what slostream prints; with a
//! dead-letter topic, it holds exactly one record per rejected offset (bytes, key, reason and
//! source headers), across SIGKILLs while dead-lettering.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::producer::Producer;

use crate::harness::broker::send_paced;
use crate::harness::poison::{corpus, MARK};
use crate::harness::stream::{
    deployment, produce_counted, records, start_until_consumed, stream, Expected, Item, Kind, FRESH_AGES,
};
use crate::harness::{broker, now_ms, unique, Consumed, Deployment, Record, Served};

#[test]
fn poison_pills_are_each_counted_once_and_never_logged() {
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

    let (mut app, m, t_scrape) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    expected.assert_scrape("poison pills", &m, t_scrape);
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
    let at = items_by_offset(&d, &items, &recs, PARTITIONS);

    let (mut app, m, t_scrape) = start_until_consumed(&d, &expected, Duration::from_secs(120));
    expected.assert_scrape("dead-letter run", &m, t_scrape);
    let rejects: u64 = expected.rejected.values().sum();
    // Dead letters are produced asynchronously: give them a moment to be confirmed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let letters = loop {
        let now = app.scrape().get("slostream_dead_letters_total", &[]);
        if now == Some(rejects as f64) || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    app.stop();

    let dead = b.read_all(&dlq, 2);
    let mut failures = dead_letter_mismatches(&dead, d.topic(), &at, rejects, &dlq);
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
        let c = app.scrape().get("slostream_events_consumed_total", &[]);
        app.kill();
        eprintln!("[it] dlq: kill -9 #{k} at consumed {c:?} of {}", expected.consumed);
    }
    producer.join().expect("producer thread");
}

/// The item at every (partition, offset) of the source topic: round-robin, in order within a
/// partition — checked against what the topic holds.
fn items_by_offset<'a>(
    d: &Deployment,
    items: &'a [Item],
    recs: &[Record],
    partitions: i32,
) -> BTreeMap<(i32, i64), &'a Item> {
    let src = d.broker().read_all(d.topic(), partitions);
    assert_eq!(src.len(), items.len(), "records in {}", d.topic());
    let mut next = vec![0i64; partitions as usize];
    let mut at: BTreeMap<(i32, i64), &Item> = BTreeMap::new();
    for (it, r) in items.iter().zip(recs) {
        at.insert((r.partition, next[r.partition as usize]), it);
        next[r.partition as usize] += 1;
    }
    for c in &src {
        let it = at[&(c.partition, c.offset)];
        assert_eq!(c.payload, it.payload, "source record {}/{} is not the item produced there", c.partition, c.offset);
    }
    at
}

/// Everything wrong with the dead letters `dead`: each must carry the source topic, partition,
/// offset and reason headers, name an existing reject of `topic` with its reason, payload and
/// key, and appear once; every reject must have one.
fn dead_letter_mismatches(
    dead: &[Consumed],
    topic: &str,
    at: &BTreeMap<(i32, i64), &Item>,
    rejects: u64,
    dlq: &str,
) -> Vec<String> {
    let mut seen: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for r in dead {
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
    failures
}
