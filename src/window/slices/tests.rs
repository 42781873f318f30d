use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::window::batch::Batch;
use crate::window::latency::LatencyWindows;

const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// A Monday, 00:00 UTC.
const T0: i64 = 1_795_651_200_000;

fn config(budgeting: &str, period: &str, combine: &str) -> Config {
    config_with(budgeting, period, combine, "")
}

fn config_with(budgeting: &str, period: &str, combine: &str, extra: &str) -> Config {
    let yaml = format!(
        r#"
kafka: {{ brokers: "localhost:9092", topics: [requests], group_id: slices-test }}
slis:
  a: {{ good: {{ ok: true }} }}
  b: {{ good: {{ ok: true }} }}
slos:
  s:
    objective: 99
    period: {period}
    combine: {combine}
    slis: [a, b]
    budgeting: {budgeting}
{extra}
"#
    );
    Config::from_yaml(&yaml, "slices-test.yaml").unwrap()
}

/// The window store, its time slices and the per-SLI totals, fed the way the tally is: each
/// batch's slices frozen before its events are counted.
struct Fed {
    store: WindowStore,
    slices: Slices,
    latency: LatencyWindows,
    totals: Vec<Counts>,
}

impl Fed {
    fn new(config: &Config) -> Fed {
        let store = WindowStore::new(config.slis.len(), config.max_period_secs() * 1000, config.events.max_future_ms);
        let slices = Slices::new(config, &store);
        Fed { store, slices, latency: LatencyWindows::new(config.slis.len()), totals: vec![Counts::default(); 2] }
    }

    fn hand_over(&mut self, events: &[(usize, i64, bool)]) {
        let mut batch = Batch::with_capacity(events.len());
        for &(sli, ts, good) in events {
            batch.push(sli, ts, good, None);
        }
        batch.drain_into(&mut self.store, &mut self.latency, &mut self.totals, &mut self.slices);
    }

    fn windows(&self, now: i64, starts: &[i64]) -> Vec<SliceCounts> {
        let mut out = vec![SliceCounts::default(); starts.len()];
        self.slices.slos[0].windows(&self.store, now, starts, &mut out, &mut Vec::new());
        out
    }
}

/// Per slice start: good and total per SLI, from the events themselves.
type Truth = BTreeMap<i64, [Counts; 2]>;

fn truth(events: &[(usize, i64, bool)], slice: i64) -> Truth {
    let mut t = Truth::new();
    for &(sli, ts, good) in events {
        let c = &mut t.entry(ts - ts.rem_euclid(slice)).or_default()[sli];
        c.total += 1;
        c.good += u64::from(good);
    }
    t
}

/// A pooled `timeslices` verdict worked out by hand: sparse below `min_events`, else good when
/// `good / total >= target`, compared in integers.
fn pooled_verdict(c: &[Counts; 2], target_percent: u64, min_events: u64, skip: bool) -> (u64, f64) {
    let (g, n) = (c[0].good + c[1].good, c[0].total + c[1].total);
    if n < min_events {
        return if skip { (0, 0.0) } else { (1, 1.0) };
    }
    (1, f64::from(u8::from(g * 100 >= target_percent * n)))
}

/// Expected slices over `[from, now]`: closed slices starting at or after `from`, except that
/// frozen slices (before `frozen`) are taken whole hours at a time from the hour holding `from`.
fn expected(
    t: &Truth,
    from: i64,
    now: i64,
    frozen: i64,
    first: i64,
    slice: i64,
    verdict: impl Fn(&[Counts; 2]) -> (u64, f64),
) -> SliceCounts {
    let mut out = SliceCounts::default();
    let mut start = first;
    while start + slice <= now {
        let inside = if start < frozen { start.div_euclid(HOUR) >= from.div_euclid(HOUR) } else { start >= from };
        if inside {
            let (counted, good) = verdict(t.get(&start).unwrap_or(&[Counts::default(); 2]));
            out.slices += counted;
            out.good += good;
        }
        start += slice;
    }
    out
}

/// A day and a half of traffic in batches, with quiet stretches, late-ish events (within the
/// horizon) and bad minutes: every window's slices equal those worked out from the events.
fn check_against_truth(seed: u64, skip: bool) {
    let sparse = if skip { "skip" } else { "good" };
    let config = config(
        &format!("{{ method: timeslices, slice: 1m, target: 95, min_events: 5, sparse: {sparse} }}"),
        "2d",
        "pooled",
    );
    let mut fed = Fed::new(&config);
    let mut x = seed | 1;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // The first event begins the slices; none is older.
    let mut all = vec![(0, T0, true)];
    fed.hand_over(&all);
    let mut now = T0;
    let end = T0 + 36 * HOUR;
    while now < end {
        now += (rand() % 20_000) as i64;
        // Quiet hours: no traffic from 20:00 to 22:00 each day.
        if (now.rem_euclid(DAY) / HOUR) / 2 == 10 {
            continue;
        }
        let bad_minute = (now / MIN) % 7 == 0;
        let batch: Vec<(usize, i64, bool)> = (0..rand() % 12)
            .map(|_| {
                let ts = (now - (rand() % (3 * MIN as u64)) as i64).max(T0);
                let good = if bad_minute { rand() % 4 != 0 } else { rand() % 50 != 0 };
                ((rand() % 2) as usize, ts, good)
            })
            .collect();
        fed.hand_over(&batch);
        all.extend(batch);
    }
    assert_eq!(fed.slices.slos[0].late, 0, "no event was older than the horizon");
    let t = truth(&all, MIN);
    let frozen = fed.slices.slos[0].frozen_until.unwrap();
    assert!(frozen > T0 + 20 * HOUR, "slices were frozen along the way");
    let first = T0 - T0.rem_euclid(MIN);
    let windows =
        [5 * MIN, HOUR, 5 * HOUR + 30 * MIN, 5 * HOUR + 50 * MIN, 6 * HOUR, 6 * HOUR + 30 * MIN, DAY, 2 * DAY];
    // Also just after the last frozen slice, in the same hour as it (unless on an hour's edge).
    let starts: Vec<i64> = windows.iter().map(|w| now - w).chain([frozen + 1]).collect();
    let got = fed.windows(now, &starts);
    for (i, w) in windows.iter().chain([&(now - frozen - 1)]).enumerate() {
        let want = expected(&t, starts[i], now, frozen, first, MIN, |c| pooled_verdict(c, 95, 5, skip));
        assert_eq!(got[i], want, "window {w} ms, sparse: {sparse}");
    }
    // Per hour, as the burn-down chart reads them.
    let mut hours = Vec::new();
    let first_hour = fed.slices.slos[0].hourly(&fed.store, now, now - 2 * DAY, &mut hours, &mut Vec::new());
    assert_eq!(first_hour, (now - 2 * DAY).div_euclid(HOUR) * HOUR);
    assert_eq!(hours.len() as i64, (now - first_hour) / HOUR + 1);
    let verdict = |c: &[Counts; 2]| pooled_verdict(c, 95, 5, skip);
    for (i, h) in hours.iter().enumerate() {
        let from = first_hour + i as i64 * HOUR;
        let (a, b) = (
            expected(&t, from, now, frozen, first, MIN, verdict),
            expected(&t, from + HOUR, now, frozen, first, MIN, verdict),
        );
        assert_eq!((h.slices, h.good), (a.slices - b.slices, a.good - b.good), "hour {i}");
    }
    // The long windows reach into frozen hours, and some slices were bad.
    assert!(got[7].good < got[7].slices as f64);
}

#[test]
fn slices_over_every_window_equal_those_worked_out_from_the_events() {
    for seed in [1, 7, 0x5eed] {
        check_against_truth(seed, false);
        check_against_truth(seed, true);
    }
}

#[test]
fn a_late_event_for_a_frozen_slice_is_counted_and_changes_nothing() {
    let config = config("{ method: timeslices, slice: 1m, target: 95, min_events: 1, sparse: skip }", "2d", "pooled");
    let mut fed = Fed::new(&config);
    fed.hand_over(&[(0, T0, true)]);
    fed.hand_over(&[(0, T0 + 10 * MIN, true)]);
    // Eight hours on: the slices of the first hours are frozen.
    fed.hand_over(&[(0, T0 + 8 * HOUR, true)]);
    let now = T0 + 8 * HOUR + MIN;
    let before = fed.windows(now, &[now - DAY]);
    fed.hand_over(&[(0, T0 + 10 * MIN + SEC, false), (1, T0 + 10 * MIN, false), (0, T0 + 8 * HOUR, false)]);
    assert_eq!(fed.slices.slos[0].late, 2, "two events for the frozen slice at T0 + 10 min");
    let after = fed.windows(now, &[now - DAY]);
    assert_eq!(after[0].slices, before[0].slices);
    assert_eq!(after[0].good, before[0].good - 1.0, "only the live slice at T0 + 8 h turned bad");
}

#[test]
fn ratio_timeslices_average_the_slice_ratios_and_skip_sparse_ones() {
    let config = config("{ method: ratio_timeslices, slice: 30s, min_events: 2, sparse: skip }", "7d", "min");
    let mut fed = Fed::new(&config);
    // Slice 0: a 3/4, b 1/2 → min 0.5. Slice 1: one event, sparse. Slice 2: a 1/1, b absent → 1.
    let events = [
        (0, T0, true),
        (0, T0 + 1, true),
        (0, T0 + 2, true),
        (0, T0 + 3, false),
        (1, T0 + 4, true),
        (1, T0 + 5, false),
        (0, T0 + 30 * SEC, false),
        (0, T0 + 60 * SEC, true),
        (0, T0 + 61 * SEC, true),
    ];
    fed.hand_over(&events);
    let now = T0 + 90 * SEC;
    let got = fed.windows(now, &[now - 5 * MIN, T0 + 30 * SEC]);
    assert_eq!(got[0], SliceCounts { slices: 2, good: 1.5 });
    assert_eq!(got[0].ratio(), 0.75);
    assert_eq!(got[1], SliceCounts { slices: 1, good: 1.0 });
}

#[test]
fn quiet_time_counts_as_sparse_slices_without_judging_each() {
    let config = config("{ method: timeslices, slice: 10s, target: 99, min_events: 1, sparse: good }", "30d", "pooled");
    let mut fed = Fed::new(&config);
    fed.hand_over(&[(0, T0, false)]);
    // Twenty days with no event: every slice after the first is empty, so good.
    let now = T0 + 20 * DAY;
    let got = fed.windows(now, &[now - 5 * MIN, now - 3 * DAY, T0 - HOUR]);
    assert_eq!(got[0], SliceCounts { slices: 30, good: 30.0 });
    assert_eq!(got[1], SliceCounts { slices: 3 * 8_640, good: (3 * 8_640) as f64 });
    let all = (20 * DAY / (10 * SEC)) as u64;
    assert_eq!(got[2], SliceCounts { slices: all, good: (all - 1) as f64 }, "the one bad slice");
    let skip = config.slos[0].budgeting.slices().unwrap().sparse;
    assert_eq!(skip, crate::config::Sparse::Good);
}

#[test]
fn calendar_slices_start_at_the_period_start_in_a_half_hour_zone() {
    // Asia/Kolkata is UTC+05:30: its months start at 18:30 UTC, so hour-long slices run from :30.
    let config = config_with(
        "{ method: timeslices, slice: 1h, target: 90, min_events: 1, sparse: skip }",
        "{ calendar: month, time_zone: Asia/Kolkata }",
        "pooled",
        "    alerts: [{ severity: page, long: 6h, short: 1h, factor: 6 }]",
    );
    let period = config.slos[0].calendar.as_ref().unwrap().bounds(T0);
    assert_eq!(period.start_ms.rem_euclid(HOUR), 30 * MIN);
    let mut fed = Fed::new(&config);
    let start = period.start_ms;
    // One bad event at 20 minutes past the period start, one good one 40 minutes past it: the
    // first slice [start, start + 1 h) holds both, the slice before the period holds none.
    fed.hand_over(&[(0, start - 10 * MIN, false), (0, start + 20 * MIN, false), (0, start + 40 * MIN, true)]);
    let now = start + HOUR + 5 * MIN;
    let got = fed.windows(now, &[start]);
    assert_eq!(got[0], SliceCounts { slices: 1, good: 0.0 }, "1 good of 2 is under 90 %");
    // Three days on, the slices are frozen into hours aligned on :30 too.
    for h in 1..72 {
        fed.hand_over(&[(0, start + h * HOUR, true)]);
    }
    let now = start + 72 * HOUR + MIN;
    let got = fed.windows(now, &[start]);
    assert!(fed.slices.slos[0].frozen_until.unwrap() > start + 60 * HOUR);
    assert_eq!(got[0], SliceCounts { slices: 72, good: 71.0 });
}

#[test]
fn saved_slices_restore_to_the_same_windows() {
    let config = config("{ method: timeslices, slice: 5m, target: 95, min_events: 1, sparse: skip }", "3d", "pooled");
    let mut fed = Fed::new(&config);
    for m in 0..(20 * 60) {
        fed.hand_over(&[(m as usize % 2, T0 + m * MIN, m % 11 != 0)]);
    }
    fed.hand_over(&[(0, T0, true)]);
    let saved = fed.slices.saved();
    assert!(saved[0].late > 0 && !saved[0].hours.is_empty());
    let mut restored = Slices::new(&config, &fed.store);
    restored.restore(&saved);
    assert_eq!(restored.saved(), saved);
    let now = T0 + 20 * HOUR;
    let starts = [now - HOUR, now - DAY];
    let mut again = vec![SliceCounts::default(); 2];
    restored.slos[0].windows(&fed.store, now, &starts, &mut again, &mut Vec::new());
    assert_eq!(again, fed.windows(now, &starts));
    // A changed definition starts afresh.
    let changed = config_with_target(96);
    let mut fresh = Slices::new(&changed, &fed.store);
    fresh.restore(&saved);
    let fresh = &fresh.saved()[0];
    assert!(fresh.hours.is_empty() && fresh.late == 0, "{fresh:?}");
    // It judges what the store still holds at minute resolution: the last six hours or so.
    let since = fresh.frozen_until.unwrap();
    assert!((T0 + 13 * HOUR..=T0 + 14 * HOUR).contains(&since), "{since}");
}

fn config_with_target(target: u32) -> Config {
    config(
        &format!("{{ method: timeslices, slice: 5m, target: {target}, min_events: 1, sparse: skip }}"),
        "3d",
        "pooled",
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the batch boundaries, the slices equal one pass over all the events at once (in
    /// time order, nothing late).
    #[test]
    fn batch_boundaries_do_not_change_the_slices(cuts in proptest::collection::vec(1usize..40, 1..30), seed in any::<u64>()) {
        let config = config("{ method: timeslices, slice: 10s, target: 80, min_events: 3, sparse: good }", "1d", "pooled");
        let mut x = seed | 1;
        let events: Vec<(usize, i64, bool)> = (0..600i64)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x % 2) as usize, T0 + i * 20 * SEC + (x % 5_000) as i64, x % 5 != 0)
            })
            .collect();
        let mut one = Fed::new(&config);
        one.hand_over(&events);
        let mut many = Fed::new(&config);
        let mut rest = &events[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            many.hand_over(&rest[..n]);
            rest = &rest[n..];
            i += 1;
        }
        let now = T0 + 600 * 20 * SEC;
        let starts = [now - 5 * MIN, now - HOUR, T0 - HOUR];
        prop_assert_eq!(one.windows(now, &starts), many.windows(now, &starts));
    }
}

/// The README's memory figures: 16 bytes per hour of the period (at least a report month's),
/// whatever the method.
#[test]
fn memory_is_sixteen_bytes_per_hour_of_the_period() {
    for budgeting in ["{ method: timeslices, target: 95 }", "{ method: ratio_timeslices, slice: 10s }"] {
        let thirty = config(budgeting, "30d", "pooled");
        let fed = Fed::new(&thirty);
        assert_eq!(fed.slices.slos[0].bytes(), 16 * (32 * 24 + 2), "{budgeting}: a report month");
        // A quarter holds up to 93 days (92, and an hour for a zone setting its clocks back).
        let quarter = config(budgeting, "{ calendar: quarter, time_zone: Europe/Paris }", "pooled");
        let fed = Fed::new(&quarter);
        let hours = quarter.slos[0].period.secs / 3600;
        assert_eq!(fed.slices.slos[0].bytes() as i64, 16 * (hours + 2), "{budgeting}");
        assert!((35_000..36_500).contains(&fed.slices.slos[0].bytes()), "{}", fed.slices.slos[0].bytes());
    }
}
