//! An SLO's `budgeting:`: occurrences, or a time-slice method with its slice, target and
//! sparse-slice guard.

use super::{bad, Invalid};
use crate::config::budgeting::{Budgeting, SliceBudget, Sparse};
use crate::config::raw::RawBudgeting;
use crate::config::{duration, AlertRule};

/// Slices are cut from the window store's 10-second buckets.
const SLICE_UNIT_SECS: i64 = 10;
const HOUR_SECS: i64 = 3_600;
/// A slice with fewer events than this is sparse unless `min_events` says otherwise.
pub(crate) const DEFAULT_MIN_EVENTS: u64 = 1;

/// `alerts`: the SLO's alert rules; each window of theirs must hold at least one slice, or the
/// rule could never fire.
pub(super) fn budgeting(raw: Option<&RawBudgeting>, alerts: &[AlertRule], at: &str) -> Result<Budgeting, Invalid> {
    let path = format!("{at}.budgeting");
    let raw = match raw {
        None => return Ok(Budgeting::Occurrences),
        Some(RawBudgeting::Named(name)) if name == "occurrences" => return Ok(Budgeting::Occurrences),
        Some(RawBudgeting::Named(name)) => {
            return Err(bad(
                &path,
                format!(
                    "{name:?} is not a budgeting method here (expected occurrences, or {{method: timeslices | \
                     ratio_timeslices, slice: 1m, ...}})"
                ),
            ))
        }
        Some(RawBudgeting::Slices(s)) => s,
    };
    let ratio_method = match raw.method.as_str() {
        "timeslices" => false,
        "ratio_timeslices" => true,
        "occurrences" => {
            return Err(bad(
                &format!("{path}.method"),
                "occurrences takes no settings (write budgeting: occurrences)".into(),
            ))
        }
        other => {
            return Err(bad(
                &format!("{path}.method"),
                format!("{other:?} is not a budgeting method (expected timeslices or ratio_timeslices)"),
            ))
        }
    };
    let slice_text = raw.slice.as_deref().unwrap_or("1m");
    let slice = duration::parse_secs(slice_text).map_err(|e| bad(&format!("{path}.slice"), e.to_string()))?;
    if slice % SLICE_UNIT_SECS != 0 || HOUR_SECS % slice != 0 {
        return Err(bad(
            &format!("{path}.slice"),
            format!(
                "{slice_text:?} is not allowed (expected a multiple of 10s that divides 1h, e.g. 10s, 30s, 1m, 5m)"
            ),
        ));
    }
    if let Some(rule) = alerts.iter().find(|a| a.short.secs < slice) {
        return Err(bad(
            &format!("{path}.slice"),
            format!(
                "{slice_text:?} is longer than the {} alert's short window {}, which would never hold a closed slice, \
                 so the alert could never fire (expected a slice of at most {}, or alerts: whose windows are at \
                 least {slice_text})",
                rule.severity.as_str(),
                rule.short,
                rule.short
            ),
        ));
    }
    let target = match (ratio_method, raw.target) {
        (false, Some(t)) if t > 0.0 && t <= 100.0 => Some((t / 100.0 * 1e12).round() / 1e12),
        (false, Some(t)) => {
            return Err(bad(
                &format!("{path}.target"),
                format!("{t} is out of range (expected a percent, 0 < target <= 100)"),
            ))
        }
        (false, None) => {
            return Err(bad(
                &format!("{path}.target"),
                "missing (timeslices needs the percent that makes a slice good, e.g. 95)".into(),
            ))
        }
        (true, Some(_)) => {
            return Err(bad(
                &format!("{path}.target"),
                "not used by ratio_timeslices, which averages the slices' ratios (remove it, or use timeslices)".into(),
            ))
        }
        (true, None) => None,
    };
    let sparse = match raw.sparse.as_deref() {
        None | Some("good") => Sparse::Good,
        Some("skip") => Sparse::Skip,
        Some(other) => {
            return Err(bad(&format!("{path}.sparse"), format!("{other:?} is not allowed (expected good or skip)")))
        }
    };
    Ok(Budgeting::Slices(SliceBudget {
        slice_ms: slice * 1000,
        target,
        min_events: raw.min_events.unwrap_or(DEFAULT_MIN_EVENTS),
        sparse,
    }))
}

#[cfg(test)]
mod tests {
    use crate::config::{Budgeting, Config, SliceBudget, Sparse};

    fn with(budgeting: &str) -> Result<Config, String> {
        let yaml = include_str!("../../../config/example.yaml").replacen(
            "    period: \"30d\"\n",
            &format!("    period: \"30d\"\n    budgeting: {budgeting}\n"),
            1,
        );
        assert_ne!(yaml, include_str!("../../../config/example.yaml"), "the example has a 30d SLO");
        Config::from_yaml(&yaml, "x.yaml").map_err(|e| e.to_string())
    }

    #[test]
    fn slice_settings_are_read_with_their_defaults() {
        let c = with("{ method: timeslices, slice: 30s, target: 95, min_events: 20, sparse: skip }").unwrap();
        let slo = c.slos.iter().find(|s| s.budgeting != Budgeting::Occurrences).unwrap();
        let want = SliceBudget { slice_ms: 30_000, target: Some(0.95), min_events: 20, sparse: Sparse::Skip };
        assert_eq!(slo.budgeting, Budgeting::Slices(want));
        let c = with("{ method: ratio_timeslices }").unwrap();
        let slo = c.slos.iter().find(|s| s.budgeting != Budgeting::Occurrences).unwrap();
        let want = SliceBudget { slice_ms: 60_000, target: None, min_events: 1, sparse: Sparse::Good };
        assert_eq!(slo.budgeting, Budgeting::Slices(want));
        assert_eq!(slo.budgeting.as_str(), "ratio_timeslices");
        assert!(with("occurrences").unwrap().slos.iter().all(|s| s.budgeting == Budgeting::Occurrences));
    }

    #[test]
    fn bad_slice_settings_name_the_key_and_what_is_expected() {
        for (budgeting, key, says) in [
            ("events", "budgeting", "expected occurrences"),
            ("{ method: timeslice, target: 95 }", "budgeting.method", "expected timeslices or ratio_timeslices"),
            ("{ method: occurrences }", "budgeting.method", "takes no settings"),
            ("{ method: timeslices, slice: 25s, target: 95 }", "budgeting.slice", "multiple of 10s that divides 1h"),
            ("{ method: timeslices, slice: 7m, target: 95 }", "budgeting.slice", "multiple of 10s that divides 1h"),
            ("{ method: timeslices, slice: 2h, target: 95 }", "budgeting.slice", "multiple of 10s that divides 1h"),
            ("{ method: timeslices, slice: 10m, target: 95 }", "budgeting.slice", "short window 5m"),
            ("{ method: timeslices, slice: 1x, target: 95 }", "budgeting.slice", ""),
            ("{ method: timeslices }", "budgeting.target", "missing"),
            ("{ method: timeslices, target: 0 }", "budgeting.target", "0 < target <= 100"),
            ("{ method: timeslices, target: 101 }", "budgeting.target", "0 < target <= 100"),
            ("{ method: ratio_timeslices, target: 95 }", "budgeting.target", "not used by ratio_timeslices"),
            ("{ method: timeslices, target: 95, sparse: bad }", "budgeting.sparse", "expected good or skip"),
            ("{ method: timeslices, target: 95, min_events: -1 }", "budgeting", ""),
            ("{ method: timeslices, target: 95, min: 3 }", "budgeting", ""),
        ] {
            let err = with(budgeting).expect_err(budgeting);
            assert!(err.contains(&format!(".{key}")) && err.contains(says), "{budgeting}: {err}");
        }
    }
}
