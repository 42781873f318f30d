//! The YAML file as serde sees it: a mirror of the documented keys, unknown keys refused.
//! `validate` turns it into the typed [`super::Config`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub kafka: RawKafka,
    #[serde(default)]
    pub events: RawEvents,
    #[serde(default)]
    pub exporter: RawExporter,
    #[serde(default)]
    pub ingest: RawIngest,
    #[serde(default)]
    pub state: RawState,
    #[serde(default)]
    pub alertmanager: Option<RawAlertmanager>,
    #[serde(default)]
    pub status: RawStatus,
    #[serde(default)]
    pub reports: RawReports,
    pub slis: BTreeMap<String, RawSli>,
    pub slos: BTreeMap<String, RawSlo>,
    #[serde(default)]
    pub maintenance: Vec<RawMaintenance>,
    #[serde(default)]
    pub scale: RawScale,
}

/// `scale`: the members of a two-stage deployment (`--role ingest | merge`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScale {
    /// This member's stable name; default `--instance`, then `$HOSTNAME`.
    pub instance: Option<String>,
    /// Default 500ms.
    pub flush_interval: Option<String>,
    /// Default 10s.
    pub transaction_timeout: Option<String>,
    /// Default 16.
    pub deltas_partitions: Option<i64>,
    /// Default true.
    pub static_membership: Option<bool>,
}

/// One `maintenance:` entry: events it matches during its occurrences are left out of every SLI.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMaintenance {
    pub name: String,
    #[serde(rename = "match", default)]
    pub matches: Option<Value>,
    /// RFC 3339 with an offset.
    pub start: String,
    pub duration: String,
    #[serde(default)]
    pub every: Option<String>,
    /// RFC 3339 with an offset.
    #[serde(default)]
    pub until: Option<String>,
}

/// `status`: how budget states are judged (the status page and `slostream_slo_budget_state`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatus {
    /// Percent of the period's budget left under which an SLO is at risk; default 25.
    pub at_risk_below: Option<f64>,
}

/// `reports`: the period reports' zone (for rolling SLOs) and how many closed periods are kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReports {
    /// IANA zone of the calendar months rolling SLOs report by; default UTC.
    pub time_zone: Option<String>,
    /// Closed periods kept per SLO; default 24.
    pub keep: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKafka {
    pub brokers: String,
    pub topics: Vec<String>,
    pub group_id: String,
    /// Scalars of any YAML type: `fetch.wait.max.ms: 100` is as natural as a quoted string.
    #[serde(default)]
    pub properties: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvents {
    #[serde(default = "default_timestamp_field")]
    pub timestamp_field: String,
    #[serde(default = "default_latency_field")]
    pub latency_field: Option<String>,
    #[serde(default = "default_max_future")]
    pub max_future: String,
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
    #[serde(default)]
    pub dead_letter_topic: Option<String>,
}

impl Default for RawEvents {
    fn default() -> Self {
        RawEvents {
            timestamp_field: default_timestamp_field(),
            latency_field: default_latency_field(),
            max_future: default_max_future(),
            max_message_bytes: default_max_message_bytes(),
            dead_letter_topic: None,
        }
    }
}

fn default_timestamp_field() -> String {
    "timestamp".into()
}
fn default_latency_field() -> Option<String> {
    Some("latency_ms".into())
}
fn default_max_future() -> String {
    "1m".into()
}
fn default_max_message_bytes() -> u64 {
    1 << 20
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExporter {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `sloth`: also export Sloth's recording-rule names so its dashboards work unchanged.
    #[serde(default)]
    pub compat: Option<String>,
    /// Serve HTTPS instead of HTTP.
    #[serde(default)]
    pub tls: Option<RawTls>,
    /// Require a user and password on every path but `/health` and `/ready`.
    #[serde(default)]
    pub basic_auth: Option<RawBasicAuth>,
}

impl Default for RawExporter {
    fn default() -> Self {
        RawExporter { listen: default_listen(), compat: None, tls: None, basic_auth: None }
    }
}

/// `exporter.tls`; both paths may use `${NAME}` or `${file:/path}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: String,
    pub key_file: String,
}

/// `exporter.basic_auth`; both values may use `${NAME}` or `${file:/path}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    pub username: String,
    pub password_hash: String,
}

/// Never shows the hash, not even in a parse error's context.
impl std::fmt::Debug for RawBasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBasicAuth").field("username", &self.username).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanager {
    pub url: String,
    #[serde(default = "default_resend_interval")]
    pub resend_interval: String,
    #[serde(default = "default_alert_timeout")]
    pub timeout: String,
}

fn default_resend_interval() -> String {
    "1m".into()
}
fn default_alert_timeout() -> String {
    "5s".into()
}

fn default_listen() -> String {
    "127.0.0.1:9464".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIngest {
    /// Consumer threads; each owns a librdkafka client, its partitions and its counters.
    #[serde(default = "default_workers")]
    pub workers: usize,
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: String,
    /// A consumer with partitions and lag that reads nothing for this long is recreated.
    #[serde(default = "default_stall_timeout")]
    pub stall_timeout: String,
}

impl Default for RawIngest {
    fn default() -> Self {
        RawIngest {
            workers: default_workers(),
            shutdown_grace: default_shutdown_grace(),
            stall_timeout: default_stall_timeout(),
        }
    }
}

fn default_workers() -> usize {
    2
}
fn default_shutdown_grace() -> String {
    "20s".into()
}
fn default_stall_timeout() -> String {
    "60s".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// `None`: a directory of this consumer group's own under [`DEFAULT_STATE_ROOT`].
    #[serde(default)]
    pub dir: Option<String>,
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval: String,
}

impl Default for RawState {
    fn default() -> Self {
        RawState { dir: None, checkpoint_interval: default_checkpoint_interval() }
    }
}

/// Where state directories live when `state.dir` is not given: one per consumer group below it,
/// so two configs on one host never share (and restore) each other's checkpoints by accident.
pub const DEFAULT_STATE_ROOT: &str = "/var/lib/slostream";
fn default_checkpoint_interval() -> String {
    "5s".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSli {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "match", default)]
    pub matches: Option<Value>,
    pub good: Value,
    /// Event fields (up to three) whose values split the SLI's counts.
    #[serde(default)]
    pub breakdown: Option<Vec<String>>,
    /// Distinct value combinations tracked per SLI; default 50.
    #[serde(default)]
    pub max_values: Option<u64>,
    /// Windows the breakdown is exported for; default 1h, 1d and the periods of its SLOs.
    #[serde(default)]
    pub breakdown_windows: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlo {
    #[serde(default)]
    pub description: Option<String>,
    pub objective: f64,
    pub period: RawPeriod,
    #[serde(default)]
    pub combine: RawCombine,
    /// `occurrences` (the default) or `{method: timeslices | ratio_timeslices, slice, ...}`.
    #[serde(default)]
    pub budgeting: Option<RawBudgeting>,
    pub slis: Vec<RawSliRef>,
    #[serde(default)]
    pub alerts: Option<Vec<RawAlert>>,
    /// Added to the SLO's alerts (team, service, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub runbook_url: Option<String>,
    #[serde(default)]
    pub dashboard_url: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RawCombine {
    #[default]
    Pooled,
    Product,
    Weighted,
    Min,
}

/// `- search-availability` or `- { sli: booking-availability, weight: 3 }`.
#[derive(Debug)]
pub enum RawSliRef {
    Name(String),
    Weighted(RawWeighted),
}

/// By hand rather than `#[serde(untagged)]`, whose only error is "did not match any variant".
impl<'de> Deserialize<'de> for RawSliRef {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(de)? {
            Value::String(name) => Ok(RawSliRef::Name(name)),
            v @ Value::Mapping(_) => serde_yaml_ng::from_value(v).map(RawSliRef::Weighted).map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "found {} (expected an SLI name or {{ sli: NAME, weight: N }})",
                super::condition::describe(&other)
            ))),
        }
    }
}

/// `period: 30d` (rolling) or `period: {calendar: month, time_zone: "Europe/Paris"}`.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a duration (e.g. 30d) or {calendar: week | month | quarter, time_zone: ZONE}")]
pub enum RawPeriod {
    Rolling(String),
    Calendar(RawCalendar),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendar {
    pub calendar: String,
    pub time_zone: String,
}

/// `budgeting: occurrences` or `budgeting: {method: timeslices, slice: 1m, target: 95, ...}`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "occurrences or {method: timeslices | ratio_timeslices, slice, target, min_events, sparse}"
)]
pub enum RawBudgeting {
    Named(String),
    Slices(RawSlices),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlices {
    pub method: String,
    #[serde(default)]
    pub slice: Option<String>,
    /// Percent of good events that makes a slice good (`timeslices` only).
    #[serde(default)]
    pub target: Option<f64>,
    #[serde(default)]
    pub min_events: Option<u64>,
    #[serde(default)]
    pub sparse: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeighted {
    pub sli: String,
    #[serde(default)]
    pub weight: Option<f64>,
}

/// One multiwindow burn-rate condition: fires when both windows burn faster than the factor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlert {
    pub severity: String,
    pub long: String,
    pub short: String,
    #[serde(default)]
    pub factor: Option<f64>,
    /// Percent of the period's budget spent over the long window, as in the SRE Workbook.
    #[serde(default)]
    pub budget_share: Option<f64>,
}
