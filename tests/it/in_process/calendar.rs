//! A calendar period in-process: an SLO budgeted per month in Paris (or Tokyo, when Paris is
//! within minutes of a month's boundary) over geo-availability, with
//! events just before the current month began and after. Checked against ground truth computed
//! here from the wall clock: the `month` window holds exactly the events since the month's first
//! local midnight, the period's start and end gauges are that midnight and the next, the alert
//! thresholds are the SRE Workbook shares of this month's length, and the events before the
//! month still count in a rolling window that spans them.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use slostream::names::{self, label};

use crate::harness::events::geo_outcome;
use crate::harness::mock::{InProcess, MockKafka};
use crate::harness::{now_ms, Deployment, Served};

/// The zones tried, in order: their months begin hours apart, so at any moment one of them is
/// far enough from a month's boundary for the test (Paris unless it is within minutes of one).
const ZONES: [&str; 2] = ["Europe/Paris", "Asia/Tokyo"];

/// The month of `zone` holding `now_ms`: its first instant and the next month's, in ms.
fn month_in(zone: &str, now_ms: i64) -> (i64, i64) {
    let tz = TimeZone::get(zone).unwrap();
    let first = Timestamp::from_millisecond(now_ms).unwrap().to_zoned_datetime(tz.clone()).date().first_of_month();
    let at = |d: jiff::civil::Date| d.to_zoned_datetime(tz.clone()).unwrap().timestamp().as_millisecond();
    (at(first), at(first + 1.month()))
}

#[test]
fn a_calendar_month_counts_only_its_own_events_with_its_bounds_and_thresholds() {
    let t0 = now_ms();
    let (zone, (start, end)) = ZONES
        .iter()
        .map(|z| (*z, month_in(z, t0)))
        .find(|(_, (start, end))| t0 - start > 10_000 && end - t0 > 120_000)
        .expect("one zone's month boundary is hours away from now");
    let kafka = MockKafka::start();
    let d = Deployment::new("calendar")
        .brokers(&kafka.bootstrap)
        .add_slo(
            "monthly",
            &format!(
                r#"{{objective: 99, period: {{calendar: month, time_zone: "{zone}"}}, slis: [geo-availability]}}"#
            ),
        )
        .add_slo("rolling", r#"{objective: 99, period: "40d", slis: [geo-availability]}"#);
    kafka.create_topic(d.topic(), 2);
    // Before the month: 1 ms, a minute and an hour before its start, all bad. During it: 20
    // events spread between its start and now, every fifth bad.
    let mut events: Vec<(i64, bool)> = [1, 60_000, 3_600_000].map(|before| (start - before, false)).to_vec();
    let during: Vec<(i64, bool)> = (0..20).map(|i| (start + (t0 - 5_000 - start) * i / 19, i % 5 != 0)).collect();
    events.extend(&during);
    let payloads: Vec<Vec<u8>> = events.iter().map(|&(ts, good)| geo_outcome(ts, good)).collect();
    kafka.produce(d.topic(), 2, &payloads);

    let mut app = InProcess::start(&d);
    app.wait_ready(Duration::from_secs(60));
    let (m, _) = app.wait_consumed(payloads.len() as u64, Duration::from_secs(60));
    let get = |name: &str, labels: &[(&str, &str)]| m.get(name, labels).unwrap_or_else(|| panic!("{name} {labels:?}"));
    let month = [(label::SLO, "monthly"), (label::WINDOW, "month")];
    let good = during.iter().filter(|(_, g)| *g).count() as f64;
    assert_eq!(get(names::SLO_EVENTS.name, &month), during.len() as f64);
    assert_eq!(get(names::SLO_GOOD_EVENTS.name, &month), good);
    assert_eq!(get(names::SLO_PERIOD_START.name, &[(label::SLO, "monthly")]), start as f64 / 1000.0);
    assert_eq!(get(names::SLO_PERIOD_END.name, &[(label::SLO, "monthly")]), end as f64 / 1000.0);
    let info = [(label::SLO, "monthly"), (label::PERIOD, "month"), (label::COMBINE, "pooled")];
    assert_eq!(get(names::SLO_INFO.name, &info), 1.0);
    // The definition's revision, as the config computes it.
    let config = slostream::config::Config::from_yaml(&d.render(crate::harness::free_port()), "calendar.yaml").unwrap();
    let revision = format!("{:016x}", config.slos.iter().find(|s| s.name == "monthly").unwrap().revision);
    assert_eq!(get(names::SLO_REVISION_INFO.name, &[(label::SLO, "monthly"), (label::REVISION, &revision)]), 1.0);
    let budget = 1.0 - (1.0 - good / during.len() as f64) / 0.01;
    let remaining = get(names::SLO_BUDGET_REMAINING.name, &[(label::SLO, "monthly")]);
    assert!((remaining - budget).abs() < 1e-9, "{remaining} != {budget}");
    let hours = (end - start) as f64 / 3_600_000.0;
    for (severity, long, short, share) in [
        ("page", "1h", "5m", 2.0),
        ("page", "6h", "30m", 5.0),
        ("ticket", "1d", "2h", 10.0),
        ("ticket", "3d", "6h", 10.0),
    ] {
        let long_hours =
            [("1h", 1.0), ("6h", 6.0), ("1d", 24.0), ("3d", 72.0)].iter().find(|(w, _)| *w == long).unwrap().1;
        let labels = [
            (label::SLO, "monthly"),
            (label::SEVERITY, severity),
            (label::LONG_WINDOW, long),
            (label::SHORT_WINDOW, short),
        ];
        let want = share / 100.0 * hours / long_hours;
        let got = get(names::SLO_ALERT_THRESHOLD.name, &labels);
        assert!((got - want).abs() < 1e-9 * want, "{long}/{short}: {got} != {want}");
    }
    // The events before the month still count in a rolling window spanning them.
    let rolling = [(label::SLO, "rolling"), (label::WINDOW, "40d")];
    assert_eq!(get(names::SLO_EVENTS.name, &rolling), events.len() as f64);
    assert_eq!(get(names::SLO_GOOD_EVENTS.name, &rolling), good);
    app.stop();
}
