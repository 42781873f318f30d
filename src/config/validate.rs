//! From [`RawConfig`] to a checked [`Config`], one function a section.
//!
//! Nothing here reads the process environment: `${NAME}` goes through the `env` that
//! [`Config::from_yaml_with_env`] was given, so a test decides what is set (`${file:/path}` is
//! still read by [`secrets::expand`]). Only the first mistake is reported, so the order of the
//! calls in [`validate`] is part of what a user sees; it interleaves sections (the timing keys of
//! `events` before the exporter, the rest after `state`, `alertmanager` between `exporter.compat`
//! and `exporter.listen`, then `exporter.tls` and `exporter.basic_auth`, `status`, then
//! `maintenance`, then `scale` last) and must stay as it is. The files `exporter.tls` names are read here, so `check` finds what the start
//! would.

mod breakdown;
mod budgeting;
mod maintenance;
mod reports;
mod scale;
mod slos;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::basic_auth::{self, AuthKey, BasicAuthConfig};
use super::raw::{
    RawAlertmanager, RawBasicAuth, RawConfig, RawEvents, RawExporter, RawIngest, RawKafka, RawSli, RawState, RawStatus,
    RawTls, DEFAULT_STATE_ROOT,
};
use super::tls::{self, TlsConfig, TlsFile};
use super::{
    condition, duration, is_secret_property, secrets, AlertmanagerConfig, Condition, Config, EventsConfig,
    ExporterConfig, IngestConfig, KafkaConfig, SliConfig, StateConfig, StatusConfig,
};

/// A key path and what is wrong there; [`Config::from_yaml_with_env`] adds the file.
type Invalid = (String, String);

/// How `${NAME}` is looked up.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn bad(path: &str, message: String) -> Invalid {
    (path.to_string(), message)
}

fn millis(text: &str, path: &str) -> Result<i64, Invalid> {
    duration::parse_millis(text).map_err(|e| bad(path, e.to_string()))
}

fn interval(text: &str, path: &str) -> Result<Duration, Invalid> {
    Ok(Duration::from_millis(millis(text, path)? as u64))
}

/// `text` with every `${NAME}` and `${file:/path}` replaced; an error names the variable or
/// file, never a value.
fn expanded(text: &str, path: &str, env: Env) -> Result<String, Invalid> {
    Ok(secrets::expand(text, env).map_err(|e| bad(path, e.to_string()))?.into_owned())
}

/// The checks in the order the module doc describes; each section's value is built as it passes.
pub(super) fn validate(raw: RawConfig, env: Env) -> Result<Config, Invalid> {
    let kafka = kafka(raw.kafka, env)?;
    let max_future_ms = event_time(&raw.events)?;
    let sloth_compat = sloth_compat(&raw.exporter)?;
    let alertmanager = alertmanager(raw.alertmanager.as_ref())?;
    let exporter = exporter(&raw.exporter, sloth_compat, env)?;
    let ingest = ingest(&raw.ingest)?;
    let state = state(raw.state, &kafka.group_id)?;
    let events = events(raw.events, max_future_ms, &kafka.topics)?;
    let mut slis = slis(&raw.slis, &events.timestamp_field)?;
    let (slos, windows) = slos::slos(&raw.slos, &slis)?;
    let max_period_secs = slos.iter().map(|s| s.period.secs).max().unwrap_or(0);
    for (id, (sli, (name, raw_sli))) in slis.iter_mut().zip(&raw.slis).enumerate() {
        sli.breakdown = breakdown::breakdown(name, id, raw_sli, &slos, max_period_secs)?;
    }
    let status = status(&raw.status)?;
    let reports = reports::reports(&raw.reports)?;
    let maintenance = maintenance::maintenance(&raw.maintenance)?;
    let scale = scale::scale(&raw.scale)?;
    Ok(Config {
        file: String::new(),
        kafka,
        events,
        exporter,
        ingest,
        state,
        alertmanager,
        status,
        reports,
        slis,
        slos,
        windows,
        clock: Default::default(),
        maintenance,
        scale,
        role: Default::default(),
    })
}

/// The at-risk threshold is a percent of the budget; 0 never warns, 100 warns at the first bad
/// event.
fn status(raw: &RawStatus) -> Result<StatusConfig, Invalid> {
    let percent = raw.at_risk_below.unwrap_or(25.0);
    if !(0.0..=100.0).contains(&percent) {
        return Err(bad(
            "status.at_risk_below",
            format!("{percent} is not a percent of the error budget (expected 0 to 100)"),
        ));
    }
    Ok(StatusConfig { at_risk_below: percent / 100.0 })
}

fn kafka(raw: RawKafka, env: Env) -> Result<KafkaConfig, Invalid> {
    if raw.brokers.trim().is_empty() {
        return Err(bad("kafka.brokers", "empty (expected host:port[,host:port...])".into()));
    }
    if raw.topics.is_empty() || raw.topics.iter().any(|t| t.trim().is_empty()) {
        return Err(bad("kafka.topics", "expected a non-empty list of topic names".into()));
    }
    if raw.group_id.trim().is_empty() {
        return Err(bad("kafka.group_id", "empty (expected a consumer group name)".into()));
    }
    let brokers = expanded(&raw.brokers, "kafka.brokers", env)?;
    let mut properties = Vec::with_capacity(raw.properties.len());
    for (key, value) in raw.properties {
        let text = kafka_property(&key, &value, env)?;
        properties.push((key, text));
    }
    Ok(KafkaConfig { brokers, topics: raw.topics, group_id: raw.group_id, properties })
}

/// librdkafka takes every property as text; a secret's value is never shown, even when wrong.
fn kafka_property(key: &str, value: &serde_yaml_ng::Value, env: Env) -> Result<String, Invalid> {
    let path = || format!("kafka.properties.{key}");
    match value {
        serde_yaml_ng::Value::String(s) => expanded(s, &path(), env),
        serde_yaml_ng::Value::Number(n) => Ok(n.to_string()),
        serde_yaml_ng::Value::Bool(b) => Ok(b.to_string()),
        other => {
            let shown = if is_secret_property(key) { "<redacted>".into() } else { condition::describe(other) };
            Err(bad(&path(), format!("expected a scalar, found {shown}")))
        }
    }
}

/// The keys that place an event in time, checked before the exporter; the rest of `events`
/// waits for [`events`].
fn event_time(raw: &RawEvents) -> Result<i64, Invalid> {
    let max_future_ms = millis(&raw.max_future, "events.max_future")?;
    // Every SLI's window rings keep max_future of buckets ahead of now, so memory grows with it.
    if max_future_ms > super::MAX_FUTURE_MS {
        return Err(bad("events.max_future", format!("{:?} is longer than the maximum of 1h", raw.max_future)));
    }
    if raw.timestamp_field.trim().is_empty() {
        return Err(bad("events.timestamp_field", "empty (expected a field name)".into()));
    }
    Ok(max_future_ms)
}

/// `exporter.compat`, checked before `alertmanager`; `exporter.listen` comes after it.
fn sloth_compat(raw: &RawExporter) -> Result<bool, Invalid> {
    match raw.compat.as_deref() {
        None => Ok(false),
        Some("sloth") => Ok(true),
        Some(other) => Err(bad("exporter.compat", format!("{other:?} is not supported (expected sloth)"))),
    }
}

/// `exporter.listen`, then `exporter.tls`, then `exporter.basic_auth`.
fn exporter(raw: &RawExporter, sloth_compat: bool, env: Env) -> Result<ExporterConfig, Invalid> {
    let listen: SocketAddr = raw
        .listen
        .parse()
        .map_err(|_| bad("exporter.listen", format!("{:?} is not an address (expected ip:port)", raw.listen)))?;
    let tls = raw.tls.as_ref().map(|t| exporter_tls(t, env)).transpose()?;
    let basic_auth = raw.basic_auth.as_ref().map(|a| exporter_basic_auth(a, env)).transpose()?;
    Ok(ExporterConfig { listen, sloth_compat, tls, basic_auth })
}

fn exporter_tls(raw: &RawTls, env: Env) -> Result<TlsConfig, Invalid> {
    const CERT: &str = "exporter.tls.cert_file";
    const KEY: &str = "exporter.tls.key_file";
    let cert_file = expanded(&raw.cert_file, CERT, env)?;
    let key_file = expanded(&raw.key_file, KEY, env)?;
    tls::load(&cert_file, &key_file).map_err(|(file, message)| match file {
        TlsFile::Cert => bad(CERT, message),
        TlsFile::Key => bad(KEY, message),
    })
}

fn exporter_basic_auth(raw: &RawBasicAuth, env: Env) -> Result<BasicAuthConfig, Invalid> {
    const USERNAME: &str = "exporter.basic_auth.username";
    const HASH: &str = "exporter.basic_auth.password_hash";
    let username = expanded(&raw.username, USERNAME, env)?;
    let password_hash = expanded(&raw.password_hash, HASH, env)?;
    basic_auth::check(username, password_hash).map_err(|(key, message)| match key {
        AuthKey::Username => bad(USERNAME, message),
        AuthKey::PasswordHash => bad(HASH, message),
    })
}

fn alertmanager(raw: Option<&RawAlertmanager>) -> Result<Option<AlertmanagerConfig>, Invalid> {
    let Some(a) = raw else { return Ok(None) };
    if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
        return Err(bad("alertmanager.url", format!("{:?} is not an http(s) URL", a.url)));
    }
    Ok(Some(AlertmanagerConfig {
        url: a.url.trim_end_matches('/').to_string(),
        resend_interval: interval(&a.resend_interval, "alertmanager.resend_interval")?,
        timeout: interval(&a.timeout, "alertmanager.timeout")?,
    }))
}

fn ingest(raw: &RawIngest) -> Result<IngestConfig, Invalid> {
    if raw.workers == 0 || raw.workers > 64 {
        return Err(bad("ingest.workers", format!("{} is out of range (expected 1 to 64)", raw.workers)));
    }
    Ok(IngestConfig {
        workers: raw.workers,
        shutdown_grace: interval(&raw.shutdown_grace, "ingest.shutdown_grace")?,
        stall_timeout: interval(&raw.stall_timeout, "ingest.stall_timeout")?,
    })
}

fn state(raw: RawState, group_id: &str) -> Result<StateConfig, Invalid> {
    let checkpoint_interval = interval(&raw.checkpoint_interval, "state.checkpoint_interval")?;
    let dir = match raw.dir {
        Some(dir) if dir.trim().is_empty() => {
            return Err(bad("state.dir", "empty (expected a directory for checkpoints)".into()))
        }
        Some(dir) => dir.into(),
        None => std::path::Path::new(DEFAULT_STATE_ROOT).join(group_dir_name(group_id)),
    };
    Ok(StateConfig { dir, checkpoint_interval })
}

/// A consumer group id as one directory name: characters other than ASCII letters, digits,
/// `-` and `_` become `_`, so no group id can name a path elsewhere (`..`, `/`).
fn group_dir_name(group_id: &str) -> String {
    group_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// The rest of `events`, after [`event_time`]; the dead-letter topic must not be one consumed.
fn events(raw: RawEvents, max_future_ms: i64, topics: &[String]) -> Result<EventsConfig, Invalid> {
    if raw.max_message_bytes == 0 {
        return Err(bad("events.max_message_bytes", "0 is not allowed (expected a size in bytes > 0)".into()));
    }
    if raw.dead_letter_topic.as_deref().is_some_and(|t| t.trim().is_empty() || topics.iter().any(|x| x == t)) {
        return Err(bad(
            "events.dead_letter_topic",
            format!(
                "{:?} is empty or one of kafka.topics (expected a separate topic)",
                raw.dead_letter_topic.unwrap_or_default()
            ),
        ));
    }
    Ok(EventsConfig {
        timestamp_field: raw.timestamp_field,
        latency_field: raw.latency_field.filter(|f| !f.trim().is_empty()),
        max_future_ms,
        max_message_bytes: raw.max_message_bytes as usize,
        dead_letter_topic: raw.dead_letter_topic,
    })
}

/// In name order (the map's); an SLI's id is its index in this list.
fn slis(raw: &BTreeMap<String, RawSli>, timestamp_field: &str) -> Result<Vec<SliConfig>, Invalid> {
    if raw.is_empty() {
        return Err(bad("slis", "no SLI defined (expected at least one)".into()));
    }
    raw.iter().map(|(name, sli)| sli_config(name, sli, timestamp_field)).collect()
}

fn sli_config(name: &str, sli: &RawSli, timestamp_field: &str) -> Result<SliConfig, Invalid> {
    let at = format!("slis.{name}");
    let matches = match &sli.matches {
        Some(v) => condition::parse(v, &format!("{at}.match"))?,
        None => Condition::Always,
    };
    let good = condition::parse(&sli.good, &format!("{at}.good"))?;
    let fingerprint = super::fingerprint::of(sli.matches.as_ref(), &sli.good, timestamp_field);
    Ok(SliConfig {
        name: name.to_string(),
        description: sli.description.clone(),
        matches,
        good,
        fingerprint,
        breakdown: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const EXAMPLE: &str = include_str!("../../config/example.yaml");

    fn with_max_future(value: &str) -> Result<Config, String> {
        let yaml = EXAMPLE.replacen("max_future: \"1m\"", &format!("max_future: \"{value}\""), 1);
        Config::from_yaml_with_env(&yaml, "x.yaml", |_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn max_future_longer_than_an_hour_names_the_key_the_value_and_the_maximum() {
        assert_eq!(
            with_max_future("2h").unwrap_err(),
            "x.yaml: events.max_future: \"2h\" is longer than the maximum of 1h"
        );
        assert_eq!(
            with_max_future("3601s").unwrap_err(),
            "x.yaml: events.max_future: \"3601s\" is longer than the maximum of 1h"
        );
        assert_eq!(with_max_future("1h").unwrap().events.max_future_ms, 3_600_000);
        assert_eq!(with_max_future("60m").unwrap().events.max_future_ms, 3_600_000);
    }
}
