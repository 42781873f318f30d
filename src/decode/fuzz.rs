//! Fuzzing the fast scanner against serde_json: arbitrary bytes, and mutations of valid events
//! (loadgen's, padded ones full of escaped quotes, and events with escapes in every place),
//! decoded both ways under two configs. Both must give the same verdict (the same reject
//! reason) and, for accepted events, the same field values.
//!
//! A fixed-seed part runs first, so a failure there reproduces exactly; then rounds with a seed
//! taken from the clock until `SLOSTREAM_FUZZ_SECONDS` (default 10) have passed. A failure
//! prints the seed, the round and the input.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::loadgen::{Incidents, Traffic};

const NOW: i64 = 1_795_694_400_000;
/// Rounds of the deterministic part.
const FIXED_ROUNDS: usize = 30_000;

/// Pieces inserted by mutations: escapes valid and not, surrogates paired and lone, structure,
/// control and non-ASCII bytes, and the bytes that end numbers and literals.
const TOKENS: &[&[u8]] = &[
    b"\\",
    b"\"",
    b"\\\"",
    b"\\\\",
    b"\\/",
    b"\\b",
    b"\\f",
    b"\\n",
    b"\\r",
    b"\\t",
    b"\\u",
    b"\\u00",
    b"\\u0041",
    b"\\u00e9",
    b"\\u0000",
    b"\\u001f",
    b"\\u12G4",
    b"\\uD83D\\uDE00",
    b"\\ud83d\\ude00",
    b"\\uD83D",
    b"\\uDE00",
    b"\\uDBFF\\uDFFF",
    b"\\uD800\\u0041",
    b"\\uD800\\uD800\\uDC00",
    b"\\uD800\\n",
    b"\\uD800x",
    b"\\x",
    b"\\U0041",
    b"\\'",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b" ",
    b"\n",
    b"\x01",
    b"\x1f",
    b"\x7f",
    b"\t",
    "é".as_bytes(),
    "\u{1F600}".as_bytes(),
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"0",
    b"-",
    b"1.5",
    b"e5",
    b"null",
    b"true",
    b"\"timestamp\":",
    b"\"service\":",
    b"\"serv\\u0069ce\":\"g\\u0065o\"",
    b"\"status\":\"5\\u00303\"",
];

/// Strings with escapes (all valid) for the fields the configs read and for fields they skip.
const ESCAPED: &[&str] = &[
    r#"geo"#,
    r#"g\u0065o"#,
    r#"search\u002dapi"#,
    r#"\"quoted\" \\ back\/slash"#,
    r#"\b\f\n\r\t"#,
    r#"caf\u00e9 \u00E9t\u00e9"#,
    r#"\uD83D\uDE00 smile \ud83d\ude00"#,
    r#"\uDBFF\uDFFF\uD800\uDC00"#,
    r#"\u0000\u001f\u007f\u0080\u07ff\u0800\uffff"#,
    r#"/v2/trips\/\u007bid\u007d"#,
    "plain caf\u{e9} \u{1F600}",
    r#"2026-11-26T11:59:00\u002e5Z"#,
    r#"50\u0033"#,
];

/// Configs under which both paths are compared: the example (flat fields, a latency, RFC 3339
/// or integer timestamps) and one reading nested paths (`http.status`, `http.route.x`).
fn decoders() -> Vec<Decoder> {
    let example = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
    let nested = Config::from_yaml(
        "kafka: { brokers: b, topics: [t], group_id: g }\nevents: { latency_field: latency_ms }\nslis:\n  a: { match: { service: geo, http.status: { lt: 500 }, http.route.x: 1 }, good: { route: { prefix: a }, x: true } }\nslos:\n  s: { objective: 99, period: 30d, slis: [a] }\n",
        "nested.yaml",
    )
    .unwrap();
    vec![Decoder::new(&example), Decoder::new(&nested)]
}

/// Valid events to mutate: loadgen's at 250, 600 and 1,500 bytes, and events whose read and
/// unread strings and keys carry escapes.
fn seeds(rng: &mut SmallRng) -> Vec<String> {
    let mut out = Vec::new();
    for bytes in [None, Some(600), Some(1_500)] {
        let mut traffic = Traffic::new(rng.random(), Incidents { every: Duration::ZERO, lasts: Duration::ZERO })
            .with_event_bytes(bytes);
        let mut buf = String::new();
        for i in 0..20 {
            traffic.event(NOW - i * 1_000, &mut buf);
            out.push(buf.clone());
        }
    }
    for _ in 0..40 {
        let pick = |rng: &mut SmallRng| ESCAPED[rng.random_range(0..ESCAPED.len())];
        let ts = if rng.random_bool(0.5) {
            format!("\"2026-11-26T11:{:02}:00Z\"", rng.random_range(0..60))
        } else {
            format!("{}", NOW - rng.random_range(0..60_000))
        };
        let key = |rng: &mut SmallRng, k: &str| {
            if rng.random_bool(0.2) {
                k.replacen('e', "\\u0065", 1)
            } else {
                k.to_string()
            }
        };
        out.push(format!(
            r#"{{"{}":{ts},"{}":"{}","route":"{}","http":{{"status":"{}","route":{{"x":1,"y":"{}"}}}},"ua":"{}","{}":{{"sec-ch-ua":"{}"}},"latency_ms":{}.5}}"#,
            key(rng, "timestamp"),
            key(rng, "service"),
            pick(rng),
            pick(rng),
            pick(rng),
            pick(rng),
            pick(rng),
            key(rng, "headers"),
            pick(rng),
            rng.random_range(0..2_000),
        ));
    }
    out
}

/// One to four mutations: a token inserted or written over, a byte changed, a range removed or
/// doubled, or the end cut off.
fn mutate(rng: &mut SmallRng, doc: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=doc.len());
        match rng.random_range(0..7) {
            0 | 1 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                doc.splice(at..at, t.iter().copied());
            }
            2 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                let end = (at + t.len()).min(doc.len());
                doc.splice(at..end, t.iter().copied());
            }
            3 if at < doc.len() => doc[at] = rng.random(),
            4 => {
                let end = (at + rng.random_range(1..8)).min(doc.len());
                doc.drain(at..end);
            }
            5 => {
                let end = (at + rng.random_range(1..8)).min(doc.len());
                let piece = doc[at..end].to_vec();
                doc.splice(at..at, piece);
            }
            _ => doc.truncate(at),
        }
    }
}

/// Short documents of bytes drawn mostly from JSON's own.
fn arbitrary(rng: &mut SmallRng) -> Vec<u8> {
    const ALPHABET: &[u8] = b"{}[]:,\" \\/ubfnrt0123456789.-+eE aAdDfFx\n\t";
    let mut doc = vec![b'{'];
    for _ in 0..rng.random_range(0..48) {
        if rng.random_bool(0.9) {
            doc.push(ALPHABET[rng.random_range(0..ALPHABET.len())]);
        } else {
            doc.push(rng.random());
        }
    }
    if rng.random_bool(0.5) {
        doc[0] = rng.random();
    }
    doc
}

/// `None` when both paths agree on `doc`, else what differs.
fn disagreement(d: &Decoder, doc: &[u8]) -> Option<String> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let fast = d.decode_with(doc, NOW, &mut a, true);
    let slow = d.decode_with(doc, NOW, &mut b, false);
    if fast != slow {
        return Some(format!("fast path {fast:?}, serde_json {slow:?}"));
    }
    if slow.is_ok() && a != b {
        return Some(format!("fast path slots {a:?}, serde_json slots {b:?}"));
    }
    None
}

/// Runs rounds from `seed` until `until` says stop; panics with the input on a disagreement.
fn run(seed: u64, mut until: impl FnMut(usize) -> bool) -> usize {
    let decoders = decoders();
    let mut rng = SmallRng::seed_from_u64(seed);
    let seeds = seeds(&mut rng);
    let mut round = 0;
    while !until(round) {
        let doc = if rng.random_bool(0.2) {
            arbitrary(&mut rng)
        } else {
            let mut doc = seeds[rng.random_range(0..seeds.len())].clone().into_bytes();
            mutate(&mut rng, &mut doc);
            doc
        };
        for d in &decoders {
            if let Some(why) = disagreement(d, &doc) {
                panic!(
                    "seed {seed}, round {round}: {why}\ninput (lossy): {}\ninput (bytes): {doc:?}",
                    String::from_utf8_lossy(&doc)
                );
            }
        }
        round += 1;
    }
    round
}

#[test]
fn fast_path_agrees_with_serde_json_on_fixed_seeds() {
    run(16, |round| round == FIXED_ROUNDS);
}

#[test]
fn fast_path_agrees_with_serde_json_for_a_while() {
    let secs = std::env::var("SLOSTREAM_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let until = Instant::now() + Duration::from_secs(secs);
    let rounds = run(seed, |round| round % 256 == 0 && Instant::now() >= until);
    eprintln!("fuzz: seed {seed}, {rounds} rounds in {secs} s");
}

/// The seeds themselves are valid, and every one takes the fast path: a fuzz run that only ever
/// compared serde_json with itself would prove nothing.
#[test]
fn every_seed_takes_the_fast_path() {
    let decoders = decoders();
    for doc in seeds(&mut SmallRng::seed_from_u64(16)) {
        for d in &decoders {
            let mut slots = vec![Val::Missing; d.plan.slot_count()];
            assert!(d.plan.extract_fast(&doc, &mut slots), "declined: {doc}");
            assert!(d.decode_with(doc.as_bytes(), NOW, &mut Vec::new(), false).is_ok(), "{doc}");
        }
    }
}
