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
use crate::harness::truth::{maintenance_windows, DAY, HOUR};
use crate::harness::{now_ms, Served};

const PARTITIONS: i32 = 4;

/// The bulk ages, plus a day and three hours: booking writes three hours old on two days.
fn ages() -> Vec<i64> {
    BULK_AGES.iter().copied().chain([DAY + 3 * HOUR]).collect()
}

#[test]
fn events_in_maintenance_are_left_out_of_every_sli_and_counted_across_a_restart() {
    let kafka = MockKafka::start();
    let t_ref = now_ms();
    let windows = maintenance_windows(t_ref);
    let d = deployment(&kafka, "maintenance").maintenance(&windows);
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
