//! Hostile messages: payloads over the size limit by one byte and by far, broken UTF-8 (also in
//! fields no SLI reads), nesting past the parser's depth limit, garbage and gzip bytes, records
//! without a value, every kind of bad timestamp — each with what slostream must count it as —
//! and valid events however odd (deep nesting within the limit, a payload of exactly the limit,
//! escapes, `201.0`, fields of the wrong type, strings written as numbers). Each carries [`MARK`], which must never show up in what
//! slostream prints.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::stream::{Item, Kind, MAX_BYTES};
use super::truth::*;

/// Marks every hostile payload: none may show up in the log.
pub const MARK: &str = "PoIsOn";

/// Hostile messages, each with what it must be counted as (`None`: a valid event, counted).
pub fn corpus(t0: i64) -> Vec<Item> {
    let ts = t0 - 10 * MIN;
    let mut out: Vec<Item> = Vec::new();
    let mut reject = |payload: Option<Vec<u8>>, reason: &'static str| {
        let key = Some(format!("key-{}-{reason}", out.len()).into_bytes());
        out.push(Item { key, payload, kind: Kind::Reject(reason) });
    };
    let s = |x: String| Some(x.into_bytes());
    // Size: one byte over the limit is not parsed at all.
    let pad = |target: usize| {
        let head = format!(r#"{{"timestamp":{ts},"service":"geo","status":200,"m":"{MARK}","pad":""#);
        let mut p = head.clone() + &"y".repeat(target - head.len() - 2);
        p += "\"}";
        assert_eq!(p.len(), target);
        p
    };
    reject(s(pad(MAX_BYTES + 1)), "too_large");
    reject(s(pad(200_000)), "too_large");
    // Not UTF-8 / not JSON.
    let mut bad_utf8 = format!(r#"{{"timestamp":{ts},"service":"geo"#).into_bytes();
    bad_utf8.extend_from_slice(&[0xFF, 0xFE, 0xC3]);
    bad_utf8.extend_from_slice(format!(r#"","status":200,"m":"{MARK}"}}"#).as_bytes());
    reject(Some(bad_utf8), "invalid_json");
    let mut bad_key = format!(r#"{{"timestamp":{ts},"#).into_bytes();
    bad_key.extend_from_slice(&[b'"', 0xC0, 0xAF, b'"']);
    bad_key.extend_from_slice(format!(r#":1,"service":"geo","status":200,"m":"{MARK}"}}"#).as_bytes());
    reject(Some(bad_key), "invalid_json");
    // ... also in a field no SLI reads (unread values are still walked and validated).
    let mut bad_unused = format!(r#"{{"timestamp":{ts},"service":"geo","status":200,"blob":""#).into_bytes();
    bad_unused.extend_from_slice(&[0xFF, 0xFE, 0x80]);
    bad_unused.extend_from_slice(format!(r#"","m":"{MARK}"}}"#).as_bytes());
    reject(Some(bad_unused), "invalid_json");
    // Nesting beyond serde_json's depth limit (128), even where nothing is read: rejected, not
    // a stack overflow.
    reject(
        s(format!(
            r#"{{"timestamp":{ts},"service":"geo","status":200,"deep":{}1{},"m":"{MARK}"}}"#,
            "[".repeat(1500),
            "]".repeat(1500)
        )),
        "invalid_json",
    );
    reject(
        s(format!(
            r#"{{"timestamp":{ts},"service":"geo","status":200,"d":{}{}}}"#,
            r#"{"a":"#.repeat(600) + "0",
            "}".repeat(600)
        )),
        "invalid_json",
    );
    reject(Some(Vec::new()), "invalid_json");
    reject(None, "invalid_json"); // a record without a value
    let mut garbage: Vec<u8> = vec![0x00, 0x9F, 0x92, 0x96];
    let mut rng = StdRng::seed_from_u64(7);
    garbage.extend((0..200).map(|_| rng.random::<u8>()));
    reject(Some(garbage), "invalid_json");
    reject(Some(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03".to_vec()), "invalid_json"); // gzip header
    reject(s(format!(r#"{{"timestamp":{ts},"service":"{MARK}""#)), "invalid_json");
    reject(s(format!("{MARK} plain text")), "invalid_json");
    reject(s(format!(r#"{{"timestamp":{ts},"service":"geo","status":200,"m":"{MARK}"}}{{}}"#)), "invalid_json");
    // JSON, but not an object.
    reject(s("null".into()), "not_an_object");
    reject(s(format!(r#"[{{"timestamp":{ts},"service":"geo","status":200,"m":"{MARK}"}}]"#)), "not_an_object");
    reject(s(format!(r#""{MARK}""#)), "not_an_object");
    reject(s("12345".into()), "not_an_object");
    // Timestamps.
    reject(s(format!(r#"{{"service":"geo","status":200,"m":"{MARK}"}}"#)), "missing_timestamp");
    reject(s(format!(r#"{{"timestamp":null,"service":"geo","status":200,"m":"{MARK}"}}"#)), "missing_timestamp");
    reject(s(format!(r#"{{"timestamp":{ts}.5,"service":"geo","status":200,"m":"{MARK}"}}"#)), "invalid_timestamp");
    reject(s(format!(r#"{{"timestamp":"{MARK}","service":"geo","status":200}}"#)), "invalid_timestamp");
    reject(
        s(format!(r#"{{"timestamp":{{"ms":{ts}}},"service":"geo","status":200,"m":"{MARK}"}}"#)),
        "invalid_timestamp",
    );
    reject(
        s(format!(r#"{{"timestamp":{},"service":"geo","status":200,"m":"{MARK}"}}"#, t0 + 365 * DAY)),
        "too_far_in_future",
    );
    reject(
        s(format!(r#"{{"timestamp":{},"service":"geo","status":200,"m":"{MARK}"}}"#, i64::MAX)),
        "too_far_in_future",
    );
    reject(s(format!(r#"{{"timestamp":0,"service":"geo","status":200,"m":"{MARK}"}}"#)), "too_old");
    reject(s(format!(r#"{{"timestamp":-86400000,"service":"geo","status":200,"m":"{MARK}"}}"#)), "too_old");
    reject(s(format!(r#"{{"timestamp":{},"service":"geo","status":200,"m":"{MARK}"}}"#, i64::MIN)), "too_old");
    // Valid, however odd.
    let valid =
        |ev: Ev, payload: String| Item { key: None, payload: Some(payload.into_bytes()), kind: Kind::Valid(ev) };
    let geo_as =
        |status: Option<Num>| Ev { ts, fmt: Fmt::Epoch, service: "geo", route: "", method: "", status, latency: None };
    let geo = |status: Option<i64>| geo_as(status.map(Num::Int));
    // Deep nesting in fields no SLI reads: within serde_json's depth limit (128) it is skipped.
    let deep = format!(
        r#"{{"timestamp":{ts},"service":"geo","status":200,"deep":{}1{},"m":"{MARK}"}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    out.push(valid(geo(Some(200)), deep));
    let deep_obj = format!(
        r#"{{"timestamp":{ts},"service":"geo","status":503,"d":{}{}}}"#,
        r#"{"a":"#.repeat(100) + "0",
        "}".repeat(100)
    );
    out.push(valid(geo(Some(503)), deep_obj));
    let exact_limit = pad(MAX_BYTES);
    out.push(valid(geo(Some(200)), exact_limit));
    out.push(valid(
        geo(Some(200)),
        format!(r#"{{"timestamp":{ts},"service":"geo","status":200,"note":"caf\u00e9 \ud83d\ude00 {MARK}"}}"#),
    ));

    out.push(valid(
        geo(Some(200)),
        format!(r#"{{"status":200,"service":"geo","timestamp":{ts},"m":"{MARK}","extra":null}}"#),
    ));
    out.push(valid(geo(None), format!(r#"{{"timestamp":{ts},"service":"geo","status":null,"m":"{MARK}"}}"#)));
    let booking = |status: Num| Ev {
        ts,
        fmt: Fmt::Epoch,
        service: "booking",
        route: "",
        method: "POST",
        status: Some(status),
        latency: None,
    };
    out.push(valid(
        booking(Num::Int(201)),
        format!(r#"{{"timestamp":{ts},"service":"booking","method":"POST","status":201.0,"m":"{MARK}"}}"#),
    ));
    // Field types: a string written as a number compares as that number; any other type fails
    // the tests that read the field (counted, as bad), and only those.
    out.push(valid(
        geo_as(Some(Num::Text("200", Some(200.0)))),
        format!(r#"{{"timestamp":{ts},"service":"geo","status":"200","m":"{MARK}"}}"#),
    ));
    out.push(valid(
        geo_as(Some(Num::Text("503", Some(503.0)))),
        format!(r#"{{"timestamp":{ts},"service":"geo","status":"503","m":"{MARK}"}}"#),
    ));
    out.push(valid(
        geo_as(Some(Num::Text(MARK, None))),
        format!(r#"{{"timestamp":{ts},"service":"geo","status":"{MARK}"}}"#),
    ));
    out.push(valid(
        booking(Num::Other("[201]")),
        format!(r#"{{"timestamp":{ts},"service":"booking","method":"POST","status":[201],"m":"{MARK}"}}"#),
    ));
    // Nested arrays where a number is expected (50 deep: within any parser's depth limit).
    const DEEP_STATUS: &str =
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[500]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]";
    out.push(valid(
        geo_as(Some(Num::Other(DEEP_STATUS))),
        format!(r#"{{"timestamp":{ts},"service":"geo","status":{DEEP_STATUS},"m":"{MARK}"}}"#),
    ));
    let search = |latency: Num| Ev {
        ts,
        fmt: Fmt::Epoch,
        service: "search-api",
        route: "/v2/trips",
        method: "",
        status: Some(Num::Int(200)),
        latency: Some(latency),
    };
    out.push(valid(
        search(Num::Int(-1)),
        format!(
            r#"{{"timestamp":{ts},"service":"search-api","route":"/v2/trips","status":200,"latency_ms":-1,"m":"{MARK}"}}"#
        ),
    ));
    out.push(valid(
        search(Num::Text(MARK, None)),
        format!(
            r#"{{"timestamp":{ts},"service":"search-api","route":"/v2/trips","status":200,"latency_ms":"{MARK}"}}"#
        ),
    ));
    out.push(valid(
        search(Num::Text("12.5", Some(12.5))),
        format!(r#"{{"timestamp":{ts},"service":"search-api","route":"/v2/trips","status":200,"latency_ms":"12.5"}}"#),
    ));
    out
}
