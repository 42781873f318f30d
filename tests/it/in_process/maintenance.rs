//! Maintenance windows, in-process: events a window claims are left out of every SLI and SLO
//! window and counted in `slostream_events_in_maintenance_total{maintenance}`, the first window
//! in config order taking an event two of them hold; `slostream_maintenance_active` follows the
//! clock. The ground truth lists each window's occurrences one by one
//! ([`Maintenance`](crate::harness::truth::Maintenance)); the counts survive a restart from the
//! checkpoint, and events produced meanwhile are claimed the same way.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{deployment, start_until_consumed};
use crate::harness::mock::{InProcess, MockKafka};
use crate::harness::stream::{produce_counted, stream, Expected, BULK_AGES, FRESH_AGES};
use crate::harness::truth::{Maintenance, DAY, HOUR, MIN};
use crate::harness::{now_ms, Served};

const PARTITIONS: i32 = 4;

/// The bulk ages, plus a day and three hours: booking writes three hours old on two days.
fn ages() -> Vec<i64> {
    BULK_AGES.iter().copied().chain([DAY + 3 * HOUR]).collect()
}

/// Three windows relative to `t_ref` (when the first events are stamped):
/// - `booking-writes`: booking POSTs, 10 minutes a day around three hours before `t_ref`, over
///   the last three weeks (it claims the 3 h and 1 d 3 h old ones);
/// - `everything`: every valid event of 4 minutes around 45 minutes before `t_ref`, once;
/// - `geo`: geo events from an hour before `t_ref` for a day: in force at every scrape, and it
///   loses the 45-minute-old geo events to `everything`, which comes first.
fn windows(t_ref: i64) -> Vec<Maintenance> {
    vec![
        Maintenance {
            name: "booking-writes",
            service: Some("booking"),
            method: Some("POST"),
            start: t_ref - 21 * DAY - 3 * HOUR - 5 * MIN,
            duration: 10 * MIN,
            every: DAY,
            count: 22,
        },
        Maintenance {
            name: "everything",
            service: None,
            method: None,
            start: t_ref - 47 * MIN,
            duration: 4 * MIN,
            every: 4 * MIN,
            count: 1,
        },
        Maintenance {
            name: "geo",
            service: Some("geo"),
            method: None,
            start: t_ref - HOUR,
            duration: DAY,
            every: DAY,
            count: 1,
        },
    ]
}

#[test]
fn events_in_maintenance_are_left_out_of_every_sli_and_counted_across_a_restart() {
    let kafka = MockKafka::start();
    let t_ref = now_ms();
    let windows = windows(t_ref);
    let d = deployment(&kafka, "maintenance").maintenance(&windows.iter().map(Maintenance::yaml).collect::<Vec<_>>());
    kafka.create_topic(d.topic(), PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0x3A17E);
    let mut expected = Expected::with_maintenance(&windows);
    let first = stream(&mut rng, 1500, t_ref, &ages(), 0.03);
    produce_counted(&kafka, d.topic(), PARTITIONS, &first, &mut expected);
    assert!(
        expected.in_maintenance.iter().all(|&n| n >= 10),
        "test data: every window claims events: {:?}",
        expected.in_maintenance
    );
    let (app, m, t_scrape) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    expected.assert_scrape("maintenance, first run", &m, t_scrape);
    app.stop();

    // More events while it is down, some fresh (claimed by `geo`), then a restart.
    let second = stream(&mut rng, 400, now_ms(), &FRESH_AGES, 0.03);
    produce_counted(&kafka, d.topic(), PARTITIONS, &second, &mut expected);
    let mut app = InProcess::start(&d);
    app.wait_ready(Duration::from_secs(60));
    let (m, t_scrape) = app.wait_consumed(expected.consumed, Duration::from_secs(60));
    expected.assert_scrape("maintenance, after a restart", &m, t_scrape);
    app.stop();
}
