//! The fast tier: the whole pipeline in-process (`slostream::pipeline::run`) against librdkafka's
//! mock cluster ([`harness::mock`](crate::harness::mock)); no Java, no broker, no process. Each
//! test has a mock cluster of its own, a ground truth computed independently and exact
//! assertions, like the broker tests; event counts stay in the hundreds to thousands.
//!
//! - [`counting`]: every counter, SLO window, budget, alert and latency quantile of the mixed
//!   event set, exactly.
//! - [`readiness`]: `/ready` 503, `slostream_state_ready` 0 and no SLO window series until the
//!   topic exists and its partitions are assigned; then ready, every window series, exact ratios.
//! - [`restart`]: a stop (the shutdown future) and a restart on the same state directory count
//!   exactly across both runs, with no SLO series before ready; the offsets committed at
//!   shutdown are what was counted, and a restart counts only new events.
//! - [`calendar`]: a monthly SLO in Paris counts only the events since its month began, with
//!   the month's start and end gauges and thresholds; earlier events still count in rolling
//!   windows.
//! - [`reports`]: a rolling SLO's monthly report rows on a shifted clock, through a 31-day
//!   month that outlasts its 30-day ring, a restart and the month's close, against ground truth.
//! - [`maintenance`]: events a maintenance window claims are in no SLI or SLO window, counted
//!   per window (the first in config order), across a restart; the windows' active gauges.
//! - [`rejects`]: poison pills each counted once under their reason; the dead-letter topic holds
//!   exactly the rejects, with their headers.
//!
//! What needs the real binary or a real broker (signals, exit codes, the log, SIGKILL, consumer
//! lag, retention, SASL, broker crashes) stays in the broker tests.

mod breakdown;
mod calendar;
mod counting;
mod maintenance;
mod readiness;
mod rejects;
mod reports;
mod restart;

use std::time::Duration;

use crate::harness::mock::{InProcess, MockKafka};
use crate::harness::stream::{self, Expected};
use crate::harness::{Deployment, Metrics, Served};

/// [`stream::deployment`] (the stream tests' config) reading from `kafka`.
fn deployment(kafka: &MockKafka, name: &str) -> Deployment {
    stream::deployment(name).brokers(&kafka.bootstrap)
}

/// Starts `d` in-process, waits for it to be ready (60 s) and to have consumed exactly what
/// `expected` counts (within `timeout`): the pipeline, that scrape and its time.
fn start_until_consumed(d: &Deployment, expected: &Expected, timeout: Duration) -> (InProcess, Metrics, i64) {
    let mut app = InProcess::start(d);
    app.wait_ready(Duration::from_secs(60));
    let (m, t_scrape) = app.wait_consumed(expected.consumed, timeout);
    (app, m, t_scrape)
}
