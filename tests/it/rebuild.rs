//! History rebuilds: an SLI added or changed after events were counted gets its windows rebuilt
//! from what the topic retains, exactly, while live events go on being counted once.
//!
//! Three days of events are produced and counted under one set of definitions; then a latency
//! threshold is tightened, a `match` widened, and an SLI and an SLO are added, and slostream
//! restarts on the same state while fresh events arrive. Once the rebuild is done, every window
//! of every SLO must equal the ground truth the test computes under the new definitions, the
//! consumed total must equal what was produced (history is not consumed twice), and the
//! rebuild series must say what happened. Variants: killed -9 three times while rebuilding (the
//! rebuild resumes from its checkpointed progress), a topic whose first day retention had
//! already deleted (the history start says so; counts exact for what is retained), and the
//! two-stage deployment (the merge member reads the history, up to where the ingest members'
//! records under the new definitions begin).

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slostream::names::{self, label};

use crate::harness::truth::{DAY, HOUR, MIN};
use crate::harness::{now_ms, Deployment, Metrics, Record, Role, Served, Slostream};

const PARTITIONS: i32 = 6;

const V1: &str = r#"
slis:
  api-availability:
    match: { service: "api" }
    good: { status: { lt: 500 } }
  api-latency:
    match: { service: "api" }
    good: { latency_ms: { le: 500 } }
  web-availability:
    match: { service: "web", route: ["/a"] }
    good: { status: { lt: 500 } }
slos:
  api:
    objective: 99
    period: "28d"
    slis: [api-availability, api-latency]
  web:
    objective: 99
    period: "28d"
    slis: [web-availability]
"#;

/// V1 with `api-latency`'s threshold tightened, `web-availability`'s match widened, and a new
/// SLI in a new SLO. `api-availability` is unchanged: it keeps its counts and is not rebuilt.
const V2: &str = r#"
slis:
  api-availability:
    match: { service: "api" }
    good: { status: { lt: 500 } }
  api-latency:
    match: { service: "api" }
    good: { latency_ms: { le: 300 } }
  web-availability:
    match: { service: "web", route: ["/a", "/b"] }
    good: { status: { lt: 500 } }
  web-latency:
    match: { service: "web" }
    good: { latency_ms: { le: 400 } }
slos:
  api:
    objective: 99
    period: "28d"
    slis: [api-availability, api-latency]
  web:
    objective: 99
    period: "28d"
    slis: [web-availability]
  web-speed:
    objective: 99
    period: "28d"
    slis: [web-latency]
"#;

/// One event, as the ground truth sees it.
#[derive(Clone, Copy, Debug)]
struct Event {
    ts: i64,
    web: bool,
    route: &'static str,
    status: u32,
    latency: u32,
}

impl Event {
    fn payload(&self) -> Vec<u8> {
        let service = if self.web { "web" } else { "api" };
        format!(
            r#"{{"timestamp":{},"service":"{service}","route":"{}","status":{},"latency_ms":{}}}"#,
            self.ts, self.route, self.status, self.latency
        )
        .into_bytes()
    }

    /// `(events, good)` this event adds to each V2 SLO, in the order api, web, web-speed;
    /// written from the YAML above by hand.
    fn v2(&self) -> [(u64, u64); 3] {
        let ok = u64::from(self.status < 500);
        if self.web {
            let availability = if matches!(self.route, "/a" | "/b") { (1, ok) } else { (0, 0) };
            [(0, 0), availability, (1, u64::from(self.latency <= 400))]
        } else {
            [(2, ok + u64::from(self.latency <= 300)), (0, 0), (0, 0)]
        }
    }
}

const SLOS: [&str; 3] = ["api", "web", "web-speed"];
/// The windows checked, with their length: the day window splits the history, the others hold
/// all of it.
const WINDOWS: [(&str, i64); 3] = [("1d", DAY), ("3d", 3 * DAY), ("28d", 28 * DAY)];

/// `n` events between 2 h and 70 h old, in event-time order. None is near the day window's
/// start: that window sums hourly buckets and counts the one holding its start whole, so events
/// up to an hour older than a day are ambiguous; 20 minutes of margin either side cover the
/// minutes the test runs.
fn history(rng: &mut StdRng, n: usize, now: i64) -> Vec<Event> {
    let mut out: Vec<Event> = (0..n)
        .map(|_| {
            let age = loop {
                let a = rng.random_range(2 * HOUR..70 * HOUR);
                if !(DAY - 20 * MIN..=DAY + HOUR + 20 * MIN).contains(&a) {
                    break a;
                }
            };
            event(rng, now - age)
        })
        .collect();
    out.sort_by_key(|e| e.ts);
    out
}

/// `n` events of the last half hour.
fn fresh(rng: &mut StdRng, n: usize, now: i64) -> Vec<Event> {
    (0..n)
        .map(|_| {
            let age = rng.random_range(MIN..30 * MIN);
            event(rng, now - age)
        })
        .collect()
}

fn event(rng: &mut StdRng, ts: i64) -> Event {
    Event {
        ts,
        web: rng.random_bool(0.5),
        route: ["/a", "/b", "/c"][rng.random_range(0..3)],
        status: [200, 200, 200, 404, 500, 503][rng.random_range(0..6)],
        latency: rng.random_range(0..1000),
    }
}

/// The events as records, spread over the partitions round-robin.
fn records(events: &[Event]) -> Vec<Record> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| Record { partition: i as i32 % PARTITIONS, key: None, payload: Some(e.payload()) })
        .collect()
}

/// Every window of every V2 SLO exact over all `events`, and the consumed total equal to them
/// (history is never consumed twice).
fn assert_all_exact(m: &Metrics, at: i64, events: &[Event], what: &str) {
    let all: Vec<&Event> = events.iter().collect();
    assert_windows(m, &all, at, 0, what);
    assert_eq!(m.get(names::EVENTS_CONSUMED.name, &[]), Some(events.len() as f64), "{what}: consumed");
}

/// `(events, good)` of each V2 SLO over `(now - len, now]`.
fn expected(events: &[&Event], now: i64, len: i64) -> [(u64, u64); 3] {
    let mut want = [(0u64, 0u64); 3];
    for e in events.iter().filter(|e| e.ts > now - len && e.ts <= now) {
        for (sum, (n, g)) in want.iter_mut().zip(e.v2()) {
            sum.0 += n;
            sum.1 += g;
        }
    }
    want
}

/// Every window of the V2 SLOs from the `skip`-th on equals the ground truth over `events`, at
/// the scrape's time.
fn assert_windows(m: &Metrics, events: &[&Event], now: i64, skip: usize, what: &str) {
    let mut failures = Vec::new();
    for (w, len) in WINDOWS {
        for (slo, (n, g)) in SLOS.iter().zip(expected(events, now, len)).skip(skip) {
            let labels = [(label::SLO, *slo), (label::WINDOW, w)];
            let got = (m.get(names::SLO_EVENTS.name, &labels), m.get(names::SLO_GOOD_EVENTS.name, &labels));
            if got != (Some(n as f64), Some(g as f64)) {
                failures.push(format!("{slo} {w}: got {got:?}, want ({n}, {g})"));
            }
        }
    }
    assert!(failures.is_empty(), "{what}:\n{}", failures.join("\n"));
}

/// Waits until no SLO is rebuilding and the consumed total is `consumed`; returns the scrape.
fn wait_rebuilt(app: &mut Slostream, consumed: u64, timeout: Duration) -> (Metrics, i64) {
    let started = Instant::now();
    loop {
        let (m, at) = app.wait_consumed(consumed, timeout);
        let rebuilding: f64 =
            SLOS.iter().map(|s| m.get(names::SLO_REBUILDING.name, &[(label::SLO, s)]).unwrap_or(1.0)).sum();
        if rebuilding == 0.0 {
            return (m, at);
        }
        assert!(started.elapsed() < timeout, "still rebuilding after {timeout:?}{}", app.log_tail(40));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The rebuild series once done: every SLI at progress 1, a history start for exactly the
/// rebuilt SLIs (changed or new), none for the unchanged one.
fn assert_rebuild_series(m: &Metrics, history_from: std::ops::RangeInclusive<i64>) {
    for sli in ["api-availability", "api-latency", "web-availability", "web-latency"] {
        assert_eq!(m.get(names::SLI_REBUILD_PROGRESS.name, &[(label::SLI, sli)]), Some(1.0), "{sli} progress");
        let start = m.get(names::SLI_HISTORY_START.name, &[(label::SLI, sli)]);
        if sli == "api-availability" {
            assert_eq!(start, None, "the unchanged SLI was not rebuilt");
        } else {
            let start = (start.unwrap_or_else(|| panic!("no history start for {sli}")) * 1000.0).round() as i64;
            assert!(history_from.contains(&start), "{sli} history start {start} not in {history_from:?}");
        }
    }
}

/// Counts three days under V1, then restarts under V2 while fresh events arrive; `between`
/// runs on the V2 process before the end is awaited (kills, ...). Returns the final scrape
/// with its time, and every event produced.
fn run(
    name: &str,
    seed: u64,
    n: usize,
    checkpoint_interval: &str,
    before: &str,
    prepare: impl FnOnce(&Deployment, &[Event]) -> usize,
    between: impl FnOnce(&Deployment, Slostream) -> Slostream,
) -> (Metrics, i64, Vec<Event>, usize, i64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let d = Deployment::new(name).slis_and_slos(before).checkpoint_interval(checkpoint_interval);
    d.create_topic(PARTITIONS);
    let t0 = now_ms();
    let past = history(&mut rng, n, t0);
    d.broker().produce_records(d.topic(), PARTITIONS, &records(&past));
    let mut v1 = d.start();
    v1.wait_ready(Duration::from_secs(60));
    v1.wait_consumed(n as u64, Duration::from_secs(120));
    let (status, _) = v1.terminate(Duration::from_secs(30));
    assert!(status.success(), "V1 exit {status}{}", v1.log_tail(30));
    let deleted = prepare(&d, &past);

    let d2 = d.slis_and_slos(V2);
    let started = now_ms();
    let mut v2 = d2.start();
    v2.wait_ready(Duration::from_secs(60));
    let live = fresh(&mut rng, 5_000, now_ms());
    d2.broker().produce_records(d2.topic(), PARTITIONS, &records(&live));
    let mut v2 = between(&d2, v2);
    // The deleted history was consumed before retention took it: the total is unchanged.
    let total = (n + live.len()) as u64;
    let (m, at) = wait_rebuilt(&mut v2, total, Duration::from_secs(240));
    eprintln!("[it] {name}: rebuilt and exact {:.1} s after the V2 start", (now_ms() - started) as f64 / 1000.0);
    v2.stop();
    let mut all = past;
    all.extend(live);
    (m, at, all, deleted, started)
}

#[test]
fn changed_and_new_slis_are_rebuilt_from_the_topic_exactly() {
    let (m, at, events, _, started) = run("rebuild", 0x5EB, 60_000, "1s", V1, |_, _| 0, |_, app| app);
    assert_all_exact(&m, at, &events, "after the rebuild");
    // History complete from the period's start, 28 days before the restart.
    assert_rebuild_series(&m, started - 28 * DAY - 60_000..=started - 28 * DAY + 300_000);
}

#[test]
fn a_rebuild_killed_three_times_resumes_and_is_exact() {
    let (m, at, events, _, _) = run(
        "rebuild-kill",
        0xC11,
        1_000_000,
        "250ms",
        V1,
        |_, _| 0,
        |d, mut app| {
            for kill in 0..3 {
                // Kill -9 right after this process's first checkpoint, which holds the rebuild
                // part-way (checkpoints every 250 ms: the rebuild reads for seconds).
                let at = |m: &Metrics| {
                    let p = m.get(names::SLI_REBUILD_PROGRESS.name, &[(label::SLI, "web-latency")]);
                    (m.get(names::CHECKPOINTS.name, &[]).unwrap_or(0.0), p.unwrap_or(0.0))
                };
                let started = Instant::now();
                let mut seen = (-1.0, -1.0);
                let progress = loop {
                    let (written, progress) = at(&app.scrape());
                    if (written, progress) != seen {
                        seen = (written, progress);
                        eprintln!(
                            "[it] kill {kill}: {:.2} s: checkpoints {written}, progress {progress:.3}",
                            started.elapsed().as_secs_f64()
                        );
                    }
                    assert!(progress < 1.0, "kill {kill}: the rebuild finished before a checkpoint");
                    if written >= 1.0 {
                        break progress;
                    }
                    assert!(started.elapsed() < Duration::from_secs(30), "no checkpoint{}", app.log_tail(30));
                    std::thread::sleep(Duration::from_millis(10));
                };
                app.kill();
                eprintln!("[it] kill {kill} at rebuild progress {progress:.3}");
                app = d.start();
                app.wait_ready(Duration::from_secs(60));
                // The restart resumes the rebuild instead of starting it again.
                app.wait_log("resuming the history rebuild", Duration::from_secs(30));
            }
            app
        },
    );
    assert_all_exact(&m, at, &events, "after three kills during the rebuild");
}

#[test]
fn retention_cut_history_is_rebuilt_from_what_is_retained() {
    let (m, at, events, deleted, started) = run(
        "rebuild-retention",
        0x7E7,
        60_000,
        "1s",
        V1,
        |d, past| {
            // Retention deleted the oldest day: every record before the first event younger
            // than 46 h, on every partition (records are round-robin, in event-time order).
            let cut_ts = past[0].ts + DAY;
            let first_kept = past.iter().position(|e| e.ts >= cut_ts).expect("events after the first day");
            let upto: Vec<(i32, i64)> = (0..PARTITIONS)
                .map(|p| {
                    (
                        p,
                        past[..first_kept].iter().enumerate().filter(|(i, _)| *i as i32 % PARTITIONS == p).count()
                            as i64,
                    )
                })
                .collect();
            d.broker().delete_records(d.topic(), &upto);
            first_kept
        },
        |_, app| app,
    );
    // web and web-speed are rebuilt entirely, from the retained events only (api mixes an
    // unchanged SLI, which kept what it had counted, with a rebuilt one).
    let retained: Vec<&Event> = events[deleted..].iter().collect();
    assert_windows(&m, &retained, at, 1, "after retention");
    // History starts at the latest of the cut partitions' first retained events: before it,
    // some partition's events are gone.
    let history_start = (0..PARTITIONS)
        .map(|p| (deleted..).find(|i| *i as i32 % PARTITIONS == p).map(|i| events[i].ts).unwrap())
        .max()
        .unwrap();
    assert_rebuild_series(&m, history_start..=history_start);
    let _ = started;
}

/// `slostream rebuild --config <d's config> --sli <sli>`.
fn request_rebuild(d: &Deployment, sli: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_slostream"))
        .args(["rebuild", "--config"])
        .arg(d.dir.join("slostream.yaml"))
        .args(["--sli", sli])
        .output()
        .expect("run slostream rebuild")
}

/// Waits until the request file is gone (a checkpoint holds the rebuild).
fn wait_request_gone(d: &Deployment, app: &mut Slostream) {
    let started = Instant::now();
    while d.state_dir().join("rebuild-requested").exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "request still there{}", app.log_tail(20));
        std::thread::sleep(Duration::from_millis(100));
    }
    app.assert_running();
}

/// Only `sli` was rebuilt: its history starts at the period's start (28 days before `started`),
/// and `others` have none.
fn assert_only_rebuilt(m: &Metrics, sli: &str, others: &[&str], started: i64) {
    let start = m.get(names::SLI_HISTORY_START.name, &[(label::SLI, sli)]).expect("rebuilt");
    let want = (started - 28 * DAY) as f64 / 1000.0;
    assert!((start - want).abs() < 300.0, "history start {start}, want about {want}");
    for other in others {
        assert_eq!(m.get(names::SLI_HISTORY_START.name, &[(label::SLI, other)]), None, "{other} was not rebuilt");
    }
}

/// `slostream rebuild --sli NAME` (after a producer bug, say) under unchanged definitions: the
/// next start leaves that SLI's counts out and reads its history again, exactly once; the
/// request is gone once a checkpoint holds the rebuild. An unknown SLI is refused.
#[test]
fn a_rebuild_asked_for_reads_that_sli_again_exactly() {
    let (m, at, events, _, started) = run(
        "rebuild-asked",
        0xA5C,
        30_000,
        "1s",
        V2,
        |d, _| {
            let out = request_rebuild(d, "no-such-sli");
            assert_eq!(out.status.code(), Some(2));
            assert!(String::from_utf8_lossy(&out.stderr).contains("no SLI named \"no-such-sli\""));
            let out = request_rebuild(d, "api-availability");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert!(d.state_dir().join("rebuild-requested").exists());
            0
        },
        |d, mut app| {
            wait_request_gone(d, &mut app);
            app
        },
    );
    assert_all_exact(&m, at, &events, "after a rebuild asked for");
    assert_only_rebuilt(&m, "api-availability", &["api-latency", "web-availability", "web-latency"], started);
}

/// `slostream rebuild --sli NAME` on a running process: at its next checkpoint the SLI's counts
/// are left out, live positions become the history's end, and the history is read again; every
/// window ends exact while live events keep arriving, and the request file goes.
#[test]
fn a_rebuild_asked_for_while_running_is_exact() {
    let (m, at, events, _, started) = run(
        "rebuild-live",
        0x11FE,
        30_000,
        "1s",
        V2,
        |_, _| 0,
        |d, mut app| {
            // The restart under unchanged definitions rebuilt nothing: counting is live.
            let m = app.scrape();
            assert_eq!(m.get(names::SLO_REBUILDING.name, &[(label::SLO, "api")]), Some(0.0));
            let out = request_rebuild(d, "web-availability");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            app.wait_log("rebuilding the history of new or changed SLIs", Duration::from_secs(30));
            wait_request_gone(d, &mut app);
            // Published: from here on a scrape reflects the rebuild (before, it may still show
            // the state from before the request, with nothing rebuilding).
            let started = Instant::now();
            while app.scrape().get(names::SLI_HISTORY_START.name, &[(label::SLI, "web-availability")]).is_none() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the rebuild is not published{}",
                    app.log_tail(20)
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            app
        },
    );
    assert_all_exact(&m, at, &events, "after a rebuild asked for while running");
    assert_only_rebuilt(&m, "web-availability", &["api-availability", "api-latency", "web-latency"], started);
}

/// The two-stage deployment: an ingest member and a merge member count three days under V1;
/// both stop; the merge member restarts under V2 (killed -9 once while it rebuilds), then the
/// ingest member under V2, while fresh events arrive. The merge member reads each partition's
/// history up to where the ingest member's first record under V2 starts, and every window ends
/// exact.
#[test]
fn a_two_stage_deployment_rebuilds_exactly() {
    let mut rng = StdRng::seed_from_u64(0x2574);
    let n = 200_000;
    let d = Deployment::new("rebuild-two-stage").slis_and_slos(V1).checkpoint_interval("250ms").scale("200ms", "10s");
    d.create_topic(PARTITIONS);
    let t0 = now_ms();
    let past = history(&mut rng, n, t0);
    d.broker().produce_records(d.topic(), PARTITIONS, &records(&past));
    let mut merge = d.start_member(Role::Merge, "merge-a");
    let mut ingest = d.start_member(Role::Ingest, "ingest-a");
    merge.wait_ready(Duration::from_secs(60));
    merge.wait_consumed(n as u64, Duration::from_secs(180));
    let (status, _) = ingest.terminate(Duration::from_secs(30));
    assert!(status.success(), "V1 ingest exit {status}{}", ingest.log_tail(30));
    let (status, _) = merge.terminate(Duration::from_secs(30));
    assert!(status.success(), "V1 merge exit {status}{}", merge.log_tail(30));

    // Merge members first, then ingest members: what the README asks of a rollout.
    let d2 = d.slis_and_slos(V2);
    let started = now_ms();
    let mut merge = d2.start_member(Role::Merge, "merge-a");
    merge.wait_ready(Duration::from_secs(60));
    merge.wait_log("rebuilding the history of new or changed SLIs", Duration::from_secs(30));
    let m = merge.scrape();
    assert_eq!(m.get(names::SLO_REBUILDING.name, &[(label::SLO, "web")]), Some(1.0), "rebuilding, ends not known");
    // Events first: the ingest member's first records under V2 cover some, so the history's end
    // is where they start, not merely where an empty record says.
    let live = fresh(&mut rng, 5_000, now_ms());
    d2.broker().produce_records(d2.topic(), PARTITIONS, &records(&live));
    let mut ingest = d2.start_member(Role::Ingest, "ingest-a");
    // Kill -9 once the history is being read, after a checkpoint holds part of it.
    let waited = Instant::now();
    loop {
        let m = merge.scrape();
        let progress = m.get(names::SLI_REBUILD_PROGRESS.name, &[(label::SLI, "web-latency")]).unwrap_or(0.0);
        if progress > 0.0 && progress < 1.0 && m.get(names::CHECKPOINTS.name, &[]).unwrap_or(0.0) >= 1.0 {
            eprintln!("[it] two-stage: merge member killed at rebuild progress {progress:.3}");
            break;
        }
        assert!(progress < 1.0, "the rebuild finished before the kill");
        assert!(waited.elapsed() < Duration::from_secs(60), "the history is not being read{}", merge.log_tail(30));
        std::thread::sleep(Duration::from_millis(20));
    }
    merge.kill();
    let mut merge = d2.start_member(Role::Merge, "merge-a");
    merge.wait_ready(Duration::from_secs(60));
    merge.wait_log("resuming the history rebuild", Duration::from_secs(30));
    let total = (n + live.len()) as u64;
    let (m, at) = wait_rebuilt(&mut merge, total, Duration::from_secs(240));
    eprintln!("[it] two-stage: rebuilt and exact {:.1} s after the V2 start", (now_ms() - started) as f64 / 1000.0);
    ingest.stop();
    merge.stop();
    let mut events = past;
    events.extend(live);
    assert_all_exact(&m, at, &events, "two-stage, after the rebuild");
    assert_rebuild_series(&m, started - 28 * DAY - 60_000..=started - 28 * DAY + 300_000);
}
