//! Time-slice budgeting on the real broker, through kill -9: two days of traffic in event-time
//! order, read while slostream is killed and restarted, must give exactly the slices worked out
//! here from the events.
//!
//! Two SLOs over geo- and booking-availability (pooled): `timeslices` (a minute is good when at
//! least 90 % of its events were; fewer than 3 events: skipped) and `ratio_timeslices` (the mean
//! of the minutes' ratios, same guard). Events are produced oldest first to one partition, so
//! slices older than the window store's minute tier are frozen as the stream is read, before
//! and after each kill: the restarted process must freeze them identically from its checkpoint
//! and the replay. No event lies near a window's edge at the final scrape, so every window's
//! count is unambiguous; a window reaching past the minute tier takes frozen slices whole hours
//! at a time, so its edges keep 70 minutes clear.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slostream::names::{self, label};

use crate::harness::events::geo_outcome;
use crate::harness::{now_ms, Deployment, Served};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// The SLOs' windows (the default alert windows and the 7-day period) and how far from each
/// window's start an event must be at the scrape: a few minutes where slices are live, 70 where
/// frozen hours are counted whole.
const WINDOWS: [(&str, i64, i64); 8] = [
    ("5m", 5 * MIN, 0),
    ("30m", 30 * MIN, 8 * MIN),
    ("1h", HOUR, 8 * MIN),
    ("2h", 2 * HOUR, 8 * MIN),
    ("6h", 6 * HOUR, 70 * MIN),
    ("1d", DAY, 70 * MIN),
    ("3d", 3 * DAY, 70 * MIN),
    ("7d", 7 * DAY, 0),
];

/// One minute's events of both SLIs: `(good, total)` pooled.
type Minutes = BTreeMap<i64, (u64, u64)>;

/// `timeslices` and `ratio_timeslices` over `minutes` for a window starting at `from`: counted
/// slices, good slices (or the sum of ratios).
fn expected(minutes: &Minutes, from: i64) -> [(u64, f64); 2] {
    let mut out = [(0, 0.0); 2];
    for (_, &(good, total)) in minutes.range(from..) {
        if total < 3 {
            continue;
        }
        out[0].0 += 1;
        out[0].1 += f64::from(u8::from(good * 100 >= 90 * total));
        out[1].0 += 1;
        out[1].1 += good as f64 / total as f64;
    }
    out
}

/// Whether an event `age` ms old at the scrape is clear of every window's edge.
fn clear_of_edges(age: i64) -> bool {
    age > 8 * MIN && WINDOWS.iter().all(|(_, w, band)| (age - w).abs() > *band)
}

#[test]
fn slices_are_exact_through_kill_9_while_history_is_read() {
    let d = Deployment::new("slices")
        .checkpoint_interval("1s")
        .add_slo(
            "minutes",
            r#"{objective: 99, period: "7d", slis: [geo-availability, booking-availability],
                budgeting: {method: timeslices, slice: 1m, target: 90, min_events: 3, sparse: skip}}"#,
        )
        .add_slo(
            "minute-ratios",
            r#"{objective: 99, period: "7d", slis: [geo-availability, booking-availability],
                budgeting: {method: ratio_timeslices, slice: 1m, min_events: 3, sparse: skip}}"#,
        );
    d.create_topic(1);
    let b = d.broker();
    let t0 = now_ms();
    let mut rng = StdRng::seed_from_u64(0x51ce);
    // One minute in three has traffic, from two days ago to 15 minutes ago; one busy minute in
    // five is a bad one. Minutes near a window's edge stay quiet.
    let mut events: Vec<(i64, bool, bool)> = Vec::new();
    let first = t0 - 2 * DAY - (t0 % MIN);
    for minute in 0..(2 * DAY - 15 * MIN) / MIN {
        let start = first + minute * MIN;
        // Clear at a scrape up to 5 minutes from now, for any event of the minute (the bands are
        // wider than the 6 minutes of ages that leaves).
        let ages = [t0 - start - MIN, t0 + 5 * MIN - start];
        if !rng.random_bool(1.0 / 3.0) || !ages.iter().all(|&a| clear_of_edges(a)) {
            continue;
        }
        let bad = rng.random_bool(0.2);
        for _ in 0..rng.random_range(1..9) {
            let ts = start + rng.random_range(0..MIN);
            let good = !rng.random_bool(if bad { 0.4 } else { 0.03 });
            events.push((ts, good, rng.random_bool(0.5)));
        }
    }
    events.sort_by_key(|e| e.0);
    let payloads: Vec<Vec<u8>> = events
        .iter()
        .map(|&(ts, good, geo)| {
            let status = if good { 200 } else { 503 };
            let who = if geo { r#""service":"geo""# } else { r#""service":"booking","method":"POST""# };
            format!(r#"{{"timestamp":{ts},{who},"status":{status}}}"#).into_bytes()
        })
        .collect();

    // In four parts, oldest first, with a kill -9 after each of the first three.
    let parts = 4;
    let per = payloads.len().div_ceil(parts);
    for (k, chunk) in payloads.chunks(per).enumerate() {
        b.produce(d.topic(), 1, chunk);
        if k + 1 == parts {
            break;
        }
        let mut app = d.start();
        app.wait_ready(Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(rng.random_range(0..2500)));
        app.kill();
        let log = app.log_text();
        assert!(!log.contains("panicked"), "kill {k}: slostream panicked:\n{log}");
    }
    let mut app = d.start();
    app.wait_ready(Duration::from_secs(60));
    let (m, t_scrape) = app.wait_consumed(payloads.len() as u64, Duration::from_secs(120));

    let mut minutes = Minutes::new();
    for &(ts, good, _) in &events {
        assert!(clear_of_edges(t_scrape - ts), "the test took too long: an event is near a window edge");
        let e = minutes.entry(ts - ts.rem_euclid(MIN)).or_default();
        e.0 += u64::from(good);
        e.1 += 1;
    }
    let get = |name: &str, slo: &str, w: &str| {
        m.get(name, &[(label::SLO, slo), (label::WINDOW, w)]).unwrap_or_else(|| panic!("{name} {slo} {w}"))
    };
    let mut bad_slices = 0.0;
    for (w, len, _) in WINDOWS {
        let [slices, ratios] = expected(&minutes, t_scrape - len);
        assert_eq!(get(names::SLO_SLICES.name, "minutes", w), slices.0 as f64, "timeslices over {w}");
        assert_eq!(get(names::SLO_GOOD_SLICES.name, "minutes", w), slices.1, "good slices over {w}");
        assert_eq!(get(names::SLO_SLICES.name, "minute-ratios", w), ratios.0 as f64, "ratio slices over {w}");
        let sum = get(names::SLO_GOOD_SLICES.name, "minute-ratios", w);
        assert!(
            (sum - ratios.1).abs() < 1e-9 * ratios.0.max(1) as f64,
            "sum of ratios over {w}: {sum} != {}",
            ratios.1
        );
        let ratio = if slices.0 == 0 { 1.0 } else { slices.1 / slices.0 as f64 };
        let exported = get(names::SLO_SLI_RATIO.name, "minutes", w);
        assert!((exported - ratio).abs() < 1e-12, "ratio over {w}: {exported} != {ratio}");
        let burn = get(names::SLO_BURN_RATE.name, "minutes", w);
        assert!((burn - (1.0 - ratio) / 0.01).abs() < 1e-9, "burn rate over {w}: {burn}");
        bad_slices += slices.0 as f64 - slices.1;
    }
    assert!(bad_slices > 0.0, "the stream has bad minutes");
    for slo in ["minutes", "minute-ratios"] {
        let late = m.get(names::SLICE_LATE_EVENTS.name, &[(label::SLO, slo)]);
        assert_eq!(late, Some(0.0), "{slo}: no event came after its slice was judged");
    }
    let (status, _) = app.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
}

/// The start of the month holding `at_ms` in `zone`, and the next month's.
fn month_in(zone: &str, at_ms: i64) -> (i64, i64) {
    use jiff::ToSpan;
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    let first = jiff::Timestamp::from_millisecond(at_ms).unwrap().to_zoned_datetime(tz.clone()).date().first_of_month();
    let at = |d: jiff::civil::Date| d.to_zoned_datetime(tz.clone()).unwrap().timestamp().as_millisecond();
    (at(first), at(first + 1.month()))
}

/// A calendar month rolling over, on a clock shifted to 45 seconds before the end of a month
/// (`SLOSTREAM_CLOCK_OFFSET_MS`): before the boundary the month's window and slices hold the old
/// month's events; after it, only the new month's, with the new bounds, while a rolling window
/// holds both. The old month's report row is closed once, with its events and slices, and stays
/// so through a kill -9.
#[test]
fn a_calendar_month_rolls_over_and_its_slices_begin_again() {
    const ZONE: &str = "Europe/Paris";
    let real = now_ms();
    // The end of next month in Paris, so the shifted clock is always ahead of the real one.
    let (_, end) = month_in(ZONE, month_in(ZONE, real).1 + DAY);
    let offset = end - 45_000 - real;
    let d = Deployment::new("rollover")
        .checkpoint_interval("1s")
        .env("SLOSTREAM_CLOCK_OFFSET_MS", &offset.to_string())
        .add_slo(
            "monthly",
            r#"{objective: 99, period: {calendar: month, time_zone: "Europe/Paris"}, slis: [geo-availability],
                budgeting: {method: timeslices, slice: 10s, target: 75, min_events: 2, sparse: skip}}"#,
        )
        .add_slo("rolling", r#"{objective: 99, period: "7d", slis: [geo-availability]}"#);
    d.create_topic(1);
    let b = d.broker();
    let payload = geo_outcome;
    let shifted = || now_ms() + offset;
    let (start, _) = month_in(ZONE, end - 1);
    // The old month's last minute: slices at end-60s (4 good), end-50s (1 good of 4: bad) and
    // end-40s (one event: sparse, skipped).
    let mut old: Vec<(i64, bool)> = (0..4).map(|i| (end - 60_000 + i * 1000, true)).collect();
    old.extend((0..4).map(|i| (end - 50_000 + i * 1000, i == 0)));
    old.push((end - 40_000, false));
    b.produce(d.topic(), 1, &old.iter().map(|&(ts, g)| payload(ts, g)).collect::<Vec<_>>());
    let mut app = d.start();
    app.wait_ready(Duration::from_secs(60));
    app.wait_consumed(old.len() as u64, Duration::from_secs(60));
    // Once the slice at end - 50 s has closed, and a tick has judged it.
    while shifted() < end - 38_500 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = app.scrape();
    assert!(shifted() < end - 5_000, "the old month must still be running at this scrape");
    let get = |m: &crate::harness::Metrics, name: &str, labels: &[(&str, &str)]| {
        m.get(name, labels).unwrap_or_else(|| panic!("{name} {labels:?}"))
    };
    let month = [(label::SLO, "monthly"), (label::WINDOW, "month")];
    assert_eq!(get(&m, names::SLO_EVENTS.name, &month), old.len() as f64);
    assert_eq!(get(&m, names::SLO_SLICES.name, &month), 2.0, "two judged slices, one sparse");
    assert_eq!(get(&m, names::SLO_GOOD_SLICES.name, &month), 1.0);
    assert_eq!(get(&m, names::SLO_SLI_RATIO.name, &month), 0.5);
    assert_eq!(get(&m, names::SLO_PERIOD_START.name, &[(label::SLO, "monthly")]), start as f64 / 1000.0);
    assert_eq!(get(&m, names::SLO_PERIOD_END.name, &[(label::SLO, "monthly")]), end as f64 / 1000.0);

    // Past the boundary: three good events in the new month's first slice.
    while shifted() < end + 1_000 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let new: Vec<(i64, bool)> = (0..3).map(|i| (end + i * 100, true)).collect();
    b.produce(d.topic(), 1, &new.iter().map(|&(ts, g)| payload(ts, g)).collect::<Vec<_>>());
    // Wait for the first slice of the month to close.
    while shifted() < end + 11_000 {
        std::thread::sleep(Duration::from_millis(200));
    }
    app.wait_consumed((old.len() + new.len()) as u64, Duration::from_secs(60));
    // A tick after the slice closed (ticks run twice a second).
    std::thread::sleep(Duration::from_millis(1200));
    let m = app.scrape();
    let (_, next_end) = month_in(ZONE, end);
    assert_eq!(get(&m, names::SLO_PERIOD_START.name, &[(label::SLO, "monthly")]), end as f64 / 1000.0);
    assert_eq!(get(&m, names::SLO_PERIOD_END.name, &[(label::SLO, "monthly")]), next_end as f64 / 1000.0);
    assert_eq!(get(&m, names::SLO_EVENTS.name, &month), new.len() as f64, "only the new month's events");
    assert_eq!(get(&m, names::SLO_SLICES.name, &month), 1.0, "the new month's first slice");
    assert_eq!(get(&m, names::SLO_GOOD_SLICES.name, &month), 1.0);
    assert_eq!(get(&m, names::SLO_BUDGET_REMAINING.name, &[(label::SLO, "monthly")]), 1.0, "a new budget");
    let rolling = [(label::SLO, "rolling"), (label::WINDOW, "7d")];
    assert_eq!(get(&m, names::SLO_EVENTS.name, &rolling), (old.len() + new.len()) as f64);

    // The old month's report row, closed once, with its events and slices; then the same after
    // a kill -9 and a restart from the checkpoint.
    let row_of = |app: &mut crate::harness::Slostream| {
        let (status, body) = app.get("/api/v1/reports?slo=monthly").expect("the reports API answers");
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json["reports"][0]["rows"].as_array().unwrap().clone()
    };
    let check_rows = |rows: &[serde_json::Value], when: &str| {
        let closed: Vec<&serde_json::Value> = rows.iter().filter(|r| r["partial"] == false).collect();
        assert_eq!(closed.len(), 1, "{when}: one closed month: {rows:?}");
        let row = closed[0];
        let start_text =
            jiff::Timestamp::from_millisecond(start).unwrap().strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string();
        assert_eq!(row["period_start"], start_text.as_str(), "{when}");
        assert_eq!(row["events"], old.len() as u64, "{when}");
        assert_eq!((row["slices"].as_u64(), row["good_slices"].as_f64()), (Some(2), Some(1.0)), "{when}");
        assert_eq!((row["ratio"].as_f64(), row["met"].as_bool()), (Some(0.5), Some(false)), "{when}");
        let partial = rows.last().unwrap();
        assert_eq!((partial["partial"].as_bool(), partial["events"].as_u64()), (Some(true), Some(new.len() as u64)));
    };
    check_rows(&row_of(&mut app), "after the close");
    // Past a checkpoint (every second here), then a crash.
    std::thread::sleep(Duration::from_millis(2500));
    app.kill();
    let mut app = d.start();
    app.wait_ready(Duration::from_secs(60));
    app.wait_consumed((old.len() + new.len()) as u64, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(2500));
    check_rows(&row_of(&mut app), "after kill -9 and a restart");
    let (status, _) = app.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
}
