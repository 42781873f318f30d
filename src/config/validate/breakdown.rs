//! An SLI's `breakdown:`, `max_values` and `breakdown_windows`, checked once the SLOs are known
//! (the default windows include the periods of the SLOs that use the SLI).

use std::collections::BTreeMap;

use super::{bad, Invalid};
use crate::config::raw::RawSli;
use crate::config::{duration, BreakdownConfig, SloConfig, Window};
use crate::names::label;

/// At most this many fields: each combination of values keeps its own windows.
const MAX_FIELDS: usize = 3;
/// Combinations tracked when `max_values` is not set.
const DEFAULT_MAX_VALUES: u64 = 50;
/// At most this many combinations per SLI: about 17 MB of windows for a 30-day period.
const MAX_MAX_VALUES: u64 = 1000;
/// Windows exported besides the periods of the SLI's SLOs when `breakdown_windows` is not set.
const DEFAULT_WINDOWS: [&str; 2] = ["1h", "1d"];

/// The breakdown of SLI `name` (id `sli`), or `None` without `breakdown:`. `slos` are all SLOs;
/// windows longer than `max_period_secs` (the longest period, which bounds every window store)
/// are refused.
pub(super) fn breakdown(
    name: &str,
    sli: usize,
    raw: &RawSli,
    slos: &[SloConfig],
    max_period_secs: i64,
) -> Result<Option<BreakdownConfig>, Invalid> {
    let at = format!("slis.{name}");
    let Some(fields) = &raw.breakdown else {
        for (key, set) in
            [("max_values", raw.max_values.is_some()), ("breakdown_windows", raw.breakdown_windows.is_some())]
        {
            if set {
                return Err(bad(
                    &format!("{at}.{key}"),
                    "set without breakdown (expected a breakdown: [field, ...])".into(),
                ));
            }
        }
        return Ok(None);
    };
    let here = format!("{at}.breakdown");
    if fields.is_empty() || fields.len() > MAX_FIELDS {
        return Err(bad(&here, format!("{} fields (expected 1 to {MAX_FIELDS})", fields.len())));
    }
    let mut labels: Vec<String> = Vec::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        let label_name = field.replace('.', "_");
        let valid = label_name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && label_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !label_name.starts_with("__")
            && !field.split('.').any(str::is_empty);
        if !valid || label::RESERVED.contains(&label_name.as_str()) {
            return Err(bad(
                &format!("{here}[{i}]"),
                format!(
                    "{field:?} cannot be a label (expected a field whose name, with . as _, is a Prometheus label name other than {})",
                    label::RESERVED.join(", ")
                ),
            ));
        }
        if labels.contains(&label_name) {
            return Err(bad(&format!("{here}[{i}]"), format!("{field:?} is listed twice (as label {label_name})")));
        }
        labels.push(label_name);
    }
    let max_values = raw.max_values.unwrap_or(DEFAULT_MAX_VALUES);
    if !(1..=MAX_MAX_VALUES).contains(&max_values) {
        return Err(bad(
            &format!("{at}.max_values"),
            format!("{max_values} is out of range (expected 1 to {MAX_MAX_VALUES})"),
        ));
    }
    let mut windows: BTreeMap<i64, Window> = BTreeMap::new();
    match &raw.breakdown_windows {
        Some(list) => {
            for (i, text) in list.iter().enumerate() {
                let path = format!("{at}.breakdown_windows[{i}]");
                let secs = duration::parse_secs(text).map_err(|e| bad(&path, e.to_string()))?;
                if secs > max_period_secs {
                    return Err(bad(
                        &path,
                        format!("{text:?} is longer than the longest SLO period, which bounds every window"),
                    ));
                }
                windows.insert(secs, Window::from_secs(secs));
            }
            if windows.is_empty() {
                return Err(bad(&format!("{at}.breakdown_windows"), "empty (expected at least one window)".into()));
            }
        }
        None => {
            // Calendar periods are left out: a breakdown's windows are rolling, and a calendar
            // period's window is only its longest length.
            let periods = slos
                .iter()
                .filter(|s| s.calendar.is_none() && s.components.iter().any(|c| c.sli == sli))
                .map(|s| s.period.clone());
            for w in DEFAULT_WINDOWS.map(Window::standard).into_iter().chain(periods) {
                if w.secs <= max_period_secs {
                    windows.insert(w.secs, w);
                }
            }
        }
    }
    Ok(Some(BreakdownConfig {
        fields: fields.clone(),
        labels,
        max_values: max_values as usize,
        windows: windows.into_values().collect(),
    }))
}
