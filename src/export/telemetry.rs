//! Every series slostream exports, declared once with its help text, registered once at start.
//!
//! Names and labels are a contract with dashboards and alert rules: change none, add freely.
//! Values are set from the tally once per tick through held handles; nothing here is called per
//! event. The per-SLO and per-SLI series (tens per SLO, hundreds of thousands for 10,000 SLOs)
//! go through [`Exposition`], whose render copies precomputed line prefixes; the small fixed set
//! of process series goes through the `metrics` recorder.

use std::collections::HashMap;
use std::sync::Arc;

use metrics::{Counter, Gauge, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use super::exposition::{Exposition, FamilyId, Handle, Kind};
use super::sloth::SlothHandles;
use super::Merged;
use crate::config::{Config, Severity};
use crate::decode::Reject;
use crate::slo::{self, SloStatus};
use crate::state::Counters;

const REJECT_SUMMARY_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

pub const QUANTILES: [(f64, &str); 4] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99"), (0.999, "0.999")];

/// The per-SLO and per-SLI families, in the order they are rendered.
const SERIES_HELP: [(&str, &str, Kind); 13] = [
    ("slostream_slo_objective_ratio", "SLO objective as a ratio (99.9% is 0.999)", Kind::Gauge),
    (
        "slostream_slo_info",
        "SLO definition: period (the window label of its period), combine method; always 1",
        Kind::Gauge,
    ),
    ("slostream_slo_sli_info", "Which SLIs an SLO combines, with their weight; always 1", Kind::Gauge),
    (
        "slostream_slo_alert_threshold",
        "Burn-rate factor above which both windows of a multiwindow alert must burn",
        Kind::Gauge,
    ),
    (
        "slostream_slo_sli_ratio",
        "Combined SLI ratio of the SLO over the window (1 when there were no events)",
        Kind::Gauge,
    ),
    ("slostream_slo_events", "Events of all the SLO's SLIs over the window", Kind::Gauge),
    ("slostream_slo_good_events", "Good events of all the SLO's SLIs over the window", Kind::Gauge),
    ("slostream_slo_burn_rate", "Error budget burn rate over the window: (1 - ratio) / (1 - objective)", Kind::Gauge),
    (
        "slostream_slo_error_budget_remaining_ratio",
        "Share of the period's error budget left; negative once overspent",
        Kind::Gauge,
    ),
    ("slostream_slo_alert", "Multiwindow burn-rate alert state: 1 firing, 0 not", Kind::Gauge),
    ("slostream_sli_events_total", "Events that belonged to the SLI since start", Kind::Counter),
    ("slostream_sli_good_events_total", "Good events of the SLI since start", Kind::Counter),
    (
        "slostream_sli_latency_seconds",
        "Latency quantiles of the SLI's events over the last 5 minutes of event time",
        Kind::Gauge,
    ),
];

/// The families of [`SERIES_HELP`].
struct Families {
    objective: FamilyId,
    info: FamilyId,
    sli_info: FamilyId,
    threshold: FamilyId,
    ratio: FamilyId,
    events: FamilyId,
    good: FamilyId,
    burn: FamilyId,
    budget: FamilyId,
    alert: FamilyId,
    sli_events: FamilyId,
    sli_good: FamilyId,
    latency: FamilyId,
}

impl Families {
    /// Registers every family up front, so each renders as one group in this order whenever
    /// its series are registered.
    fn register(series: &Exposition) -> Families {
        let [objective, info, sli_info, threshold, ratio, events, good, burn, budget, alert, sli_events, sli_good, latency] =
            SERIES_HELP.map(|(name, help, kind)| series.family(name, help, kind));
        Families {
            objective,
            info,
            sli_info,
            threshold,
            ratio,
            events,
            good,
            burn,
            budget,
            alert,
            sli_events,
            sli_good,
            latency,
        }
    }
}

/// The process series, through the `metrics` recorder.
const HELP: &[(&str, &str)] = &[
    ("slostream_events_consumed_total", "Kafka messages consumed"),
    ("slostream_events_rejected_total", "Messages not counted, by reason"),
    ("slostream_events_unmatched_total", "Valid events that belonged to no SLI"),
    ("slostream_consumer_lag", "High watermark minus consumer position, per partition"),
    ("slostream_build_info", "Build information"),
    ("slostream_state_ready", "1 once partitions are assigned and state is loaded, else 0"),
    ("slostream_checkpoints_total", "Checkpoints of counts and offsets written"),
    ("slostream_checkpoint_failures_total", "Checkpoints that could not be written or read back"),
    ("slostream_checkpoint_age_seconds", "Seconds since the last checkpoint was written"),
    ("slostream_events_skipped_total", "Events deleted by retention before slostream could read them, per partition"),
    ("slostream_consumer_stalls_total", "Consumers recreated because they had lag but made no progress"),
    ("slostream_dead_letters_total", "Rejected messages written to the dead-letter topic"),
    ("slostream_alertmanager_errors_total", "Failed or timed-out posts of alerts to Alertmanager"),
];

struct WindowHandles {
    ratio: Handle,
    events: Handle,
    good: Handle,
    burn: Handle,
}

struct SloHandles {
    budget: Handle,
    alerts: [Handle; 2],
    windows: Vec<WindowHandles>,
    sloth: Option<SlothHandles>,
}

struct SliHandles {
    events: Handle,
    good: Handle,
    latency: Option<[Handle; 4]>,
}

/// What `/metrics` renders: the recorder's process series, then the SLO and SLI series.
#[derive(Clone)]
pub struct MetricsHandle {
    prometheus: PrometheusHandle,
    series: Arc<Exposition>,
}

impl MetricsHandle {
    pub fn render(&self) -> String {
        let mut out = self.prometheus.render();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        self.series.render_into(&mut out);
        out
    }
}

pub struct Telemetry {
    recorder: PrometheusRecorder,
    series: Arc<Exposition>,
    families: Families,
    slos: Vec<SloHandles>,
    slis: Vec<SliHandles>,
    consumed: Counter,
    rejected: [Counter; Reject::COUNT],
    unmatched: Counter,
    ready: Gauge,
    lag: HashMap<(String, i32), Gauge>,
    checkpoints: Counter,
    checkpoint_failures: Counter,
    checkpoint_age: Gauge,
    last_checkpoint_ms: Option<i64>,
    stalls: Counter,
    dead_letters: Counter,
    /// Rejections as of the last summary line, and when it was logged.
    /// (`None` until the first tick, so restored counts are not reported as new.)
    reject_log: Option<([u64; Reject::COUNT], std::time::Instant)>,
    /// Last status per SLO, for logs and callers that want more than gauges.
    pub status: Vec<SloStatus>,
    /// Where each tick's evaluation goes for real-time alerting (when Alertmanager is set).
    pub alerts: Option<tokio::sync::watch::Sender<Vec<SloStatus>>>,
}

pub(super) static META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl Telemetry {
    pub fn new(config: &Config) -> Telemetry {
        let recorder = PrometheusBuilder::new().build_recorder();
        for (name, help) in HELP {
            if name.ends_with("_total") {
                recorder.describe_counter(KeyName::from(*name), None, SharedString::from(*help));
            } else {
                recorder.describe_gauge(KeyName::from(*name), None, SharedString::from(*help));
            }
        }
        let gauge =
            |name: &'static str, labels: Vec<Label>| recorder.register_gauge(&Key::from_parts(name, labels), &META);
        let counter =
            |name: &'static str, labels: Vec<Label>| recorder.register_counter(&Key::from_parts(name, labels), &META);
        let series = Arc::new(Exposition::new());
        let families = Families::register(&series);
        let f = &families;
        // Definitions (not measurements) are exported from the start: dashboards join on them.
        for s in &config.slos {
            let slo = s.name.as_str();
            series.series(f.objective, &[("slo", slo)]).set(s.objective);
            series
                .series(f.info, &[("slo", slo), ("period", &s.period.label), ("combine", s.combine.as_str())])
                .set(1.0);
            for c in &s.components {
                let weight = c.weight.to_string();
                series
                    .series(f.sli_info, &[("slo", slo), ("sli", &config.slis[c.sli].name), ("weight", &weight)])
                    .set(1.0);
            }
            for a in &s.alerts {
                let labels = [
                    ("slo", slo),
                    ("severity", a.severity.as_str()),
                    ("long_window", &a.long.label),
                    ("short_window", &a.short.label),
                ];
                series.series(f.threshold, &labels).set(a.factor);
            }
        }
        let slis = config
            .slis
            .iter()
            .map(|s| SliHandles {
                events: series.series(f.sli_events, &[("sli", &s.name)]),
                good: series.series(f.sli_good, &[("sli", &s.name)]),
                latency: None,
            })
            .collect();
        gauge("slostream_build_info", vec![Label::new("version", env!("CARGO_PKG_VERSION"))]).set(1.0);
        Telemetry {
            consumed: counter("slostream_events_consumed_total", vec![]),
            rejected: Reject::ALL
                .map(|r| counter("slostream_events_rejected_total", vec![Label::new("reason", r.as_str())])),
            unmatched: counter("slostream_events_unmatched_total", vec![]),
            ready: gauge("slostream_state_ready", vec![]),
            checkpoints: counter("slostream_checkpoints_total", vec![]),
            checkpoint_failures: counter("slostream_checkpoint_failures_total", vec![]),
            checkpoint_age: gauge("slostream_checkpoint_age_seconds", vec![]),
            last_checkpoint_ms: None,
            stalls: counter("slostream_consumer_stalls_total", vec![]),
            dead_letters: counter("slostream_dead_letters_total", vec![]),
            reject_log: None,
            slos: Vec::new(),
            slis,
            lag: HashMap::new(),
            status: Vec::new(),
            alerts: None,
            recorder,
            series,
            families,
        }
    }

    /// Logs rejected events as one summary line per minute at most, with counts per reason and
    /// never a payload: bad input must not flood the log.
    fn summarise_rejects(&mut self, rejected: &[u64; Reject::COUNT]) {
        let (last, at) = self.reject_log.get_or_insert((*rejected, std::time::Instant::now()));
        if at.elapsed() < REJECT_SUMMARY_EVERY || rejected == last {
            return;
        }
        let delta: Vec<String> = Reject::ALL
            .iter()
            .filter(|r| rejected[r.index()] > last[r.index()])
            .map(|r| format!("{}={}", r.as_str(), rejected[r.index()] - last[r.index()]))
            .collect();
        tracing::warn!(since_secs = at.elapsed().as_secs(), rejected = %delta.join(" "), "events rejected");
        *last = *rejected;
        *at = std::time::Instant::now();
    }

    /// The counter the Alertmanager client increments.
    pub fn alertmanager_errors(&self) -> Counter {
        self.recorder.register_counter(&Key::from_name("slostream_alertmanager_errors_total"), &META)
    }

    /// Sets the totals restored from a checkpoint, before `/metrics` first answers: a counter
    /// rendered at 0 until the first tick would look like a reset to Prometheus, and
    /// `rate()`/`increase()` would count the whole restored total as new.
    pub fn restored(&mut self, counters: &Counters) {
        self.set_counters(counters);
    }

    fn set_counters(&mut self, c: &Counters) {
        self.consumed.absolute(c.consumed);
        self.unmatched.absolute(c.unmatched);
        self.dead_letters.absolute(c.dead_letters);
        for (counter, v) in self.rejected.iter().zip(c.rejected) {
            counter.absolute(v);
        }
        for (h, t) in self.slis.iter().zip(&c.totals) {
            h.events.absolute(t.total);
            h.good.absolute(t.good);
        }
    }

    pub fn checkpoint_written(&mut self, created_ms: i64) {
        self.checkpoints.increment(1);
        self.last_checkpoint_ms = Some(created_ms);
    }

    pub fn checkpoint_failed(&mut self) {
        self.checkpoint_failures.increment(1);
    }

    pub fn events_skipped(&mut self, topic: &str, partition: i32, n: u64) {
        let labels = vec![Label::new("topic", topic.to_string()), Label::new("partition", partition.to_string())];
        self.recorder.register_counter(&Key::from_parts("slostream_events_skipped_total", labels), &META).increment(n);
    }

    /// SLO series are registered on the first ready tick, so none is rendered before.
    fn register_slos(&mut self, config: &Config) {
        let (series, f) = (&*self.series, &self.families);
        self.slos = config
            .slos
            .iter()
            .map(|s| {
                let slo = s.name.as_str();
                let windows = s
                    .windows
                    .iter()
                    .map(|w| {
                        let labels = [("slo", slo), ("window", w.label.as_str())];
                        WindowHandles {
                            ratio: series.series(f.ratio, &labels),
                            events: series.series(f.events, &labels),
                            good: series.series(f.good, &labels),
                            burn: series.series(f.burn, &labels),
                        }
                    })
                    .collect();
                SloHandles {
                    budget: series.series(f.budget, &[("slo", slo)]),
                    alerts: Severity::ALL
                        .map(|sev| series.series(f.alert, &[("slo", slo), ("severity", sev.as_str())])),
                    windows,
                    sloth: config.exporter.sloth_compat.then(|| SlothHandles::register(series, s)),
                }
            })
            .collect();
    }

    pub fn handle(&self) -> MetricsHandle {
        MetricsHandle { prometheus: self.recorder.handle(), series: self.series.clone() }
    }

    /// Publishes SLO series only once `ready`: a half-restored or unassigned instance exports
    /// no SLO values rather than zeros that would page someone.
    pub fn update(&mut self, config: &Config, merged: &Merged, ready: bool) {
        self.ready.set(if ready { 1.0 } else { 0.0 });
        self.stalls.absolute(merged.stalls);
        if let Some(at) = self.last_checkpoint_ms {
            self.checkpoint_age.set((crate::ingest::wall_ms() - at).max(0) as f64 / 1000.0);
        }
        self.set_counters(&merged.counters);
        self.summarise_rejects(&merged.counters.rejected);
        // A partition's lag series appears once its lag is known: a gauge created at 0 would
        // read "no lag" during a restart's catch-up, the worst moment.
        for p in &merged.partitions {
            let Some(lag) = p.lag else { continue };
            let key = (p.topic.clone(), p.partition);
            let gauge = self.lag.entry(key).or_insert_with(|| {
                self.recorder.register_gauge(
                    &Key::from_parts(
                        "slostream_consumer_lag",
                        vec![Label::new("topic", p.topic.clone()), Label::new("partition", p.partition.to_string())],
                    ),
                    &META,
                )
            });
            gauge.set(lag as f64);
        }
        for (sli, h) in self.slis.iter_mut().enumerate() {
            let Some(quantiles) = merged.latency[sli] else { continue };
            let gauges = h.latency.get_or_insert_with(|| {
                QUANTILES.map(|(_, q)| {
                    self.series.series(self.families.latency, &[("sli", &config.slis[sli].name), ("quantile", q)])
                })
            });
            for (g, v) in gauges.iter().zip(quantiles) {
                g.set(v as f64 / 1e6);
            }
        }
        if !ready {
            return;
        }
        if self.slos.is_empty() {
            self.register_slos(config);
        }
        self.status.clear();
        for (slo, h) in config.slos.iter().zip(&self.slos) {
            let status = slo::evaluate(slo, |sli, secs| merged.window(sli, config.window_index(secs)));
            for (w, wh) in status.windows.iter().zip(&h.windows) {
                wh.ratio.set(w.ratio);
                wh.events.set(w.counts.total as f64);
                wh.good.set(w.counts.good as f64);
                wh.burn.set(w.burn_rate);
            }
            h.budget.set(status.budget_remaining);
            if let Some(sloth) = &h.sloth {
                sloth.update(slo, &status);
            }
            for (g, firing) in h.alerts.iter().zip(status.alerts) {
                g.set(if firing { 1.0 } else { 0.0 });
            }
            self.status.push(status);
        }
        if let Some(alerts) = &self.alerts {
            alerts.send_replace(self.status.clone());
        }
    }
}
