//! The evaluation tick, twice a second: snapshot → `slo::evaluate` → publish → alert hand-off;
//! and, a few SLOs at a time, the status page's burn-down series from the tally's hourly buckets;
//! and the period reports: periods that ended close (under the tally's lock, so the next
//! checkpoint holds the rows in the same cut as the counts), once every partition has caught up,
//! and every SLO's current period is published as a partial row.
//!
//! The one place SLOs are evaluated. Every SLO is evaluated at the same instant from one
//! snapshot, the exporter is handed the result to render, and the Alertmanager task gets the
//! same result through a watch channel (it only ever sees the latest, so a slow Alertmanager
//! never holds a tick back).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use super::reject_log::RejectLog;
use crate::config::Config;
use crate::count::{lock_tally, PartitionState, Snapshot, Tally, WorkerView};
use crate::export::Telemetry;
use crate::ingest::KafkaErrors;
use crate::report::Row;
use crate::slo::{self, SloStatus};

/// A partition at most this many messages behind has caught up: a period that ended is closed
/// only once every partition has, so that a restart after a stop across a period's end counts
/// the backlog of that period into its row before closing it.
const CAUGHT_UP_LAG: i64 = 1000;

/// A partition reports no lag until its consumer has fetched from it (its high watermark is
/// known) and has a position; one still without a lag this long after the first ready tick is
/// one with nothing to read, and is taken as caught up.
const NO_LAG_GRACE_MS: i64 = 30_000;

/// How often the current periods' partial rows are recomputed.
const PARTIALS_EVERY_MS: i64 = 2_000;

/// Whether every partition has caught up, `ready_for_ms` after the first ready tick (see
/// [`CAUGHT_UP_LAG`] and [`NO_LAG_GRACE_MS`]).
fn caught_up(partitions: &[PartitionState], ready_for_ms: i64) -> bool {
    partitions.iter().all(|p| match p.lag {
        Some(lag) => lag <= CAUGHT_UP_LAG,
        None => ready_for_ms >= NO_LAG_GRACE_MS,
    })
}

/// State kept from one tick to the next.
pub(crate) struct Tick {
    snapshot: Snapshot,
    statuses: Vec<SloStatus>,
    alerts: Option<watch::Sender<Vec<SloStatus>>>,
    rejects: RejectLog,
    /// Per partition, the events skipped while running already counted.
    skipped: HashMap<(String, i32), u64>,
    /// Every SLO's current report period, as of the last ready tick.
    partials: Vec<Option<Row>>,
    /// The reports' generation last published (`None`: never).
    reports_published: Option<u64>,
    /// When the first ready tick ran.
    ready_since: Option<i64>,
    /// When the partial rows were last computed.
    partials_at: Option<i64>,
}

impl Tick {
    /// `alerts`: where evaluations go when Alertmanager is configured.
    pub(crate) fn new(config: &Config, alerts: Option<watch::Sender<Vec<SloStatus>>>) -> Tick {
        Tick {
            snapshot: Snapshot::new(config),
            statuses: Vec::new(),
            alerts,
            rejects: RejectLog::default(),
            skipped: HashMap::new(),
            partials: Vec::new(),
            reports_published: None,
            ready_since: None,
            partials_at: None,
        }
    }

    /// One tick at `now_ms`; returns whether slostream is ready (every worker runs and
    /// partitions are assigned). SLOs are evaluated, published and handed to alerting only
    /// when it is.
    pub(crate) fn run<'a>(
        &mut self,
        config: &Config,
        tally: &Mutex<Tally>,
        views: impl IntoIterator<Item = &'a Mutex<WorkerView>>,
        kafka_errors: &KafkaErrors,
        telemetry: &mut Telemetry,
        now_ms: i64,
    ) -> bool {
        self.snapshot.read_tally(&lock_tally(tally), now_ms);
        self.snapshot.clear_views();
        for v in views {
            self.snapshot.add_view(&v.lock().unwrap_or_else(|e| e.into_inner()));
        }
        self.rejects.summarise(&self.snapshot.counters.rejected);
        for p in self.snapshot.partitions.iter().filter(|p| p.skipped > 0) {
            let seen = self.skipped.entry((p.topic.clone(), p.partition)).or_default();
            if p.skipped > *seen {
                telemetry.events_skipped(&p.topic, p.partition, p.skipped - *seen);
                *seen = p.skipped;
            }
        }
        let ready = self.snapshot.is_ready();
        if !ready {
            telemetry.publish(config, &self.snapshot, kafka_errors, None, now_ms);
            return false;
        }
        slo::evaluate_all(config, &self.snapshot, &mut self.statuses);
        hold_alerts_while_rebuilding(config, &self.snapshot, &mut self.statuses);
        telemetry.publish(config, &self.snapshot, kafka_errors, Some(&self.statuses), now_ms);
        telemetry.refresh_burn_downs(config, tally, &self.statuses, now_ms);
        self.reports(config, tally, telemetry, now_ms);
        if let Some(alerts) = &self.alerts {
            alerts.send_replace(self.statuses.clone());
        }
        true
    }

    /// Closes the report periods that ended (once caught up) and publishes every SLO's rows.
    fn reports(&mut self, config: &Config, tally: &Mutex<Tally>, telemetry: &mut Telemetry, now_ms: i64) {
        let ready_since = *self.ready_since.get_or_insert(now_ms);
        let caught_up = caught_up(&self.snapshot.partitions, now_ms - ready_since);
        let (closed, partials) = {
            let mut guard = lock_tally(tally);
            let t = &mut *guard;
            let closed = caught_up && t.reports.close_due(config, &t.store, &t.slices, now_ms);
            // The partial rows sum up to a quarter of hourly buckets per component under the
            // lock: every few seconds is fresh enough, and at once after a close.
            let due = closed || self.partials_at.is_none_or(|at| now_ms - at >= PARTIALS_EVERY_MS || now_ms < at);
            if due {
                t.reports.partials(config, &t.store, &t.slices, now_ms, &mut self.partials);
                self.partials_at = Some(now_ms);
            }
            let generation = t.reports.generation();
            let rows = (self.reports_published != Some(generation)).then(|| {
                self.reports_published = Some(generation);
                t.reports.slos.iter().map(|r| r.closed.iter().cloned().collect()).collect()
            });
            (rows, due)
        };
        if closed.is_some() || partials {
            telemetry.publish_reports(closed, &self.partials);
        }
    }
}

/// An SLO whose SLIs' history is still being rebuilt fires no alert: its long windows are only
/// partly filled, and a page from them would be wrong. Its ratios and burn rates are exported
/// as they stand (with `slostream_slo_rebuilding` 1).
fn hold_alerts_while_rebuilding(config: &Config, snapshot: &Snapshot, statuses: &mut [SloStatus]) {
    let Some(rebuild) = snapshot.rebuild.as_ref().filter(|r| !r.is_done()) else { return };
    for (slo, status) in config.slos.iter().zip(statuses) {
        if slo.components.iter().any(|c| rebuild.rebuilds(&config.slis[c.sli].name)) {
            status.alerts = [false; 2];
            status.fired.iter_mut().for_each(|f| *f = false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_close_only_once_every_partition_has_caught_up() {
        let p = |lag: Option<i64>| PartitionState { topic: "t".into(), partition: 0, lag, skipped: 0 };
        assert!(caught_up(&[p(Some(0)), p(Some(CAUGHT_UP_LAG))], 0));
        assert!(!caught_up(&[p(Some(0)), p(Some(CAUGHT_UP_LAG + 1))], NO_LAG_GRACE_MS), "a backlog holds the close");
        assert!(!caught_up(&[p(Some(0)), p(None)], NO_LAG_GRACE_MS - 1), "a lag not known yet holds it");
        assert!(caught_up(&[p(Some(0)), p(None)], NO_LAG_GRACE_MS), "a partition with nothing to read does not");
    }

    /// Both SLOs burn; a rebuild of search-latency holds search-a-ride's alerts only, and only
    /// until it is done.
    #[test]
    fn alerts_are_held_while_an_sli_of_the_slo_is_rebuilt() {
        use crate::state::rebuild::{Rebuild, RebuildPartition};
        let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
        const NOW: i64 = 1_795_694_400_000;
        let mut tally = Tally::new(&config, 1, None, Vec::new());
        for sli in 0..config.slis.len() {
            for i in 0..1000 {
                tally.store.record(sli, NOW - 60_000 + i, i % 2 == 0);
            }
        }
        let part = RebuildPartition { topic: "t".into(), partition: 0, start: 0, next: 1, end: 2 };
        tally.rebuild = Some(Rebuild { slis: vec!["search-latency".into()], partitions: vec![part] });
        let mut snapshot = Snapshot::new(&config);
        let mut statuses = Vec::new();
        let evaluate = |snapshot: &mut Snapshot, statuses: &mut Vec<SloStatus>, tally: &Tally| {
            snapshot.read_tally(tally, NOW);
            slo::evaluate_all(&config, snapshot, statuses);
            let burning: Vec<bool> = statuses.iter().map(|s| s.alerts[0] && s.fired.iter().any(|f| *f)).collect();
            hold_alerts_while_rebuilding(&config, snapshot, statuses);
            let held: Vec<bool> =
                statuses.iter().map(|s| !s.alerts.iter().any(|a| *a) && s.fired.iter().all(|f| !f)).collect();
            (burning, held)
        };
        let slo = |name: &str| config.slos.iter().position(|s| s.name == name).unwrap();
        let (burning, held) = evaluate(&mut snapshot, &mut statuses, &tally);
        assert_eq!(burning, [true, true], "both SLOs page before the hold");
        assert!(held[slo("search-a-ride")] && !held[slo("book-a-ride")]);
        tally.rebuild.as_mut().unwrap().partitions[0].next = 2;
        let (_, held) = evaluate(&mut snapshot, &mut statuses, &tally);
        assert_eq!(held, [false, false], "done: nothing held");
    }
}
