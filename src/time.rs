//! Time: the wall clock, and RFC 3339 text to and from epoch milliseconds.
//!
//! The one module that reads the clock. The count stage, `window` and `slo` take time as an
//! argument and never read it themselves (`src/layering.rs` checks it), so tests and benches
//! drive time by hand and a tick evaluates every SLO at one instant.
//!
//! RFC 3339 parsing is hand-written rather than a date crate because it runs once per event: no
//! allocation, no locale, no time-zone database, and it rejects what RFC 3339 rejects.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The variable that shifts slostream's clock by a number of milliseconds (`-86400000` runs a
/// day behind): a rehearsal aid, to see a calendar period roll over or a maintenance window
/// begin without waiting for it. Unset (or 0) in production.
pub const CLOCK_OFFSET_VAR: &str = "SLOSTREAM_CLOCK_OFFSET_MS";

/// Wall clock in epoch milliseconds (0 if the clock is before 1970), shifted by
/// [`CLOCK_OFFSET_VAR`] when it is set.
pub fn wall_ms() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    now + clock_offset_ms()
}

/// [`CLOCK_OFFSET_VAR`], read once; 0 when unset. A value that is not an integer ends the
/// process at its first clock read rather than run on a clock nobody asked for.
fn clock_offset_ms() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| match std::env::var(CLOCK_OFFSET_VAR) {
        Err(_) => 0,
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            eprintln!("slostream: {CLOCK_OFFSET_VAR}={text:?} is not a whole number of milliseconds");
            std::process::exit(2)
        }),
    })
}

/// The clock the pipeline reads (the workers' event-time limits, the tick, checkpoints): the
/// wall clock, or the wall clock shifted by an offset a test moves, so an in-process test can
/// cross a calendar period's end in a second instead of a month. Clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The wall clock shifted so that it reads `now_ms` now; [`Clock::set`] moves it.
    pub fn shifted_to(now_ms: i64) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(now_ms - wall_ms()))))
    }

    /// Epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        wall_ms() + self.0.as_ref().map_or(0, |offset| offset.load(Ordering::Relaxed))
    }

    /// Makes a shifted clock read `now_ms` now (and run on from there); ignored by the wall clock.
    pub fn set(&self, now_ms: i64) {
        if let Some(offset) = &self.0 {
            offset.store(now_ms - wall_ms(), Ordering::Relaxed);
        }
    }
}

/// Parses an RFC 3339 date-time (`2026-11-26T12:00:00.123+01:00`, `T`, `t` or space as the
/// separator, `Z` or a numeric offset, up to nine fractional digits) into epoch milliseconds.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_secs = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = digits(b, i + 1, 2)?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let s = oh * 3600 + om * 60;
            if *sign == b'+' {
                s
            } else {
                -s
            }
        }
        _ => return None,
    };
    // A leap second counts as the last second of its minute: the event stays in its bucket.
    let second = second.min(59);
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1000 + millis)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let mut v = 0i64;
    for &c in b.get(at..at + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_rfc3339_ms(ms: i64, out: &mut String) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Inverse of days_from_civil: search the year, then the month (cheap enough for a generator).
    let mut year = 1970 + days / 366;
    while days_from_civil(year + 1, 1, 1) <= days {
        year += 1;
    }
    let mut month = 1;
    while month < 12 && days_from_civil(year, month + 1, 1) <= days {
        month += 1;
    }
    let day = days - days_from_civil(year, month, 1) + 1;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_that_parses_back() {
        for ms in [0, 1_795_694_400_123, 951_782_399_999, 1_709_164_800_000] {
            let mut s = String::new();
            format_rfc3339_ms(ms, &mut s);
            assert_eq!(parse_rfc3339_ms(&s), Some(ms), "{s}");
        }
    }

    #[test]
    fn parses_utc_and_offsets_to_the_same_instant() {
        let utc = parse_rfc3339_ms("2026-11-26T12:00:00Z").unwrap();
        assert_eq!(utc, 1_795_694_400_000);
        assert_eq!(parse_rfc3339_ms("2026-11-26T13:30:00+01:30"), Some(utc));
        assert_eq!(parse_rfc3339_ms("2026-11-26T07:00:00-05:00"), Some(utc));
        assert_eq!(parse_rfc3339_ms("2026-11-26 12:00:00z"), Some(utc));
    }

    #[test]
    fn keeps_milliseconds_and_truncates_finer_fractions() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00.5Z"), Some(500));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.123456789Z"), Some(1123));
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.000Z"), Some(-1000));
    }

    #[test]
    fn knows_leap_years() {
        assert_eq!(parse_rfc3339_ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(parse_rfc3339_ms("2026-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("2000-02-29T00:00:00Z"), Some(951_782_400_000));
    }

    #[test]
    fn rejects_what_rfc3339_rejects() {
        for bad in [
            "",
            "2026-11-26",
            "2026-11-26T12:00:00",
            "2026-13-01T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T12:00:00.Z",
            "2026-11-26T12:00:00+0100",
            "2026-11-26T12:00:00Zjunk",
            "2026/11/26T12:00:00Z",
            "2026-11-26T12:00:00.1234567890Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }
}
