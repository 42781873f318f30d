//! Maintenance windows (`maintenance:`): planned downtime whose events are left out of every SLI.
//!
//! A window is a [`Schedule`] of absolute instants (occurrence `k` covers
//! `[start + k·every, start + k·every + duration)`, cut at `until`) and a `match:` condition in
//! the SLIs' grammar. Times are instants, not wall-clock times: a weekly window keeps its
//! instant across a DST change (22:00 in Paris in winter is 23:00 there in summer).

use super::Condition;

/// One `maintenance:` entry, validated.
#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    /// The `maintenance` label value.
    pub name: String,
    /// Which events it claims (`match:`; absent: all of them).
    pub(crate) matches: Condition,
    /// When it is in force.
    pub schedule: Schedule,
}

/// When a maintenance window is in force: occurrence `k ≥ 0` covers
/// `start + k·every ≤ t < start + k·every + duration`, and only while `t < until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The first occurrence's start, epoch milliseconds.
    pub start_ms: i64,
    /// How long each occurrence lasts (> 0).
    pub duration_ms: i64,
    /// Time from one occurrence's start to the next's (≥ `duration_ms`); `None`: once.
    pub every_ms: Option<i64>,
    /// Nothing at or after this instant is covered (after `start_ms`); `None`: no end.
    pub until_ms: Option<i64>,
}

impl Schedule {
    /// Whether the instant `t_ms` falls inside an occurrence: start inclusive, end exclusive.
    /// Arithmetic only (one remainder), no loop over occurrences.
    #[inline]
    pub fn contains(&self, t_ms: i64) -> bool {
        if t_ms < self.start_ms || self.until_ms.is_some_and(|until| t_ms >= until) {
            return false;
        }
        // `t_ms ≥ start_ms`, so only a time near i64::MAX could overflow: none is covered then.
        let Some(since) = t_ms.checked_sub(self.start_ms) else { return false };
        match self.every_ms {
            None => since < self.duration_ms,
            Some(every) => since % every < self.duration_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    fn at(rfc3339: &str) -> i64 {
        rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    /// The naive reference: walk the occurrences one by one.
    fn covered_by_walking(s: &Schedule, t: i64) -> bool {
        let mut start = s.start_ms;
        loop {
            if s.until_ms.is_some_and(|u| t >= u) || start > t {
                return false;
            }
            if t < start + s.duration_ms {
                return true;
            }
            match s.every_ms {
                Some(every) => start += every,
                None => return false,
            }
        }
    }

    #[test]
    fn a_single_window_covers_its_start_but_not_its_end() {
        let s = Schedule { start_ms: 10 * HOUR, duration_ms: 2 * HOUR, every_ms: None, until_ms: None };
        assert!(!s.contains(10 * HOUR - 1));
        assert!(s.contains(10 * HOUR));
        assert!(s.contains(12 * HOUR - 1));
        assert!(!s.contains(12 * HOUR));
        assert!(!s.contains(10 * HOUR + 7 * DAY), "no recurrence without every");
    }

    #[test]
    fn a_weekly_window_recurs_until_its_end() {
        // The contract's example: Thursdays 22:00-24:00 Paris time (winter), until March 2027.
        let s = Schedule {
            start_ms: at("2026-12-03T22:00:00+01:00"),
            duration_ms: 2 * HOUR,
            every_ms: Some(7 * DAY),
            until_ms: Some(at("2027-03-01T00:00:00Z")),
        };
        assert!(s.contains(at("2026-12-03T21:00:00Z")));
        assert!(!s.contains(at("2026-12-03T20:59:59.999Z")));
        assert!(s.contains(at("2026-12-03T22:59:59.999Z")));
        assert!(!s.contains(at("2026-12-03T23:00:00Z")));
        assert!(s.contains(at("2026-12-10T21:30:00Z")), "the next week");
        assert!(!s.contains(at("2026-12-11T21:30:00Z")), "not the next day");
        assert!(s.contains(at("2027-02-25T22:00:00+01:00")), "the last occurrence before until");
        assert!(!s.contains(at("2027-03-04T22:00:00+01:00")), "none after until");
    }

    #[test]
    fn until_cuts_an_occurrence_that_runs_past_it() {
        let s = Schedule { start_ms: 0, duration_ms: 2 * HOUR, every_ms: Some(DAY), until_ms: Some(DAY + HOUR) };
        assert!(s.contains(DAY + HOUR - 1));
        assert!(!s.contains(DAY + HOUR));
        assert!(!s.contains(DAY + 2 * HOUR - 1));
    }

    /// Occurrences are whole multiples of `every` after an absolute instant: in local time they
    /// move by an hour across a DST change, in UTC they do not.
    #[test]
    fn occurrences_are_instants_whatever_the_time_zone_does() {
        let s = Schedule {
            start_ms: at("2027-03-25T22:00:00+01:00"),
            duration_ms: HOUR,
            every_ms: Some(7 * DAY),
            until_ms: None,
        };
        // Paris moves to summer time on 2027-03-28: one week on, 21:00 UTC is 23:00 there.
        assert!(s.contains(at("2027-04-01T21:00:00Z")));
        assert!(s.contains(at("2027-04-01T23:00:00+02:00")));
        assert!(!s.contains(at("2027-04-01T22:00:00+02:00")), "not at 22:00 local time any more");
    }

    #[test]
    fn back_to_back_occurrences_leave_no_gap() {
        let s = Schedule { start_ms: 0, duration_ms: HOUR, every_ms: Some(HOUR), until_ms: None };
        assert!((0..10 * HOUR).step_by(MIN as usize).all(|t| s.contains(t)));
        assert!(!s.contains(-1));
    }

    #[test]
    fn times_far_off_are_not_covered_and_do_not_overflow() {
        let s = Schedule { start_ms: -5 * DAY, duration_ms: HOUR, every_ms: Some(DAY), until_ms: None };
        assert!(!s.contains(i64::MIN));
        assert!(!s.contains(i64::MAX - 1));
        assert!(s.contains(-5 * DAY));
        assert!(s.contains(1_000 * DAY + 30 * MIN));
    }

    /// The remainder agrees with walking the occurrences, around every boundary of many
    /// schedules.
    #[test]
    fn agrees_with_walking_the_occurrences() {
        let mut checked = 0;
        for start in [-3 * DAY - 7, 0, 5 * HOUR + 1] {
            for duration in [1, MIN, 2 * HOUR, DAY] {
                for every in [None, Some(duration), Some(2 * HOUR + 13), Some(DAY), Some(7 * DAY)] {
                    if every.is_some_and(|e| e < duration) {
                        continue;
                    }
                    for until in [None, Some(start + 3 * DAY + HOUR), Some(start + 1)] {
                        let s = Schedule { start_ms: start, duration_ms: duration, every_ms: every, until_ms: until };
                        let mut edges = vec![start];
                        for k in 0..4 {
                            let begin = start + k * every.unwrap_or(0);
                            edges.extend([begin, begin + duration]);
                        }
                        edges.extend(until);
                        for edge in edges {
                            for t in [edge - 1, edge, edge + 1] {
                                assert_eq!(s.contains(t), covered_by_walking(&s, t), "{s:?} at {t}");
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 1000);
    }
}
