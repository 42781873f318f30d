//! Calendar periods: `period: {calendar: month, time_zone: "Europe/Paris"}`.
//!
//! A calendar period is `[start of the current week, month or quarter, now]`, its boundaries at
//! local midnight in its zone (so a day with a DST change lasts 23 or 25 hours), weeks starting
//! on Monday. The arithmetic is pure: it takes the instant as an argument, so the count stage and
//! `slo` use it without reading a clock, and tests pass any instant they like.
//!
//! Zones come from the tz database bundled into the binary by `jiff` (`tzdb-bundle-always`), not
//! from the host: two hosts with different zoneinfo packages would otherwise roll a period over
//! at different instants, and a container image without zoneinfo could not run at all.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

const DAY_SECS: i64 = 86_400;

/// The length of a calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CalendarUnit {
    /// Monday 00:00 to the next Monday 00:00.
    Week,
    /// The 1st 00:00 to the next month's 1st.
    Month,
    /// January, April, July or October 1st 00:00 to the next one.
    Quarter,
}

impl CalendarUnit {
    /// Every unit, as written in the config.
    pub const ALL: [CalendarUnit; 3] = [CalendarUnit::Week, CalendarUnit::Month, CalendarUnit::Quarter];

    /// The config value and the `window` label of the period.
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarUnit::Week => "week",
            CalendarUnit::Month => "month",
            CalendarUnit::Quarter => "quarter",
        }
    }

    /// The most a period of this unit can last anywhere: its most days plus one, since a zone
    /// may set its clocks back (a DST end adds an hour; some zones have moved by a whole day).
    /// It sizes the coarse window tier and bounds how old an event may be.
    pub(crate) fn max_secs(self) -> i64 {
        let days = match self {
            CalendarUnit::Week => 7,
            CalendarUnit::Month => 31,
            CalendarUnit::Quarter => 92,
        };
        (days + 1) * DAY_SECS
    }

    /// The least a period of this unit can last: its fewest days minus one, for clocks set
    /// forward. Alert windows must be shorter than this.
    pub(crate) fn min_secs(self) -> i64 {
        let days = match self {
            CalendarUnit::Week => 7,
            CalendarUnit::Month => 28,
            CalendarUnit::Quarter => 90,
        };
        (days - 1) * DAY_SECS
    }
}

/// One calendar period's bounds, `[start, end)` in epoch milliseconds. For a rolling period,
/// `[now - period, now]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeriodBounds {
    /// When the period began.
    pub start_ms: i64,
    /// When it ends (rolling: now).
    pub end_ms: i64,
}

impl PeriodBounds {
    /// The whole period's length in seconds: what alert factors are computed with.
    pub fn len_secs(self) -> i64 {
        (self.end_ms - self.start_ms) / 1000
    }
}

/// A calendar period in one time zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// Week, month or quarter.
    pub unit: CalendarUnit,
    /// The IANA zone name, as written.
    pub zone: String,
    tz: TimeZone,
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Calendar) -> bool {
        self.unit == other.unit && self.zone == other.zone
    }
}

impl Calendar {
    /// The calendar of `unit` in the IANA zone `zone`, looked up in the bundled tz database.
    pub(crate) fn new(unit: CalendarUnit, zone: &str) -> Result<Calendar, String> {
        let tz = jiff::tz::db()
            .get(zone)
            .map_err(|_| format!("{zone:?} is not a time zone (expected an IANA name, e.g. Europe/Paris or UTC)"))?;
        Ok(Calendar { unit, zone: zone.to_string(), tz })
    }

    /// The period holding the instant `now_ms`.
    pub fn bounds(&self, now_ms: i64) -> PeriodBounds {
        let now = Timestamp::from_millisecond(now_ms).unwrap_or_default();
        let date = now.to_zoned_datetime(self.tz.clone()).date();
        let first = match self.unit {
            CalendarUnit::Week => date - i64::from(date.weekday().to_monday_zero_offset()).days(),
            CalendarUnit::Month => date.first_of_month(),
            CalendarUnit::Quarter => {
                Date::new(date.year(), (date.month() - 1) / 3 * 3 + 1, 1).expect("the first of a quarter's month")
            }
        };
        let next = match self.unit {
            CalendarUnit::Week => first + 7.days(),
            CalendarUnit::Month => first + 1.month(),
            CalendarUnit::Quarter => first + 3.months(),
        };
        PeriodBounds { start_ms: self.midnight_ms(first), end_ms: self.midnight_ms(next) }
    }

    /// The first instant of `date` in the zone: midnight, or the end of the gap where a zone
    /// skips midnight.
    fn midnight_ms(&self, date: Date) -> i64 {
        date.to_zoned_datetime(self.tz.clone())
            .and_then(|z| z.start_of_day())
            .map(|z| z.timestamp().as_millisecond())
            .expect("dates within the years 1970-9999 have a start")
    }
}

#[cfg(test)]
mod tests;
