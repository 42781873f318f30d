//! Configuration: YAML in, a validated [`Config`] out.
//!
//! `raw` mirrors the file for serde (unknown keys refused), `condition` parses the matching
//! language, and `validate` checks every cross-reference and bound, section by section, with the
//! environment passed in. Every error names the file, the key path, the bad value and what was
//! expected; nothing starts on a bad config.

mod basic_auth;
pub mod budgeting;
pub mod calendar;
pub(crate) mod condition;
pub(crate) mod duration;
mod fingerprint;
mod maintenance;
mod raw;
pub mod scale;
pub mod secrets;
#[cfg(test)]
mod tests;
mod tls;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::names::label;
pub use basic_auth::BasicAuthConfig;
pub use budgeting::{Budgeting, SliceBudget, SliceVerdict, Sparse};
pub use calendar::{Calendar, CalendarUnit, PeriodBounds};
pub(crate) use condition::{Condition, Kinds, Literal, Test};
pub use duration::Window;
pub(crate) use fingerprint::fnv1a;
pub use maintenance::{MaintenanceConfig, Schedule};
use raw::RawConfig;
pub use scale::{Role, ScaleConfig};
pub use tls::TlsConfig;

/// The built-in alert windows computed for every SLO whose period is longer.
pub(crate) const ALERT_WINDOWS: &[&str] = &["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// The SRE Workbook's multiwindow pairs: (long, short, percent of budget, severity).
pub(crate) const DEFAULT_ALERTS: &[(&str, &str, f64, Severity)] = &[
    ("1h", "5m", 2.0, Severity::Page),
    ("6h", "30m", 5.0, Severity::Page),
    ("1d", "2h", 10.0, Severity::Ticket),
    ("3d", "6h", 10.0, Severity::Ticket),
];

/// Labels slostream sets on its alerts itself.
pub(crate) const RESERVED_ALERT_LABELS: &[&str] =
    &[label::ALERTNAME, label::SLO, label::SEVERITY, label::LONG_WINDOW, label::SHORT_WINDOW];

/// Longest SLO period accepted; the coarse window tier is sized from the longest one configured.
pub(crate) const MAX_PERIOD_SECS: i64 = 90 * 86_400;

/// The longest `events.max_future` allowed (1 h). Every window tier keeps `max_future` of
/// buckets ahead of `now` besides the windows it answers, and the 10 s tier pays most: at 1 h it
/// doubles to 722 buckets, 20.7 KB per SLI in all for a 30-day period instead of 17.4 KB at the
/// default minute; a day ahead would add 69 KB per SLI to that tier alone.
pub const MAX_FUTURE_MS: i64 = 3_600_000;

/// A configuration error: where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config file's name, as given to [`Config::load`] or [`Config::from_yaml`].
    pub file: String,
    /// Dotted key path to the bad value (`slos.checkout.slis[1]`); empty for the whole file.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// A validated config: every stage reads its settings from here, SLIs by dense id.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, for messages.
    pub file: String,
    /// Where events are read from.
    pub kafka: KafkaConfig,
    /// How an event is read and when it is too old, too new or too large.
    pub events: EventsConfig,
    /// What `/metrics` serves, and where.
    pub exporter: ExporterConfig,
    /// Worker threads and their time limits.
    pub ingest: IngestConfig,
    /// Where and how often checkpoints are written.
    pub state: StateConfig,
    /// Where alerts are pushed; `None`: alerts are only exported as series.
    pub alertmanager: Option<AlertmanagerConfig>,
    /// How budget states are judged.
    pub status: StatusConfig,
    /// How period reports are cut and how many are kept (`reports`).
    pub reports: ReportsConfig,
    /// Dense SLI ids: an SLI's id is its index here.
    pub slis: Vec<SliConfig>,
    /// In name order; each combines some of [`Config::slis`].
    pub slos: Vec<SloConfig>,
    /// Every window any SLO needs, distinct by length, shortest first.
    pub windows: Vec<Window>,
    /// The clock the pipeline reads: the wall clock, unless a test shifts it (not in the YAML).
    pub clock: crate::time::Clock,
    /// Maintenance windows (`maintenance:`), in config order: the order of their counts in
    /// [`crate::state::Counters`], and the order in which an event is offered to them.
    pub maintenance: Vec<MaintenanceConfig>,
    /// How the members of a two-stage deployment work together (`scale`).
    pub scale: ScaleConfig,
    /// Which part of the pipeline this process runs (`--role`, not in the YAML).
    pub role: Role,
}

/// The `kafka` section, with `${...}` already expanded.
#[derive(Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: `host:port[,host:port...]`.
    pub brokers: String,
    /// Topics whose events are counted.
    pub topics: Vec<String>,
    /// The group whose committed offsets mirror checkpoints for lag tools.
    pub group_id: String,
    /// Extra librdkafka settings, applied last so that they win; secrets are never printed.
    pub properties: Vec<(String, String)>,
}

pub(crate) use secrets::is_secret_property;

impl KafkaConfig {
    /// The values of secret properties, to scrub from any text shown to a person.
    pub fn secret_values(&self) -> Vec<&str> {
        self.properties.iter().filter(|(k, _)| is_secret_property(k)).map(|(_, v)| v.as_str()).collect()
    }
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let props: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|(k, v)| (k.as_str(), if is_secret_property(k) { "<redacted>" } else { v.as_str() }))
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .field("group_id", &self.group_id)
            .field("properties", &props)
            .finish()
    }
}

/// The `events` section: which fields place an event in time and which events are refused.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Field holding the event time (RFC 3339 text or epoch milliseconds).
    pub(crate) timestamp_field: String,
    /// Field holding the latency in milliseconds, for the latency quantiles.
    pub(crate) latency_field: Option<String>,
    /// How far ahead of the clock an event time may be before it is rejected.
    pub max_future_ms: i64,
    /// Larger messages are rejected unread.
    pub(crate) max_message_bytes: usize,
    /// Where rejected messages are copied, if anywhere.
    pub(crate) dead_letter_topic: Option<String>,
}

/// The `exporter` section.
#[derive(Debug, Clone)]
pub struct ExporterConfig {
    /// Address of `/metrics`, `/ready` and `/health`.
    pub listen: SocketAddr,
    /// Also export Sloth's series names (`exporter.compat: sloth`).
    pub(crate) sloth_compat: bool,
    /// Serve HTTPS with this certificate (`exporter.tls`); `None`: plain HTTP.
    pub tls: Option<TlsConfig>,
    /// The user every path but `/health` and `/ready` requires (`exporter.basic_auth`); `None`:
    /// open.
    pub basic_auth: Option<BasicAuthConfig>,
}

impl ExporterConfig {
    /// `https` with `exporter.tls`, else `http`: for the URLs shown to people.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// The `status` section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatusConfig {
    /// Share of the period's budget left (0.25 for `at_risk_below: 25`) under which an SLO is
    /// `at_risk` rather than `healthy`.
    pub at_risk_below: f64,
}

/// The `reports` section: see [`crate::report`].
#[derive(Debug, Clone)]
pub struct ReportsConfig {
    /// Calendar months in `reports.time_zone` (default UTC): the periods a rolling SLO reports by.
    pub months: Calendar,
    /// Closed periods kept per SLO (`reports.keep`, default 24).
    pub keep: usize,
}

impl SloConfig {
    /// The periods the SLO's report rows cover: its own calendar period, or for a rolling SLO
    /// the calendar months of `reports`.
    pub fn report_calendar<'a>(&'a self, reports: &'a ReportsConfig) -> &'a Calendar {
        self.calendar.as_ref().unwrap_or(&reports.months)
    }
}

/// The `alertmanager` section.
#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// Base URL; alerts go to `{url}/api/v2/alerts`.
    pub url: String,
    /// How often a firing alert is sent again, which keeps it open in Alertmanager.
    pub(crate) resend_interval: Duration,
    /// Limit on one post.
    pub(crate) timeout: Duration,
}

/// The `ingest` section.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Consumer threads, each with its own librdkafka client (1 to 64).
    pub workers: usize,
    /// Bound on shutdown: stop fetching, count, checkpoint and commit within it.
    pub shutdown_grace: Duration,
    /// A consumer with partitions and lag that reads nothing this long is recreated.
    pub(crate) stall_timeout: Duration,
}

/// The `state` section.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// Directory of the checkpoint files and their lock.
    pub dir: std::path::PathBuf,
    /// Time between checkpoints.
    pub(crate) checkpoint_interval: Duration,
}

/// One SLI: which events belong to it and which of those are good.
#[derive(Debug, Clone)]
pub struct SliConfig {
    /// The `sli` label value.
    pub name: String,
    /// For people: `slostream check` prints it.
    pub description: Option<String>,
    /// Which events belong to the SLI (`match:`).
    pub(crate) matches: Condition,
    /// Which of those are good (`good:`).
    pub(crate) good: Condition,
    /// Changes whenever the definition does (see `fingerprint`): a checkpoint's counts for
    /// this SLI are used only under the fingerprint they were counted with.
    pub fingerprint: u64,
    /// Counts split by the values of some event fields (`breakdown:`).
    pub breakdown: Option<BreakdownConfig>,
}

/// An SLI's `breakdown:`: its counts split by the values of up to three event fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakdownConfig {
    /// The event fields (dotted paths), in the order written.
    pub fields: Vec<String>,
    /// Their label names: the field with `.` turned into `_`.
    pub labels: Vec<String>,
    /// Distinct value combinations tracked; the rest are counted together as `__other__`.
    pub max_values: usize,
    /// The windows exported, shortest first.
    pub windows: Vec<Window>,
}

/// How an SLO turns its SLIs' counts into one ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// All good events over all events, as if the SLIs were one.
    Pooled,
    /// The product of the SLI ratios, for steps that must all succeed.
    Product,
    /// The SLI ratios averaged by their weights.
    Weighted,
    /// The worst SLI ratio.
    Min,
}

impl Combine {
    /// The `combine` label value, as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Combine::Pooled => "pooled",
            Combine::Product => "product",
            Combine::Weighted => "weighted",
            Combine::Min => "min",
        }
    }
}

/// How urgent an alert is: the `severity` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Needs a person now.
    Page,
    /// Can wait for working hours.
    Ticket,
}

impl Severity {
    /// Every severity, in the order of [`crate::slo::SloStatus::alerts`].
    pub const ALL: [Severity; 2] = [Severity::Page, Severity::Ticket];
    /// The `severity` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One SLI of an SLO.
#[derive(Debug, Clone)]
pub struct Component {
    /// The SLI's id: its index in [`Config::slis`].
    pub sli: usize,
    /// Its weight under [`Combine::Weighted`] (1 unless configured).
    pub weight: f64,
}

/// A multiwindow burn-rate alert: it fires while both windows burn faster than `factor`.
#[derive(Debug, Clone)]
pub struct AlertRule {
    /// The `severity` label of the alert.
    pub severity: Severity,
    /// The window that shows the budget is really being spent.
    pub long: Window,
    /// The window that makes the alert stop soon after the burning does.
    pub short: Window,
    /// Burn rate above which the rule fires, for a rolling period; a calendar period's changes
    /// with its length: see [`AlertRule::factor_for`].
    pub factor: f64,
    /// `budget_share` as configured (or the default rule's), in percent: the factor is then
    /// `share × period / long` and follows a calendar period's length.
    pub budget_share: Option<f64>,
}

impl AlertRule {
    /// The factor over a period of `period_secs`: a rule given as a budget share spends that
    /// share of the budget of the period it is in, so a 31-day month's factor is 31/28 of
    /// February's; a rule given as a factor keeps it.
    pub fn factor_for(&self, period_secs: i64) -> f64 {
        match self.budget_share {
            Some(share) => burn_factor(share, period_secs, self.long.secs),
            None => self.factor,
        }
    }
}

/// One SLO: a user-facing feature's objective over SLIs combined.
#[derive(Debug, Clone)]
pub struct SloConfig {
    /// The `slo` label value.
    pub name: String,
    /// For people reading the config; not exported.
    pub description: Option<String>,
    /// As a ratio (0.995), not a percent.
    pub objective: f64,
    /// As configured (99.5), for text shown to people.
    pub objective_percent: f64,
    /// The window the objective and the error budget are measured over. For a calendar period,
    /// labelled `week`, `month` or `quarter`, with the most seconds such a period can last (what
    /// the window store must hold); its length at an instant is [`SloConfig::period_at`]'s.
    pub period: Window,
    /// `Some` for a calendar period (`period: {calendar: ...}`), `None` for a rolling one.
    pub calendar: Option<Calendar>,
    /// How [`SloConfig::components`] make one ratio.
    pub combine: Combine,
    /// Events or time slices (`budgeting:`).
    pub budgeting: Budgeting,
    /// Changes with every edit of what the SLO measures or alerts on (objective, period,
    /// combine, budgeting, its SLIs' definitions and weights, alert rules, labels), not with its
    /// description or links: `slostream_slo_revision_info{revision}`.
    pub revision: u64,
    /// The SLIs combined, as configured.
    pub components: Vec<Component>,
    /// The configured rules, or the SRE Workbook's pairs that fit in the period.
    pub alerts: Vec<AlertRule>,
    /// Period plus every alert window shorter than it, shortest first.
    pub windows: Vec<Window>,
    /// Extra labels on the SLO's alerts (team, service, ...).
    pub(crate) labels: Vec<(String, String)>,
    /// Annotation on the SLO's alerts and rules.
    pub(crate) runbook_url: Option<String>,
    /// Annotation on the SLO's alerts and rules.
    pub(crate) dashboard_url: Option<String>,
}

impl SloConfig {
    /// The period at the instant `now_ms`: the calendar period holding it, or the rolling
    /// `[now - period, now]`.
    pub fn period_at(&self, now_ms: i64) -> PeriodBounds {
        match &self.calendar {
            Some(calendar) => calendar.bounds(now_ms),
            None => PeriodBounds { start_ms: now_ms - self.period.secs * 1000, end_ms: now_ms },
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            path: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Config::from_yaml(&text, &file)
    }

    /// Parses and validates YAML text; `file` names it in errors. `${NAME}` in a Kafka setting
    /// is read from the process environment, where deployments keep their credentials.
    pub fn from_yaml(text: &str, file: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_with_env(text, file, |name| std::env::var(name).ok())
    }

    /// [`Config::from_yaml`] with `${NAME}` looked up in `env` instead of the process
    /// environment: a test can then give a config its secrets (or leave one unset) without
    /// changing variables that every other thread of the process reads.
    pub(crate) fn from_yaml_with_env(
        text: &str,
        file: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let err = |path: &str, message: String| ConfigError { file: file.into(), path: path.into(), message };
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { "" } else { path.as_str() };
            let message = e.into_inner().to_string();
            // serde_yaml_ng prefixes its own (shorter) path; ours is already in front.
            let message = match message.split_once(": ") {
                Some((prefix, rest)) if !prefix.contains(' ') && path.starts_with(prefix) => rest.to_string(),
                _ => message,
            };
            err(path, message)
        })?;
        validate::validate(raw, &env)
            .map(|mut config| {
                config.file = file.to_string();
                config
            })
            .map_err(|(path, message)| err(&path, message))
    }

    /// Every secret value of the config (Kafka credentials, the exporter's password hash), to
    /// scrub from any text shown to a person.
    pub fn secret_values(&self) -> Vec<&str> {
        let mut out = self.kafka.secret_values();
        out.extend(self.exporter.basic_auth.as_ref().map(BasicAuthConfig::password_hash));
        out
    }

    /// The id of the SLI with this name.
    #[cfg(test)]
    pub(crate) fn sli_id(&self, name: &str) -> Option<usize> {
        self.slis.iter().position(|s| s.name == name)
    }

    /// Index in [`Config::windows`] of the window with this length.
    #[inline]
    pub fn window_index(&self, secs: i64) -> usize {
        self.windows.iter().position(|w| w.secs == secs).expect("every SLO window is in the global set")
    }

    /// Every SLI's name and definition fingerprint, in id order, as one fingerprint: two
    /// configs with the same one classify every event into the same SLI ids, so counts made
    /// under one can be added to counts made under the other (delta records carry it).
    pub fn slis_fingerprint(&self) -> u64 {
        let mut text = String::new();
        for s in &self.slis {
            text.push_str(&format!("{}={:016x};", s.name, s.fingerprint));
        }
        fnv1a(text.as_bytes())
    }

    /// Every field an SLI's `match:` or `good:` tests, each once, in the order the config first
    /// names it: the `field` label values of `slostream_field_type_mismatches_total`, and their
    /// order in [`crate::state::Counters`].
    /// Every field an SLI's `match:` or `good:` or a maintenance window's `match:` tests, each
    /// once, in the order the config first names it (SLIs first): the `field` label values of
    /// `slostream_field_type_mismatches_total`, and their order in [`crate::state::Counters`].
    pub fn condition_fields(&self) -> Vec<&str> {
        self.condition_kinds().into_iter().map(|(field, _)| field).collect()
    }

    /// [`Config::condition_fields`], each with the kinds of value its tests compare with: a
    /// value of any other kind is a type mismatch.
    pub(crate) fn condition_kinds(&self) -> Vec<(&str, Kinds)> {
        let mut tests = Vec::new();
        for sli in &self.slis {
            sli.matches.tests(&mut tests);
            sli.good.tests(&mut tests);
        }
        for m in &self.maintenance {
            m.matches.tests(&mut tests);
        }
        let mut fields: Vec<(&str, Kinds)> = Vec::new();
        for (path, test) in tests {
            match fields.iter_mut().find(|(f, _)| *f == path) {
                Some((_, kinds)) => *kinds = kinds.union(test.kinds()),
                None => fields.push((path, test.kinds())),
            }
        }
        fields
    }

    /// Every SLI with a `breakdown:`, as `(SLI id, breakdown)`, in SLI order: the order of the
    /// breakdown indices workers, the tally and checkpoints use.
    pub fn breakdowns(&self) -> impl Iterator<Item = (usize, &BreakdownConfig)> {
        self.slis.iter().enumerate().filter_map(|(sli, s)| s.breakdown.as_ref().map(|b| (sli, b)))
    }

    /// The longest SLO period (a calendar period's longest possible length), which bounds how old
    /// an accepted event may be and how far back the coarse window tier reaches.
    pub(crate) fn max_period_secs(&self) -> i64 {
        self.slos.iter().map(|s| s.period.secs).max().unwrap_or(0)
    }
}

/// Burn-rate factor at which `share_percent` of the budget is spent within `long_secs`.
pub(crate) fn burn_factor(share_percent: f64, period_secs: i64, long_secs: i64) -> f64 {
    share_percent / 100.0 * period_secs as f64 / long_secs as f64
}
