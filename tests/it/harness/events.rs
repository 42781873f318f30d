//! Single request events as JSON, with the current time as the tests pass it: one per SLI of
//! the example config, and a steady realistic mix of all of them.

/// A booking POST to `/v1/bookings` (booking-availability).
pub fn booking(status: u16, ts: i64, latency: u64) -> Vec<u8> {
    format!(r#"{{"timestamp":{ts},"service":"booking","method":"POST","route":"/v1/bookings","status":{status},"latency_ms":{latency}}}"#)
        .into_bytes()
}

/// A search GET of `route` (search-latency; search-availability on the trips routes).
pub fn search(route: &str, status: u16, ts: i64, latency: u64) -> Vec<u8> {
    format!(r#"{{"timestamp":{ts},"service":"search-api","method":"GET","route":"{route}","status":{status},"latency_ms":{latency}}}"#)
        .into_bytes()
}

/// A geocode GET (geo-availability).
pub fn geo(status: u16, ts: i64, latency: u64) -> Vec<u8> {
    format!(r#"{{"timestamp":{ts},"service":"geo","method":"GET","route":"/v1/geocode","status":{status},"latency_ms":{latency}}}"#)
        .into_bytes()
}

/// A geocode GET that succeeded (200) or failed (503), for tests that only count outcomes.
pub fn geo_outcome(ts: i64, good: bool) -> Vec<u8> {
    geo(if good { 200 } else { 503 }, ts, 20)
}

/// Event `i` of a steady, realistic mix at `ts`: every SLI of the example config with
/// latencies, a few failures, unmatched events (booking GETs, payments) and, one in 50, an
/// invalid message of each reject reason in turn.
pub fn realistic(i: u64, ts: i64) -> Vec<u8> {
    let latency = 20 + (i * 37) % 380; // 20..400 ms, some above search-latency's 300
    if i % 50 == 49 {
        return match (i / 50) % 5 {
            0 => b"{\"timestamp\":".to_vec(),                   // invalid_json
            1 => b"[1,2,3]".to_vec(),                           // not_an_object
            2 => br#"{"service":"geo","status":200}"#.to_vec(), // missing_timestamp
            3 => br#"{"timestamp":"yesterday","service":"geo","status":200}"#.to_vec(), // invalid_timestamp
            _ => geo(200, ts + 3_600_000, latency),             // too_far_in_future
        };
    }
    match i % 8 {
        0 | 1 => search("/v2/trips", if i.is_multiple_of(97) { 503 } else { 200 }, ts, latency),
        2 => search("/v2/trips/{id}", 200, ts, latency),
        3 | 4 => geo(if i.is_multiple_of(61) { 500 } else { 200 }, ts, latency),
        5 => booking(if i.is_multiple_of(89) { 500 } else if i.is_multiple_of(73) { 429 } else { 201 }, ts, latency),
        6 => format!(r#"{{"timestamp":{ts},"service":"booking","method":"GET","route":"/v1/bookings/{{id}}","status":200,"latency_ms":{latency}}}"#)
            .into_bytes(),
        _ => format!(r#"{{"timestamp":{ts},"service":"payments","method":"POST","status":200,"latency_ms":{latency}}}"#).into_bytes(),
    }
}
