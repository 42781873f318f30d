use proptest::prelude::*;

use super::*;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
const T0: i64 = 1_795_694_400_000;

fn store() -> WindowStore {
    WindowStore::new(2, 30 * DAY, MIN)
}

#[test]
fn counts_events_inside_each_window_exactly_away_from_edges() {
    let mut s = store();
    s.record(0, T0 - 2 * MIN, true);
    s.record(0, T0 - 20 * MIN, false);
    s.record(0, T0 - 3 * HOUR, true);
    s.record(0, T0 - 2 * DAY, false);
    s.record(0, T0 - 29 * DAY, true);
    s.record(1, T0 - MIN, false);
    let c = |w| s.count(0, w, T0);
    assert_eq!(c(5 * MIN), Counts { good: 1, total: 1 });
    assert_eq!(c(30 * MIN), Counts { good: 1, total: 2 });
    assert_eq!(c(6 * HOUR), Counts { good: 2, total: 3 });
    assert_eq!(c(DAY), Counts { good: 2, total: 3 });
    assert_eq!(c(3 * DAY), Counts { good: 2, total: 4 });
    assert_eq!(c(30 * DAY), Counts { good: 3, total: 5 });
    assert_eq!(s.count(1, 30 * DAY, T0), Counts { good: 0, total: 1 });
}

#[test]
fn hourly_buckets_cover_the_window_and_add_up_to_it() {
    let mut s = store();
    s.record(0, T0 - 2 * MIN, true);
    s.record(0, T0 - 3 * HOUR - MIN, false);
    s.record(0, T0 - 3 * HOUR - 2 * MIN, true);
    s.record(0, T0 - 29 * DAY, true);
    s.record(0, T0 - 31 * DAY, true); // older than the window: not in any bucket
    let mut out = Vec::new();
    let start = s.hourly(0, 30 * DAY, T0, &mut out);
    // T0 falls on an hour: 720 hours back to the one holding T0 - 30d, plus the one holding T0.
    assert_eq!(start, T0 - 30 * DAY);
    assert_eq!(out.len(), 721);
    assert_eq!(out[720 - 3 - 1], Counts { good: 1, total: 2 }, "the hour before T0 - 3h");
    assert_eq!(out[720 - 1], Counts { good: 1, total: 1 }, "the last full hour");
    assert_eq!(out[24], Counts { good: 1, total: 1 }, "29 days ago");
    let mut sum = Counts::default();
    out.iter().for_each(|c| sum.add(*c));
    assert_eq!(sum, s.count(0, 30 * DAY, T0));
    // An SLI without events, and a store without any: all zeros, same length.
    assert_eq!(s.hourly(1, DAY, T0 + 30 * MIN, &mut out), T0 - DAY);
    assert_eq!(out, vec![Counts::default(); 25]);
    assert_eq!(WindowStore::new(1, DAY, MIN).hourly(0, DAY, T0, &mut out), T0 - DAY);
    assert_eq!(out.len(), 25);
}

#[test]
fn late_events_land_in_their_own_bucket() {
    let mut s = store();
    s.record(0, T0, true);
    // Arrives after a newer one, an hour and a half late: still in 2h, not in 1h.
    s.record(0, T0 - 90 * MIN, false);
    assert_eq!(s.count(0, HOUR, T0), Counts { good: 1, total: 1 });
    assert_eq!(s.count(0, 2 * HOUR, T0), Counts { good: 1, total: 2 });
}

#[test]
fn windows_slide_as_now_advances_without_new_events() {
    let mut s = store();
    s.record(0, T0, false);
    assert_eq!(s.count(0, 5 * MIN, T0 + 4 * MIN).total, 1);
    assert_eq!(s.count(0, 5 * MIN, T0 + 6 * MIN).total, 0);
    assert_eq!(s.count(0, HOUR, T0 + 59 * MIN).total, 1);
    assert_eq!(s.count(0, 30 * DAY, T0 + 29 * DAY).total, 1);
    assert_eq!(s.count(0, 30 * DAY, T0 + 31 * DAY).total, 0);
}

#[test]
fn a_long_quiet_gap_clears_the_rings() {
    let mut s = store();
    s.record(0, T0, true);
    s.record(0, T0 + 40 * DAY, false);
    assert_eq!(s.count(0, 30 * DAY, T0 + 40 * DAY), Counts { good: 0, total: 1 });
    assert_eq!(s.count(0, 5 * MIN, T0 + 40 * DAY), Counts { good: 0, total: 1 });
}

/// Counts, by [`WindowStore::count`] and by [`WindowStore::sums`], of one SLI recording an event
/// every 10 s over `(now - window, now]` and then one event `ahead` of `now`.
fn after_an_event_ahead(max_future: i64, window: i64, ahead: i64) -> (u64, u64) {
    let mut s = WindowStore::new(1, 30 * DAY, max_future);
    for i in 0..window / 10_000 {
        s.record(0, T0 - i * 10_000, true);
    }
    s.record(0, T0 + ahead, true);
    let mut out = [Counts::default()];
    s.sums(0, &s.window_set(&[window]), T0, &mut out);
    (s.count(0, window, T0).total, out[0].total)
}

#[test]
fn an_event_ahead_of_now_leaves_a_2h_window_whole_with_1h_of_future() {
    assert_eq!(after_an_event_ahead(HOUR, 2 * HOUR, 30 * MIN), (720, 720));
}

#[test]
fn an_event_ahead_of_now_leaves_a_61m_window_whole_with_a_minute_of_future() {
    assert_eq!(after_an_event_ahead(MIN, 61 * MIN, MIN), (366, 366));
}

#[test]
fn memory_per_sli_for_30_days_is_17_kb() {
    // 10 s and 1 min buckets at 8 B (368 and 363 of them with a minute of future), hourly ones
    // at 16 B (723).
    assert_eq!(store().bytes_per_sli(), (368 + 363) * 8 + 723 * 16);
    assert_eq!(store().bytes_per_sli(), 17_416);
}

#[test]
fn memory_per_sli_at_the_longest_max_future_is_21_kb() {
    // An hour of future instead of a minute: 722 buckets of 10 s (354 more), 422 of 1 min (59
    // more); the hourly tier keeps one bucket for either.
    let s = WindowStore::new(2, 30 * DAY, MAX_FUTURE_MS);
    assert_eq!(s.bytes_per_sli(), (722 + 422) * 8 + 723 * 16);
    assert_eq!(s.bytes_per_sli(), 20_720);
}

/// The naive reference: every event in a list.
fn exact(events: &[(usize, i64, bool)], sli: usize, w: i64, now: i64) -> Counts {
    let mut c = Counts::default();
    for &(s, ts, good) in events {
        if s == sli && ts > now - w && ts <= now {
            c.total += 1;
            c.good += u64::from(good);
        }
    }
    c
}

fn in_bucket_outside(events: &[(usize, i64, bool)], sli: usize, res: i64, w: i64, now: i64) -> u64 {
    let old_edge = (now - w).div_euclid(res);
    let new_edge = now.div_euclid(res);
    events
        .iter()
        .filter(|&&(s, ts, _)| {
            s == sli
                && ((ts.div_euclid(res) == old_edge && ts <= now - w) || (ts.div_euclid(res) == new_edge && ts > now))
        })
        .count() as u64
}

/// Windows the SLOs use by default, and lengths just past a tier's span (61m, 6h 1m) that an
/// event ahead of `now` once cut short.
const WINDOWS: [i64; 11] =
    [5 * MIN, 30 * MIN, HOUR, 61 * MIN, 2 * HOUR, 6 * HOUR, 6 * HOUR + MIN, DAY, 3 * DAY, 28 * DAY, 30 * DAY];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Against a list of all events: never fewer than the exact count, and more only by events
    /// in the two edge buckets that lie outside the window. Events reach up to `max_future`
    /// ahead of `now` (its default, its maximum, or anything valid between), and the windows
    /// are any whole number of seconds up to the period, since alert windows are configurable.
    #[test]
    fn agrees_with_naive_reference(
        max_future in prop_oneof![Just(MIN), Just(HOUR), 1..=HOUR],
        steps in prop::collection::vec(
            (0i64..600_000, prop_oneof![-40 * DAY..HOUR, -7 * HOUR..HOUR, -10_000i64..HOUR], any::<bool>(), 0usize..2),
            1..300,
        ),
        windows in prop::collection::vec(
            prop_oneof![prop::sample::select(WINDOWS.to_vec()), (1..=30 * DAY / 1000).prop_map(|s| s * 1000)],
            1..4,
        ),
    ) {
        let mut s = WindowStore::new(2, 30 * DAY, max_future);
        let mut events = Vec::new();
        let mut now = T0;
        for (advance, offset, good, sli) in steps {
            now += advance;
            let ts = now + offset;
            // The decoder's policy: only (now - period, now + max_future] reaches the store.
            if ts <= now - 30 * DAY || ts > now + max_future {
                continue;
            }
            s.record(sli, ts, good);
            events.push((sli, ts, good));
            for &w in &windows {
                for sli in 0..2 {
                    let got = s.count(sli, w, now);
                    let want = exact(&events, sli, w, now);
                    let slack = in_bucket_outside(&events, sli, s.resolution_ms(w), w, now);
                    prop_assert!(got.total >= want.total && got.good >= want.good, "w={w} got={got:?} want={want:?}");
                    prop_assert!(got.total <= want.total + slack, "w={w} got={got:?} want={want:?} slack={slack}");
                    prop_assert!(got.good <= want.good + slack);
                }
            }
            // All windows at once (one pass per tier) agree with one window at a time.
            let all: Vec<i64> = WINDOWS.iter().chain(&windows).copied().collect();
            let set = s.window_set(&all);
            let mut out = vec![Counts::default(); all.len()];
            for sli in 0..2 {
                s.sums(sli, &set, now, &mut out);
                for (w, got) in all.iter().zip(&out) {
                    prop_assert_eq!(*got, s.count(sli, *w, now), "w={}", w);
                }
            }
        }
    }
}
