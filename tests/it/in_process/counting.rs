//! Exact counts of the whole pipeline, in-process.
//!
//! The mixed event set ([`harness::mixed`](crate::harness::mixed): hand-made events with the
//! alert design, seeded bulk traffic, messages to reject for six reasons, out of order over 4
//! partitions) is produced to the mock cluster and consumed by `slostream::pipeline::run`; every
//! counter, every SLO window's counts/ratio/burn rate, budgets, objectives, alert states and
//! latency quantiles are then asserted exactly against the ground truth (floats within 1e-9
//! relative). The broker version ([`exact_counts`](crate::exact_counts)) keeps what only a real
//! broker and the real binary show.

use std::time::Duration;

use slostream::names::{self, label};

use crate::harness::mixed::{assert_alert_design, assert_search_latency_p50, MixedSet};
use crate::harness::mock::{InProcess, MockKafka};
use crate::harness::{now_ms, Check, Deployment, Served};

const PARTITIONS: i32 = 4;

#[test]
fn exact_counts_ratios_budgets_and_alerts_in_process() {
    let kafka = MockKafka::start();
    let d = Deployment::new("in-process").brokers(&kafka.bootstrap);
    kafka.create_topic(d.topic(), PARTITIONS);
    let set = MixedSet::new(now_ms());
    kafka.produce(d.topic(), PARTITIONS, &set.payloads);
    let t_produced = now_ms();

    let mut app = InProcess::start(&d);
    app.wait_ready(Duration::from_secs(60));
    let (m, t_scrape) = app.wait_consumed(set.total(), Duration::from_secs(60));
    eprintln!("[it] in process: consumed all {} after {:.1} s", set.total(), (t_scrape - t_produced) as f64 / 1000.0);
    set.assert_edge_safe(t_produced, t_scrape);

    let mut check = Check::new("exact counts, in process");
    set.check_counters(&mut check, &m);
    set.check_sli_totals(&mut check, &m);
    let alerts = set.check_slos(&mut check, &m, t_scrape);
    assert_alert_design(&alerts);
    set.check_latency_quantiles(&mut check, &m, t_scrape);
    assert_search_latency_p50(&m);
    check.exact(&m, names::BUILD_INFO.name, &[(label::VERSION, env!("CARGO_PKG_VERSION"))], 1.0);
    check.exact(&m, names::STATE_READY.name, &[], 1.0);
    check.finish();
    app.stop();
}
