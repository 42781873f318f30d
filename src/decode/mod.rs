//! Decode: a Kafka payload (`&[u8]`) in, the configured fields and the event time out.
//!
//! Only the fields the config uses are read, borrowed from the payload; nothing else in the
//! document is materialised. A payload that cannot be used becomes a [`Reject`] reason that the
//! caller counts: decode never panics, logs or allocates per event (escaped strings aside).

mod fields;
#[cfg(test)]
mod fuzz;

use serde_json::error::Category;

use crate::config::{Config, Kinds};
pub(crate) use fields::FieldPlan;
pub use fields::Val;

/// Why an event was not counted. The set is fixed: it is the `reason` label's value set.
///
/// Only whole-message problems reject: a field of the wrong type, or a latency that is no
/// number, affects only the tests that read it (see [`Decoder::mismatched_fields`]), so a
/// producer change burns the SLOs it breaks instead of silently dropping their events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Not parseable as JSON (malformed, not UTF-8, or nested too deep).
    InvalidJson,
    /// JSON, but not an object.
    NotAnObject,
    /// The timestamp field is absent or `null`.
    MissingTimestamp,
    /// The timestamp is neither RFC 3339 text nor integer epoch milliseconds.
    InvalidTimestamp,
    /// More than `events.max_future` ahead of the clock.
    TooFarInFuture,
    /// Older than the longest SLO period: no window would count it.
    TooOld,
    /// Larger than `events.max_message_bytes`; not parsed at all.
    TooLarge,
}

impl Reject {
    /// Every reason, in label order.
    pub(crate) const ALL: [Reject; 7] = [
        Reject::InvalidJson,
        Reject::NotAnObject,
        Reject::MissingTimestamp,
        Reject::InvalidTimestamp,
        Reject::TooFarInFuture,
        Reject::TooOld,
        Reject::TooLarge,
    ];
    /// Number of reasons.
    pub(crate) const COUNT: usize = Self::ALL.len();

    /// The `reason` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reject::InvalidJson => "invalid_json",
            Reject::NotAnObject => "not_an_object",
            Reject::MissingTimestamp => "missing_timestamp",
            Reject::InvalidTimestamp => "invalid_timestamp",
            Reject::TooFarInFuture => "too_far_in_future",
            Reject::TooOld => "too_old",
            Reject::TooLarge => "too_large",
        }
    }

    /// Position in [`Reject::ALL`], for arrays of per-reason counts.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What decode hands on besides the field slots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decoded {
    /// Event time, epoch milliseconds.
    pub(crate) ts_ms: i64,
    /// The latency field in milliseconds, when it holds a non-negative number (or a string
    /// written as one).
    pub(crate) latency_ms: Option<f64>,
    /// The latency field is present but holds no non-negative number: the event is counted
    /// without a latency.
    pub(crate) latency_invalid: bool,
}

/// Turns payloads into field slots plus event time, under the configured time policy.
#[derive(Debug)]
pub struct Decoder {
    plan: FieldPlan,
    ts_slot: usize,
    latency_slot: Option<usize>,
    /// Every field a condition tests: its slot, and the kinds of value its tests compare with.
    /// Indexed like [`Config::condition_fields`].
    tested: Box<[(usize, Kinds)]>,
    max_future_ms: i64,
    max_age_ms: i64,
    max_bytes: usize,
}

impl Decoder {
    /// Plans the timestamp and latency fields and every field any SLI condition reads.
    pub fn new(config: &Config) -> Decoder {
        let mut plan = FieldPlan::default();
        let ts_slot = plan.add(&config.events.timestamp_field);
        let latency_slot = config.events.latency_field.as_deref().map(|f| plan.add(f));
        for (_, b) in config.breakdowns() {
            for field in &b.fields {
                plan.add(field);
            }
        }
        let tested = config.condition_kinds().into_iter().map(|(field, kinds)| (plan.add(field), kinds)).collect();
        Decoder {
            plan,
            ts_slot,
            latency_slot,
            tested,
            max_future_ms: config.events.max_future_ms,
            max_age_ms: config.max_period_secs() * 1000,
            max_bytes: config.events.max_message_bytes,
        }
    }

    /// The fields read, each with its slot.
    #[cfg(test)]
    pub(crate) fn plan(&self) -> &FieldPlan {
        &self.plan
    }

    /// The slot holding a field path, if any condition or setting reads it.
    pub(crate) fn slot_of(&self, path: &str) -> Option<usize> {
        self.plan.paths().iter().position(|p| p == path)
    }

    /// Decodes one payload into `slots` (resized to the plan) and checks its time against `now_ms`:
    /// accepted events lie in `(now - longest period, now + max_future]`.
    #[inline]
    pub fn decode<'a>(&self, payload: &'a [u8], now_ms: i64, slots: &mut Vec<Val<'a>>) -> Result<Decoded, Reject> {
        self.decode_with(payload, now_ms, slots, true)
    }

    /// [`Decoder::decode`]; without `fast`, every payload goes through serde_json (the
    /// reference the fast path is tested against).
    #[inline]
    pub(crate) fn decode_with<'a>(
        &self,
        payload: &'a [u8],
        now_ms: i64,
        slots: &mut Vec<Val<'a>>,
        fast: bool,
    ) -> Result<Decoded, Reject> {
        slots.clear();
        if payload.len() > self.max_bytes {
            return Err(Reject::TooLarge);
        }
        slots.resize(self.plan.slot_count(), Val::Missing);
        // Checking UTF-8 once up front lets serde_json borrow every string without validating
        // each one again (`from_slice` does, and that was a quarter of decoding). A payload that
        // is not UTF-8 goes through `from_slice` so that its reject reason stays the same.
        let parsed = match std::str::from_utf8(payload) {
            Ok(text) if fast && self.plan.extract_fast(text, slots) => Ok(()),
            Ok(text) => {
                slots.iter_mut().for_each(|s| *s = Val::Missing);
                self.extract(serde_json::Deserializer::from_str(text), slots)
            }
            Err(_) => self.extract(serde_json::Deserializer::from_slice(payload), slots),
        };
        if let Err(e) = parsed {
            return Err(match e.classify() {
                Category::Data => Reject::NotAnObject,
                _ => Reject::InvalidJson,
            });
        }
        let ts_ms = match &slots[self.ts_slot] {
            Val::Missing => return Err(Reject::MissingTimestamp),
            Val::Int(ms) => *ms,
            Val::Str(s) => crate::time::parse_rfc3339_ms(s).ok_or(Reject::InvalidTimestamp)?,
            _ => return Err(Reject::InvalidTimestamp),
        };
        if ts_ms > now_ms.saturating_add(self.max_future_ms) {
            return Err(Reject::TooFarInFuture);
        }
        if ts_ms <= now_ms.saturating_sub(self.max_age_ms) {
            return Err(Reject::TooOld);
        }
        let (latency_ms, latency_invalid) = match self.latency_slot.map(|s| &slots[s]) {
            None | Some(Val::Missing) => (None, false),
            Some(v) => latency_of(v).map_or((None, true), |ms| (Some(ms), false)),
        };
        Ok(Decoded { ts_ms, latency_ms, latency_invalid })
    }

    /// The fields (indexed like [`Config::condition_fields`]) whose value in this event is of a
    /// kind none of their tests compares with: a string where every test wants a number (and
    /// the string is not written as one), a number where tests want strings, an object or an
    /// array. Such a value fails only the tests that read it; this is what
    /// `slostream_field_type_mismatches_total{field}` counts, once per event and field.
    #[inline]
    pub(crate) fn mismatched_fields<'s>(&'s self, slots: &'s [Val<'_>]) -> impl Iterator<Item = usize> + 's {
        self.tested.iter().enumerate().filter(|(_, (slot, kinds))| !fits(&slots[*slot], *kinds)).map(|(i, _)| i)
    }
}

/// Whether a value is missing or of a kind in `kinds`.
#[inline]
fn fits(v: &Val<'_>, kinds: Kinds) -> bool {
    match v {
        Val::Missing => true,
        Val::Int(_) | Val::UInt(_) | Val::Num(_) => kinds.contains(Kinds::NUM),
        Val::Bool(_) => kinds.contains(Kinds::BOOL),
        Val::Str(_) => kinds.contains(Kinds::STR) || (kinds.contains(Kinds::NUM) && v.numeric_string().is_some()),
        Val::Other => false,
    }
}

/// A latency in milliseconds: a non-negative finite number, or a string written as one.
fn latency_of(v: &Val<'_>) -> Option<f64> {
    match v {
        Val::Int(ms) if *ms >= 0 => Some(*ms as f64),
        Val::UInt(ms) => Some(*ms as f64),
        Val::Num(ms) if *ms >= 0.0 && ms.is_finite() => Some(*ms),
        Val::Str(_) => latency_of(&v.numeric_string()?),
        _ => None,
    }
}

impl Decoder {
    #[inline]
    fn extract<'a, R: serde_json::de::Read<'a>>(
        &self,
        mut de: serde_json::Deserializer<R>,
        slots: &mut [Val<'a>],
    ) -> Result<(), serde_json::Error> {
        self.plan.extract(&mut de, slots)?;
        de.end()
    }
}

/// A reusable slot buffer whose allocation outlives the payloads it borrows from.
///
/// Each event's slots borrow that event's payload, so one `Vec<Val<'a>>` cannot be kept across
/// events. The buffer is stored empty as `Vec<Val<'static>>` and re-typed for each event; an
/// empty `Vec` re-collected through `into_iter().map()` keeps its allocation (std's in-place
/// collect), so the hot path allocates nothing and needs no `unsafe`.
#[derive(Debug, Default)]
pub(crate) struct SlotBuffer {
    buf: Vec<Val<'static>>,
}

impl SlotBuffer {
    /// Runs `f` on the buffer, emptied and typed for payloads of lifetime `'a`.
    pub(crate) fn with<'a, R>(&mut self, f: impl FnOnce(&mut Vec<Val<'a>>) -> R) -> R {
        let mut slots: Vec<Val<'a>> = retype(std::mem::take(&mut self.buf));
        let out = f(&mut slots);
        self.buf = retype(slots);
        out
    }
}

fn retype<'a, 'b>(mut v: Vec<Val<'a>>) -> Vec<Val<'b>> {
    v.clear();
    v.into_iter().map(|_| Val::Missing).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_694_400_000; // 2026-11-26T12:00:00Z

    fn decoder() -> Decoder {
        let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
        Decoder::new(&config)
    }

    fn decode(d: &Decoder, payload: &str) -> Result<Decoded, Reject> {
        let mut slots = Vec::new();
        d.decode(payload.as_bytes(), NOW, &mut slots)
    }

    #[test]
    fn reads_configured_fields_and_skips_the_rest() {
        let d = decoder();
        let payload = br#"{"timestamp":"2026-11-26T11:59:00Z","service":"search-api","extra":{"deep":[1,2,{"x":null}]},"status":503,"latency_ms":12.5}"#;
        let mut slots = Vec::new();
        let got = d.decode(payload, NOW, &mut slots).unwrap();
        assert_eq!(got.ts_ms, NOW - 60_000);
        assert_eq!(got.latency_ms, Some(12.5));
        assert_eq!(slots[d.slot_of("service").unwrap()], Val::Str("search-api".into()));
        assert_eq!(slots[d.slot_of("status").unwrap()], Val::Int(503));
        assert_eq!(slots[d.slot_of("route").unwrap()], Val::Missing);
    }

    #[test]
    fn reaches_into_nested_objects_by_dotted_path() {
        let mut plan = FieldPlan::default();
        let s = plan.add("http.status");
        let m = plan.add("http.method");
        let mut slots = vec![Val::Missing; 2];
        let json = br#"{"http":{"status":404,"method":"GET\u0021"},"status":1}"#;
        plan.extract(&mut serde_json::Deserializer::from_slice(json), &mut slots).unwrap();
        assert_eq!(slots[s], Val::Int(404));
        assert_eq!(slots[m], Val::Str("GET!".into()));
    }

    #[test]
    fn rejects_each_reason() {
        let d = decoder();
        assert_eq!(decode(&d, "{not json"), Err(Reject::InvalidJson));
        assert_eq!(decode(&d, ""), Err(Reject::InvalidJson));
        assert_eq!(decode(&d, r#"{"timestamp":1} trailing"#), Err(Reject::InvalidJson));
        assert_eq!(decode(&d, "[1,2]"), Err(Reject::NotAnObject));
        assert_eq!(decode(&d, "null"), Err(Reject::NotAnObject));
        assert_eq!(decode(&d, r#"{"service":"geo"}"#), Err(Reject::MissingTimestamp));
        assert_eq!(decode(&d, r#"{"timestamp":null}"#), Err(Reject::MissingTimestamp));
        assert_eq!(decode(&d, r#"{"timestamp":"yesterday"}"#), Err(Reject::InvalidTimestamp));
        assert_eq!(decode(&d, r#"{"timestamp":1.5e12}"#), Err(Reject::InvalidTimestamp));
        assert_eq!(decode(&d, &format!(r#"{{"timestamp":{}}}"#, NOW + 60_001)), Err(Reject::TooFarInFuture));
        assert_eq!(decode(&d, &format!(r#"{{"timestamp":{}}}"#, NOW + 60_000)).map(|e| e.ts_ms), Ok(NOW + 60_000));
        assert_eq!(decode(&d, &format!(r#"{{"timestamp":{}}}"#, NOW - 30 * 86_400_000)), Err(Reject::TooOld));
        assert!(decode(&d, &format!(r#"{{"timestamp":{}}}"#, NOW - 30 * 86_400_000 + 1)).is_ok());
        assert_eq!(decode(&d, r#"{"timestamp":0}"#), Err(Reject::TooOld));
    }

    /// A field's type is not the message's problem: the event is decoded, its latency is left
    /// out when it is no non-negative number, and fields of a kind no test compares with are named.
    #[test]
    fn bad_field_types_and_latencies_decode_and_are_named() {
        let d = decoder();
        let at = |rest: &str| format!(r#"{{"timestamp":{NOW}{rest}}}"#);
        let latency = |rest: &str| decode(&d, &at(rest)).map(|e| (e.latency_ms, e.latency_invalid));
        assert_eq!(latency(r#","latency_ms":-3"#), Ok((None, true)));
        assert_eq!(latency(r#","latency_ms":"fast""#), Ok((None, true)));
        assert_eq!(latency(r#","latency_ms":true"#), Ok((None, true)));
        assert_eq!(latency(r#","latency_ms":[7]"#), Ok((None, true)));
        assert_eq!(latency(r#","latency_ms":"-1""#), Ok((None, true)));
        assert_eq!(latency(r#","latency_ms":"12.5""#), Ok((Some(12.5), false)), "a string written as a number");
        assert_eq!(latency(r#","latency_ms":" 12""#), Ok((None, true)), "not exactly a JSON number");
        assert_eq!(latency(r#","latency_ms":7"#), Ok((Some(7.0), false)));
        assert_eq!(latency(r#","latency_ms":null"#), Ok((None, false)));
        assert_eq!(latency(""), Ok((None, false)));

        let fields = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
        let fields = fields.condition_fields();
        let mismatched = |rest: &str| {
            let payload = at(rest);
            let mut slots = Vec::new();
            d.decode(payload.as_bytes(), NOW, &mut slots).expect("decoded, never rejected");
            d.mismatched_fields(&slots).map(|i| fields[i]).collect::<Vec<_>>()
        };
        assert_eq!(mismatched(r#","service":"geo","status":200,"route":"/x","latency_ms":3"#), [] as [&str; 0]);
        // status is only compared with numbers: "200" is one, "OK" and objects are not.
        assert_eq!(mismatched(r#","service":"geo","status":"200""#), [] as [&str; 0]);
        assert_eq!(mismatched(r#","service":"geo","status":"OK""#), ["status"]);
        assert_eq!(mismatched(r#","service":"geo","status":{"code":200}"#), ["status"]);
        assert_eq!(mismatched(r#","service":42,"status":true"#), ["service", "status"]);
        assert_eq!(mismatched(r#","service":null,"status":null"#), [] as [&str; 0], "null is missing, not mismatched");
        assert_eq!(mismatched(r#","latency_ms":"slow""#), ["latency_ms"]);
        let big = at(&format!(r#","pad":"{}""#, "x".repeat(1 << 20)));
        assert_eq!(decode(&d, &big), Err(Reject::TooLarge));
        // Nesting deeper than serde_json's limit (128) is rejected, never a stack overflow;
        // ordinary nesting in fields nobody reads is skipped.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(decode(&d, &at(&format!(r#","deep":{deep}"#))), Err(Reject::InvalidJson));
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(decode(&d, &at(&format!(r#","deep":{fine},"o":{{"a":{{"b":[1,"x\u0041"]}}}}"#))).is_ok());
        assert_eq!(decode(&d, &deep), Err(Reject::NotAnObject));
        let unclosed = format!(r#"{{"timestamp":{NOW},"deep":{}"#, "{\"a\":".repeat(50_000));
        assert_eq!(decode(&d, &unclosed), Err(Reject::InvalidJson));
        assert_eq!(decode(&d, "\u{0}\u{1}\u{ff}"), Err(Reject::InvalidJson));
        let mut slots = Vec::new();
        assert_eq!(d.decode(b"{\"timestamp\":\"\xff\xfe\"}", NOW, &mut slots), Err(Reject::InvalidJson));
        assert_eq!(d.decode(b"[\"\xff\"]", NOW, &mut slots), Err(Reject::NotAnObject));
        assert_eq!(d.decode(b"{\"timestamp\":1}\xff", NOW, &mut slots), Err(Reject::InvalidJson));
    }

    /// Regression: an integer above i64::MAX was stored as f64, so u64 neighbours there decoded
    /// to the same value and no condition could tell them apart.
    #[test]
    fn integers_up_to_u64_max_keep_every_digit() {
        let d = decoder();
        let status = d.slot_of("status").unwrap();
        let decoded = |n: &str| {
            let payload = format!(r#"{{"timestamp":{NOW},"service":"geo","status":{n}}}"#);
            [true, false].map(|fast| {
                let mut slots = Vec::new();
                d.decode_with(payload.as_bytes(), NOW, &mut slots, fast).unwrap();
                format!("{:?}", slots[status])
            })
        };
        for (a, b) in [
            ("9007199254740992", "9007199254740993"),
            ("9223372036854775806", "9223372036854775807"),
            ("9223372036854775807", "9223372036854775808"),
            ("18446744073709551614", "18446744073709551615"),
            ("-9223372036854775808", "-9223372036854775807"),
        ] {
            let (x, y) = (decoded(a), decoded(b));
            assert_eq!(x[0], x[1], "fast and serde_json paths disagree on {a}");
            assert_ne!(x[0], y[0], "{a} and {b} decode to the same value");
        }
    }

    #[test]
    fn slot_buffer_keeps_its_allocation() {
        let mut buf = SlotBuffer::default();
        let d = decoder();
        let payload = format!(r#"{{"timestamp":{NOW},"service":"geo"}}"#);
        let cap = buf.with(|slots| {
            d.decode(payload.as_bytes(), NOW, slots).unwrap();
            (slots.capacity(), slots.as_ptr() as usize)
        });
        let again = buf.with(|slots| {
            d.decode(payload.as_bytes(), NOW, slots).unwrap();
            (slots.capacity(), slots.as_ptr() as usize)
        });
        assert_eq!(cap, again);
    }

    /// The fast path against serde_json alone, on documents built from the pieces where they
    /// could disagree (escapes, control characters, number forms, nesting, literals, trailing
    /// bytes), whole and with a byte cut out, doubled or changed: same reject reason, same slots.
    mod fast_path {
        use proptest::prelude::*;

        use super::*;

        const KEYS: &[&str] =
            &["timestamp", "service", "status", "latency_ms", "route", "http", "x", "", "serv\\u0069ce"];
        const STRINGS: &[&str] = &[
            r#""geo""#,
            r#""search-api""#,
            r#""""#,
            r#""a\"b""#,
            r#""\u00e9t\u00e9""#,
            "\"caf\u{e9}\"",
            "\"tab\there\"",
            r#""2026-11-26T11:59:00Z""#,
            r#""2026-11-26T11:59:00.5+01:00""#,
            r#""x\\""#,
            r#""\uD83D\uDE00""#,
            r#""\uDE00""#,
            r#""\uD83D""#,
            r#""\uD800\u0041""#,
            r#""\uD800\n""#,
            r#""\b\f\n\r\t\/""#,
            r#""\x""#,
            r#""\u12G4""#,
            r#""\"Chromium\";v=\"131\"""#,
            r#""g\u0065o""#,
        ];
        const NUMBERS: &[&str] = &[
            "0",
            "-0",
            "01",
            "1.",
            ".5",
            "1.5",
            "-12.25",
            "1e3",
            "1E-2",
            "12345678901234567890",
            "123456789012345678",
            "1234567890123456789",
            "9007199254740993.5",
            "0.123456789012345678",
            "-",
            "1795694340000",
            "200",
            "503",
            "120.7",
            "-3",
            "18446744073709551616",
            "18446744073709551615",
            "9223372036854775808",
            "-9223372036854775808",
            "9007199254740993",
            "2.5e400",
        ];

        fn value(depth: u32) -> BoxedStrategy<String> {
            let leaf = prop_oneof![
                prop::sample::select(STRINGS).prop_map(str::to_string),
                prop::sample::select(NUMBERS).prop_map(str::to_string),
                prop::sample::select(&["true", "false", "null", "nul", "tru"][..]).prop_map(str::to_string),
            ];
            if depth == 0 {
                return leaf.boxed();
            }
            prop_oneof![
                4 => leaf,
                1 => prop::collection::vec(value(depth - 1), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
                1 => object(depth - 1),
            ]
            .boxed()
        }

        fn object(depth: u32) -> BoxedStrategy<String> {
            let ws = prop::sample::select(&["", " ", "\n\t", "\r "][..]);
            prop::collection::vec((prop::sample::select(KEYS), value(depth), ws), 0..7)
                .prop_map(|fields| {
                    let body: Vec<String> = fields.iter().map(|(k, v, w)| format!("{w}\"{k}\"{w}:{w}{v}{w}")).collect();
                    format!("{{{}}}", body.join(","))
                })
                .boxed()
        }

        fn show(slots: &[Val<'_>]) -> String {
            format!("{slots:?}")
        }

        fn check(d: &Decoder, doc: &[u8]) -> Result<(), TestCaseError> {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let fast = d.decode_with(doc, NOW, &mut a, true);
            let slow = d.decode_with(doc, NOW, &mut b, false);
            prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{}", String::from_utf8_lossy(doc));
            if slow.is_ok() {
                prop_assert_eq!(show(&a), show(&b), "{}", String::from_utf8_lossy(doc));
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

            #[test]
            fn agrees_with_serde_json(doc in object(3), cut in any::<prop::sample::Index>(), op in 0..4u8, byte in any::<u8>(), tail in prop::sample::select(&["", " ", "\n", "x", "}", ",{}"][..])) {
                let config = Config::from_yaml(
                    "kafka: { brokers: b, topics: [t], group_id: g }\nevents: { latency_field: latency_ms }\nslis:\n  a: { match: { service: geo, http.status: { lt: 500 }, http.route.x: 1 }, good: { route: { prefix: a }, x: true } }\nslos:\n  s: { objective: 99, period: 30d, slis: [a] }\n",
                    "fast.yaml",
                ).unwrap();
                let d = Decoder::new(&config);
                let example = decoder();
                let mut doc = format!("{doc}{tail}").into_bytes();
                check(&d, &doc)?;
                check(&example, &doc)?;
                let at = cut.index(doc.len());
                match op {
                    0 => { doc.remove(at); }
                    1 => { let b = doc[at]; doc.insert(at, b); }
                    2 => doc[at] = byte,
                    _ => doc.truncate(at),
                }
                check(&d, &doc)?;
                check(&example, &doc)?;
            }
        }

        #[test]
        fn takes_the_fast_path_for_loadgen_events() {
            let d = decoder();
            // Padded events carry `sec-ch-ua` headers full of escaped quotes, as real ones do.
            for bytes in [None, Some(600), Some(1_500), Some(4_000)] {
                let mut traffic = crate::loadgen::Traffic::new(
                    5,
                    crate::loadgen::Incidents { every: std::time::Duration::ZERO, lasts: std::time::Duration::ZERO },
                )
                .with_event_bytes(bytes);
                let mut buf = String::new();
                for i in 0..1_000 {
                    traffic.event(NOW - i, &mut buf);
                    let mut slots = vec![Val::Missing; d.plan().slot_count()];
                    assert!(d.plan().extract_fast(&buf, &mut slots), "{buf}");
                    check(&d, buf.as_bytes()).unwrap();
                }
            }
        }
    }
}
