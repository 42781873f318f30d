//! Every name slostream exports, defined once: metric families with their help text and type,
//! label names, and the alert name.
//!
//! Names and labels are a contract with dashboards, alert rules and Sloth's dashboards: change
//! none, add freely. Telemetry registers from these constants, `slostream rules` and the Sloth
//! mapping query and emit them, and the benches and tests look series up through them, so a
//! typo is a compile error rather than a panel that silently shows nothing. A test checks that
//! every metric a Grafana dashboard or a generated rule queries is listed in [`ALL`] (or is
//! Sloth's per-window error ratio, [`is_exported`]).

/// The Prometheus metric type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A total that only goes up (reset only by a restart without state).
    Counter,
}

impl Kind {
    /// The word Prometheus' `# TYPE` line uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One exported metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// The family name, as queried.
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// The `# TYPE`.
    pub kind: Kind,
}

const fn gauge(name: &'static str, help: &'static str) -> Metric {
    Metric { name, help, kind: Kind::Gauge }
}

const fn counter(name: &'static str, help: &'static str) -> Metric {
    Metric { name, help, kind: Kind::Counter }
}

// The per-SLO and per-SLI families, rendered in the order of `SLO_SERIES`.

/// `{slo}`: the objective as a ratio.
pub const SLO_OBJECTIVE: Metric = gauge("slostream_slo_objective_ratio", "SLO objective as a ratio (99.9% is 0.999)");
/// `{slo, period, combine}`: an SLO's definition.
pub const SLO_INFO: Metric =
    gauge("slostream_slo_info", "SLO definition: period (the window label of its period), combine method; always 1");
/// `{slo, revision}`: the fingerprint of the SLO's definition, for an annotation at each edit.
pub const SLO_REVISION_INFO: Metric = gauge(
    "slostream_slo_revision_info",
    "The SLO definition's revision (a fingerprint that changes with every edit of what it measures or alerts on); always 1",
);
/// `{slo, sli, weight}`: which SLIs an SLO combines.
pub const SLO_SLI_INFO: Metric =
    gauge("slostream_slo_sli_info", "Which SLIs an SLO combines, with their weight; always 1");
/// `{slo, severity, long_window, short_window}`: a multiwindow rule's burn-rate factor (for a
/// calendar period, over the current period's length).
pub const SLO_ALERT_THRESHOLD: Metric = gauge(
    "slostream_slo_alert_threshold",
    "Burn-rate factor above which both windows of a multiwindow alert must burn (over the current period)",
);
/// `{slo}`: when the current period began.
pub const SLO_PERIOD_START: Metric = gauge(
    "slostream_slo_period_start_timestamp_seconds",
    "Start of the SLO's current period: a calendar period's first instant, or now minus a rolling period",
);
/// `{slo}`: when the current period ends.
pub const SLO_PERIOD_END: Metric = gauge(
    "slostream_slo_period_end_timestamp_seconds",
    "End of the SLO's current period: the next calendar period's first instant, or now for a rolling period",
);
/// `{slo, window}`: the combined SLI ratio.
pub const SLO_SLI_RATIO: Metric =
    gauge("slostream_slo_sli_ratio", "Combined SLI ratio of the SLO over the window (1 when there were no events)");
/// `{slo, window}`: events of all the SLO's SLIs.
pub const SLO_EVENTS: Metric = gauge("slostream_slo_events", "Events of all the SLO's SLIs over the window");
/// `{slo, window}`: good events of all the SLO's SLIs.
pub const SLO_GOOD_EVENTS: Metric =
    gauge("slostream_slo_good_events", "Good events of all the SLO's SLIs over the window");
/// `{slo, window}`: the error budget burn rate.
pub const SLO_BURN_RATE: Metric =
    gauge("slostream_slo_burn_rate", "Error budget burn rate over the window: (1 - ratio) / (1 - objective)");
/// `{slo}`: the share of the period's budget left.
pub const SLO_BUDGET_REMAINING: Metric = gauge(
    "slostream_slo_error_budget_remaining_ratio",
    "Share of the period's error budget left; negative once overspent",
);
/// `{slo, sli, window}`: the part of the SLO's burn rate one component caused.
pub const SLO_BURN_CONTRIBUTION: Metric = gauge(
    "slostream_slo_burn_contribution",
    "Part of the SLO's burn rate over the window caused by this SLI; an SLO's parts add up to its burn rate",
);
/// `{slo, window}`: a time-slice SLO's counted slices.
pub const SLO_SLICES: Metric = gauge(
    "slostream_slo_slices",
    "Closed time slices of a time-slice SLO counted over the window (sparse slices skipped with sparse: skip are not)",
);
/// `{slo, window}`: a time-slice SLO's good slices.
pub const SLO_GOOD_SLICES: Metric = gauge(
    "slostream_slo_good_slices",
    "Good time slices over the window (ratio_timeslices: the sum of the slices' ratios); good / slices is the SLI ratio",
);
/// `{slo}`: events that came after their slice was judged.
pub const SLICE_LATE_EVENTS: Metric = counter(
    "slostream_slice_late_events_total",
    "Events of a time-slice SLO's SLIs that arrived after their slice was judged for good: counted in the event windows, no slice verdict changed",
);
/// `{slo, state}`: 1 for the budget's current state, 0 for the others.
pub const SLO_BUDGET_STATE: Metric = gauge(
    "slostream_slo_budget_state",
    "Error budget state: 1 for the current one of healthy, at_risk, exhausted, no_data; 0 for the others",
);
/// `{sli, window, <breakdown fields>}`: events of one value combination.
pub const SLI_BREAKDOWN_EVENTS: Metric = gauge(
    "slostream_sli_breakdown_events",
    "Events of the SLI over the window with these values of its breakdown fields (__other__: every untracked combination)",
);
/// `{sli, window, <breakdown fields>}`: good events of one value combination.
pub const SLI_BREAKDOWN_GOOD_EVENTS: Metric = gauge(
    "slostream_sli_breakdown_good_events",
    "Good events of the SLI over the window with these values of its breakdown fields",
);
/// `{slo, sli, window, <breakdown fields>}`: the part of a component's contribution one value
/// combination caused.
pub const SLO_BURN_CONTRIBUTION_BREAKDOWN: Metric = gauge(
    "slostream_slo_burn_contribution_breakdown",
    "Part of the SLO's burn rate over the window caused by the SLI's events with these field values; they add up to slostream_slo_burn_contribution",
);
/// `{slo, severity}`: whether a multiwindow alert fires.
pub const SLO_ALERT: Metric = gauge("slostream_slo_alert", "Multiwindow burn-rate alert state: 1 firing, 0 not");
/// `{sli}`: events of the SLI since start.
pub const SLI_EVENTS: Metric = counter("slostream_sli_events_total", "Events that belonged to the SLI since start");
/// `{sli}`: good events of the SLI since start.
pub const SLI_GOOD_EVENTS: Metric = counter("slostream_sli_good_events_total", "Good events of the SLI since start");
/// `{sli, quantile}`: latency quantiles over the last five minutes of event time.
pub const SLI_LATENCY: Metric = gauge(
    "slostream_sli_latency_seconds",
    "Latency quantiles of the SLI's events over the last 5 minutes of event time",
);

/// `{sli}`: share of a history rebuild read, 0 to 1 (1 when the SLI is not being rebuilt).
pub const SLI_REBUILD_PROGRESS: Metric = gauge(
    "slostream_sli_rebuild_progress_ratio",
    "Share of the SLI's history rebuild read from the topics, 1 when it is not being rebuilt",
);
/// `{slo}`: 1 while any of the SLO's SLIs is being rebuilt (its alerts are held meanwhile).
pub const SLO_REBUILDING: Metric = gauge(
    "slostream_slo_rebuilding",
    "1 while the history of any of the SLO's SLIs is being rebuilt (its alerts are held), else 0",
);
/// `{sli}`: event time from which a rebuilt SLI's windows hold every event (later than the
/// period's start when retention had deleted the rest).
pub const SLI_HISTORY_START: Metric = gauge(
    "slostream_sli_history_start_timestamp_seconds",
    "Event time from which a rebuilt SLI's history is complete (what the topics retained)",
);

/// The per-SLO and per-SLI families, in the order they are rendered.
pub const SLO_SERIES: [Metric; 27] = [
    SLO_OBJECTIVE,
    SLO_INFO,
    SLO_REVISION_INFO,
    SLO_SLI_INFO,
    SLO_ALERT_THRESHOLD,
    SLO_PERIOD_START,
    SLO_PERIOD_END,
    SLO_SLI_RATIO,
    SLO_EVENTS,
    SLO_GOOD_EVENTS,
    SLO_BURN_RATE,
    SLO_SLICES,
    SLO_GOOD_SLICES,
    SLICE_LATE_EVENTS,
    SLO_BURN_CONTRIBUTION,
    SLO_BURN_CONTRIBUTION_BREAKDOWN,
    SLO_BUDGET_REMAINING,
    SLO_BUDGET_STATE,
    SLO_ALERT,
    SLI_EVENTS,
    SLI_GOOD_EVENTS,
    SLI_LATENCY,
    SLI_BREAKDOWN_EVENTS,
    SLI_BREAKDOWN_GOOD_EVENTS,
    SLI_REBUILD_PROGRESS,
    SLO_REBUILDING,
    SLI_HISTORY_START,
];

// The process families.

/// Kafka messages consumed.
pub const EVENTS_CONSUMED: Metric = counter("slostream_events_consumed_total", "Kafka messages consumed");
/// `{reason}`: messages not counted.
pub const EVENTS_REJECTED: Metric = counter("slostream_events_rejected_total", "Messages not counted, by reason");
/// Valid events no SLI matched.
pub const EVENTS_UNMATCHED: Metric =
    counter("slostream_events_unmatched_total", "Valid events that belonged to no SLI");
/// `{topic, partition}`: consumer lag, once known.
pub const CONSUMER_LAG: Metric =
    gauge("slostream_consumer_lag", "High watermark minus consumer position, per partition");
/// `{version}`: always 1.
pub const BUILD_INFO: Metric = gauge("slostream_build_info", "Build information");
/// 1 once ready.
pub const STATE_READY: Metric =
    gauge("slostream_state_ready", "1 once partitions are assigned and state is loaded, else 0");
/// Checkpoints written.
pub const CHECKPOINTS: Metric = counter("slostream_checkpoints_total", "Checkpoints of counts and offsets written");
/// Checkpoints that failed.
pub const CHECKPOINT_FAILURES: Metric =
    counter("slostream_checkpoint_failures_total", "Checkpoints that could not be written or read back");
/// Seconds since the last checkpoint.
pub const CHECKPOINT_AGE: Metric =
    gauge("slostream_checkpoint_age_seconds", "Seconds since the last checkpoint was written");
/// `{topic, partition}`: events lost to retention before they were read.
pub const EVENTS_SKIPPED: Metric = counter(
    "slostream_events_skipped_total",
    "Events deleted by retention before slostream could read them, per partition",
);
/// Consumers recreated after a stall.
pub const CONSUMER_STALLS: Metric =
    counter("slostream_consumer_stalls_total", "Consumers recreated because they had lag but made no progress");
/// Rejects written to the dead-letter topic.
pub const DEAD_LETTERS: Metric =
    counter("slostream_dead_letters_total", "Rejected messages written to the dead-letter topic");
/// Alertmanager posts that failed.
pub const ALERTMANAGER_ERRORS: Metric =
    counter("slostream_alertmanager_errors_total", "Failed or timed-out posts of alerts to Alertmanager");
/// `{kind}`: errors librdkafka reported to slostream's Kafka clients.
pub const KAFKA_ERRORS: Metric = counter(
    "slostream_kafka_errors_total",
    "Errors reported by the Kafka clients (broker down, authentication, partition errors), by kind",
);

/// `{sli}`: times an SLI's restored counts were discarded because its definition changed.
pub const SLI_STATE_RESETS: Metric = counter(
    "slostream_sli_state_resets_total",
    "Restored SLI state discarded because the SLI's definition changed since the checkpoint",
);

/// `{field}`: events in which a tested field held a value of the wrong kind.
pub const FIELD_TYPE_MISMATCHES: Metric = counter(
    "slostream_field_type_mismatches_total",
    "Events whose field held a value of a kind no test on it compares with (those tests fail), by field",
);
/// Events counted without a latency.
pub const LATENCY_INVALID: Metric = counter(
    "slostream_latency_invalid_total",
    "Events counted without a latency because the latency field held no non-negative number",
);

/// `{maintenance}`: events left out of every SLI by a maintenance window.
pub const EVENTS_IN_MAINTENANCE: Metric = counter(
    "slostream_events_in_maintenance_total",
    "Valid events left out of every SLI because their time fell in this maintenance window and they matched it",
);
/// `{maintenance}`: 1 while a maintenance window is in force by the wall clock.
pub const MAINTENANCE_ACTIVE: Metric =
    gauge("slostream_maintenance_active", "1 while the maintenance window is in force (by the wall clock), else 0");

/// `{reason}`: delta records a merge member did not fold (`malformed`, `newer_format`,
/// `other_definitions`, `aborted_by_writer`, `already_counted`).
pub const DELTA_RECORDS_REFUSED: Metric = counter(
    "slostream_delta_records_refused_total",
    "Delta records a merge member refused to fold (damaged, of a newer format, counted under other SLI definitions, of a transaction its writer aborted, or covering input already counted), by reason",
);
/// 1 on the one merge member that pushes alerts to Alertmanager.
pub const ALERT_LEADER: Metric = gauge(
    "slostream_alert_leader",
    "1 on the merge member that pushes alerts to Alertmanager (the owner of <group_id>.merge-leader), else 0; 1 with --role all",
);

/// The process families, through the `metrics` recorder.
pub const PROCESS: [Metric; 21] = [
    EVENTS_CONSUMED,
    EVENTS_REJECTED,
    EVENTS_UNMATCHED,
    CONSUMER_LAG,
    BUILD_INFO,
    STATE_READY,
    CHECKPOINTS,
    CHECKPOINT_FAILURES,
    CHECKPOINT_AGE,
    EVENTS_SKIPPED,
    CONSUMER_STALLS,
    DEAD_LETTERS,
    ALERTMANAGER_ERRORS,
    KAFKA_ERRORS,
    SLI_STATE_RESETS,
    FIELD_TYPE_MISMATCHES,
    LATENCY_INVALID,
    EVENTS_IN_MAINTENANCE,
    MAINTENANCE_ACTIVE,
    DELTA_RECORDS_REFUSED,
    ALERT_LEADER,
];

// An ingest member's own families (`--role ingest`): it holds no windows, so it exports only
// these, [`KAFKA_ERRORS`] and [`BUILD_INFO`].

/// `{outcome}`: an ingest member's transactions, `committed` or `aborted`.
pub const INGEST_TRANSACTIONS: Metric = counter(
    "slostream_ingest_transactions_total",
    "Transactions of delta records, dead letters and input offsets an ingest member ended, by outcome (committed, aborted)",
);
/// Bytes of delta records an ingest member committed.
pub const INGEST_DELTA_BYTES: Metric =
    counter("slostream_ingest_delta_bytes_total", "Bytes of delta records an ingest member committed");
/// Input partitions the member's workers own now.
pub const INGEST_ASSIGNED_PARTITIONS: Metric =
    gauge("slostream_ingest_assigned_partitions", "Input partitions an ingest member's workers own now");
/// Times a worker left the group and joined again after a failed transaction or a lost assignment.
pub const INGEST_REJOINS: Metric = counter(
    "slostream_ingest_rejoins_total",
    "Times an ingest worker dropped its uncommitted counts and joined the group again (failed transaction, lost assignment, fenced)",
);
/// Times a worker dropped its uncommitted counts after an aborted transaction, or after finding
/// its last commit's offsets not applied, and read its partitions again from their committed
/// offsets.
pub const INGEST_REWINDS: Metric = counter(
    "slostream_ingest_rewinds_total",
    "Times an ingest worker's transaction was aborted, or its last commit's offsets were found not applied, and it read its partitions again from the committed offsets",
);
/// Input messages an ingest member read (committed or not yet).
pub const INGEST_MESSAGES: Metric = counter(
    "slostream_ingest_messages_total",
    "Input messages an ingest member read, including those not committed yet",
);

/// The ingest member's families.
pub const INGEST: [Metric; 6] = [
    INGEST_TRANSACTIONS,
    INGEST_DELTA_BYTES,
    INGEST_ASSIGNED_PARTITIONS,
    INGEST_REJOINS,
    INGEST_REWINDS,
    INGEST_MESSAGES,
];

// Sloth's recording-rule names (`exporter.compat: sloth`).

/// Prefix of Sloth's per-window error ratio, `slo:sli_error:ratio_rate<window>`.
pub const SLOTH_ERROR_RATIO_PREFIX: &str = "slo:sli_error:ratio_rate";
/// Sloth: the objective.
pub const SLOTH_OBJECTIVE: Metric = gauge("slo:objective:ratio", "Sloth: objective as a ratio");
/// Sloth: the error budget.
pub const SLOTH_ERROR_BUDGET: Metric = gauge("slo:error_budget:ratio", "Sloth: error budget as a ratio");
/// Sloth: the period in days.
pub const SLOTH_PERIOD_DAYS: Metric = gauge("slo:time_period:days", "Sloth: SLO period in days");
/// Sloth: the SLO's metadata.
pub const SLOTH_INFO: Metric = gauge("sloth_slo_info", "Sloth: SLO information; always 1");
/// Sloth: the 5-minute burn rate.
pub const SLOTH_CURRENT_BURN: Metric = gauge("slo:current_burn_rate:ratio", "Sloth: burn rate over 5 minutes");
/// Sloth: the period's burn rate.
pub const SLOTH_PERIOD_BURN: Metric = gauge("slo:period_burn_rate:ratio", "Sloth: burn rate over the SLO period");
/// Sloth: the period's budget left.
pub const SLOTH_BUDGET_REMAINING: Metric =
    gauge("slo:period_error_budget_remaining:ratio", "Sloth: error budget remaining over the SLO period");

/// Sloth's fixed-name families.
pub const SLOTH: [Metric; 7] = [
    SLOTH_OBJECTIVE,
    SLOTH_ERROR_BUDGET,
    SLOTH_PERIOD_DAYS,
    SLOTH_INFO,
    SLOTH_CURRENT_BURN,
    SLOTH_PERIOD_BURN,
    SLOTH_BUDGET_REMAINING,
];

/// Every fixed-name family slostream exports.
pub const ALL: [&[Metric]; 4] = [&SLO_SERIES, &PROCESS, &SLOTH, &INGEST];

/// Whether slostream exports a family of this name: a fixed one, or Sloth's error ratio over
/// some window.
pub fn is_exported(name: &str) -> bool {
    ALL.iter().flat_map(|m| m.iter()).any(|m| m.name == name)
        || name.strip_prefix(SLOTH_ERROR_RATIO_PREFIX).is_some_and(|w| !w.is_empty())
}

/// Label names.
pub mod label {
    /// The SLO's name.
    pub const SLO: &str = "slo";
    /// The SLI's name.
    pub const SLI: &str = "sli";
    /// A window's label as configured (`5m`, `30d`).
    pub const WINDOW: &str = "window";
    /// The SLO period's window label.
    pub const PERIOD: &str = "period";
    /// The combine method.
    pub const COMBINE: &str = "combine";
    /// A component's weight.
    pub const WEIGHT: &str = "weight";
    /// An SLO definition's fingerprint, 16 hex digits.
    pub const REVISION: &str = "revision";
    /// `page` or `ticket`.
    pub const SEVERITY: &str = "severity";
    /// A multiwindow rule's long window.
    pub const LONG_WINDOW: &str = "long_window";
    /// A multiwindow rule's short window.
    pub const SHORT_WINDOW: &str = "short_window";
    /// A latency quantile (`0.99`).
    pub const QUANTILE: &str = "quantile";
    /// A reject reason.
    pub const REASON: &str = "reason";
    /// A Kafka topic.
    pub const TOPIC: &str = "topic";
    /// A Kafka partition number.
    pub const PARTITION: &str = "partition";
    /// The build's version.
    pub const VERSION: &str = "version";
    /// A Kafka error kind.
    pub const KIND: &str = "kind";
    /// A budget state.
    pub const STATE: &str = "state";
    /// An event field a condition tests (its dotted path).
    pub const FIELD: &str = "field";
    /// A maintenance window's name.
    pub const MAINTENANCE: &str = "maintenance";
    /// How a transaction ended.
    pub const OUTCOME: &str = "outcome";

    /// Every label slostream sets, plus those Prometheus sets on a scrape or reserves: a
    /// breakdown field may not be named like one.
    pub const RESERVED: &[&str] = &[
        SLO,
        SLI,
        WINDOW,
        PERIOD,
        COMBINE,
        WEIGHT,
        SEVERITY,
        LONG_WINDOW,
        SHORT_WINDOW,
        QUANTILE,
        REASON,
        TOPIC,
        PARTITION,
        VERSION,
        KIND,
        ALERTNAME,
        STATE,
        FIELD,
        MAINTENANCE,
        OUTCOME,
        "job",
        "instance",
        "le",
    ];
    /// Prometheus' and Alertmanager's alert name label.
    pub const ALERTNAME: &str = "alertname";
}

/// The alert name of every SLO burn-rate alert, pushed or generated as a rule.
pub const ALERT_NAME: &str = "SLOBurnRateHigh";

/// Latency quantiles exported per SLI, with their `quantile` label values.
pub const QUANTILES: [(f64, &str); 4] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99"), (0.999, "0.999")];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_counters_end_in_total() {
        let all: Vec<&Metric> = ALL.iter().flat_map(|m| m.iter()).collect();
        for (i, m) in all.iter().enumerate() {
            assert!(all[..i].iter().all(|o| o.name != m.name), "{} declared twice", m.name);
            assert_eq!(m.kind == Kind::Counter, m.name.ends_with("_total"), "{}", m.name);
        }
    }
}
