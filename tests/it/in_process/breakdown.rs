//! Breakdown by event fields, in-process: geo-availability split by `route` and `http.region`,
//! three combinations tracked out of ten produced, over two workers (so which three come first is
//! not known in advance). Checked against ground truth computed here: every tracked combination's
//! events and good events per window exactly, `__other__` exactly the rest, the parts of each
//! burn contribution adding up to it and each the share of the bad events it formula says; then
//! the same after a restart from the checkpoint.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slostream::names::{self, label};

use crate::harness::mock::{InProcess, MockKafka};
use crate::harness::truth::{in_window, window_ms, DAY, HOUR, MIN};
use crate::harness::{now_ms, Deployment, Metrics, Served};

const PARTITIONS: i32 = 4;
const GEO: &str = "geo-availability";
const MAX_VALUES: usize = 3;
/// geo-availability's breakdown windows: the defaults, 1h and 1d, and the periods of the two SLOs
/// it is part of.
const WINDOWS: [&str; 4] = ["1h", "1d", "28d", "30d"];

/// (route, region text) → (event time, good) of every geo event.
type Truth = BTreeMap<(String, String), Vec<(i64, bool)>>;

fn events(t0: i64) -> (Vec<Vec<u8>>, Truth) {
    let mut rng = StdRng::seed_from_u64(12);
    let mut truth = Truth::new();
    let mut payloads = Vec::new();
    for i in 0..2000 {
        let route = ["/a", "/b", "/c", "/d", "/e"][rng.random_range(0..5)];
        let region = ["eu", "us"][rng.random_range(0..2)];
        // Ages well inside a window or well outside it: 20-40 min, 3-5 h, 3-10 days.
        let age = [20 * MIN, 3 * HOUR, 3 * DAY][i % 3] + rng.random_range(0..20 * MIN);
        let status = if rng.random_bool(0.1) { 503 } else { 200 };
        let ts = t0 - age;
        let payload = if i % 7 == 0 {
            // No region at all: its value is "".
            truth.entry((route.into(), String::new())).or_default().push((ts, status < 500));
            format!(r#"{{"timestamp":{ts},"service":"geo","route":"{route}","status":{status}}}"#)
        } else {
            truth.entry((route.into(), region.into())).or_default().push((ts, status < 500));
            format!(
                r#"{{"timestamp":{ts},"service":"geo","route":"{route}","http":{{"region":"{region}"}},"status":{status}}}"#
            )
        };
        payloads.push(payload.into_bytes());
    }
    (payloads, truth)
}

/// (events, good) of one combination's times over window `w` ending at `now`.
fn counts(times: &[(i64, bool)], now: i64, w: &str) -> (f64, f64) {
    let inside = times.iter().filter(|(ts, _)| in_window(*ts, now, window_ms(w)));
    inside.fold((0.0, 0.0), |(n, g), (_, good)| (n + 1.0, g + f64::from(u8::from(*good))))
}

/// Checks every breakdown series of `m` against `truth`; returns the tracked combinations.
fn check(m: &Metrics, truth: &Truth, now: i64) -> Vec<(String, String)> {
    let series = |name: &str, w: &str, route: &str, region: &str| {
        m.get(name, &[(label::SLI, GEO), (label::WINDOW, w), ("route", route), ("http_region", region)])
    };
    let tracked: Vec<(String, String)> =
        truth.keys().filter(|(r, g)| series(names::SLI_BREAKDOWN_EVENTS.name, "1h", r, g).is_some()).cloned().collect();
    assert_eq!(tracked.len(), MAX_VALUES, "tracked combinations of {} produced", truth.len());
    for w in WINDOWS {
        let (mut rest_n, mut rest_g) = (0.0, 0.0);
        for (key, times) in truth {
            let (n, g) = counts(times, now, w);
            if tracked.contains(key) {
                assert_eq!(series(names::SLI_BREAKDOWN_EVENTS.name, w, &key.0, &key.1), Some(n), "{key:?} {w}");
                assert_eq!(series(names::SLI_BREAKDOWN_GOOD_EVENTS.name, w, &key.0, &key.1), Some(g), "{key:?} {w}");
            } else {
                (rest_n, rest_g) = (rest_n + n, rest_g + g);
            }
        }
        let other = "__other__";
        assert_eq!(series(names::SLI_BREAKDOWN_EVENTS.name, w, other, other), Some(rest_n), "__other__ {w}");
        assert_eq!(series(names::SLI_BREAKDOWN_GOOD_EVENTS.name, w, other, other), Some(rest_g), "__other__ {w}");
    }
    for (slo, windows) in [("search-a-ride", ["1h", "1d", "28d"]), ("book-a-ride", ["1h", "1d", "30d"])] {
        for w in windows {
            let whole = m
                .get(names::SLO_BURN_CONTRIBUTION.name, &[(label::SLO, slo), (label::SLI, GEO), (label::WINDOW, w)])
                .expect("the component's contribution");
            let bad = |times: &[(i64, bool)]| counts(times, now, w).0 - counts(times, now, w).1;
            let all_bad: f64 = truth.values().map(|t| bad(t)).sum();
            let mut sum = 0.0;
            let keys = tracked.iter().cloned().chain([("__other__".to_string(), "__other__".to_string())]);
            for key in keys {
                let part = m
                    .get(
                        names::SLO_BURN_CONTRIBUTION_BREAKDOWN.name,
                        &[
                            (label::SLO, slo),
                            (label::SLI, GEO),
                            (label::WINDOW, w),
                            ("route", &key.0),
                            ("http_region", &key.1),
                        ],
                    )
                    .unwrap_or_else(|| panic!("{slo} {w} {key:?}: no contribution part"));
                let part_bad = match truth.get(&key) {
                    Some(times) => bad(times),
                    None => truth.iter().filter(|(k, _)| !tracked.contains(k)).map(|(_, t)| bad(t)).sum(),
                };
                let want = if all_bad == 0.0 { 0.0 } else { whole * part_bad / all_bad };
                assert!((part - want).abs() <= 1e-9 * want.abs().max(1e-12), "{slo} {w} {key:?}: {part} != {want}");
                sum += part;
            }
            assert!(whole > 0.0, "test data: {slo} {w} burns");
            assert!((sum - whole).abs() <= 1e-9 * whole, "{slo} {w}: parts add up to {sum}, not {whole}");
        }
    }
    tracked
}

#[test]
fn breakdown_rows_are_exact_add_up_and_survive_a_restart() {
    let kafka = MockKafka::start();
    let d = Deployment::new("breakdown").brokers(&kafka.bootstrap).workers(2).checkpoint_interval("1s").sli_breakdown(
        GEO,
        &["route", "http.region"],
        MAX_VALUES as u64,
    );
    kafka.create_topic(d.topic(), PARTITIONS);
    let t0 = now_ms();
    let (payloads, truth) = events(t0);
    kafka.produce(d.topic(), PARTITIONS, &payloads);

    let mut app = InProcess::start(&d);
    app.wait_ready(Duration::from_secs(60));
    let (m, t_scrape) = app.wait_consumed(payloads.len() as u64, Duration::from_secs(60));
    let tracked = check(&m, &truth, t_scrape);
    // A graceful stop writes a checkpoint covering everything; the restart resumes from it.
    app.stop();
    let mut app = InProcess::start(&d);
    app.wait_ready(Duration::from_secs(60));
    let (m, t_scrape) = app.wait_consumed(payloads.len() as u64, Duration::from_secs(60));
    assert_eq!(check(&m, &truth, t_scrape), tracked, "the same combinations after the restart");
    app.stop();
}
