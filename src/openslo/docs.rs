//! The OpenSLO v1 vocabulary export and import share, so the two directions cannot drift apart:
//! the `apiVersion`, the `metricSource.type` and annotation keys slostream writes and reads,
//! the name rule, duration shorthands, objective targets, budgeting methods and calendar windows.

use jiff::civil::{Date, Time, Weekday};

use crate::config::CalendarUnit;

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
    /// Time-slice SLO: `min_events`, the fewest events that make a slice more than sparse.
    pub(crate) const MIN_EVENTS: &str = "slostream.io/min-events";
    /// Time-slice SLO: `sparse`, what a slice with too few events counts as (`good` or `skip`).
    pub(crate) const SPARSE: &str = "slostream.io/sparse";
}

/// `budgetingMethod` values: slostream's `occurrences`, `timeslices` and `ratio_timeslices`.
pub(crate) mod method {
    pub(crate) const OCCURRENCES: &str = "Occurrences";
    pub(crate) const TIMESLICES: &str = "Timeslices";
    pub(crate) const RATIO_TIMESLICES: &str = "RatioTimeslices";
}

/// The calendar-aligned time window of a calendar period: its duration shorthand and a
/// `startTime` that begins such a period in any zone (a Monday for weeks, January 1st for
/// months and quarters), in the spec's `YYYY-MM-DD HH:MM:SS`.
pub(crate) fn calendar_window(unit: CalendarUnit) -> (&'static str, &'static str) {
    match unit {
        CalendarUnit::Week => ("1w", "2020-01-06 00:00:00"),
        CalendarUnit::Month => ("1M", "2020-01-01 00:00:00"),
        CalendarUnit::Quarter => ("1Q", "2020-01-01 00:00:00"),
    }
}

/// The calendar unit a calendar-aligned window's duration is: `1w`, `1M` or `1Q`.
pub(crate) fn calendar_unit(duration: &str) -> Option<CalendarUnit> {
    CalendarUnit::ALL.into_iter().find(|u| calendar_window(*u).0 == duration)
}

/// A `startTime`: `YYYY-MM-DD HH:MM:SS` exactly (Go's `time.DateTime`, which the reference SDK
/// checks it against).
pub(crate) fn start_time(text: &str) -> Option<(Date, Time)> {
    let shape = text.len() == 19
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    Some((text[..10].parse().ok()?, text[11..].parse().ok()?))
}

/// Whether a period of `unit` starts at local `date` `time`, as slostream counts them: weeks on
/// Monday, months on the 1st, quarters on January, April, July and October 1st, at 00:00.
pub(crate) fn starts_period(unit: CalendarUnit, date: Date, time: Time) -> bool {
    time == Time::midnight()
        && match unit {
            CalendarUnit::Week => date.weekday() == Weekday::Monday,
            CalendarUnit::Month => date.day() == 1,
            CalendarUnit::Quarter => date.day() == 1 && (date.month() - 1) % 3 == 0,
        }
}

/// A slice length as a `timeSliceWindow`: minutes or `1h` (`duration::label`'s text); `None`
/// for slices under a minute or not whole minutes, which OpenSLO durations cannot write.
pub(crate) fn slice_shorthand(slice_secs: i64) -> Option<String> {
    shorthand(&crate::config::duration::label(slice_secs)).map(str::to_string)
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
        assert_eq!(slice_shorthand(3_600).as_deref(), Some("1h"));
        assert_eq!(slice_shorthand(300).as_deref(), Some("5m"));
        assert_eq!(slice_shorthand(30), None);
    }

    #[test]
    fn calendar_windows_start_a_period_and_read_back() {
        for unit in CalendarUnit::ALL {
            let (duration, start) = calendar_window(unit);
            assert_eq!(calendar_unit(duration), Some(unit));
            let (date, time) = start_time(start).unwrap();
            assert!(starts_period(unit, date, time), "{start} starts a {}", unit.as_str());
        }
        assert_eq!(calendar_unit("1Y"), None);
        assert_eq!(calendar_unit("7d"), None);
        let at = |s: &str| start_time(s).unwrap();
        let (monday, tuesday, feb, apr) = (
            at("2026-03-02 00:00:00"),
            at("2026-03-03 00:00:00"),
            at("2026-02-01 00:00:00"),
            at("2026-04-01 00:00:00"),
        );
        assert!(starts_period(CalendarUnit::Week, monday.0, monday.1));
        assert!(!starts_period(CalendarUnit::Week, tuesday.0, tuesday.1));
        assert!(starts_period(CalendarUnit::Month, feb.0, feb.1));
        assert!(!starts_period(CalendarUnit::Quarter, feb.0, feb.1));
        assert!(starts_period(CalendarUnit::Quarter, apr.0, apr.1));
        let late = at("2026-04-01 00:30:00");
        assert!(!starts_period(CalendarUnit::Quarter, late.0, late.1));
        for bad in
            ["2026-04-01T00:00:00", "2026-04-01", "2026-4-01 00:00:00", "2026-02-30 00:00:00", "2026-04-01 24:00:00"]
        {
            assert_eq!(start_time(bad), None, "{bad}");
        }
    }
}
