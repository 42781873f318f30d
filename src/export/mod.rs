//! Export: a snapshot and its SLO evaluation in, Prometheus text on `/metrics` out, plus `/ready`,
//! `/health`, and the status page and its JSON API (`page`); over TLS (`tls`) and behind Basic
//! authentication (`auth`) when configured.
//!
//! The exporter renders what the pipeline's tick gives it and owns no evaluation. Each tick
//! stores values through handles registered once (`process` for the fixed process series,
//! `slo_series` for the per-SLO and per-SLI ones); scrapes render the recorder's and the
//! exposition's series and never touch the tally, so `/metrics` answers under full ingest load.
//! Every name comes from [`crate::names`].

mod auth;
mod breakdown;
pub mod exposition;
pub mod http;
pub mod member;
mod page;
mod process;
mod slo_series;
mod sloth;
mod tls;

use std::sync::{Arc, Mutex};

use metrics::Counter;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::count::{Snapshot, Tally};
use crate::ingest::KafkaErrors;
use crate::slo::SloStatus;
use crate::state::Counters;
use exposition::Exposition;
use process::ProcessSeries;
use slo_series::SloSeries;

/// What the HTTP endpoints serve: `/metrics` renders the recorder's process series, then the
/// SLO and SLI series; the status page reads the tick's latest evaluation.
#[derive(Clone)]
pub struct MetricsHandle {
    prometheus: PrometheusHandle,
    /// The SLO series and the status page; an ingest member has neither.
    series: Option<Arc<Exposition>>,
    page: Option<page::StatusPage>,
}

impl MetricsHandle {
    /// The whole `/metrics` body.
    pub fn render(&self) -> String {
        let mut out = self.prometheus.render();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if let Some(series) = &self.series {
            series.render_into(&mut out);
        }
        out
    }

    /// The status page's and its API's routes (`/`, `/slo/{name}`, `/api/v1/slos...`).
    pub fn page_routes(&self) -> axum::Router {
        match &self.page {
            Some(page) => page::routes(page.clone()),
            None => axum::Router::new(),
        }
    }
}

/// Every series slostream exports, registered once at start and set once per tick.
pub struct Telemetry {
    process: ProcessSeries,
    slo: SloSeries,
    page: page::Publisher,
}

impl Telemetry {
    /// Registers every family and the SLO definitions of `config`.
    pub fn new(config: &Config) -> Telemetry {
        Telemetry {
            process: ProcessSeries::new(config),
            slo: SloSeries::new(config),
            page: page::Publisher::new(config),
        }
    }

    /// What the HTTP endpoint renders from.
    pub fn handle(&self) -> MetricsHandle {
        MetricsHandle {
            prometheus: self.process.handle(),
            series: Some(self.slo.exposition()),
            page: Some(self.page.page()),
        }
    }

    /// Whether this process pushes alerts (`slostream_alert_leader`).
    pub fn set_alert_leader(&self, leader: bool) {
        self.process.set_alert_leader(leader);
    }

    /// The counter the Alertmanager client increments.
    pub fn alertmanager_errors(&self) -> Counter {
        self.process.alertmanager_errors()
    }

    /// Sets the totals restored from a checkpoint, before `/metrics` first answers: a counter
    /// rendered at 0 until the first tick would look like a reset to Prometheus, and
    /// `rate()`/`increase()` would count the whole restored total as new.
    pub fn restored(&mut self, counters: &Counters, created_ms: i64) {
        self.set_counters(counters);
        self.process.checkpoint_written(created_ms);
    }

    fn set_counters(&mut self, counters: &Counters) {
        self.process.set_counters(counters);
        self.slo.set_totals(counters);
    }

    /// Counts a checkpoint written at `created_ms`.
    pub fn checkpoint_written(&mut self, created_ms: i64) {
        self.process.checkpoint_written(created_ms);
    }

    /// Counts a checkpoint that could not be written or read back.
    pub fn checkpoint_failed(&mut self) {
        self.process.checkpoint_failed();
    }

    /// Counts an SLI whose restored state was discarded because its definition changed.
    pub fn sli_state_reset(&mut self, sli: &str) {
        self.process.sli_state_reset(sli);
    }

    /// Counts events retention deleted from a partition before they were read.
    pub fn events_skipped(&mut self, topic: &str, partition: i32, n: u64) {
        self.process.events_skipped(topic, partition, n);
    }

    /// Publishes one tick at `now_ms`: the snapshot's counters, lag and latency, the Kafka
    /// errors, and, once ready, the SLO evaluation (to `/metrics` and the status page).
    /// `statuses` is `None` while not ready: a half-restored or unassigned instance exports no
    /// SLO values rather than zeros that would page someone.
    pub fn publish(
        &mut self,
        config: &Config,
        snapshot: &Snapshot,
        kafka_errors: &KafkaErrors,
        statuses: Option<&[SloStatus]>,
        now_ms: i64,
    ) {
        self.process.set_state(snapshot, statuses.is_some(), now_ms);
        self.set_counters(&snapshot.counters);
        self.process.set_kafka_errors(kafka_errors);
        self.slo.set_latency(config, snapshot);
        self.slo.set_rebuild(config, snapshot);
        if let Some(statuses) = statuses {
            self.slo.set_statuses(config, statuses);
            self.slo.set_slices(snapshot);
            self.slo.set_breakdowns(config, snapshot, statuses);
            self.page.publish(config, snapshot, statuses, now_ms);
        }
    }

    /// Publishes one ready tick's period reports to the status page and its API: every SLO's
    /// current period so far and, when given (some closed), every SLO's closed rows.
    pub fn publish_reports(
        &mut self,
        closed: Option<Vec<Vec<crate::report::Row>>>,
        partials: &[Option<crate::report::Row>],
    ) {
        self.page.publish_reports(closed, partials);
    }

    /// Recomputes the status page's burn-down series that are due (each once a minute, or
    /// sooner when it drifted from `statuses`; a few SLOs per call) from the tally's hourly
    /// buckets, taking its lock once per SLO. Called on ready ticks, after [`Telemetry::publish`].
    pub fn refresh_burn_downs(&mut self, config: &Config, tally: &Mutex<Tally>, statuses: &[SloStatus], now_ms: i64) {
        self.page.refresh_burn_downs(config, tally, statuses, now_ms);
    }
}
