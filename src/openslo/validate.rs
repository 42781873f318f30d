//! One OpenSLO v1 document checked by the rules of OpenSLO's reference SDK (`go-sdk`, which
//! `oslo validate` runs), then by what slostream can count, into the parts import needs.
//!
//! OpenSLO's rules: `apiVersion: openslo/v1`, a known `kind`, `metadata.name` an RFC 1123
//! label, label keys and annotation values as the spec says, descriptions of at most 1050
//! characters; an SLO has a `service`, a `budgetingMethod`, exactly one `timeWindow` whose
//! `calendar` is set exactly when `isRolling` is false, `indicator` or `indicatorRef` either on
//! the spec or on every objective (composite), objectives with `target` in [0, 1) or
//! `targetPercent` in [0, 100) but not both, no `op` or `value` (the SLIs are ratios), a
//! `compositeWeight` above 0, `timeSliceTarget` in (0, 1] on every objective of a `Timeslices`
//! SLO and a `timeSliceWindow` on every objective of a `Timeslices` or `RatioTimeslices` one; an
//! SLI has `ratioMetric` or `thresholdMetric`, a ratio `good` or `bad` with `total`, or `raw`.
//! Unknown fields are refused, as `oslo validate` does, so a typo is not a silently dropped
//! setting.
//!
//! Then what slostream can count: a calendar window must be a week, month or quarter that starts
//! where slostream's do (Monday, the 1st, a quarter's first month, at 00:00), and a time slice a
//! length that divides an hour. What OpenSLO allows but slostream cannot count yet (other
//! calendar windows, threshold and raw metrics, a source other than `slostream`, alert
//! policies) is refused with "not supported yet" at the field, never dropped. A target of 0 is
//! refused too: an objective of 0 % has no meaning for slostream, and settings a method does
//! not use (`timeSliceTarget` on `RatioTimeslices`) are refused rather than ignored.
//!
//! `budget` checks the time window and the budgeting method; this file the rest.

use serde_yaml_ng::{Mapping, Value};

mod budget;

pub(super) use budget::{Period, Slices};

use super::docs::{self, annotation, method, source};
use budget::{slice_annotations, slice_fields, time_window, Method, SliceFields};

/// A key path and what is wrong there; the caller adds the file and the document.
pub(super) type Invalid = (String, String);

fn bad(path: &str, message: impl Into<String>) -> Invalid {
    (path.to_string(), message.into())
}

fn not_yet(path: &str, what: &str) -> Invalid {
    bad(path, format!("{what} is not supported yet by slostream"))
}

/// A checked document.
#[derive(Debug)]
pub(super) enum Checked {
    /// Nothing slostream keeps: SLOs name their service in `spec.service`.
    Service,
    Sli(Sli),
    Slo(Slo),
}

/// An SLI as slostream writes it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sli {
    pub name: String,
    pub description: Option<String>,
    /// `None`: every event.
    pub matches: Option<Value>,
    pub good: Value,
    /// `None`: the document does not say, so the config's (or the default) applies.
    pub timestamp_field: Option<String>,
    /// `breakdown`, `max_values`, `breakdown_windows` from the annotation.
    pub breakdown: Mapping,
}

/// An SLO as slostream writes it; SLIs by name, with where each was named.
#[derive(Debug)]
pub(super) struct Slo {
    pub name: String,
    pub description: Option<String>,
    pub objective_percent: f64,
    pub period: Period,
    /// `None`: `Occurrences`.
    pub slices: Option<Slices>,
    /// From the annotation; `None`: `pooled` for one SLI, `weighted` for a composite.
    pub combine: Option<String>,
    /// (SLI name, weight, path of the reference).
    pub components: Vec<(String, f64, String)>,
    pub labels: Vec<(String, String)>,
    pub alerts: Option<Value>,
    pub runbook_url: Option<String>,
    pub dashboard_url: Option<String>,
    /// SLIs written inline (`indicator:`).
    pub inline: Vec<Sli>,
}

/// The document's kind and name, or what is wrong with them.
pub(super) fn header(doc: &Value) -> Result<(String, String), Invalid> {
    let Value::Mapping(_) = doc else {
        return Err(bad("", "expected a mapping with apiVersion, kind, metadata and spec"));
    };
    match doc.get("apiVersion") {
        None => return Err(bad("apiVersion", format!("missing (expected {})", docs::API_VERSION))),
        Some(v) if v.as_str() == Some(docs::API_VERSION) => {}
        Some(v) => {
            return Err(bad("apiVersion", format!("{} is not supported (expected {})", show(v), docs::API_VERSION)))
        }
    }
    let kind = match doc.get("kind") {
        None => return Err(bad("kind", "missing")),
        Some(Value::String(k)) if docs::KINDS.contains(&k.as_str()) => k.clone(),
        Some(v) => {
            return Err(bad("kind", format!("{} is not an OpenSLO v1 kind ({})", show(v), docs::KINDS.join(", "))))
        }
    };
    let name = name(doc.get("metadata"), "metadata")?;
    Ok((kind, name))
}

/// `metadata.name`: present and an RFC 1123 label.
fn name(metadata: Option<&Value>, at: &str) -> Result<String, Invalid> {
    let Some(metadata) = metadata else { return Err(bad(at, "missing")) };
    match metadata.get("name") {
        None => Err(bad(&format!("{at}.name"), "missing")),
        Some(Value::String(n)) if docs::is_name(n) => Ok(n.clone()),
        Some(v) => Err(bad(
            &format!("{at}.name"),
            format!(
                "{} is not a name (at most 63 lowercase letters, digits or '-', alphanumeric at both ends)",
                show(v)
            ),
        )),
    }
}

/// The whole document, once [`header`] passed.
pub(super) fn check(doc: &Value, kind: &str, name: &str) -> Result<Checked, Invalid> {
    only_keys(doc, "", &["apiVersion", "kind", "metadata", "spec"])?;
    let metadata = doc.get("metadata").expect("header checked it");
    let (labels, annotations) = metadata_parts(metadata, "metadata")?;
    let spec = doc.get("spec");
    match kind {
        "Service" => {
            if let Some(spec) = spec {
                only_keys(spec, "spec", &["description"])?;
                description(spec, "spec")?;
            }
            Ok(Checked::Service)
        }
        "SLI" => {
            let spec = spec.ok_or_else(|| bad("spec", "missing"))?;
            Ok(Checked::Sli(sli(name, spec, "spec", &annotations)?))
        }
        "SLO" => {
            let spec = spec.ok_or_else(|| bad("spec", "missing"))?;
            Ok(Checked::Slo(slo(name, spec, labels, &annotations)?))
        }
        other => Err(not_yet("kind", &format!("kind {other}"))),
    }
}

/// A short description of a value for messages.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(_) => "a tagged value".into(),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// `v` is a mapping whose keys are all in `allowed`.
fn only_keys(v: &Value, at: &str, allowed: &[&str]) -> Result<(), Invalid> {
    let Value::Mapping(m) = v else {
        return Err(bad(at, format!("expected a mapping, found {}", show(v))));
    };
    for k in m.keys() {
        let key = k.as_str().unwrap_or_default();
        if !allowed.contains(&key) {
            return Err(bad(
                &join(at, show(k).trim_matches('"')),
                format!("unknown field (expected one of {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn string(v: &Value, path: &str) -> Result<String, Invalid> {
    v.as_str().map(str::to_string).ok_or_else(|| bad(path, format!("expected a string, found {}", show(v))))
}

fn number(v: &Value, path: &str) -> Result<f64, Invalid> {
    v.as_f64().ok_or_else(|| bad(path, format!("expected a number, found {}", show(v))))
}

fn description(spec: &Value, at: &str) -> Result<Option<String>, Invalid> {
    let path = join(at, "description");
    let Some(d) = spec.get("description") else { return Ok(None) };
    let d = string(d, &path)?;
    if d.chars().count() > docs::MAX_DESCRIPTION {
        return Err(bad(&path, format!("longer than {} characters", docs::MAX_DESCRIPTION)));
    }
    Ok(Some(d))
}

/// `metadata.labels` (one text value each, as slostream's labels have) and
/// `metadata.annotations`.
fn metadata_parts(metadata: &Value, at: &str) -> Result<(Vec<(String, String)>, Mapping), Invalid> {
    only_keys(metadata, at, &["name", "displayName", "labels", "annotations"])?;
    let mut labels = Vec::new();
    if let Some(l) = metadata.get("labels") {
        let Value::Mapping(m) = l else { return Err(bad(&join(at, "labels"), "expected a mapping")) };
        for (k, v) in m {
            let key = k.as_str().unwrap_or_default().to_string();
            let path = format!("{at}.labels.{key}");
            if !docs::is_label_key(&key) {
                return Err(bad(&path, format!("{} is not a label key (at most 63 characters, alphanumeric at both ends; '-', '_', '.' between)", show(k))));
            }
            match v {
                Value::String(s) => labels.push((key, s.clone())),
                Value::Sequence(items) if items.iter().all(|i| i.is_string()) => {
                    return Err(not_yet(&path, "a label with several values"))
                }
                other => {
                    return Err(bad(&path, format!("expected a string or a list of strings, found {}", show(other))))
                }
            }
        }
    }
    let mut annotations = Mapping::new();
    if let Some(a) = metadata.get("annotations") {
        let Value::Mapping(m) = a else { return Err(bad(&join(at, "annotations"), "expected a mapping")) };
        for (k, v) in m {
            let key = k.as_str().unwrap_or_default();
            let path = format!("{at}.annotations.{key}");
            let name = key.rsplit('/').next().unwrap_or_default();
            if !docs::is_label_key(name) {
                return Err(bad(
                    &path,
                    format!("{} is not an annotation key ([prefix/]name, name alphanumeric at both ends)", show(k)),
                ));
            }
            annotations.insert(k.clone(), string(v, &path)?.into());
        }
    }
    Ok((labels, annotations))
}

/// An annotation's JSON (or YAML) value.
fn parsed_annotation(annotations: &Mapping, key: &str) -> Result<Option<Value>, Invalid> {
    let Some(text) = annotations.get(key).and_then(Value::as_str) else { return Ok(None) };
    serde_yaml_ng::from_str(text)
        .map(Some)
        .map_err(|e| bad(&format!("metadata.annotations.{key}"), format!("not JSON: {e}")))
}

fn sli(name: &str, spec: &Value, at: &str, annotations: &Mapping) -> Result<Sli, Invalid> {
    only_keys(spec, at, &["description", "thresholdMetric", "ratioMetric"])?;
    let description = description(spec, at)?;
    let ratio = match (spec.get("ratioMetric"), spec.get("thresholdMetric")) {
        (Some(_), Some(_)) => return Err(bad(at, "ratioMetric and thresholdMetric are mutually exclusive")),
        (None, None) => return Err(bad(at, "one of ratioMetric or thresholdMetric is required")),
        (None, Some(_)) => {
            return Err(not_yet(
                &join(at, "thresholdMetric"),
                "thresholdMetric (slostream counts good and total events: use ratioMetric)",
            ))
        }
        (Some(r), None) => r,
    };
    let at = join(at, "ratioMetric");
    only_keys(ratio, &at, &["counter", "good", "bad", "total", "rawType", "raw"])?;
    if let Some(c) = ratio.get("counter") {
        c.as_bool().ok_or_else(|| bad(&join(&at, "counter"), format!("expected true or false, found {}", show(c))))?;
    }
    let get = |k: &str| ratio.get(k);
    if get("raw").is_some() {
        if get("good").is_some() || get("bad").is_some() || get("total").is_some() {
            return Err(bad(&join(&at, "raw"), "raw cannot be used together with good, bad or total"));
        }
        return Err(not_yet(&join(&at, "raw"), "a precomputed ratio (raw)"));
    }
    let good = match (get("good"), get("bad")) {
        (Some(_), Some(_)) => return Err(bad(&at, "good and bad are mutually exclusive")),
        (None, None) => return Err(bad(&join(&at, "good"), "missing (one of good or bad is required with total)")),
        (None, Some(_)) => return Err(not_yet(&join(&at, "bad"), "bad (write good: slostream counts good events)")),
        (Some(g), None) => g,
    };
    let total =
        get("total").ok_or_else(|| bad(&join(&at, "total"), "missing (the denominator is required with good)"))?;
    let total_at = join(&at, "total.metricSource.spec");
    let good_at = join(&at, "good.metricSource.spec");
    let total = metric_source_spec(total, &join(&at, "total"), false)?;
    let good = metric_source_spec(good, &join(&at, "good"), true)?;
    let matches = total.get(source::MATCH).cloned();
    if good.get(source::MATCH) != matches.as_ref() {
        return Err(bad(
            &join(&good_at, source::MATCH),
            "differs from total's match (good counts the events of total that are good)",
        ));
    }
    let good_condition = good.get(source::GOOD).cloned().ok_or_else(|| {
        bad(&join(&good_at, source::GOOD), "missing (the condition an event of total must meet to be good)")
    })?;
    let field = |spec: &Mapping, at: &str| {
        spec.get(source::TIMESTAMP_FIELD).map(|v| string(v, &join(at, source::TIMESTAMP_FIELD))).transpose()
    };
    let timestamp_field = field(&total, &total_at)?;
    if field(&good, &good_at)? != timestamp_field {
        return Err(bad(&join(&good_at, source::TIMESTAMP_FIELD), "differs from total's timestamp_field"));
    }
    let breakdown = match parsed_annotation(annotations, annotation::BREAKDOWN)? {
        None => Mapping::new(),
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            return Err(bad(&format!("metadata.annotations.{}", annotation::BREAKDOWN), "expected a JSON object"))
        }
    };
    Ok(Sli { name: name.to_string(), description, matches, good: good_condition, timestamp_field, breakdown })
}

/// `{metricSource: {type: slostream, spec: {...}}}` → the spec.
fn metric_source_spec(metric: &Value, at: &str, is_good: bool) -> Result<Mapping, Invalid> {
    only_keys(metric, at, &["metricSource"])?;
    let at = join(at, "metricSource");
    let source = metric.get("metricSource").ok_or_else(|| bad(&at, "missing"))?;
    only_keys(source, &at, &["metricSourceRef", "type", "spec"])?;
    if source.get("metricSourceRef").is_some() {
        return Err(not_yet(
            &join(&at, "metricSourceRef"),
            "a DataSource reference (slostream reads its own events: write type: slostream)",
        ));
    }
    match source.get("type") {
        Some(Value::String(t)) if t == docs::SOURCE_TYPE => {}
        None => return Err(bad(&join(&at, "type"), format!("missing (expected {})", docs::SOURCE_TYPE))),
        Some(v) => {
            return Err(not_yet(
                &join(&at, "type"),
                &format!("metric source type {} (expected {})", show(v), docs::SOURCE_TYPE),
            ))
        }
    }
    let spec_at = join(&at, "spec");
    let spec = source.get("spec").ok_or_else(|| bad(&spec_at, "missing"))?;
    let allowed: &[&str] = if is_good {
        &[source::MATCH, source::GOOD, source::TIMESTAMP_FIELD]
    } else {
        &[source::MATCH, source::TIMESTAMP_FIELD]
    };
    only_keys(spec, &spec_at, allowed)?;
    Ok(spec.as_mapping().cloned().unwrap_or_default())
}

fn slo(name: &str, spec: &Value, labels: Vec<(String, String)>, annotations: &Mapping) -> Result<Slo, Invalid> {
    only_keys(
        spec,
        "spec",
        &[
            "description",
            "service",
            "indicator",
            "indicatorRef",
            "timeWindow",
            "budgetingMethod",
            "objectives",
            "alertPolicies",
        ],
    )?;
    let description = description(spec, "spec")?;
    match spec.get("service") {
        None => return Err(bad("spec.service", "missing (the name of the service the SLO belongs to)")),
        Some(s) if string(s, "spec.service")?.trim().is_empty() => return Err(bad("spec.service", "empty")),
        Some(_) => {}
    }
    let method = match spec.get("budgetingMethod") {
        None => {
            return Err(bad("spec.budgetingMethod", "missing (expected Occurrences, Timeslices or RatioTimeslices)"))
        }
        Some(Value::String(m)) if m == method::OCCURRENCES => Method::Occurrences,
        Some(Value::String(m)) if m == method::TIMESLICES => Method::Timeslices,
        Some(Value::String(m)) if m == method::RATIO_TIMESLICES => Method::RatioTimeslices,
        Some(v) => {
            return Err(bad(
                "spec.budgetingMethod",
                format!("{} is not one of Occurrences, Timeslices, RatioTimeslices", show(v)),
            ))
        }
    };
    let period = time_window(spec.get("timeWindow"))?;
    if spec.get("alertPolicies").and_then(Value::as_sequence).is_some_and(|p| !p.is_empty()) {
        return Err(not_yet(
            "spec.alertPolicies",
            &format!("alertPolicies (slostream's burn-rate alerts are set with the {} annotation)", annotation::ALERTS),
        ));
    }
    let objectives = match spec.get("objectives") {
        None => return Err(bad("spec.objectives", "missing (at least one objective with a target)")),
        Some(Value::Sequence(o)) if !o.is_empty() => o,
        Some(v) => return Err(bad("spec.objectives", format!("expected a non-empty list, found {}", show(v)))),
    };
    let composite = objectives.iter().any(|o| o.get("indicator").is_some() || o.get("indicatorRef").is_some());
    let on_spec = spec.get("indicator").is_some() || spec.get("indicatorRef").is_some();
    const WHERE: &str = "'indicator' or 'indicatorRef' fields must either be defined on the 'spec' level (standard SLOs) or on the 'spec.objectives[*]' level (composite SLOs)";
    if composite == on_spec {
        let which = if composite { "but not both" } else { "but none were provided" };
        return Err(bad("spec", format!("{WHERE}, {which}")));
    }
    let combine = annotations.get(annotation::COMBINE).and_then(Value::as_str).map(str::to_string);
    if let Some(c) = &combine {
        if !["pooled", "product", "weighted", "min"].contains(&c.as_str()) {
            return Err(bad(
                &format!("metadata.annotations.{}", annotation::COMBINE),
                format!("{c:?} is not one of pooled, product, weighted, min"),
            ));
        }
    }
    let weighted = combine.as_deref().map_or(composite, |c| c == "weighted");
    let mut inline = Vec::new();
    let mut components = Vec::new();
    let mut target: Option<(f64, SliceFields)> = None;
    for (i, o) in objectives.iter().enumerate() {
        let at = format!("spec.objectives[{i}]");
        let percent = objective(o, &at)?;
        let slice = slice_fields(o, &at, method)?;
        match &target {
            Some((first, _)) if *first != percent => {
                return Err(not_yet(&at, &format!("an objective whose target differs from spec.objectives[0]'s ({percent} % against {first} %): slostream has one objective per SLO")))
            }
            Some((_, first)) if *first != slice => {
                return Err(not_yet(&at, "an objective whose timeSliceTarget or timeSliceWindow differs from spec.objectives[0]'s: slostream has one slice setting per SLO"))
            }
            Some(_) => {}
            None => target = Some((percent, slice)),
        }
        if composite {
            let sli = indicator(o, &at, &mut inline)?;
            let weight = match o.get("compositeWeight") {
                None => 1.0,
                Some(w) => {
                    let w = number(w, &format!("{at}.compositeWeight"))?;
                    if !(w > 0.0 && w.is_finite()) {
                        return Err(bad(
                            &format!("{at}.compositeWeight"),
                            format!("{w} is not allowed (expected a weight > 0)"),
                        ));
                    }
                    w
                }
            };
            if !weighted && weight != 1.0 {
                return Err(bad(
                    &format!("{at}.compositeWeight"),
                    format!("{weight} would be ignored: weights apply only with {}: weighted", annotation::COMBINE),
                ));
            }
            components.push((sli, weight, format!("{at}.indicatorRef")));
        } else {
            if i > 0 {
                return Err(not_yet(&at, "a second objective on one indicator: slostream has one objective per SLO"));
            }
            if let Some(w) = o.get("compositeWeight") {
                return Err(bad(
                    &format!("{at}.compositeWeight"),
                    format!("{} is only allowed on composite objectives", show(w)),
                ));
            }
        }
    }
    if !composite {
        let sli = indicator(spec, "spec", &mut inline)?;
        components.push((sli, 1.0, "spec.indicatorRef".into()));
    }
    let alerts = match parsed_annotation(annotations, annotation::ALERTS)? {
        Some(v @ Value::Sequence(_)) => Some(v),
        Some(_) => {
            return Err(bad(
                &format!("metadata.annotations.{}", annotation::ALERTS),
                "expected a JSON list of alert rules",
            ))
        }
        None => None,
    };
    let url = |key: &str| annotations.get(key).and_then(Value::as_str).map(str::to_string);
    let (objective_percent, (slice_target, slice_secs)) = target.expect("objectives is not empty");
    let (min_events, sparse) = slice_annotations(annotations, method)?;
    let slices = slice_secs.map(|slice_secs| Slices { target_percent: slice_target, slice_secs, min_events, sparse });
    Ok(Slo {
        name: name.to_string(),
        description,
        objective_percent,
        period,
        slices,
        combine,
        components,
        labels,
        alerts,
        runbook_url: url(annotation::RUNBOOK_URL),
        dashboard_url: url(annotation::DASHBOARD_URL),
        inline,
    })
}

/// One objective's target as a percent, and the fields a ratio objective must not have.
fn objective(o: &Value, at: &str) -> Result<f64, Invalid> {
    only_keys(
        o,
        at,
        &[
            "displayName",
            "op",
            "value",
            "target",
            "targetPercent",
            "timeSliceTarget",
            "timeSliceWindow",
            "indicator",
            "indicatorRef",
            "compositeWeight",
        ],
    )?;
    for key in ["op", "value"] {
        if o.get(key).is_some() {
            return Err(bad(
                &format!("{at}.{key}"),
                "only allowed with a thresholdMetric SLI (slostream's SLIs are ratioMetric)",
            ));
        }
    }
    match (o.get("target"), o.get("targetPercent")) {
        (Some(_), Some(_)) => Err(bad(at, "target and targetPercent are mutually exclusive")),
        (None, None) => Err(bad(&format!("{at}.target"), "missing (one of target or targetPercent is required)")),
        (Some(t), None) => {
            let path = format!("{at}.target");
            let t = number(t, &path)?;
            if !(t > 0.0 && t < 1.0) {
                return Err(bad(&path, format!("{t} is out of range (expected 0 < target < 1, e.g. 0.999)")));
            }
            Ok(docs::target_to_percent(t))
        }
        (None, Some(p)) => {
            let path = format!("{at}.targetPercent");
            let p = number(p, &path)?;
            if !(p > 0.0 && p < 100.0) {
                return Err(bad(&path, format!("{p} is out of range (expected 0 < targetPercent < 100, e.g. 99.9)")));
            }
            Ok(p)
        }
    }
}

/// The SLI named by `indicatorRef`, or written inline as `indicator` (added to `inline`).
fn indicator(v: &Value, at: &str, inline: &mut Vec<Sli>) -> Result<String, Invalid> {
    match (v.get("indicator"), v.get("indicatorRef")) {
        (Some(_), Some(_)) => Err(bad(at, "indicator and indicatorRef are mutually exclusive")),
        (None, Some(r)) => {
            let path = join(at, "indicatorRef");
            let r = string(r, &path)?;
            if !docs::is_name(&r) {
                return Err(bad(&path, format!("{r:?} is not an SLI name")));
            }
            Ok(r)
        }
        (Some(i), None) => {
            let at = join(at, "indicator");
            only_keys(i, &at, &["metadata", "spec"])?;
            let name = name(i.get("metadata"), &join(&at, "metadata"))?;
            let (_, annotations) = metadata_parts(i.get("metadata").expect("named"), &join(&at, "metadata"))?;
            let spec = i.get("spec").ok_or_else(|| bad(&join(&at, "spec"), "missing"))?;
            inline.push(sli(&name, spec, &join(&at, "spec"), &annotations)?);
            Ok(name)
        }
        (None, None) => Err(bad(&join(at, "indicatorRef"), "missing (indicator or indicatorRef)")),
    }
}
