use super::*;
use crate::config::Config;

const HOUR: i64 = HOUR_MS;
const DAY: i64 = 24 * HOUR;
/// 2026-10-01T00:00:00Z: October has 31 days.
const OCT: i64 = 1_790_812_800_000;
/// 2026-11-01T00:00:00Z.
const NOV: i64 = OCT + 31 * DAY;

/// Two SLIs, a rolling 30-day pooled SLO over both and a weekly one in Paris over `b`.
fn config(reports: &str) -> Config {
    let yaml = format!(
        r#"
kafka: {{ brokers: "127.0.0.1:9092", topics: [t], group_id: g }}
reports: {reports}
slis:
  a: {{ good: {{ ok: true }} }}
  b: {{ good: {{ ok: true }} }}
slos:
  rolling: {{ objective: 99, period: 30d, slis: [a, b] }}
  weekly: {{ objective: 99, period: {{ calendar: week, time_zone: "Europe/Paris" }}, slis: [b] }}
"#
    );
    Config::from_yaml(&yaml, "test.yaml").unwrap()
}

/// A store as the tally keeps it: coarse evictions kept for the reports.
fn store(config: &Config) -> WindowStore {
    let mut store = WindowStore::new(config.slis.len(), config.max_period_secs() * 1000, 60_000);
    store.keep_evicted();
    store
}

/// Records one event and folds what it pushed out of the ring, as a hand-over does.
fn record(reports: &mut Reports, store: &mut WindowStore, sli: usize, ts: i64, good: bool) {
    store.record(sli, ts, good);
    reports.fold_evicted(store);
}

fn c(good: u64, total: u64) -> Counts {
    Counts { good, total }
}

/// October's 744 hours each get events of `a` and `b` (some bad), recorded in time order with a
/// tick every hour, late events an hour behind: the ring (30 days and a few hours) has pushed
/// out October's first day by the time November begins, and the row still counts every event.
#[test]
fn a_31_day_month_is_exact_past_a_30_day_ring() {
    let config = config("{}");
    let (mut reports, mut store) = (Reports::new(&config), store(&config));
    reports.close_due(&config, &store, &crate::window::slices::Slices::default(), OCT + 1000);
    let mut truth = [Counts::default(); 2];
    for h in 0..31 * 24 + 2 {
        let at = OCT + h * HOUR;
        for (sli, n) in [(0usize, 3), (1, 5)] {
            for i in 0..n {
                let ts = at + i * 60_000 - if i == 0 { HOUR } else { 0 };
                let good = (h + i) % 7 != 0;
                record(&mut reports, &mut store, sli, ts, good);
                if (OCT..NOV).contains(&ts) {
                    truth[sli].add(c(u64::from(good), 1));
                }
            }
        }
        reports.close_due(&config, &store, &crate::window::slices::Slices::default(), at + 30 * 60_000);
    }
    assert!(
        store.hours(0, OCT / HOUR, NOV / HOUR - 1).total < truth[0].total,
        "the ring no longer holds the whole month"
    );
    let rolling = &reports.slos[0];
    assert_eq!(rolling.closed.len(), 1, "{:?}", rolling.closed);
    let row = &rolling.closed[0];
    assert_eq!((row.start_ms, row.end_ms), (OCT, NOV));
    assert_eq!(row.components.iter().map(|c| c.counts).collect::<Vec<_>>(), truth);
    assert_eq!((row.components[0].sli.as_str(), row.objective, row.slices), ("a", 0.99, None));
    assert!(rolling.open.is_empty() || rolling.open.iter().all(|o| o.bounds.start_ms >= NOV));
}

/// Each week of the Paris calendar SLO closes once, with exactly its events; repeated ticks
/// and a restart from a copy (a checkpoint) close nothing twice; a late event after the close
/// leaves the closed row as it was.
#[test]
fn each_period_closes_exactly_once() {
    let config = config("{}");
    let (mut reports, mut store) = (Reports::new(&config), store(&config));
    // 2026-10-05 is a Monday; Paris is UTC+2 until 2026-10-25: weeks start at 22:00Z Sunday.
    let monday = OCT + 4 * DAY - 2 * HOUR;
    reports.close_due(&config, &store, &crate::window::slices::Slices::default(), monday + HOUR);
    for d in 0..7 {
        record(&mut reports, &mut store, 1, monday + d * DAY + 5 * HOUR, d != 3);
    }
    record(&mut reports, &mut store, 1, monday - 1, false);
    record(&mut reports, &mut store, 1, monday + 7 * DAY, true);
    let next = monday + 7 * DAY;
    for now in [next - 1, next, next, next + 500, next + HOUR] {
        reports.close_due(&config, &store, &crate::window::slices::Slices::default(), now);
        let copy = reports.clone();
        let mut restarted = copy;
        restarted.close_due(&config, &store, &crate::window::slices::Slices::default(), now);
        for r in [&reports, &restarted] {
            let closed = &r.slos[1].closed;
            let want = usize::from(now >= next);
            assert_eq!(closed.len(), want, "at {now}");
            if want == 1 {
                assert_eq!((closed[0].start_ms, closed[0].end_ms), (monday, next));
                assert_eq!(closed[0].totals(), c(6, 7));
            }
        }
    }
    let generation = reports.generation();
    record(&mut reports, &mut store, 1, next - 10, false);
    reports.close_due(&config, &store, &crate::window::slices::Slices::default(), next + 2 * HOUR);
    assert_eq!(reports.slos[1].closed[0].totals(), c(6, 7), "a closed row never changes");
    assert_eq!(reports.generation(), generation, "nothing closed");
    let mut partial = Vec::new();
    reports.partials(&config, &store, &crate::window::slices::Slices::default(), 0, &mut partial);
    let p = partial[1].as_ref().unwrap();
    assert_eq!((p.start_ms, p.totals()), (next, c(1, 1)));
}

/// With `keep: 2`, months closed one after another (and several at once after a long stop) keep
/// only the two latest rows; the hours of a month with no tick in it are still folded.
#[test]
fn keeps_at_most_keep_rows() {
    let config = config("{ keep: 2 }");
    let (mut reports, mut store) = (Reports::new(&config), store(&config));
    reports.close_due(&config, &store, &crate::window::slices::Slices::default(), OCT + 1);
    record(&mut reports, &mut store, 0, OCT + 2 * DAY, true);
    reports.close_due(&config, &store, &crate::window::slices::Slices::default(), NOV + 1);
    assert_eq!(reports.slos[0].closed.len(), 1);
    // Down from November 1st to mid-January: December's event is folded when January's pushes it
    // out of the ring; November, December (and the weeks between) close at once.
    record(&mut reports, &mut store, 0, NOV + 40 * DAY, false);
    record(&mut reports, &mut store, 0, NOV + 75 * DAY, true);
    reports.close_due(&config, &store, &crate::window::slices::Slices::default(), NOV + 76 * DAY);
    let rows: Vec<_> = reports.slos[0].closed.iter().map(|r| (r.start_ms, r.totals())).collect();
    assert_eq!(rows, [(NOV, c(0, 0)), (NOV + 30 * DAY, c(0, 1))], "November and December only");
    assert!(reports.slos[1].closed.len() <= 2);
}

/// The hour holding a :30 zone's midnight belongs to the period holding the hour's start.
#[test]
fn hours_belong_to_the_period_holding_their_start() {
    assert_eq!(hours_of(PeriodBounds { start_ms: OCT, end_ms: NOV }), (OCT / HOUR, NOV / HOUR - 1));
    let half = HOUR / 2;
    assert_eq!(hours_of(PeriodBounds { start_ms: OCT + half, end_ms: NOV + half }), (OCT / HOUR + 1, NOV / HOUR));
}

/// The store hands over every hourly bucket exactly once as it leaves the ring: after events
/// spread over 90 days (a quarter of them up to three days late), each SLI's evicted hours are
/// distinct and oldest first, and with the hours still in the ring they add up to exactly the
/// events the ring accepted (an event older than the ring is refused, as the windows refuse it).
#[test]
fn every_hour_leaves_the_ring_once() {
    let config = config("{}");
    let mut store = store(&config);
    let mut evicted = Vec::new();
    let everything = |store: &WindowStore, evicted: &[(usize, i64, Counts)], sli: usize| {
        let mut all = store.hours(sli, i64::MIN / HOUR, i64::MAX / HOUR);
        evicted.iter().filter(|(s, _, _)| *s == sli).for_each(|(_, _, counts)| all.add(*counts));
        all
    };
    // The coarse ring: 30 days, an hour for `max_future`, two spare (see `window::tier`).
    let ring = 30 * 24 + 1 + 2;
    let (mut accepted, mut refused, mut head) = ([Counts::default(); 2], 0, i64::MIN);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..20_000i64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let late = (x % (40 * DAY as u64)) as i64 * i64::from(x.is_multiple_of(4));
        let ts = OCT + i * 90 * DAY / 20_000 - late;
        let (sli, good) = ((x >> 33) as usize % 2, x & 1 == 0);
        head = head.max(ts.div_euclid(HOUR));
        if ts.div_euclid(HOUR) > head - ring {
            accepted[sli].add(c(u64::from(good), 1));
        } else {
            refused += 1;
        }
        store.record(sli, ts, good);
        evicted.extend(store.take_evicted());
    }
    assert!(refused > 100, "some events were older than the ring: {refused}");
    for (sli, accepted) in accepted.iter().enumerate() {
        let hours: Vec<i64> = evicted.iter().filter(|(s, _, _)| *s == sli).map(|(_, k, _)| *k).collect();
        assert!(hours.windows(2).all(|w| w[0] < w[1]), "distinct, oldest first");
        assert!(hours.len() > 24 * 50, "most of 90 days left a 30-day ring: {}", hours.len());
        assert_eq!(everything(&store, &evicted, sli), *accepted, "sli {sli}");
    }
}

/// A checkpoint of a longer ring restored into a shorter one (a period shortened): the buckets
/// the shorter ring cannot hold are handed to the reports, not lost.
#[test]
fn buckets_a_restored_ring_cannot_hold_are_handed_over() {
    let config = config("{}");
    let mut store = store(&config);
    store.add_bucket(2, 0, NOV / HOUR, c(1, 1));
    store.add_bucket(2, 1, OCT / HOUR, c(2, 3));
    store.add_bucket(2, 1, NOV / HOUR - 2, c(4, 4));
    let evicted: Vec<_> = store.take_evicted().collect();
    assert_eq!(evicted, [(1, OCT / HOUR, c(2, 3))]);
    assert_eq!(store.hours(1, 0, i64::MAX / HOUR), c(4, 4));
}

/// A rolling 30-day SLO budgeted in time slices reports October's slices, all 31 days of them,
/// though its own period is shorter: every slice of the month, judged as events came.
#[test]
fn a_time_slice_row_counts_the_months_slices() {
    let yaml = r#"
kafka: { brokers: "127.0.0.1:9092", topics: [t], group_id: g }
slis:
  a: { good: { ok: true } }
slos:
  sliced:
    objective: 99
    period: 30d
    slis: [a]
    budgeting: { method: timeslices, slice: 1m, target: 90, sparse: skip }
"#;
    let config = Config::from_yaml(yaml, "test.yaml").unwrap();
    let (mut reports, mut store) = (Reports::new(&config), store(&config));
    let mut slices = crate::window::slices::Slices::new(&config, &store);
    reports.close_due(&config, &store, &slices, OCT + 1000);
    // One event every 10 minutes from September 30th to November 1st, 02:00; every fifth bad.
    let (mut counted, mut good) = (0u64, 0u64);
    let mut latency = crate::window::latency::LatencyWindows::new(1);
    let mut totals = vec![Counts::default()];
    for i in 0..(33 * 24 * 6) {
        let ts = OCT - DAY + i * 10 * 60_000;
        let ok = i % 5 != 0;
        let mut batch = crate::window::batch::Batch::with_capacity(1);
        batch.push(0, ts, ok, None);
        batch.drain_into(&mut store, &mut latency, &mut totals, &mut slices);
        reports.fold_evicted(&mut store);
        if (OCT..NOV).contains(&ts) {
            counted += 1;
            good += u64::from(ok);
        }
        if ts % HOUR == 0 {
            reports.close_due(&config, &store, &slices, ts + 1);
        }
    }
    let row = &reports.slos[0].closed[0];
    assert_eq!((row.start_ms, row.end_ms), (OCT, NOV));
    assert_eq!(counted, 31 * 24 * 6);
    assert_eq!(row.slices, Some(Slices { good: good as f64, total: counted }));
    assert_eq!(row.totals(), c(good, counted));
}
