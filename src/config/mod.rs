//! Configuration: YAML in, a validated [`Config`] out.
//!
//! `raw` mirrors the file for serde (unknown keys refused), `condition` parses the matching
//! language, and [`Config::from_yaml`] checks every cross-reference and bound. Every error names
//! the file, the key path, the bad value and what was expected; nothing starts on a bad config.

pub mod condition;
pub mod duration;
mod raw;
pub mod secrets;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::names::label;
pub use condition::{Condition, Literal, Test};
pub use duration::Window;
use raw::{RawCombine, RawConfig, RawSliRef};

/// The built-in alert windows computed for every SLO whose period is longer.
pub const ALERT_WINDOWS: &[&str] = &["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// The SRE Workbook's multiwindow pairs: (long, short, percent of budget, severity).
pub const DEFAULT_ALERTS: &[(&str, &str, f64, Severity)] = &[
    ("1h", "5m", 2.0, Severity::Page),
    ("6h", "30m", 5.0, Severity::Page),
    ("1d", "2h", 10.0, Severity::Ticket),
    ("3d", "6h", 10.0, Severity::Ticket),
];

/// Labels slostream sets on its alerts itself.
pub const RESERVED_ALERT_LABELS: &[&str] =
    &[label::ALERTNAME, label::SLO, label::SEVERITY, label::LONG_WINDOW, label::SHORT_WINDOW];

/// Longest SLO period accepted; the coarse window tier is sized from the longest one configured.
pub const MAX_PERIOD_SECS: i64 = 90 * 86_400;

/// A configuration error: where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub path: String,
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

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, for messages.
    pub file: String,
    pub kafka: KafkaConfig,
    pub events: EventsConfig,
    pub exporter: ExporterConfig,
    pub ingest: IngestConfig,
    pub state: StateConfig,
    pub alertmanager: Option<AlertmanagerConfig>,
    /// Dense SLI ids: an SLI's id is its index here.
    pub slis: Vec<SliConfig>,
    pub slos: Vec<SloConfig>,
    /// Every window any SLO needs, distinct by length, shortest first.
    pub windows: Vec<Window>,
}

#[derive(Clone)]
pub struct KafkaConfig {
    pub brokers: String,
    pub topics: Vec<String>,
    pub group_id: String,
    pub properties: Vec<(String, String)>,
}

pub use secrets::is_secret_property;

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

#[derive(Debug, Clone)]
pub struct EventsConfig {
    pub timestamp_field: String,
    pub latency_field: Option<String>,
    pub max_future_ms: i64,
    pub max_message_bytes: usize,
    pub dead_letter_topic: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExporterConfig {
    pub listen: SocketAddr,
    /// Also export Sloth's series names (`exporter.compat: sloth`).
    pub sloth_compat: bool,
}

#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// Base URL; alerts go to `{url}/api/v2/alerts`.
    pub url: String,
    pub resend_interval: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub workers: usize,
    pub shutdown_grace: Duration,
    pub stall_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct StateConfig {
    pub dir: std::path::PathBuf,
    pub checkpoint_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct SliConfig {
    pub name: String,
    pub description: Option<String>,
    pub matches: Condition,
    pub good: Condition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    Pooled,
    Product,
    Weighted,
    Min,
}

impl Combine {
    pub fn as_str(self) -> &'static str {
        match self {
            Combine::Pooled => "pooled",
            Combine::Product => "product",
            Combine::Weighted => "weighted",
            Combine::Min => "min",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Page,
    Ticket,
}

impl Severity {
    pub const ALL: [Severity; 2] = [Severity::Page, Severity::Ticket];
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Component {
    pub sli: usize,
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct AlertRule {
    pub severity: Severity,
    pub long: Window,
    pub short: Window,
    pub factor: f64,
}

#[derive(Debug, Clone)]
pub struct SloConfig {
    pub name: String,
    pub description: Option<String>,
    /// As a ratio (0.995), not a percent.
    pub objective: f64,
    /// As configured (99.5), for text shown to people.
    pub objective_percent: f64,
    pub period: Window,
    pub combine: Combine,
    pub components: Vec<Component>,
    pub alerts: Vec<AlertRule>,
    /// Period plus every alert window shorter than it, shortest first.
    pub windows: Vec<Window>,
    pub labels: Vec<(String, String)>,
    pub runbook_url: Option<String>,
    pub dashboard_url: Option<String>,
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

    /// Parses and validates YAML text; `file` names it in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Config, ConfigError> {
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
        validate(raw)
            .map(|mut config| {
                config.file = file.to_string();
                config
            })
            .map_err(|(path, message)| err(&path, message))
    }

    pub fn sli_id(&self, name: &str) -> Option<usize> {
        self.slis.iter().position(|s| s.name == name)
    }

    /// Index in [`Config::windows`] of the window with this length.
    pub fn window_index(&self, secs: i64) -> usize {
        self.windows.iter().position(|w| w.secs == secs).expect("every SLO window is in the global set")
    }

    /// The longest SLO period, which bounds how old an accepted event may be.
    pub fn max_period_secs(&self) -> i64 {
        self.slos.iter().map(|s| s.period.secs).max().unwrap_or(0)
    }
}

type Invalid = (String, String);

fn window(text: &str, path: &str) -> Result<Window, Invalid> {
    let secs = duration::parse_secs(text).map_err(|m| (path.to_string(), m))?;
    Ok(Window { secs, label: text.trim().to_string() })
}

fn validate(raw: RawConfig) -> Result<Config, Invalid> {
    let bad = |path: &str, message: String| (path.to_string(), message);

    if raw.kafka.brokers.trim().is_empty() {
        return Err(bad("kafka.brokers", "empty (expected host:port[,host:port...])".into()));
    }
    if raw.kafka.topics.is_empty() || raw.kafka.topics.iter().any(|t| t.trim().is_empty()) {
        return Err(bad("kafka.topics", "expected a non-empty list of topic names".into()));
    }
    if raw.kafka.group_id.trim().is_empty() {
        return Err(bad("kafka.group_id", "empty (expected a consumer group name)".into()));
    }
    let env = |name: &str| std::env::var(name).ok();
    let brokers = secrets::expand(&raw.kafka.brokers, env).map_err(|m| bad("kafka.brokers", m))?.into_owned();
    let mut properties = Vec::with_capacity(raw.kafka.properties.len());
    for (key, value) in raw.kafka.properties {
        let text = match &value {
            serde_yaml_ng::Value::String(s) => {
                secrets::expand(s, env).map_err(|m| bad(&format!("kafka.properties.{key}"), m))?.into_owned()
            }
            serde_yaml_ng::Value::Number(n) => n.to_string(),
            serde_yaml_ng::Value::Bool(b) => b.to_string(),
            other => {
                let shown = if is_secret_property(&key) { "<redacted>".into() } else { condition::describe(other) };
                return Err(bad(&format!("kafka.properties.{key}"), format!("expected a scalar, found {shown}")));
            }
        };
        properties.push((key, text));
    }

    let max_future_ms = duration::parse_millis(&raw.events.max_future).map_err(|m| bad("events.max_future", m))?;
    if raw.events.timestamp_field.trim().is_empty() {
        return Err(bad("events.timestamp_field", "empty (expected a field name)".into()));
    }
    let sloth_compat = match raw.exporter.compat.as_deref() {
        None => false,
        Some("sloth") => true,
        Some(other) => return Err(bad("exporter.compat", format!("{other:?} is not supported (expected sloth)"))),
    };
    let alertmanager = match &raw.alertmanager {
        None => None,
        Some(a) => {
            if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
                return Err(bad("alertmanager.url", format!("{:?} is not an http(s) URL", a.url)));
            }
            let ms = |text: &str, key: &str| duration::parse_millis(text).map_err(|m| bad(key, m));
            Some(AlertmanagerConfig {
                url: a.url.trim_end_matches('/').to_string(),
                resend_interval: Duration::from_millis(ms(&a.resend_interval, "alertmanager.resend_interval")? as u64),
                timeout: Duration::from_millis(ms(&a.timeout, "alertmanager.timeout")? as u64),
            })
        }
    };
    let listen: SocketAddr = raw.exporter.listen.parse().map_err(|_| {
        bad("exporter.listen", format!("{:?} is not an address (expected ip:port)", raw.exporter.listen))
    })?;
    if raw.ingest.workers == 0 || raw.ingest.workers > 64 {
        return Err(bad("ingest.workers", format!("{} is out of range (expected 1 to 64)", raw.ingest.workers)));
    }
    let grace_ms = duration::parse_millis(&raw.ingest.shutdown_grace).map_err(|m| bad("ingest.shutdown_grace", m))?;
    let stall_ms = duration::parse_millis(&raw.ingest.stall_timeout).map_err(|m| bad("ingest.stall_timeout", m))?;
    let checkpoint_ms =
        duration::parse_millis(&raw.state.checkpoint_interval).map_err(|m| bad("state.checkpoint_interval", m))?;
    if raw.state.dir.trim().is_empty() {
        return Err(bad("state.dir", "empty (expected a directory for checkpoints)".into()));
    }
    if raw.events.max_message_bytes == 0 {
        return Err(bad("events.max_message_bytes", "0 is not allowed (expected a size in bytes > 0)".into()));
    }
    if raw
        .events
        .dead_letter_topic
        .as_deref()
        .is_some_and(|t| t.trim().is_empty() || raw.kafka.topics.iter().any(|x| x == t))
    {
        return Err(bad(
            "events.dead_letter_topic",
            format!(
                "{:?} is empty or one of kafka.topics (expected a separate topic)",
                raw.events.dead_letter_topic.unwrap_or_default()
            ),
        ));
    }

    if raw.slis.is_empty() {
        return Err(bad("slis", "no SLI defined (expected at least one)".into()));
    }
    let mut slis = Vec::with_capacity(raw.slis.len());
    for (name, sli) in &raw.slis {
        let at = format!("slis.{name}");
        let matches = match &sli.matches {
            Some(v) => condition::parse(v, &format!("{at}.match"))?,
            None => Condition::Always,
        };
        let good = condition::parse(&sli.good, &format!("{at}.good"))?;
        slis.push(SliConfig { name: name.clone(), description: sli.description.clone(), matches, good });
    }
    let ids: HashMap<&str, usize> = slis.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let defined = || raw.slis.keys().map(String::as_str).collect::<Vec<_>>().join(", ");

    if raw.slos.is_empty() {
        return Err(bad("slos", "no SLO defined (expected at least one)".into()));
    }
    let mut slos = Vec::with_capacity(raw.slos.len());
    let mut all_windows: BTreeMap<i64, Window> = BTreeMap::new();
    for (name, slo) in &raw.slos {
        let at = format!("slos.{name}");
        if !(slo.objective > 0.0 && slo.objective < 100.0) {
            return Err(bad(
                &format!("{at}.objective"),
                format!("{} is out of range (expected a percent, 0 < objective < 100, e.g. 99.9)", slo.objective),
            ));
        }
        let period = window(&slo.period, &format!("{at}.period"))?;
        if period.secs > MAX_PERIOD_SECS {
            return Err(bad(&format!("{at}.period"), format!("{:?} is longer than the maximum of 90d", slo.period)));
        }
        if slo.slis.is_empty() {
            return Err(bad(&format!("{at}.slis"), "empty (expected at least one SLI)".into()));
        }
        for key in slo.labels.keys() {
            let valid = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid || RESERVED_ALERT_LABELS.contains(&key.as_str()) {
                return Err(bad(
                    &format!("{at}.labels.{key}"),
                    format!(
                        "{key:?} is not allowed (expected a Prometheus label name other than {})",
                        RESERVED_ALERT_LABELS.join(", ")
                    ),
                ));
            }
        }
        let combine = match slo.combine {
            RawCombine::Pooled => Combine::Pooled,
            RawCombine::Product => Combine::Product,
            RawCombine::Weighted => Combine::Weighted,
            RawCombine::Min => Combine::Min,
        };
        let mut components: Vec<Component> = Vec::with_capacity(slo.slis.len());
        for (i, r) in slo.slis.iter().enumerate() {
            let here = format!("{at}.slis[{i}]");
            let (sli_name, weight) = match r {
                RawSliRef::Name(n) => (n.as_str(), None),
                RawSliRef::Weighted(w) => (w.sli.as_str(), w.weight),
            };
            let Some(&sli) = ids.get(sli_name) else {
                return Err(bad(&here, format!("unknown SLI {sli_name:?} (defined: {})", defined())));
            };
            if components.iter().any(|c| c.sli == sli) {
                return Err(bad(&here, format!("SLI {sli_name:?} is listed twice")));
            }
            let weight = match (weight, combine) {
                (Some(w), Combine::Weighted) if w > 0.0 && w.is_finite() => w,
                (Some(w), Combine::Weighted) => {
                    return Err(bad(&format!("{here}.weight"), format!("{w} is not allowed (expected a weight > 0)")))
                }
                (None, Combine::Weighted) => 1.0,
                (Some(w), other) => {
                    return Err(bad(
                        &format!("{here}.weight"),
                        format!("weight {w} given but combine is {} (weights need combine: weighted)", other.as_str()),
                    ))
                }
                (None, _) => 1.0,
            };
            components.push(Component { sli, weight });
        }

        let alerts = match &slo.alerts {
            None => DEFAULT_ALERTS
                .iter()
                .map(|&(long, short, share, severity)| AlertRule {
                    severity,
                    long: Window::standard(long),
                    short: Window::standard(short),
                    factor: burn_factor(share, period.secs, Window::standard(long).secs),
                })
                .filter(|a| a.long.secs < period.secs)
                .collect(),
            Some(list) => {
                let mut rules = Vec::with_capacity(list.len());
                for (i, a) in list.iter().enumerate() {
                    let here = format!("{at}.alerts[{i}]");
                    let severity = match a.severity.as_str() {
                        "page" => Severity::Page,
                        "ticket" => Severity::Ticket,
                        other => {
                            return Err(bad(
                                &format!("{here}.severity"),
                                format!("{other:?} is not a severity (expected page or ticket)"),
                            ))
                        }
                    };
                    let long = window(&a.long, &format!("{here}.long"))?;
                    let short = window(&a.short, &format!("{here}.short"))?;
                    if short.secs >= long.secs {
                        return Err(bad(
                            &format!("{here}.short"),
                            format!("{short} is not shorter than long window {long}"),
                        ));
                    }
                    if long.secs >= period.secs {
                        return Err(bad(
                            &format!("{here}.long"),
                            format!("{long} is not shorter than the period {period}"),
                        ));
                    }
                    let factor = match (a.factor, a.budget_share) {
                        (Some(f), None) if f > 0.0 && f.is_finite() => f,
                        (None, Some(s)) if s > 0.0 && s <= 100.0 => burn_factor(s, period.secs, long.secs),
                        (Some(f), None) => {
                            return Err(bad(&format!("{here}.factor"), format!("{f} is not allowed (expected > 0)")))
                        }
                        (None, Some(s)) => {
                            return Err(bad(
                                &format!("{here}.budget_share"),
                                format!("{s} is out of range (expected a percent, 0 < share <= 100)"),
                            ))
                        }
                        _ => return Err(bad(&here, "expected exactly one of factor or budget_share".into())),
                    };
                    rules.push(AlertRule { severity, long, short, factor });
                }
                rules
            }
        };

        let mut windows: Vec<Window> = ALERT_WINDOWS
            .iter()
            .map(|w| Window::standard(w))
            .chain(alerts.iter().flat_map(|a| [a.long.clone(), a.short.clone()]))
            .filter(|w| w.secs < period.secs)
            .collect();
        windows.push(period.clone());
        windows.sort_by_key(|w| w.secs);
        windows.dedup_by_key(|w| w.secs);
        for w in &windows {
            all_windows.entry(w.secs).or_insert_with(|| w.clone());
        }
        slos.push(SloConfig {
            name: name.clone(),
            description: slo.description.clone(),
            // Rounded so that 99.9 exports as 0.999, not 0.9990000000000001.
            objective: (slo.objective / 100.0 * 1e12).round() / 1e12,
            objective_percent: slo.objective,
            period,
            combine,
            components,
            alerts,
            windows,
            labels: slo.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            runbook_url: slo.runbook_url.clone(),
            dashboard_url: slo.dashboard_url.clone(),
        });
    }

    Ok(Config {
        file: String::new(),
        kafka: KafkaConfig { brokers, topics: raw.kafka.topics, group_id: raw.kafka.group_id, properties },
        events: EventsConfig {
            timestamp_field: raw.events.timestamp_field,
            latency_field: raw.events.latency_field.filter(|f| !f.trim().is_empty()),
            max_future_ms,
            max_message_bytes: raw.events.max_message_bytes as usize,
            dead_letter_topic: raw.events.dead_letter_topic,
        },
        exporter: ExporterConfig { listen, sloth_compat },
        alertmanager,
        ingest: IngestConfig {
            workers: raw.ingest.workers,
            shutdown_grace: Duration::from_millis(grace_ms as u64),
            stall_timeout: Duration::from_millis(stall_ms as u64),
        },
        state: StateConfig {
            dir: raw.state.dir.into(),
            checkpoint_interval: Duration::from_millis(checkpoint_ms as u64),
        },
        slis,
        slos,
        windows: all_windows.into_values().collect(),
    })
}

/// Burn-rate factor at which `share_percent` of the budget is spent within `long_secs`.
pub fn burn_factor(share_percent: f64, period_secs: i64, long_secs: i64) -> f64 {
    share_percent / 100.0 * period_secs as f64 / long_secs as f64
}
