//! The OpenSLO v1 vocabulary export and import share, so the two directions cannot drift apart:
//! the `apiVersion`, the `metricSource.type` and annotation keys slostream writes and reads,
//! the name rule, duration shorthands and objective targets.

/// The only version written and read.
pub(crate) const API_VERSION: &str = "openslo/v1";

/// `metricSource.type` of an SLI slostream counts; its `spec` holds the SLI as slostream writes
/// it (`match`, `good`, `timestamp_field`).
pub(crate) const SOURCE_TYPE: &str = "slostream";

/// Keys of the `metricSource.spec` of an SLI's `good` and `total`.
pub(crate) mod source {
    /// The SLI's `match:` as written; absent when the SLI takes every event.
    pub(crate) const MATCH: &str = "match";
    /// The SLI's `good:` as written (only under `good`).
    pub(crate) const GOOD: &str = "good";
    /// `events.timestamp_field`: it places events in time, so it is part of the definition.
    pub(crate) const TIMESTAMP_FIELD: &str = "timestamp_field";
}

/// What OpenSLO has no field for, carried in `metadata.annotations` (values are text; lists and
/// maps are JSON).
pub(crate) mod annotation {
    /// SLO: `pooled`, `product`, `weighted` or `min`. OpenSLO's composite SLO is a weighted
    /// one; the others, and pooling several SLIs, have no OpenSLO spelling.
    pub(crate) const COMBINE: &str = "slostream.io/combine";
    /// SLO: its `alerts:` list as written, in JSON; absent when the default rules apply.
    pub(crate) const ALERTS: &str = "slostream.io/alerts";
    /// SLO: `runbook_url`.
    pub(crate) const RUNBOOK_URL: &str = "slostream.io/runbook-url";
    /// SLO: `dashboard_url`.
    pub(crate) const DASHBOARD_URL: &str = "slostream.io/dashboard-url";
    /// SLI: its `breakdown`, `max_values` and `breakdown_windows` as written, one JSON object.
    pub(crate) const BREAKDOWN: &str = "slostream.io/breakdown";
}

/// The kinds of OpenSLO v1, for telling an unknown kind from one slostream does not import.
pub(crate) const KINDS: &[&str] =
    &["DataSource", "SLO", "SLI", "AlertPolicy", "AlertCondition", "AlertNotificationTarget", "Service"];

/// Longest `spec.description` OpenSLO allows.
pub(crate) const MAX_DESCRIPTION: usize = 1050;

/// The name rule every implementation must support (RFC 1123 label): at most 63 lowercase
/// alphanumerics or `-`, starting and ending with an alphanumeric.
pub(crate) fn is_name(s: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    s.len() <= 63
        && edge(s.chars().next())
        && edge(s.chars().last())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A `metadata.labels` key: at most 63 characters, alphanumeric at both ends, `-`, `_`, `.` and
/// alphanumerics between.
pub(crate) fn is_label_key(s: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    s.len() <= 63
        && edge(s.chars().next())
        && edge(s.chars().last())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A period as a duration shorthand: slostream's window label (`28d`, `90m`) already is one,
/// except for lengths that are not whole minutes, which OpenSLO cannot write.
pub(crate) fn shorthand(label: &str) -> Option<&str> {
    (!label.ends_with('s')).then_some(label)
}

/// Why a duration shorthand is not a slostream period.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ShorthandError {
    /// Not `<digits><unit>` with a unit OpenSLO defines.
    Invalid,
    /// `M`, `Q` or `Y`: calendar lengths, which vary.
    Calendar,
}

/// Seconds of a rolling duration shorthand (`m`, `h`, `d`, `w`), positive.
pub(crate) fn shorthand_secs(text: &str) -> Result<i64, ShorthandError> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let n: i64 = number.parse().map_err(|_| ShorthandError::Invalid)?;
    let size = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "M" | "Q" | "Y" => return Err(ShorthandError::Calendar),
        _ => return Err(ShorthandError::Invalid),
    };
    n.checked_mul(size).filter(|s| *s > 0).ok_or(ShorthandError::Invalid)
}

/// An objective percent as OpenSLO's `target` ratio, by moving the decimal point in its
/// shortest text: 99.9 becomes 0.999 exactly, where 99.9 / 100 is 0.9990000000000001.
pub(crate) fn percent_to_target(percent: f64) -> f64 {
    shift(&percent.to_string(), -2).parse().expect("a shifted decimal is a number")
}

/// A `target` ratio as slostream's objective percent, the inverse of [`percent_to_target`].
pub(crate) fn target_to_percent(target: f64) -> f64 {
    shift(&target.to_string(), 2).parse().expect("a shifted decimal is a number")
}

/// The plain decimal `text` (no sign, no exponent: how `f64` displays a positive number)
/// multiplied by 10^`places`.
fn shift(text: &str, places: i32) -> String {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = format!("{int}{frac}");
    let point = int.len() as i32 + places;
    let digits = if point <= 0 {
        format!("{}{digits}", "0".repeat((1 - point) as usize))
    } else if point as usize > digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        digits
    };
    let point = point.max(1) as usize;
    format!("{}.{}", &digits[..point], &digits[point..]).trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_percents_convert_exactly_both_ways() {
        for (percent, target) in
            [(99.9, 0.999), (99.5, 0.995), (99.999, 0.99999), (50.0, 0.5), (1.0, 0.01), (0.5, 0.005)]
        {
            assert_eq!(percent_to_target(percent), target, "{percent}");
            assert_eq!(target_to_percent(target), percent, "{target}");
        }
        assert_ne!(99.9 / 100.0, 0.999, "the naive division is what this avoids");
    }

    #[test]
    fn names_labels_and_shorthands_follow_the_spec() {
        assert!(is_name("search-a-ride") && is_name("a") && is_name(&"a".repeat(63)));
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_name(bad), "{bad:?}");
        }
        assert!(is_label_key("team") && is_label_key("cost.centre_1") && !is_label_key("_team"));
        assert_eq!(shorthand_secs("28d"), Ok(28 * 86_400));
        assert_eq!(shorthand_secs("4w"), Ok(28 * 86_400));
        assert_eq!(shorthand_secs("90m"), Ok(5_400));
        assert_eq!(shorthand_secs("1M"), Err(ShorthandError::Calendar));
        for bad in ["30s", "0d", "d", "1 d", "-1d", "1.5h"] {
            assert_eq!(shorthand_secs(bad), Err(ShorthandError::Invalid), "{bad:?}");
        }
        assert_eq!(shorthand("28d"), Some("28d"));
        assert_eq!(shorthand("90s"), None);
    }
}
