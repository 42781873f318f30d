//! The process series: the small, fixed set of counters and gauges about slostream itself
//! (consumed, rejected, lag, checkpoints, ...), through the `metrics` recorder.
//!
//! Names come from [`crate::names`]; labels only from fixed enums or the config, never from raw
//! error text. Values are set once per tick from the snapshot, never per event.

use std::collections::HashMap;

use metrics::{Counter, Gauge, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::config::{Config, Schedule};
use crate::count::{PartitionState, Snapshot};
use crate::decode::Reject;
use crate::ingest::{KafkaErrorKind, KafkaErrors};
use crate::names::{self, label, Kind, Metric};
use crate::state::delta_record::DeltaError;
use crate::state::Counters;

static META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Handles of every process series.
pub(crate) struct ProcessSeries {
    recorder: PrometheusRecorder,
    consumed: Counter,
    rejected: [Counter; Reject::COUNT],
    unmatched: Counter,
    latency_invalid: Counter,
    /// Per condition field, in [`crate::config::Config::condition_fields`] order.
    type_mismatches: Vec<Counter>,
    /// Per maintenance window, in config order: its events and whether it is in force.
    maintenance: Vec<(Counter, Gauge, Schedule)>,
    ready: Gauge,
    lag: HashMap<(String, i32), Gauge>,
    checkpoints: Counter,
    checkpoint_failures: Counter,
    checkpoint_age: Gauge,
    last_checkpoint_ms: Option<i64>,
    stalls: Counter,
    dead_letters: Counter,
    kafka_errors: [Counter; KafkaErrorKind::COUNT],
    /// A merge member's refused delta records, by reason.
    refused: [Counter; DeltaError::REASONS.len()],
    alert_leader: Gauge,
}

impl ProcessSeries {
    /// Describes every process family and registers the series that exist from the start.
    pub(crate) fn new(config: &Config) -> ProcessSeries {
        let recorder = PrometheusBuilder::new().build_recorder();
        for m in names::PROCESS {
            let (name, help) = (KeyName::from(m.name), SharedString::from(m.help));
            match m.kind {
                Kind::Counter => recorder.describe_counter(name, None, help),
                Kind::Gauge => recorder.describe_gauge(name, None, help),
            }
        }
        let counter =
            |m: Metric, labels: Vec<Label>| recorder.register_counter(&Key::from_parts(m.name, labels), &META);
        let gauge = |m: Metric| recorder.register_gauge(&Key::from_name(m.name), &META);
        recorder
            .register_gauge(
                &Key::from_parts(names::BUILD_INFO.name, vec![Label::new(label::VERSION, env!("CARGO_PKG_VERSION"))]),
                &META,
            )
            .set(1.0);
        ProcessSeries {
            consumed: counter(names::EVENTS_CONSUMED, vec![]),
            rejected: Reject::ALL.map(|r| counter(names::EVENTS_REJECTED, vec![Label::new(label::REASON, r.as_str())])),
            unmatched: counter(names::EVENTS_UNMATCHED, vec![]),
            latency_invalid: counter(names::LATENCY_INVALID, vec![]),
            type_mismatches: config
                .condition_fields()
                .into_iter()
                .map(|f| counter(names::FIELD_TYPE_MISMATCHES, vec![Label::new(label::FIELD, f.to_string())]))
                .collect(),
            maintenance: config
                .maintenance
                .iter()
                .map(|m| {
                    let labels = || vec![Label::new(label::MAINTENANCE, m.name.clone())];
                    let active =
                        recorder.register_gauge(&Key::from_parts(names::MAINTENANCE_ACTIVE.name, labels()), &META);
                    (counter(names::EVENTS_IN_MAINTENANCE, labels()), active, m.schedule)
                })
                .collect(),
            ready: gauge(names::STATE_READY),
            lag: HashMap::new(),
            checkpoints: counter(names::CHECKPOINTS, vec![]),
            checkpoint_failures: counter(names::CHECKPOINT_FAILURES, vec![]),
            checkpoint_age: gauge(names::CHECKPOINT_AGE),
            last_checkpoint_ms: None,
            stalls: counter(names::CONSUMER_STALLS, vec![]),
            dead_letters: counter(names::DEAD_LETTERS, vec![]),
            kafka_errors: KafkaErrorKind::ALL
                .map(|k| counter(names::KAFKA_ERRORS, vec![Label::new(label::KIND, k.as_str())])),
            refused: DeltaError::REASONS
                .map(|r| counter(names::DELTA_RECORDS_REFUSED, vec![Label::new(label::REASON, r)])),
            alert_leader: gauge(names::ALERT_LEADER),
            recorder,
        }
    }

    /// Renders the recorder's series.
    pub(crate) fn handle(&self) -> PrometheusHandle {
        self.recorder.handle()
    }

    /// The counter the Alertmanager client increments.
    pub(crate) fn alertmanager_errors(&self) -> Counter {
        self.recorder.register_counter(&Key::from_name(names::ALERTMANAGER_ERRORS.name), &META)
    }

    /// Sets the message counters (totals since the state began).
    pub(crate) fn set_counters(&mut self, c: &Counters) {
        self.consumed.absolute(c.consumed);
        self.unmatched.absolute(c.unmatched);
        self.dead_letters.absolute(c.dead_letters);
        self.latency_invalid.absolute(c.latency_invalid);
        for (counter, v) in self.rejected.iter().zip(c.rejected) {
            counter.absolute(v);
        }
        for (counter, v) in self.type_mismatches.iter().zip(&c.type_mismatches) {
            counter.absolute(*v);
        }
        for ((counter, _, _), v) in self.maintenance.iter().zip(&c.in_maintenance) {
            counter.absolute(*v);
        }
    }

    /// Whether this process pushes alerts (always with `--role all`; one merge member at a time).
    pub(crate) fn set_alert_leader(&self, leader: bool) {
        self.alert_leader.set(if leader { 1.0 } else { 0.0 });
    }

    /// Sets the Kafka client errors counted so far.
    pub(crate) fn set_kafka_errors(&mut self, errors: &KafkaErrors) {
        for (counter, kind) in self.kafka_errors.iter().zip(KafkaErrorKind::ALL) {
            counter.absolute(errors.count(kind));
        }
    }

    /// Readiness, stalls, lag, checkpoint age and maintenance in force as of `now_ms`.
    pub(crate) fn set_state(&mut self, snapshot: &Snapshot, ready: bool, now_ms: i64) {
        self.ready.set(if ready { 1.0 } else { 0.0 });
        for (_, active, schedule) in &self.maintenance {
            active.set(if schedule.contains(now_ms) { 1.0 } else { 0.0 });
        }
        self.stalls.absolute(snapshot.stalls);
        for (counter, n) in self.refused.iter().zip(snapshot.refused) {
            counter.absolute(n);
        }
        if let Some(at) = self.last_checkpoint_ms {
            self.checkpoint_age.set((now_ms - at).max(0) as f64 / 1000.0);
        }
        for p in &snapshot.partitions {
            self.set_lag(p);
        }
    }

    /// A partition's lag series appears once its lag is known: a gauge created at 0 would read
    /// "no lag" during a restart's catch-up, the worst moment.
    fn set_lag(&mut self, p: &PartitionState) {
        let Some(lag) = p.lag else { return };
        let recorder = &self.recorder;
        let gauge = self.lag.entry((p.topic.clone(), p.partition)).or_insert_with(|| {
            recorder.register_gauge(
                &Key::from_parts(names::CONSUMER_LAG.name, partition_labels(&p.topic, p.partition)),
                &META,
            )
        });
        gauge.set(lag as f64);
    }

    /// Counts a checkpoint written at `created_ms` (or restored: its age counts from then).
    pub(crate) fn checkpoint_written(&mut self, created_ms: i64) {
        self.checkpoints.increment(1);
        self.last_checkpoint_ms = Some(created_ms);
    }

    /// Counts a checkpoint that could not be written or read back.
    pub(crate) fn checkpoint_failed(&mut self) {
        self.checkpoint_failures.increment(1);
    }

    /// Counts an SLI whose restored state was discarded (its definition changed).
    pub(crate) fn sli_state_reset(&mut self, sli: &str) {
        self.recorder
            .register_counter(
                &Key::from_parts(names::SLI_STATE_RESETS.name, vec![Label::new(label::SLI, sli.to_string())]),
                &META,
            )
            .increment(1);
    }

    /// Counts events retention deleted before they were read.
    pub(crate) fn events_skipped(&mut self, topic: &str, partition: i32, n: u64) {
        self.recorder
            .register_counter(&Key::from_parts(names::EVENTS_SKIPPED.name, partition_labels(topic, partition)), &META)
            .increment(n);
    }
}

fn partition_labels(topic: &str, partition: i32) -> Vec<Label> {
    vec![Label::new(label::TOPIC, topic.to_string()), Label::new(label::PARTITION, partition.to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each window's events since start, and whether it is in force at the tick's wall clock.
    #[test]
    fn maintenance_series_follow_the_counters_and_the_clock() {
        let yaml = format!(
            "{}maintenance:\n  - {{ name: db-upgrade, start: \"2026-12-03T22:00:00+01:00\", duration: 2h, every: 1w }}\n  \
             - {{ name: \"network \\\"b\\\"\", start: \"2026-12-03T22:30:00+01:00\", duration: 1h }}\n",
            include_str!("../../config/example.yaml")
        );
        let config = Config::from_yaml(&yaml, "m.yaml").unwrap();
        let mut series = ProcessSeries::new(&config);
        let snapshot = Snapshot::new(&config);
        let mut counters = Counters::for_config(&config);
        counters.in_maintenance = vec![12, 3];
        series.set_counters(&counters);
        let at = |t: &str| crate::time::parse_rfc3339_ms(t).unwrap();
        let rendered = |series: &mut ProcessSeries, now: &str| {
            series.set_state(&snapshot, true, at(now));
            let text = series.handle().render();
            let value = |line: &str| {
                let found = text.lines().find(|l| l.starts_with(line)).unwrap_or_else(|| panic!("{line}:\n{text}"));
                found[line.len()..].trim().to_string()
            };
            [
                value(r#"slostream_events_in_maintenance_total{maintenance="db-upgrade"}"#),
                value(r#"slostream_events_in_maintenance_total{maintenance="network \"b\""}"#),
                value(r#"slostream_maintenance_active{maintenance="db-upgrade"}"#),
                value(r#"slostream_maintenance_active{maintenance="network \"b\""}"#),
            ]
        };
        assert_eq!(rendered(&mut series, "2026-12-03T20:59:59Z"), ["12", "3", "0", "0"]);
        assert_eq!(rendered(&mut series, "2026-12-03T21:30:00Z"), ["12", "3", "1", "1"]);
        assert_eq!(rendered(&mut series, "2026-12-03T22:30:00Z"), ["12", "3", "1", "0"]);
        assert_eq!(rendered(&mut series, "2026-12-03T23:00:00Z"), ["12", "3", "0", "0"]);
        assert_eq!(rendered(&mut series, "2026-12-10T22:59:59Z"), ["12", "3", "1", "0"]);
    }
}
