//! Period reports in-process, on a shifted clock: a rolling 30-day SLO reports per UTC month,
//! and October (31 days) outlasts its 30-day window ring. Events are produced as the clock moves
//! through October (its first hours, its last hours, a stop and restart from the checkpoint in
//! between) and past its end; the rows the API serves equal ground truth computed here from the
//! events produced: the partial October row while it runs (including the first hours the 30-day
//! window no longer holds, and across the restart), then exactly one closed October row and a
//! partial November row, unchanged by another restart.

use std::time::{Duration, Instant};

use serde_json::Value;
use slostream::names::{self, label};
use slostream::time::Clock;

use crate::harness::events::geo_outcome;
use crate::harness::mock::{InProcess, MockKafka};
use crate::harness::{Deployment, Served};

/// 2026-10-01T00:00:00Z.
const OCT: i64 = 1_790_812_800_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
/// 2026-11-01T00:00:00Z.
const NOV: i64 = OCT + 31 * 24 * HOUR;
const SLO: &str = "geo-monthly";

/// Events produced so far, as `(event time, good)`.
#[derive(Default)]
struct Truth(Vec<(i64, bool)>);

impl Truth {
    /// Produces `n` geo events from `from`, `step` apart, every `bad_every`-th bad.
    fn produce(&mut self, kafka: &MockKafka, d: &Deployment, from: i64, step: i64, n: i64, bad_every: i64) {
        let events: Vec<(i64, bool)> = (0..n).map(|i| (from + i * step, i % bad_every != 0)).collect();
        let payloads: Vec<Vec<u8>> = events.iter().map(|&(ts, good)| geo_outcome(ts, good)).collect();
        kafka.produce(d.topic(), 2, &payloads);
        self.0.extend(events);
    }

    /// `(events, good)` with event times in `[start, end)`.
    fn counts(&self, start: i64, end: i64) -> (u64, u64) {
        let inside = self.0.iter().filter(|(ts, _)| (start..end).contains(ts));
        inside.fold((0, 0), |(n, g), (_, good)| (n + 1, g + u64::from(*good)))
    }
}

/// The SLO's rows from `/api/v1/reports` once `done` holds for them (30 s at most).
fn rows_when(app: &mut InProcess, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        app.assert_running();
        if let Some((200, body)) = app.get(&format!("/api/v1/reports?slo={SLO}")) {
            let v: Value = serde_json::from_str(&body).expect("JSON");
            let rows = v["reports"][0]["rows"].as_array().expect("rows").clone();
            if done(&rows) {
                return rows;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{what}: rows {rows:#?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn counts_of(row: &Value) -> (u64, u64) {
    (row["events"].as_u64().unwrap(), row["good"].as_u64().unwrap())
}

#[test]
fn a_31_day_month_is_reported_exactly_across_a_restart_and_its_close() {
    let kafka = MockKafka::start();
    let d = Deployment::new("reports")
        .brokers(&kafka.bootstrap)
        .add_slo(SLO, r#"{objective: 99, period: "30d", slis: [geo-availability]}"#);
    kafka.create_topic(d.topic(), 2);
    let clock = Clock::shifted_to(OCT + 6 * HOUR);
    let mut truth = Truth::default();
    let october = |t: &Truth| t.counts(OCT, NOV);

    // October's first six hours, and a few events of September 30th (in no October row).
    truth.produce(&kafka, &d, OCT - 3 * HOUR, MIN, 5, 2);
    truth.produce(&kafka, &d, OCT, 9 * MIN, 40, 7);
    let mut app = InProcess::start_with_clock(&d, clock.clone());
    app.wait_ready(Duration::from_secs(60));
    app.wait_consumed(45, Duration::from_secs(60));
    let want = october(&truth);
    let rows = rows_when(&mut app, "October's first hours", |r| r.len() == 1 && counts_of(&r[0]) == want);
    assert_eq!(
        (rows[0]["partial"].as_bool(), rows[0]["period_start"].as_str()),
        (Some(true), Some("2026-10-01T00:00:00.000Z"))
    );

    // October 31st, 23:30: the events of its last hour push its first hours out of the 30-day
    // ring (the 30-day window no longer counts them), yet the month's row still does.
    clock.set(NOV - 30 * MIN);
    truth.produce(&kafka, &d, NOV - 2 * HOUR, 2 * MIN, 30, 4);
    let (m, _) = app.wait_consumed(75, Duration::from_secs(60));
    let window = [(label::SLO, SLO), (label::WINDOW, "30d")];
    assert_eq!(m.get(names::SLO_EVENTS.name, &window), Some(30.0), "the 30-day window holds only the last hours");
    let want = october(&truth);
    assert_eq!(want.0, 70);
    rows_when(&mut app, "October's last hours", |r| r.len() == 1 && counts_of(&r[0]) == want);

    // A stop and a restart from the checkpoint in the middle of the period: the folded first
    // hours live only in the checkpoint's report now.
    app.stop();
    truth.produce(&kafka, &d, NOV - 40 * MIN, MIN, 10, 3);
    let mut app = InProcess::start_with_clock(&d, clock.clone());
    app.wait_ready(Duration::from_secs(60));
    app.wait_consumed(85, Duration::from_secs(60));
    let want = october(&truth);
    rows_when(&mut app, "October after the restart", |r| r.len() == 1 && counts_of(&r[0]) == want);

    // Past October's end: exactly one closed October row, with the month's every event, and
    // November so far as the partial row.
    clock.set(NOV + 30 * MIN);
    truth.produce(&kafka, &d, NOV + MIN, MIN, 12, 5);
    app.wait_consumed(97, Duration::from_secs(60));
    let november = truth.counts(NOV, NOV + 30 * 24 * HOUR);
    let rows = rows_when(&mut app, "October closed", |r| r.len() == 2 && counts_of(&r[1]) == november);
    let closed = rows[0].clone();
    let (events, good) = october(&truth);
    assert_eq!(counts_of(&closed), (events, good));
    assert_eq!(
        (closed["partial"].as_bool(), closed["period_end"].as_str()),
        (Some(false), Some("2026-11-01T00:00:00.000Z"))
    );
    let ratio = good as f64 / events as f64;
    assert_eq!(closed["ratio"].as_f64(), Some(ratio));
    assert_eq!(closed["met"].as_bool(), Some(ratio >= 0.99));
    let consumed = closed["budget_consumed"].as_f64().unwrap();
    assert!((consumed - (events - good) as f64 / events as f64 / 0.01).abs() < 1e-9, "{consumed}");
    assert_eq!(closed["top_contributors"][0]["sli"], "geo-availability");
    assert_eq!(rows[1]["period_start"], "2026-11-01T00:00:00.000Z");

    // Another restart: the closed row is restored as it was, and never closed again.
    app.stop();
    let mut app = InProcess::start_with_clock(&d, clock.clone());
    app.wait_ready(Duration::from_secs(60));
    let rows = rows_when(&mut app, "after the second restart", |r| r.len() == 2 && counts_of(&r[1]) == november);
    assert_eq!(rows[0], closed, "a closed row never changes");
    let (status, csv) = app.get(&format!("/api/v1/reports?slo={SLO}&format=csv")).unwrap();
    assert_eq!(status, 200);
    assert_eq!(csv.split("\r\n").filter(|l| l.starts_with("geo-monthly,")).count(), 2, "{csv}");
    app.stop();
}
