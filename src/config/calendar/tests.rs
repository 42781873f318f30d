use super::*;
use crate::time::parse_rfc3339_ms;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn at(text: &str) -> i64 {
    parse_rfc3339_ms(text).expect("a test instant")
}

fn paris(unit: CalendarUnit) -> Calendar {
    Calendar::new(unit, "Europe/Paris").expect("a bundled zone")
}

fn bounds(unit: CalendarUnit, now: &str) -> (i64, i64) {
    let b = paris(unit).bounds(at(now));
    (b.start_ms, b.end_ms)
}

#[test]
fn a_month_with_the_spring_dst_change_lasts_31_days_less_an_hour() {
    let (start, end) = bounds(CalendarUnit::Month, "2026-03-29T12:00:00Z");
    assert_eq!(start, at("2026-03-01T00:00:00+01:00"));
    assert_eq!(end, at("2026-04-01T00:00:00+02:00"));
    assert_eq!(end - start, 31 * DAY_MS - HOUR_MS);
}

#[test]
fn a_month_with_the_autumn_dst_change_lasts_31_days_and_an_hour() {
    let (start, end) = bounds(CalendarUnit::Month, "2026-10-25T01:30:00Z");
    assert_eq!(start, at("2026-10-01T00:00:00+02:00"));
    assert_eq!(end, at("2026-11-01T00:00:00+01:00"));
    assert_eq!(end - start, 31 * DAY_MS + HOUR_MS);
}

#[test]
fn weeks_holding_a_dst_change_last_23_or_25_hours_more_than_six_days() {
    let (start, end) = bounds(CalendarUnit::Week, "2026-03-29T10:00:00+02:00");
    assert_eq!((start, end), (at("2026-03-23T00:00:00+01:00"), at("2026-03-30T00:00:00+02:00")));
    assert_eq!(end - start, 6 * DAY_MS + 23 * HOUR_MS);
    let (start, end) = bounds(CalendarUnit::Week, "2026-10-25T10:00:00+01:00");
    assert_eq!((start, end), (at("2026-10-19T00:00:00+02:00"), at("2026-10-26T00:00:00+01:00")));
    assert_eq!(end - start, 6 * DAY_MS + 25 * HOUR_MS);
}

#[test]
fn a_31_day_month_and_february_in_common_and_leap_years() {
    let (start, end) = bounds(CalendarUnit::Month, "2027-01-17T08:00:00Z");
    assert_eq!((start, end - start), (at("2027-01-01T00:00:00+01:00"), 31 * DAY_MS));
    let (start, end) = bounds(CalendarUnit::Month, "2027-02-28T22:59:59.999Z");
    assert_eq!((start, end - start), (at("2027-02-01T00:00:00+01:00"), 28 * DAY_MS));
    let (start, end) = bounds(CalendarUnit::Month, "2028-02-29T12:00:00+01:00");
    assert_eq!((start, end - start), (at("2028-02-01T00:00:00+01:00"), 29 * DAY_MS));
}

#[test]
fn quarters_start_in_january_april_july_and_october() {
    let (start, end) = bounds(CalendarUnit::Quarter, "2026-05-15T12:00:00Z");
    assert_eq!((start, end), (at("2026-04-01T00:00:00+02:00"), at("2026-07-01T00:00:00+02:00")));
    assert_eq!(end - start, 91 * DAY_MS);
    let (start, end) = bounds(CalendarUnit::Quarter, "2026-12-31T22:59:59.999Z");
    assert_eq!((start, end), (at("2026-10-01T00:00:00+02:00"), at("2027-01-01T00:00:00+01:00")));
    assert_eq!(end - start, 92 * DAY_MS + HOUR_MS);
    let (start, end) = bounds(CalendarUnit::Quarter, "2027-01-01T00:00:00+01:00");
    assert_eq!((start, end), (at("2027-01-01T00:00:00+01:00"), at("2027-04-01T00:00:00+02:00")));
    assert_eq!(end - start, 90 * DAY_MS - HOUR_MS);
}

#[test]
fn weeks_start_on_monday_at_local_midnight() {
    // Sunday 2026-11-29, then the first instant of Monday 2026-11-30 in Paris (23:00 UTC).
    let monday = at("2026-11-30T00:00:00+01:00");
    let (start, end) = bounds(CalendarUnit::Week, "2026-11-29T23:59:59.999+01:00");
    assert_eq!((start, end), (at("2026-11-23T00:00:00+01:00"), monday));
    assert_eq!(bounds(CalendarUnit::Week, "2026-11-29T23:00:00Z"), (monday, monday + 7 * DAY_MS));
    assert_eq!(bounds(CalendarUnit::Week, "2026-12-06T23:59:59+01:00"), (monday, monday + 7 * DAY_MS));
}

#[test]
fn a_period_rolls_over_at_local_midnight_not_utc_midnight() {
    let december = at("2026-12-01T00:00:00+01:00");
    assert_eq!(bounds(CalendarUnit::Month, "2026-11-30T22:59:59.999Z").1, december);
    assert_eq!(bounds(CalendarUnit::Month, "2026-11-30T23:00:00Z").0, december);
    let utc = Calendar::new(CalendarUnit::Month, "UTC").expect("UTC");
    assert_eq!(utc.bounds(at("2026-11-30T23:00:00Z")).start_ms, at("2026-11-01T00:00:00Z"));
}

#[test]
fn every_period_lies_between_its_units_shortest_and_longest() {
    for zone in ["Europe/Paris", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago", "UTC"] {
        for unit in CalendarUnit::ALL {
            let calendar = Calendar::new(unit, zone).expect("a bundled zone");
            let mut now = at("2025-01-01T00:00:00Z");
            while now < at("2031-01-01T00:00:00Z") {
                let b = calendar.bounds(now);
                assert!(b.start_ms <= now && now < b.end_ms, "{zone} {unit:?} {now}");
                let len = b.len_secs();
                assert!(unit.min_secs() <= len && len <= unit.max_secs(), "{zone} {unit:?} {now}: {len}");
                now = b.end_ms;
            }
        }
    }
}

#[test]
fn an_unknown_zone_is_refused_and_the_host_zone_is_never_read() {
    let err = Calendar::new(CalendarUnit::Month, "Europe/Atlantis").unwrap_err();
    assert!(err.contains("\"Europe/Atlantis\" is not a time zone"), "{err}");
    assert!(Calendar::new(CalendarUnit::Month, "localtime").is_err());
}
