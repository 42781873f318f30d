//! OpenSLO v1 documents → a slostream config: every document checked (see [`super::validate`]),
//! every `indicatorRef` resolved, then the SLIs and SLOs written as slostream's `slis` and
//! `slos` into a base config.
//!
//! With `--base`, the base config's other sections are kept (comments are not: the file is
//! rewritten from its parsed form). Without it, a `kafka` section is written whose brokers are
//! `${KAFKA_BROKERS}`, so `slostream check` names the one thing left to set instead of the config
//! silently pointing at a guessed broker; its topic is `requests` and its group the Service's
//! name when there is exactly one. The result is validated as `check` would before it is
//! printed, so an import never hands over a config slostream refuses.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use super::validate::{self, Checked, Period, Sli, Slo};
use super::OpenSloError;
use crate::config::{duration, Config};

/// A file's name (for messages) and its text.
#[derive(Debug, Clone)]
pub struct Source {
    /// As given on the command line.
    pub file: String,
    /// Its content.
    pub text: String,
}

/// The environment variable the placeholder brokers name.
pub const BROKERS_VARIABLE: &str = "KAFKA_BROKERS";

/// Where a checked document came from, for errors found after checking it.
struct Located<T> {
    file: String,
    document: String,
    item: T,
}

impl<T> Located<T> {
    fn error(&self, path: &str, message: String) -> OpenSloError {
        OpenSloError { file: self.file.clone(), document: self.document.clone(), path: path.into(), message }
    }
}

/// The slostream config the documents of `sources` describe, merged into `base` if given.
pub fn import(sources: &[Source], base: Option<&Source>) -> Result<String, OpenSloError> {
    let mut services = Vec::new();
    let mut slis: Vec<Located<Sli>> = Vec::new();
    let mut slos: Vec<Located<Slo>> = Vec::new();
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for src in sources {
        for (i, doc) in documents(src)?.into_iter().enumerate() {
            let fail = |document: String, (path, message): validate::Invalid| OpenSloError {
                file: src.file.clone(),
                document,
                path,
                message,
            };
            let (kind, name) = validate::header(&doc).map_err(|e| fail(format!("document {}", i + 1), e))?;
            let document = format!("{kind} {name}");
            if let Some(first) = seen.insert((kind.clone(), name.clone()), src.file.clone()) {
                return Err(fail(document, ("metadata.name".into(), format!("defined twice (first in {first})"))));
            }
            match validate::check(&doc, &kind, &name).map_err(|e| fail(document.clone(), e))? {
                Checked::Service => services.push(name),
                Checked::Sli(sli) => slis.push(Located { file: src.file.clone(), document, item: sli }),
                Checked::Slo(mut slo) => {
                    for sli in std::mem::take(&mut slo.inline) {
                        slis.push(Located { file: src.file.clone(), document: document.clone(), item: sli });
                    }
                    slos.push(Located { file: src.file.clone(), document, item: slo });
                }
            }
        }
    }
    let slis = distinct(slis)?;
    for slo in &slos {
        for (sli, _, path) in &slo.item.components {
            if !slis.contains_key(sli) {
                return Err(slo.error(path, format!("no SLI named {sli:?} in the documents read")));
            }
        }
    }
    if slos.is_empty() {
        let file = sources.iter().map(|s| s.file.as_str()).collect::<Vec<_>>().join(", ");
        return Err(OpenSloError {
            file,
            document: String::new(),
            path: String::new(),
            message: "no SLO document (expected at least one kind: SLO)".into(),
        });
    }

    let mut config = match base {
        Some(b) => base_config(b)?,
        None => placeholder_config(&services),
    };
    let timestamp_field = timestamp_field(&config, base, &slis)?;
    if base.is_none() && timestamp_field != "timestamp" {
        config.insert("events".into(), map([("timestamp_field", timestamp_field.as_str().into())]).into());
    }
    config.insert(
        "slis".into(),
        slis.values().map(|s| (s.item.name.as_str().into(), sli_yaml(&s.item))).collect::<Mapping>().into(),
    );
    config.insert(
        "slos".into(),
        slos.iter().map(|s| (s.item.name.as_str().into(), slo_yaml(&s.item))).collect::<Mapping>().into(),
    );
    let text = serde_yaml_ng::to_string(&Value::from(config.clone())).expect("config serializes");
    verify(&config).map_err(|e| blame(e, &slos))?;
    let header = match base {
        Some(b) => {
            format!("# slostream config: the SLIs and SLOs of OpenSLO documents, the other sections of {}\n", b.file)
        }
        None => format!("# slostream config from OpenSLO documents: set {BROKERS_VARIABLE} and check kafka.topics\n"),
    };
    Ok(header + &text)
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Mapping {
    entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect()
}

/// The YAML stream's documents, empty ones left out.
fn documents(src: &Source) -> Result<Vec<Value>, OpenSloError> {
    let mut out = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(&src.text).enumerate() {
        let v = Value::deserialize(de).map_err(|e| OpenSloError {
            file: src.file.clone(),
            document: format!("document {}", i + 1),
            path: String::new(),
            message: format!("not YAML: {e}"),
        })?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// SLIs by name; the same name twice (a document and an inline `indicator`) must be the same SLI.
fn distinct(slis: Vec<Located<Sli>>) -> Result<BTreeMap<String, Located<Sli>>, OpenSloError> {
    let mut out: BTreeMap<String, Located<Sli>> = BTreeMap::new();
    for sli in slis {
        match out.get(&sli.item.name) {
            Some(first) if first.item != sli.item => {
                return Err(sli.error(
                    "",
                    format!("defines SLI {:?} differently from {} in {}", sli.item.name, first.document, first.file),
                ))
            }
            Some(_) => {}
            None => {
                out.insert(sli.item.name.clone(), sli);
            }
        }
    }
    Ok(out)
}

fn base_config(b: &Source) -> Result<Mapping, OpenSloError> {
    let fail =
        |message: String| OpenSloError { file: b.file.clone(), document: String::new(), path: String::new(), message };
    match serde_yaml_ng::from_str::<Value>(&b.text) {
        Ok(Value::Mapping(m)) => Ok(m),
        Ok(_) => Err(fail("expected a slostream config (a mapping)".into())),
        Err(e) => Err(fail(format!("not YAML: {e}"))),
    }
}

fn placeholder_config(services: &[String]) -> Mapping {
    let group = match services {
        [only] => only.clone(),
        _ => "slostream".into(),
    };
    let kafka = map([
        ("brokers", format!("${{{BROKERS_VARIABLE}}}").into()),
        ("topics", vec![Value::from("requests")].into()),
        ("group_id", group.into()),
    ]);
    map([("kafka", kafka.into())])
}

/// The one `events.timestamp_field` all SLIs were written with: a config has one, and the SLI
/// fingerprints include it.
fn timestamp_field(
    config: &Mapping,
    base: Option<&Source>,
    slis: &BTreeMap<String, Located<Sli>>,
) -> Result<String, OpenSloError> {
    let from_base =
        config.get("events").and_then(|e| e.get("timestamp_field")).and_then(Value::as_str).map(str::to_string);
    let mut chosen: Option<(String, &Located<Sli>)> = None;
    for sli in slis.values() {
        let Some(field) = &sli.item.timestamp_field else { continue };
        let path = "spec.ratioMetric.total.metricSource.spec.timestamp_field";
        if let (Some(b), Some(base)) = (&from_base, base) {
            if b != field {
                return Err(
                    sli.error(path, format!("{field:?} differs from events.timestamp_field {b:?} of {}", base.file))
                );
            }
        } else if base.is_some() && field != "timestamp" {
            return Err(sli.error(
                path,
                format!("{field:?} differs from the default events.timestamp_field \"timestamp\" of the base config"),
            ));
        }
        match &chosen {
            Some((first, from)) if first != field => {
                return Err(sli.error(
                    path,
                    format!(
                        "{field:?} differs from {first:?} of {}: a slostream config has one timestamp field",
                        from.document
                    ),
                ))
            }
            Some(_) => {}
            None => chosen = Some((field.clone(), sli)),
        }
    }
    Ok(chosen.map(|(f, _)| f).or(from_base).unwrap_or_else(|| "timestamp".into()))
}

fn sli_yaml(sli: &Sli) -> Value {
    let mut m = Mapping::new();
    if let Some(d) = &sli.description {
        m.insert("description".into(), d.as_str().into());
    }
    if let Some(v) = &sli.matches {
        m.insert("match".into(), v.clone());
    }
    m.insert("good".into(), sli.good.clone());
    m.extend(sli.breakdown.clone());
    m.into()
}

fn slo_yaml(slo: &Slo) -> Value {
    let combine =
        slo.combine
            .clone()
            .unwrap_or_else(|| if slo.components.len() > 1 { "weighted".into() } else { "pooled".into() });
    let weighted = combine == "weighted";
    let mut m = Mapping::new();
    if let Some(d) = &slo.description {
        m.insert("description".into(), d.as_str().into());
    }
    m.insert("objective".into(), slo.objective_percent.into());
    let period = match &slo.period {
        Period::Rolling(secs) => duration::label(*secs).into(),
        Period::Calendar { unit, zone } => {
            map([("calendar", unit.as_str().into()), ("time_zone", zone.as_str().into())]).into()
        }
    };
    m.insert("period".into(), period);
    m.insert("combine".into(), combine.into());
    if let Some(s) = &slo.slices {
        let method = if s.target_percent.is_some() { "timeslices" } else { "ratio_timeslices" };
        let mut b = map([("method", method.into()), ("slice", duration::label(s.slice_secs).into())]);
        if let Some(t) = s.target_percent {
            b.insert("target".into(), t.into());
        }
        // Absent annotations leave slostream's defaults (min_events 1, sparse good).
        if let Some(n) = s.min_events {
            b.insert("min_events".into(), n.into());
        }
        if let Some(sparse) = &s.sparse {
            b.insert("sparse".into(), sparse.as_str().into());
        }
        m.insert("budgeting".into(), b.into());
    }
    let slis: Vec<Value> = slo
        .components
        .iter()
        .map(|(sli, weight, _)| {
            if weighted {
                map([("sli", sli.as_str().into()), ("weight", (*weight).into())]).into()
            } else {
                sli.as_str().into()
            }
        })
        .collect();
    m.insert("slis".into(), slis.into());
    if let Some(a) = &slo.alerts {
        m.insert("alerts".into(), a.clone());
    }
    if !slo.labels.is_empty() {
        m.insert(
            "labels".into(),
            slo.labels
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), Value::from(v.as_str())))
                .collect::<Mapping>()
                .into(),
        );
    }
    for (key, url) in [("runbook_url", &slo.runbook_url), ("dashboard_url", &slo.dashboard_url)] {
        if let Some(u) = url {
            m.insert(key.into(), u.as_str().into());
        }
    }
    m.into()
}

/// An error `check` found in the imported `slos.NAME...`, told at the SLO document it came from
/// and, where one field says it, at that field (a slice longer than an alert's short window is
/// the objective's `timeSliceWindow`).
fn blame(e: OpenSloError, slos: &[Located<Slo>]) -> OpenSloError {
    let Some(slo) = slos.iter().find(|s| e.path.starts_with(&format!("slos.{}.", s.item.name))) else { return e };
    let key = &e.path[format!("slos.{}.", slo.item.name).len()..];
    let path = match key {
        "budgeting.slice" => "spec.objectives[0].timeSliceWindow".to_string(),
        _ => e.path.clone(),
    };
    slo.error(&path, e.message)
}

/// The `slis`, `slos` and timestamp field as `slostream check` would judge them, apart from
/// sections the import does not write (a base's TLS files need not exist where it runs).
fn verify(config: &Mapping) -> Result<(), OpenSloError> {
    let mut probe = map([(
        "kafka",
        map([
            ("brokers", "localhost:9092".into()),
            ("topics", vec![Value::from("t")].into()),
            ("group_id", "g".into()),
        ])
        .into(),
    )]);
    if let Some(field) = config.get("events").and_then(|e| e.get("timestamp_field")) {
        probe.insert("events".into(), map([("timestamp_field", field.clone())]).into());
    }
    for key in ["slis", "slos"] {
        probe.insert(key.into(), config.get(key).cloned().unwrap_or_default());
    }
    let text = serde_yaml_ng::to_string(&Value::from(probe)).expect("config serializes");
    Config::from_yaml_with_env(&text, "the imported config", |_| None).map(|_| ()).map_err(|e| OpenSloError {
        file: e.file,
        document: String::new(),
        path: e.path,
        message: format!("{} (slostream refuses what the documents describe)", e.message),
    })
}
