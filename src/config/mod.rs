//! Configuration: YAML in, a validated [`Config`] out.
//!
//! `raw` mirrors the file for serde (unknown keys refused), `condition` parses the matching
//! language, and `validate` checks every cross-reference and bound, section by section, with the
//! environment passed in. Every error names the file, the key path, the bad value and what was
//! expected; nothing starts on a bad config.

pub mod condition;
pub mod duration;
mod raw;
pub mod secrets;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::names::label;
pub use condition::{Condition, Literal, Test};
pub use duration::Window;
use raw::RawConfig;

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

    /// Parses and validates YAML text; `file` names it in errors. `${NAME}` in a Kafka setting
    /// is read from the process environment, where deployments keep their credentials.
    pub fn from_yaml(text: &str, file: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_with_env(text, file, |name| std::env::var(name).ok())
    }

    /// [`Config::from_yaml`] with `${NAME}` looked up in `env` instead of the process
    /// environment: a test can then give a config its secrets (or leave one unset) without
    /// changing variables that every other thread of the process reads.
    pub fn from_yaml_with_env(
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

/// Burn-rate factor at which `share_percent` of the budget is spent within `long_secs`.
pub fn burn_factor(share_percent: f64, period_secs: i64, long_secs: i64) -> f64 {
    share_percent / 100.0 * period_secs as f64 / long_secs as f64
}
