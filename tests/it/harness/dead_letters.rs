//! The dead-letter topic as a test expects it: which produced item sits at each source offset,
//! and every way the dead letters read back can differ from exactly one record per reject with
//! its bytes, key, reason and source headers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use slostream::names;

use super::stream::{Item, Kind};
use super::{Consumed, KafkaClient, Record, Served};

/// Header: the reject reason's label value (the headers are a contract with whoever replays
/// dead letters, so they are spelled out here, not taken from slostream).
const REASON: &str = "slostream.reason";
/// Header: the topic the message was read from.
const SOURCE_TOPIC: &str = "slostream.source.topic";
/// Header: its partition, in decimal.
const SOURCE_PARTITION: &str = "slostream.source.partition";
/// Header: its offset, in decimal.
const SOURCE_OFFSET: &str = "slostream.source.offset";

/// The item at every (partition, offset) of the source topic: round-robin, in order within a
/// partition — checked against what the topic holds.
pub fn items_by_offset<'a>(
    kafka: &KafkaClient,
    topic: &str,
    items: &'a [Item],
    recs: &[Record],
    partitions: i32,
) -> BTreeMap<(i32, i64), &'a Item> {
    let src = kafka.read_all(topic, partitions);
    assert_eq!(src.len(), items.len(), "records in {topic}");
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

/// Polls the dead-letter counter until it is `rejects`, 20 s at most (dead letters are produced
/// asynchronously: this gives them a moment to be confirmed); returns the last value.
pub fn wait_dead_letters(app: &mut impl Served, rejects: u64) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = app.scrape().get(names::DEAD_LETTERS.name, &[]);
        if now == Some(rejects as f64) || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Asserts that the dead-letter topic `dlq` (2 partitions) holds exactly one record per reject
/// of `topic` (`at`: the item at each source offset), with its bytes, key, reason and source
/// headers, and that the dead-letter counter, `letters`, counted `rejects`. Every mismatch is
/// listed.
pub fn assert_dead_letters(
    kafka: &KafkaClient,
    dlq: &str,
    topic: &str,
    at: &BTreeMap<(i32, i64), &Item>,
    rejects: u64,
    letters: Option<f64>,
) {
    let dead = kafka.read_all(dlq, 2);
    let mut failures = dead_letter_mismatches(&dead, topic, at, rejects, dlq, true);
    if letters != Some(rejects as f64) {
        failures.push(format!("{} = {letters:?}, want {rejects}", names::DEAD_LETTERS.name));
    }
    assert!(
        failures.is_empty(),
        "dead-letter topic {dlq} ({} records, {rejects} rejects):\n  {}",
        dead.len(),
        failures.join("\n  ")
    );
}

/// [`assert_dead_letters`] without the dead-letter counter: for a two-stage deployment, whose
/// dead letters are written by ingest members that come and go (each counts only its own), so
/// the topic, read committed, is the only whole record of them.
pub fn assert_dead_letter_topic(
    kafka: &KafkaClient,
    dlq: &str,
    topic: &str,
    at: &BTreeMap<(i32, i64), &Item>,
    rejects: u64,
) {
    check_dead_letter_topic(kafka, dlq, topic, at, rejects, true);
}

/// [`assert_dead_letter_topic`], except that a reject may have more than one dead letter: for a
/// broker that broke a transaction's atomicity (skipped its markers), which slostream cannot
/// undo in a topic others read. Returns how many dead letters were extra.
pub fn assert_dead_letter_topic_at_least_once(
    kafka: &KafkaClient,
    dlq: &str,
    topic: &str,
    at: &BTreeMap<(i32, i64), &Item>,
    rejects: u64,
) -> u64 {
    check_dead_letter_topic(kafka, dlq, topic, at, rejects, false) - rejects
}

/// The dead-letter topic read committed, checked (each reject once, if `once`); how many
/// records it holds.
fn check_dead_letter_topic(
    kafka: &KafkaClient,
    dlq: &str,
    topic: &str,
    at: &BTreeMap<(i32, i64), &Item>,
    rejects: u64,
    once: bool,
) -> u64 {
    let dead = kafka.read_all(dlq, 2);
    let failures = dead_letter_mismatches(&dead, topic, at, rejects, dlq, once);
    assert!(
        failures.is_empty(),
        "dead-letter topic {dlq} ({} records read committed, {rejects} rejects):\n  {}",
        dead.len(),
        failures.join("\n  ")
    );
    dead.len() as u64
}

/// Everything wrong with the dead letters `dead`: each must carry the source topic, partition,
/// offset and reason headers, name an existing reject of `topic` with its reason, payload and
/// key, and appear once (if `once`); every reject must have one.
fn dead_letter_mismatches(
    dead: &[Consumed],
    topic: &str,
    at: &BTreeMap<(i32, i64), &Item>,
    rejects: u64,
    dlq: &str,
    once: bool,
) -> Vec<String> {
    let mut seen: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for r in dead {
        let (Some(t), Some(p), Some(o), Some(reason)) = (
            r.header(SOURCE_TOPIC),
            r.header(SOURCE_PARTITION).and_then(|p| p.parse::<i32>().ok()),
            r.header(SOURCE_OFFSET).and_then(|o| o.parse::<i64>().ok()),
            r.header(REASON),
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
        if *n > 1 && once {
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
