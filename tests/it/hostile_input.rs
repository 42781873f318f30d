//! Hostile input, generated: arbitrary bytes and mutations of valid events (deep nesting, huge
//! numbers, duplicate keys, invalid UTF-8, escapes, truncation) never panic the hot path, and
//! each message lands in exactly one outcome: counted for its SLIs, unmatched, or one reject
//! reason. Mutations of `config/example.yaml` (any scalar replaced by any YAML value, with and
//! without Sloth's series) give an error naming the key it is about, or a valid config whose
//! first ready tick evaluates, publishes and renders without a panic, a NaN or an Inf. Bounded case counts, so
//! it runs in every CI run; failing inputs are shrunk and printed by proptest.

use std::sync::OnceLock;
use std::time::Instant;

use proptest::prelude::*;
use serde_yaml_ng::Value;
use slostream::config::Config;
use slostream::count::{Cut, Shard, Tally};

/// 2026-11-26T12:00:00Z.
const NOW: i64 = 1_795_694_400_000;
const EXAMPLE: &str = include_str!("../../config/example.yaml");

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| Config::from_yaml(EXAMPLE, "config/example.yaml").unwrap())
}

/// What became of one message: rejects, unmatched, and SLI events counted.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    rejected: u64,
    unmatched: u64,
    sli_events: u64,
}

/// Runs one message through a fresh shard and hands it to a tally, as a worker does.
fn outcome(payload: &[u8]) -> Outcome {
    let config = config();
    let mut shard = Shard::new(config);
    let reject = shard.process(payload, NOW);
    let mut tally = Tally::new(config, 1, None, Vec::new());
    shard.hand_over(&mut tally, 0, Cut { positions: &[], acknowledged: true, now: Instant::now() });
    let c = &tally.counters;
    assert_eq!(c.consumed, 1, "one message consumed");
    let out = Outcome {
        rejected: c.rejected.iter().sum(),
        unmatched: c.unmatched,
        sli_events: c.totals.iter().map(|t| t.total).sum(),
    };
    assert_eq!(reject.is_some(), out.rejected == 1, "the reject returned and the one counted agree: {out:?}");
    out
}

fn assert_one_outcome(payload: &[u8]) {
    let o = outcome(payload);
    let kinds = u64::from(o.rejected > 0) + u64::from(o.unmatched > 0) + u64::from(o.sli_events > 0);
    assert_eq!(kinds, 1, "exactly one outcome for {:?}: {o:?}", String::from_utf8_lossy(payload));
    assert!(o.rejected <= 1 && o.unmatched <= 1, "counted once: {o:?}");
}

/// Valid events of the example config's services, each counted for at least one SLI.
const VALID: [&str; 4] = [
    r#"{"timestamp":"2026-11-26T11:59:00Z","service":"search-api","route":"/v2/trips","status":200,"latency_ms":120}"#,
    r#"{"timestamp":1795694340000,"service":"geo","route":"/v1/eta","status":503,"latency_ms":12.5}"#,
    r#"{"timestamp":"2026-11-26T11:58:00.250+01:00","service":"booking","method":"POST","route":"/v1/book","status":201,"latency_ms":80,"user":{"id":"u1","tags":["a","b"]}}"#,
    r#"{"service":"search-api","status":500,"route":"/v2/trips","timestamp":"2026-11-26T11:59:59.999Z"}"#,
];

/// A mutation of a valid event.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let base = (0..VALID.len()).prop_map(|i| VALID[i].as_bytes().to_vec());
    let deep = (1usize..400).prop_map(|d| format!("{}1{}", "[".repeat(d), "]".repeat(d)));
    let number = prop_oneof![
        Just("1e999".to_string()),
        Just("-0".to_string()),
        Just("123456789012345678901234567890".to_string()),
        Just("9007199254740993".to_string()),
        Just("1.0e-400".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:e}")),
    ];
    let text = prop_oneof![
        Just(r#""\u0000""#.to_string()),
        Just(r#""\ud800""#.to_string()),
        Just(r#""\"\\\/\b\f\n\r\t""#.to_string()),
        Just(r#""503""#.to_string()),
        "\"[a-z0-9/ .-]{0,20}\"",
    ];
    let value =
        prop_oneof![deep, number, text, Just("null".to_string()), Just("{}".to_string()), Just("true".to_string())];
    let key = prop_oneof![Just("status"), Just("service"), Just("timestamp"), Just("latency_ms"), Just("route")];
    (base, any::<prop::sample::Index>(), any::<prop::sample::Index>(), key, value, any::<u8>(), 0u8..6).prop_map(
        |(mut e, at, to, key, value, byte, how)| {
            let (a, b) = {
                let (x, y) = (at.index(e.len() + 1), to.index(e.len() + 1));
                (x.min(y), x.max(y))
            };
            match how {
                // A duplicate key with another value, at the end.
                0 => {
                    e.pop();
                    e.extend_from_slice(format!(r#","{key}":{value}}}"#).as_bytes());
                }
                // Another value for the field, put first (the original stays as a duplicate).
                1 => {
                    let insert = format!(r#""{key}":{value},"#);
                    e.splice(1..1, insert.bytes());
                }
                // Any byte (invalid UTF-8 included) inserted anywhere.
                2 => e.insert(a, byte),
                // A range removed (truncation, a broken escape, a missing quote).
                3 => drop(e.drain(a..b)),
                // A byte replaced.
                4 if !e.is_empty() => {
                    let last = e.len() - 1;
                    e[a.min(last)] = byte;
                }
                // The whole value of a field replaced.
                _ => {
                    let text = String::from_utf8(e).unwrap();
                    let needle = format!(r#""{key}":"#);
                    e = match text.find(&needle) {
                        Some(i) => {
                            let start = i + needle.len();
                            let end = text[start..].find([',', '}']).map_or(text.len(), |j| start + j);
                            format!("{}{value}{}", &text[..start], &text[end..]).into_bytes()
                        }
                        None => text.into_bytes(),
                    };
                }
            }
            e
        },
    )
}

#[test]
fn the_valid_events_are_counted_for_their_slis() {
    for e in VALID {
        assert!(outcome(e.as_bytes()).sli_events > 0, "{e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_land_in_exactly_one_outcome(payload in prop::collection::vec(any::<u8>(), 0..600)) {
        assert_one_outcome(&payload);
    }

    #[test]
    fn mutated_events_land_in_exactly_one_outcome(payload in mutated()) {
        assert_one_outcome(&payload);
    }
}

/// Every scalar of a YAML document, by key path.
fn scalar_paths(v: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m {
                path.push(k.clone());
                scalar_paths(child, path, out);
                path.pop();
            }
        }
        Value::Sequence(s) => {
            for (i, child) in s.iter().enumerate() {
                path.push(Value::Number(i.into()));
                scalar_paths(child, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

/// The example config plus a maintenance window, so that its keys are mutated too.
fn example_doc() -> Value {
    let yaml = format!(
        "{EXAMPLE}maintenance:\n  - name: db-upgrade\n    match: {{ service: booking, method: [POST] }}\n    \
         start: \"2026-12-03T22:00:00+01:00\"\n    duration: 2h\n    every: 1w\n    until: \"2027-03-01T00:00:00Z\"\n"
    );
    serde_yaml_ng::from_str(&yaml).unwrap()
}

fn at_mut<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match (v, k) {
        (Value::Mapping(m), k) => m.get_mut(k).unwrap(),
        (Value::Sequence(s), Value::Number(i)) => &mut s[i.as_u64().unwrap() as usize],
        _ => unreachable!("a path from scalar_paths"),
    })
}

fn yaml_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|x| Value::Number(x.into())),
        "[ -~]{0,24}".prop_map(Value::String),
        Just(Value::String("+30d".into())),
        Just(Value::String("0s".into())),
        Just(Value::String("99.99999999999".into())),
        Just(Value::Sequence(vec![Value::Null])),
        Just(Value::Mapping(Default::default())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_configs_are_valid_or_name_the_key(
        pick in any::<prop::sample::Index>(),
        value in yaml_value(),
        sloth in any::<bool>(),
    ) {
        let mut doc: Value = example_doc();
        if sloth {
            doc["exporter"]["compat"] = Value::String("sloth".into());
        }
        let mut paths = Vec::new();
        scalar_paths(&doc, &mut Vec::new(), &mut paths);
        let path = pick.get(&paths).clone();
        *at_mut(&mut doc, &path) = value;
        let text = serde_yaml_ng::to_string(&doc).unwrap();
        let section = path[0].as_str().unwrap().to_string();
        match Config::from_yaml(&text, "mutated.yaml") {
            Err(e) => {
                prop_assert!(!e.message.is_empty(), "an error says what is wrong");
                prop_assert!(
                    e.path.split(['.', '[']).next() == Some(section.as_str()),
                    "the error for a changed {path:?} names its key: {e}"
                );
            }
            // What `check` accepts also runs: a ready tick evaluates, publishes and renders.
            Ok(config) => first_ready_tick(&config),
        }
    }
}

/// One ready tick on an empty tally, as the pipeline runs it first: evaluate every SLO, publish,
/// render `/metrics`. A config `check` accepted once panicked here (a `+30d` period with Sloth's
/// series on).
fn first_ready_tick(config: &Config) {
    use slostream::count::Snapshot;
    use slostream::export::Telemetry;
    use slostream::ingest::KafkaErrors;
    let tally = Tally::new(config, 1, None, Vec::new());
    let mut snapshot = Snapshot::new(config);
    snapshot.read_tally(&tally, NOW);
    let mut statuses = Vec::new();
    slostream::slo::evaluate_all(config, &snapshot, &mut statuses);
    let mut telemetry = Telemetry::new(config);
    telemetry.publish(config, &snapshot, &KafkaErrors::default(), Some(&statuses), NOW);
    let text = telemetry.handle().render();
    assert!(text.contains(slostream::names::SLO_BURN_RATE.name));
    assert!(!text.contains("NaN") && !text.contains("Inf"), "a valid config exports no NaN or Inf:\n{text}");
}

/// The generators reach every outcome, so the properties above are not vacuous.
#[test]
fn the_generators_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut rejected, mut unmatched, mut counted) = (0, 0, 0);
    for _ in 0..500 {
        let o = outcome(&mutated().new_tree(&mut runner).unwrap().current());
        rejected += u64::from(o.rejected > 0);
        unmatched += u64::from(o.unmatched > 0);
        counted += u64::from(o.sli_events > 0);
    }
    assert!(
        rejected > 0 && unmatched > 0 && counted > 0,
        "rejected {rejected}, unmatched {unmatched}, counted {counted}"
    );
    let (mut valid, mut invalid) = (0, 0);
    let paths = {
        let mut out = Vec::new();
        scalar_paths(&example_doc(), &mut Vec::new(), &mut out);
        out
    };
    for i in 0..300 {
        let mut doc: Value = example_doc();
        *at_mut(&mut doc, &paths[i % paths.len()]) = yaml_value().new_tree(&mut runner).unwrap().current();
        match Config::from_yaml(&serde_yaml_ng::to_string(&doc).unwrap(), "mutated.yaml") {
            Ok(_) => valid += 1,
            Err(_) => invalid += 1,
        }
    }
    assert!(valid > 0 && invalid > 0, "valid {valid}, invalid {invalid}");
}
