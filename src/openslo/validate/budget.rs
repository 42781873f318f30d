//! An SLO's time window and budgeting method, checked by OpenSLO's rules and by what slostream
//! counts: a rolling window of a fixed length or a calendar week, month or quarter starting where
//! slostream's periods start; `Occurrences`, or time slices whose `timeSliceTarget` and
//! `timeSliceWindow` each objective gives and whose `min_events` and `sparse` come from
//! slostream's annotations.

use serde_yaml_ng::{Mapping, Value};

use super::{bad, not_yet, number, only_keys, show, string, Invalid};
use crate::config::{Calendar, CalendarUnit};
use crate::openslo::docs::{self, annotation, ShorthandError};

/// An SLO's time window as slostream's `period`.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::openslo) enum Period {
    /// A rolling window of this many seconds.
    Rolling(i64),
    /// A calendar week, month or quarter in an IANA zone.
    Calendar { unit: CalendarUnit, zone: String },
}

/// A `Timeslices` or `RatioTimeslices` SLO's settings, as slostream's `budgeting:`.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::openslo) struct Slices {
    /// `timeSliceTarget` as a percent; `None` for `RatioTimeslices`.
    pub target_percent: Option<f64>,
    /// `timeSliceWindow`.
    pub slice_secs: i64,
    /// From the annotations; `None`: slostream's defaults.
    pub min_events: Option<u64>,
    pub sparse: Option<String>,
}

/// `budgetingMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Occurrences,
    Timeslices,
    RatioTimeslices,
}

/// What one objective says about time slices: (`timeSliceTarget` as a percent, the slice in
/// seconds), both `None` for `Occurrences`.
pub(super) type SliceFields = (Option<f64>, Option<i64>);

/// Exactly one time window: rolling, of a fixed length, or a calendar period slostream counts.
pub(super) fn time_window(v: Option<&Value>) -> Result<Period, Invalid> {
    const AT: &str = "spec.timeWindow";
    let windows = match v {
        Some(Value::Sequence(w)) => w,
        None => return Err(bad(AT, "missing (exactly one time window is required)")),
        Some(v) => return Err(bad(AT, format!("expected a list, found {}", show(v)))),
    };
    let [w] = windows.as_slice() else {
        return Err(bad(AT, format!("has {} items (exactly one time window is required)", windows.len())));
    };
    let at = format!("{AT}[0]");
    only_keys(w, &at, &["duration", "isRolling", "calendar"])?;
    let duration_at = format!("{at}.duration");
    let duration = string(w.get("duration").ok_or_else(|| bad(&duration_at, "missing"))?, &duration_at)?;
    let secs = docs::shorthand_secs(&duration);
    if secs == Err(ShorthandError::Invalid) {
        return Err(bad(
            &duration_at,
            format!(
                "{duration:?} is not a duration shorthand (a positive whole number and one of m, h, d, w, M, Q, Y, \
                 e.g. 28d)"
            ),
        ));
    }
    let rolling = match w.get("isRolling") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(bad(&format!("{at}.isRolling"), format!("expected true or false, found {}", show(v)))),
    };
    match (rolling, w.get("calendar")) {
        (true, Some(_)) => Err(bad(&format!("{at}.calendar"), "'calendar' cannot be set when 'isRolling' is true")),
        (false, None) => Err(bad(&format!("{at}.calendar"), "'calendar' must be set when 'isRolling' is false")),
        (false, Some(c)) => calendar(&duration, c, &at),
        (true, None) => secs.map(Period::Rolling).map_err(|_| {
            let what = format!(
                "duration {duration:?} on a rolling window (months, quarters and years vary in length; write days \
                 or weeks, or a calendar window)"
            );
            not_yet(&duration_at, &what)
        }),
    }
}

/// A calendar-aligned window (`at` is the window's path): a week, month or quarter starting
/// where slostream's periods start, in a zone of the bundled tz database.
fn calendar(duration: &str, c: &Value, at: &str) -> Result<Period, Invalid> {
    let cal_at = format!("{at}.calendar");
    only_keys(c, &cal_at, &["startTime", "timeZone"])?;
    let Some(unit) = docs::calendar_unit(duration) else {
        return Err(not_yet(
            &format!("{at}.duration"),
            &format!("a calendar window of {duration:?} (slostream counts calendar weeks, months and quarters: 1w, 1M or 1Q)"),
        ));
    };
    let start_at = format!("{cal_at}.startTime");
    let start = string(c.get("startTime").ok_or_else(|| bad(&start_at, "missing"))?, &start_at)?;
    let Some((date, time)) = docs::start_time(&start) else {
        return Err(bad(
            &start_at,
            format!("{start:?} is not a date and time (expected YYYY-MM-DD HH:MM:SS, e.g. 2020-01-06 00:00:00)"),
        ));
    };
    let zone_at = format!("{cal_at}.timeZone");
    let zone = string(c.get("timeZone").ok_or_else(|| bad(&zone_at, "missing"))?, &zone_at)?;
    Calendar::new(unit, &zone).map_err(|e| bad(&zone_at, e))?;
    if !docs::starts_period(unit, date, time) {
        let starts = match unit {
            CalendarUnit::Week => "on a Monday",
            CalendarUnit::Month => "on the 1st of a month",
            CalendarUnit::Quarter => "on January, April, July or October 1st",
        };
        return Err(not_yet(
            &start_at,
            &format!(
                "a calendar {} starting at {start:?} (slostream's {}s start {starts} at 00:00, e.g. {})",
                unit.as_str(),
                unit.as_str(),
                docs::calendar_window(unit).1
            ),
        ));
    }
    Ok(Period::Calendar { unit, zone })
}

/// An objective's `timeSliceTarget` (as a percent) and `timeSliceWindow` (in seconds), as its
/// SLO's budgeting method requires: both for `Timeslices`, the window alone for
/// `RatioTimeslices`, neither for `Occurrences`.
pub(super) fn slice_fields(o: &Value, at: &str, method: Method) -> Result<SliceFields, Invalid> {
    let target_at = format!("{at}.timeSliceTarget");
    let window_at = format!("{at}.timeSliceWindow");
    if method == Method::Occurrences {
        for (key, path) in [("timeSliceTarget", &target_at), ("timeSliceWindow", &window_at)] {
            if o.get(key).is_some() {
                return Err(bad(path, "only used with budgetingMethod Timeslices or RatioTimeslices"));
            }
        }
        return Ok((None, None));
    }
    let target = match (method, o.get("timeSliceTarget")) {
        (Method::Timeslices, None) => {
            return Err(bad(&target_at, "missing (required when budgetingMethod is Timeslices, e.g. 0.95)"))
        }
        (Method::Timeslices, Some(t)) => {
            let t = number(t, &target_at)?;
            if !(t > 0.0 && t <= 1.0) {
                return Err(bad(
                    &target_at,
                    format!("{t} is out of range (expected 0 < timeSliceTarget <= 1, e.g. 0.95)"),
                ));
            }
            Some(docs::target_to_percent(t))
        }
        (_, Some(_)) => {
            return Err(bad(
                &target_at,
                "not used by RatioTimeslices, which averages the slices' ratios (remove it, or use Timeslices)",
            ))
        }
        (_, None) => None,
    };
    let window = o.get("timeSliceWindow").ok_or_else(|| {
        bad(&window_at, "missing (required when budgetingMethod is Timeslices or RatioTimeslices, e.g. 1m)")
    })?;
    // The spec allows a number of minutes as well as a shorthand.
    let secs = match window {
        Value::String(w) => match docs::shorthand_secs(w) {
            Err(ShorthandError::Invalid) => {
                return Err(bad(&window_at, format!("{w:?} is not a duration shorthand (e.g. 1m, 5m, 1h)")))
            }
            other => other.ok(),
        },
        Value::Number(n) => match n.as_u64().filter(|m| *m > 0) {
            Some(minutes) => i64::try_from(minutes).ok().and_then(|m| m.checked_mul(60)),
            None => {
                return Err(bad(
                    &window_at,
                    format!(
                        "{n} is not a duration (expected a positive whole number of minutes or a shorthand, e.g. 1m)"
                    ),
                ))
            }
        },
        other => return Err(bad(&window_at, format!("expected a duration shorthand, found {}", show(other)))),
    };
    match secs {
        Some(s) if 3_600 % s == 0 => Ok((target, Some(s))),
        _ => Err(not_yet(
            &window_at,
            &format!(
                "a time slice of {} (slostream's slices divide an hour: 1m, 2m, 3m, 4m, 5m, 6m, 10m, 12m, 15m, 20m, 30m or 1h)",
                show(window)
            ),
        )),
    }
}

/// `min_events` and `sparse` from their annotations, which only a time-slice SLO may have.
pub(super) fn slice_annotations(
    annotations: &Mapping,
    method: Method,
) -> Result<(Option<u64>, Option<String>), Invalid> {
    let text =
        |key: &str| annotations.get(key).and_then(Value::as_str).map(|v| (format!("metadata.annotations.{key}"), v));
    let (min_events, sparse) = (text(annotation::MIN_EVENTS), text(annotation::SPARSE));
    if method == Method::Occurrences {
        if let Some((path, _)) = min_events.as_ref().or(sparse.as_ref()) {
            return Err(bad(path, "only used with budgetingMethod Timeslices or RatioTimeslices"));
        }
    }
    let min_events = min_events
        .map(|(path, v)| {
            v.parse::<u64>().map_err(|_| bad(&path, format!("{v:?} is not a whole number of events (e.g. 20)")))
        })
        .transpose()?;
    let sparse = sparse
        .map(|(path, v)| match v {
            "good" | "skip" => Ok(v.to_string()),
            other => Err(bad(&path, format!("{other:?} is not allowed (expected good or skip)"))),
        })
        .transpose()?;
    Ok((min_events, sparse))
}
