//! An ingest member's `/metrics` (`--role ingest`): it holds no windows, so it exports its
//! transactions, the bytes of delta records it committed, the partitions it owns, its rewinds and
//! rejoins,
//! the messages it read, its Kafka errors and the build, never an SLO series. Dashboards that
//! sum a merge member's counters over instances therefore never count an ingest member twice.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

use super::MetricsHandle;
use crate::ingest::member::MemberStats;
use crate::ingest::{KafkaErrorKind, KafkaErrors};
use crate::names::{self, label, Kind};

static META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The member's series, set from [`MemberStats`] before each scrape is rendered.
pub struct MemberSeries {
    recorder: PrometheusRecorder,
    committed: Counter,
    aborted: Counter,
    delta_bytes: Counter,
    messages: Counter,
    rejoins: Counter,
    rewinds: Counter,
    partitions: Gauge,
    kafka_errors: [Counter; KafkaErrorKind::COUNT],
}

impl MemberSeries {
    /// Describes and registers every family.
    pub fn new() -> MemberSeries {
        let recorder = PrometheusBuilder::new().build_recorder();
        for m in names::INGEST.iter().chain([&names::KAFKA_ERRORS, &names::BUILD_INFO]) {
            let (name, help) = (KeyName::from(m.name), SharedString::from(m.help));
            match m.kind {
                Kind::Counter => recorder.describe_counter(name, None, help),
                Kind::Gauge => recorder.describe_gauge(name, None, help),
            }
        }
        let counter =
            |name: &'static str, labels: Vec<Label>| recorder.register_counter(&Key::from_parts(name, labels), &META);
        let outcome = |o: &'static str| vec![Label::new(label::OUTCOME, o)];
        recorder
            .register_gauge(
                &Key::from_parts(names::BUILD_INFO.name, vec![Label::new(label::VERSION, env!("CARGO_PKG_VERSION"))]),
                &META,
            )
            .set(1.0);
        MemberSeries {
            committed: counter(names::INGEST_TRANSACTIONS.name, outcome("committed")),
            aborted: counter(names::INGEST_TRANSACTIONS.name, outcome("aborted")),
            delta_bytes: counter(names::INGEST_DELTA_BYTES.name, vec![]),
            messages: counter(names::INGEST_MESSAGES.name, vec![]),
            rejoins: counter(names::INGEST_REJOINS.name, vec![]),
            rewinds: counter(names::INGEST_REWINDS.name, vec![]),
            partitions: recorder.register_gauge(&Key::from_name(names::INGEST_ASSIGNED_PARTITIONS.name), &META),
            kafka_errors: KafkaErrorKind::ALL
                .map(|k| counter(names::KAFKA_ERRORS.name, vec![Label::new(label::KIND, k.as_str())])),
            recorder,
        }
    }

    /// Sets every series from the workers' and clients' counts.
    pub fn set(&self, stats: &MemberStats, errors: &KafkaErrors) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        self.committed.absolute(get(&stats.committed));
        self.aborted.absolute(get(&stats.aborted));
        self.delta_bytes.absolute(get(&stats.delta_bytes));
        self.messages.absolute(get(&stats.messages));
        self.rejoins.absolute(get(&stats.rejoins));
        self.rewinds.absolute(get(&stats.rewinds));
        self.partitions.set(get(&stats.partitions) as f64);
        for (counter, kind) in self.kafka_errors.iter().zip(KafkaErrorKind::ALL) {
            counter.absolute(errors.count(kind));
        }
    }

    /// What `/metrics` renders.
    pub fn handle(&self) -> MetricsHandle {
        MetricsHandle { prometheus: self.recorder.handle(), series: None, page: None }
    }
}

impl Default for MemberSeries {
    fn default() -> Self {
        MemberSeries::new()
    }
}
