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
