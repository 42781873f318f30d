//! A slostream config as OpenSLO v1 documents: a `Service` per `service` label value of the
//! SLOs (one named after the consumer group for SLOs without one), an `SLI` per SLI, an `SLO`
//! per SLO, in that order and each in name order, so the same config always prints the same
//! text.
//!
//! An SLI is a `ratioMetric` whose `total` is the SLI's `match` and whose `good` is `match` and
//! `good` together, both `metricSource.type: slostream` with the conditions as written (not as
//! parsed), so an import reproduces the SLI's fingerprint. An SLO has one `indicatorRef` for one
//! SLI, else one composite objective per SLI with its `compositeWeight` (the weight under
//! `weighted`, 1 otherwise), each with the SLO's target and, for time slices, its
//! `timeSliceTarget` and `timeSliceWindow`. Its period is a rolling window, or for a calendar
//! period a calendar-aligned one (`1w`, `1M`, `1Q`) whose `startTime` begins such a period.

use serde_yaml_ng::{Mapping, Value};

use super::docs::{self, annotation, method, source};
use super::OpenSloError;
use crate::config::{Budgeting, Combine, Config, SloConfig};

/// The documents for the config `text` (read from `file`), as one YAML stream; the config is
/// validated as `slostream check` would first.
pub fn export(text: &str, file: &str) -> Result<String, OpenSloError> {
    let config = Config::from_yaml(text, file)?;
    let raw: Value = serde_yaml_ng::from_str(text).map_err(|e| fail(file, "", "", e.to_string()))?;
    let timestamp_field = raw
        .get("events")
        .and_then(|e| e.get("timestamp_field"))
        .and_then(Value::as_str)
        .unwrap_or("timestamp")
        .to_string();
    let default_service =
        if docs::is_name(&config.kafka.group_id) { config.kafka.group_id.clone() } else { "slostream".into() };

    let mut services: Vec<String> = config.slos.iter().map(|s| service_of(s, &default_service)).collect();
    services.sort();
    services.dedup();
    let mut out: Vec<Value> =
        services.iter().map(|name| document("Service", name, Mapping::new(), Mapping::new())).collect();
    for sli in &config.slis {
        let raw_sli = &raw["slis"][sli.name.as_str()];
        out.push(sli_document(file, &sli.name, sli.description.as_deref(), raw_sli, &timestamp_field)?);
    }
    for slo in &config.slos {
        let raw_slo = &raw["slos"][slo.name.as_str()];
        out.push(slo_document(file, &config, slo, raw_slo, &service_of(slo, &default_service))?);
    }
    let mut text = String::new();
    for doc in out {
        text.push_str("---\n");
        text.push_str(&serde_yaml_ng::to_string(&doc).expect("documents serialize"));
    }
    Ok(text)
}

fn fail(file: &str, document: &str, path: &str, message: String) -> OpenSloError {
    OpenSloError { file: file.into(), document: document.into(), path: path.into(), message }
}

/// The SLO's `service` label, else the default service.
fn service_of(slo: &SloConfig, default: &str) -> String {
    slo.labels.iter().find(|(k, _)| k == "service").map_or_else(|| default.to_string(), |(_, v)| v.clone())
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Mapping {
    entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect()
}

/// `apiVersion`, `kind`, `metadata` (name, then labels and annotations when there are any) and
/// `spec`.
fn document(kind: &str, name: &str, extra: Mapping, spec: Mapping) -> Value {
    let mut metadata = map([("name", name.into())]);
    metadata.extend(extra);
    let mut doc = map([("apiVersion", docs::API_VERSION.into()), ("kind", kind.into()), ("metadata", metadata.into())]);
    doc.insert("spec".into(), spec.into());
    doc.into()
}

fn checked_name(file: &str, kind: &str, name: &str) -> Result<(), OpenSloError> {
    if docs::is_name(name) {
        return Ok(());
    }
    Err(fail(
        file,
        &format!("{kind} {name}"),
        "metadata.name",
        format!(
            "{name:?} is not an OpenSLO name (at most 63 lowercase letters, digits or '-', alphanumeric at both ends)"
        ),
    ))
}

/// An annotation value: text as is, anything else as JSON.
fn annotation_text(v: &Value) -> Value {
    match v {
        Value::String(s) => s.clone().into(),
        other => serde_json::to_string(other).expect("config values are JSON").into(),
    }
}

fn sli_document(
    file: &str,
    name: &str,
    description: Option<&str>,
    raw: &Value,
    timestamp_field: &str,
) -> Result<Value, OpenSloError> {
    checked_name(file, "SLI", name)?;
    let mut total = Mapping::new();
    if let Some(m) = raw.get("match") {
        total.insert(source::MATCH.into(), m.clone());
    }
    let mut good = total.clone();
    good.insert(source::GOOD.into(), raw["good"].clone());
    for spec in [&mut total, &mut good] {
        spec.insert(source::TIMESTAMP_FIELD.into(), timestamp_field.into());
    }
    let metric = |spec: Mapping| {
        Value::from(map([("metricSource", map([("type", docs::SOURCE_TYPE.into()), ("spec", spec.into())]).into())]))
    };
    let ratio = map([("good", metric(good)), ("total", metric(total))]);
    let mut spec = Mapping::new();
    if let Some(d) = description {
        spec.insert("description".into(), d.into());
    }
    spec.insert("ratioMetric".into(), ratio.into());
    let breakdown: Mapping = ["breakdown", "max_values", "breakdown_windows"]
        .into_iter()
        .filter_map(|k| raw.get(k).map(|v| (Value::from(k), v.clone())))
        .collect();
    let mut extra = Mapping::new();
    if !breakdown.is_empty() {
        let annotations = map([(annotation::BREAKDOWN, annotation_text(&breakdown.into()))]);
        extra.insert("annotations".into(), annotations.into());
    }
    Ok(document("SLI", name, extra, spec))
}

fn slo_document(
    file: &str,
    config: &Config,
    slo: &SloConfig,
    raw: &Value,
    service: &str,
) -> Result<Value, OpenSloError> {
    let here = format!("SLO {}", slo.name);
    checked_name(file, "SLO", &slo.name)?;
    if !docs::is_name(service) {
        return Err(fail(
            file,
            &here,
            "metadata.labels.service",
            format!("{service:?} is not an OpenSLO name, so it cannot name the SLO's Service"),
        ));
    }
    let window = match &slo.calendar {
        Some(calendar) => {
            let (duration, start) = docs::calendar_window(calendar.unit);
            let calendar = map([("startTime", start.into()), ("timeZone", calendar.zone.as_str().into())]);
            map([("duration", duration.into()), ("isRolling", false.into()), ("calendar", calendar.into())])
        }
        None => {
            let Some(duration) = docs::shorthand(&slo.period.label) else {
                return Err(fail(
                    file,
                    &here,
                    "spec.timeWindow[0].duration",
                    format!(
                        "period {} is not a whole number of minutes, which OpenSLO durations cannot write",
                        slo.period
                    ),
                ));
            };
            map([("duration", duration.into()), ("isRolling", true.into())])
        }
    };
    let slice_fields = slice_fields(file, &here, slo, raw)?;
    let target = docs::percent_to_target(slo.objective_percent);

    let mut labels = Mapping::new();
    for (k, v) in &slo.labels {
        if !docs::is_label_key(k) {
            return Err(fail(
                file,
                &here,
                &format!("metadata.labels.{k}"),
                format!("{k:?} is not an OpenSLO label key (alphanumeric at both ends)"),
            ));
        }
        labels.insert(k.as_str().into(), v.as_str().into());
    }
    let mut annotations = map([(annotation::COMBINE, slo.combine.as_str().into())]);
    if let Some(alerts) = raw.get("alerts") {
        annotations.insert(annotation::ALERTS.into(), annotation_text(alerts));
    }
    for (key, url) in [(annotation::RUNBOOK_URL, &slo.runbook_url), (annotation::DASHBOARD_URL, &slo.dashboard_url)] {
        if let Some(url) = url {
            annotations.insert(key.into(), url.as_str().into());
        }
    }
    if let Budgeting::Slices(s) = &slo.budgeting {
        annotations.insert(annotation::MIN_EVENTS.into(), s.min_events.to_string().into());
        annotations.insert(annotation::SPARSE.into(), s.sparse.as_str().into());
    }
    let mut extra = Mapping::new();
    if !labels.is_empty() {
        extra.insert("labels".into(), labels.into());
    }
    extra.insert("annotations".into(), annotations.into());

    let mut spec = Mapping::new();
    if let Some(d) = &slo.description {
        spec.insert("description".into(), d.as_str().into());
    }
    spec.insert("service".into(), service.into());
    let objective = |indicator: Option<&str>, weight: Option<f64>| {
        let mut o = Mapping::new();
        if let Some(sli) = indicator {
            o.insert("indicatorRef".into(), sli.into());
        }
        o.insert("target".into(), target.into());
        o.extend(slice_fields.clone());
        if let Some(w) = weight {
            o.insert("compositeWeight".into(), w.into());
        }
        Value::from(o)
    };
    let objectives: Vec<Value> = if let [only] = slo.components.as_slice() {
        spec.insert("indicatorRef".into(), config.slis[only.sli].name.as_str().into());
        vec![objective(None, None)]
    } else {
        slo.components
            .iter()
            .map(|c| {
                let weight = if slo.combine == Combine::Weighted { c.weight } else { 1.0 };
                objective(Some(&config.slis[c.sli].name), Some(weight))
            })
            .collect()
    };
    let method = match &slo.budgeting {
        Budgeting::Occurrences => method::OCCURRENCES,
        Budgeting::Slices(s) if s.target.is_some() => method::TIMESLICES,
        Budgeting::Slices(_) => method::RATIO_TIMESLICES,
    };
    spec.insert("budgetingMethod".into(), method.into());
    spec.insert("timeWindow".into(), vec![Value::from(window)].into());
    spec.insert("objectives".into(), objectives.into());
    Ok(document("SLO", &slo.name, extra, spec))
}

/// Each objective's `timeSliceTarget` (`Timeslices`) and `timeSliceWindow` (both time-slice
/// methods); nothing for occurrences.
fn slice_fields(file: &str, here: &str, slo: &SloConfig, raw: &Value) -> Result<Mapping, OpenSloError> {
    let Budgeting::Slices(s) = &slo.budgeting else { return Ok(Mapping::new()) };
    let Some(window) = docs::slice_shorthand(s.slice_ms / 1000) else {
        return Err(fail(
            file,
            here,
            "spec.objectives[0].timeSliceWindow",
            format!(
                "slice {} is not a whole number of minutes, which OpenSLO durations cannot write (expected e.g. 1m, 5m, 1h)",
                crate::config::duration::label(s.slice_ms / 1000)
            ),
        ));
    };
    let mut fields = Mapping::new();
    if let Some(ratio) = s.target {
        // From the percent as written, so the ratio is exact (95.5 → 0.955).
        let percent = raw.get("budgeting").and_then(|b| b.get("target")).and_then(Value::as_f64);
        let target = percent.map_or(ratio, docs::percent_to_target);
        fields.insert("timeSliceTarget".into(), target.into());
    }
    fields.insert("timeSliceWindow".into(), window.into());
    Ok(fields)
}
