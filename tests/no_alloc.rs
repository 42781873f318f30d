//! Ingest allocates nothing per event once warm: `Shard::process` and the batch hand-overs to
//! the tally (where window, total and latency counting happen).
//!
//! A counting global allocator wraps `System` and counts allocations (alloc, alloc_zeroed,
//! realloc) made by the current thread while its flag is set. The first allocation seen in a
//! section that asks for it prints a backtrace, so a failure names the allocating call.
//!
//! A test binary of its own, not a module of `tests/it`: a `#[global_allocator]` is one per
//! process, so in the shared binary it would sit under every other test's allocations too, and
//! the binary could never have another.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use slostream::config::Config;
use slostream::count::{Cut, Shard, Tally};
use slostream::loadgen::{Incidents, Traffic};
use slostream::state::{Counters, PartitionOffset};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Counting sections run one at a time (tests run on parallel threads and share `ALLOCS`).
static SECTION: Mutex<()> = Mutex::new(());

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static BACKTRACE: Cell<bool> = const { Cell::new(false) };
}

fn note(size: usize) {
    if !COUNTING.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    let before = ALLOCS.fetch_add(1, Ordering::Relaxed);
    if before == 0 && BACKTRACE.with(Cell::get) {
        // Not counted: capturing and printing allocate.
        COUNTING.with(|c| c.set(false));
        let bt = std::backtrace::Backtrace::force_capture();
        eprintln!("first allocation while counting: {size} bytes at\n{bt}");
        COUNTING.with(|c| c.set(true));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes on this thread; `backtrace` prints where the first one happened.
fn count_allocs<R>(backtrace: bool, f: impl FnOnce() -> R) -> (u64, R) {
    let _section = SECTION.lock().unwrap_or_else(|e| e.into_inner());
    ALLOCS.store(0, Ordering::SeqCst);
    BACKTRACE.with(|b| b.set(backtrace));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (ALLOCS.load(Ordering::SeqCst), out)
}

/// 2026-11-26T12:00:00Z.
const NOW: i64 = 1_795_694_400_000;
const WARM_UP: usize = 5_000;
const COUNTED: usize = 100_000;
/// Wall clock advance per event: the counted events span 5 minutes across an hour boundary,
/// so every tier's head advances and the latency minutes rotate while counting.
const STEP_MS: i64 = 3;
const START: i64 = NOW - 150_000;

/// `(payload, now)` pairs: loadgen events stamped up to 30 s before `now`; with `services`, the
/// service is rewritten to one of `svc-0 .. svc-{services-1}`.
fn events(seed: u64, n: usize, services: Option<usize>) -> Vec<(Vec<u8>, i64)> {
    let mut traffic = Traffic::new(seed, Incidents { every: Duration::ZERO, lasts: Duration::ZERO });
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut buf = String::new();
    (0..n)
        .map(|i| {
            let now = START + i as i64 * STEP_MS;
            traffic.event(now - rng.random_range(0..30_000), &mut buf);
            if let Some(services) = services {
                let to = format!("\"service\":\"svc-{}\"", rng.random_range(0..services));
                for from in ["\"service\":\"search-api\"", "\"service\":\"geo\"", "\"service\":\"booking\""] {
                    buf = buf.replace(from, &to);
                }
            }
            (buf.as_bytes().to_vec(), now)
        })
        .collect()
}

/// Events between hand-overs to the tally (a worker hands over every 500 ms or when full).
const HAND_OVER_EVERY: usize = 1_000;

/// Warms a shard on the first `WARM_UP` events, then counts allocations over the rest, handing
/// the batch over to a tally every [`HAND_OVER_EVERY`] events.
fn steady_state_allocs(config: &Config, events: &[(Vec<u8>, i64)]) -> (u64, Counters) {
    let mut shard = Shard::new(config);
    let mut tally = Tally::new(config, 1, None, Vec::new());
    let mut positions = vec![PartitionOffset { topic: "requests".into(), partition: 0, next: 0 }];
    let at = std::time::Instant::now();
    let (warm, counted) = events.split_at(WARM_UP);
    for (i, (payload, now)) in warm.iter().enumerate() {
        shard.process(payload, *now);
        positions[0].next = i as i64 + 1;
        if i % HAND_OVER_EVERY == 0 {
            shard.hand_over(&mut tally, 0, Cut { positions: &positions, acknowledged: true, now: at });
        }
    }
    let (allocs, ()) = count_allocs(true, || {
        for (i, (payload, now)) in counted.iter().enumerate() {
            shard.process(black_box(payload), *now);
            positions[0].next += 1;
            if i % HAND_OVER_EVERY == 0 {
                shard.hand_over(&mut tally, 0, Cut { positions: &positions, acknowledged: true, now: at });
            }
        }
    });
    shard.hand_over(&mut tally, 0, Cut { positions: &positions, acknowledged: true, now: at });
    assert_eq!(tally.offsets, positions);
    (allocs, tally.counters)
}

fn check_counted(c: &Counters, slis: usize) {
    assert_eq!(c.consumed, (WARM_UP + COUNTED) as u64);
    assert_eq!(c.rejected.iter().sum::<u64>(), 0, "rejected: {:?}", c.rejected);
    let matched: u64 = c.totals.iter().map(|c| c.total).sum();
    assert!(matched > c.consumed, "events should match several SLIs: {matched}");
    assert_eq!(c.totals.len(), slis);
    assert!(c.totals.iter().all(|c| c.total > 0), "every SLI saw events: {:?}", c.totals);
}

#[test]
fn the_counter_sees_allocations() {
    let (n, v) = count_allocs(false, || {
        let mut v: Vec<u64> = Vec::with_capacity(16);
        v.push(1);
        v
    });
    assert_eq!(n, 1, "one Vec, one allocation");
    let (n, ()) = count_allocs(false, || {
        let mut s = String::new();
        for i in 0..100 {
            s.push_str(black_box("grow "));
            black_box(i);
        }
        black_box(s);
    });
    assert!(n >= 2, "a growing String reallocates: {n}");
    let (n, sum) = count_allocs(false, || black_box(&v).iter().sum::<u64>());
    assert_eq!((n, sum), (0, 1), "reading allocates nothing");
    let (n, ()) = count_allocs(false, || drop(black_box(v)));
    assert_eq!(n, 0, "freeing is not allocating");
    let (n, _) = count_allocs(false, || black_box(Box::new(7u32)));
    assert_eq!(n, 1, "a Box allocates");
}

#[test]
fn process_allocates_nothing_in_steady_state_example_config() {
    let config = Config::from_yaml(include_str!("../config/example.yaml"), "example.yaml").unwrap();
    let events = events(11, WARM_UP + COUNTED, None);
    let (allocs, view) = steady_state_allocs(&config, &events);
    check_counted(&view, config.slis.len());
    assert_eq!(allocs, 0, "ingest allocated {allocs} times over {COUNTED} events (backtrace above)");
}

/// 100 SLIs over 20 services, using every kind of condition (eq, in, not_in, lt/le, prefix,
/// regex, all/any/not).
fn generated_config() -> Config {
    use std::fmt::Write as _;
    let mut y = String::from("kafka: { brokers: b, topics: [t], group_id: g }\nslis:\n");
    for s in 0..20 {
        let _ = write!(
            y,
            r#"  svc-{s:02}-availability:
    match: {{ service: "svc-{s}", route: ["/v2/trips", "/v2/trips/{{id}}", "/v1/geocode", "/v1/bookings"] }}
    good: {{ status: {{ lt: 500 }} }}
  svc-{s:02}-latency:
    match: {{ service: "svc-{s}", not: {{ route: "/v2/health" }} }}
    good: {{ latency_ms: {{ le: 300 }} }}
  svc-{s:02}-writes:
    match: {{ service: "svc-{s}", method: {{ in: ["POST", "PUT"] }} }}
    good: {{ all: [ {{ status: {{ lt: 500 }} }}, {{ status: {{ not_in: [429] }} }} ] }}
  svc-{s:02}-search:
    match: {{ service: "svc-{s}", route: {{ prefix: "/v2/trips" }} }}
    good: {{ any: [ {{ latency_ms: {{ lt: 200 }} }}, {{ status: {{ ge: 500 }}, region: {{ regex: "eu-.*" }} }} ] }}
  svc-{s:02}-any:
    match: {{ service: "svc-{s}", route: {{ regex: "/v[12]/.*" }} }}
    good: {{ status: {{ ne: 503 }}, user_agent: {{ prefix: "ios/" }} }}
"#
        );
    }
    y.push_str("slos:\n");
    for j in 0..10 {
        let (a, b) = (2 * j, 2 * j + 1);
        let _ = writeln!(
            y,
            "  slo-{j}: {{ objective: 99.9, period: 30d, slis: [svc-{a:02}-availability, svc-{a:02}-latency, svc-{b:02}-availability] }}"
        );
    }
    Config::from_yaml(&y, "generated.yaml").unwrap()
}

#[test]
fn process_allocates_nothing_in_steady_state_100_slis() {
    let config = generated_config();
    assert_eq!(config.slis.len(), 100);
    let events = events(12, WARM_UP + COUNTED, Some(20));
    let (allocs, view) = steady_state_allocs(&config, &events);
    check_counted(&view, config.slis.len());
    assert_eq!(allocs, 0, "ingest allocated {allocs} times over {COUNTED} events (backtrace above)");
}

/// Regression guard: unread values nested two levels deep were skipped by serde_json's
/// `ignore_value`, whose bracket stack lives in the per-event deserializer's scratch `Vec`, so
/// every such event allocated once.
#[test]
fn process_allocates_nothing_with_nested_unread_fields() {
    let config = Config::from_yaml(include_str!("../config/example.yaml"), "example.yaml").unwrap();
    let mut events = events(13, WARM_UP + COUNTED, None);
    for (payload, _) in &mut events {
        let text = String::from_utf8(std::mem::take(payload)).unwrap();
        *payload = text
            .replace(
                r#""trace":{"sampled":false}"#,
                r#""trace":{"sampled":false,"span":{"id":"a1b2c3d4","parent":null}}"#,
            )
            .into_bytes();
    }
    let (allocs, view) = steady_state_allocs(&config, &events);
    check_counted(&view, config.slis.len());
    assert_eq!(allocs, 0, "ingest allocated {allocs} times over {COUNTED} events (backtrace above)");
}

/// Fields of the wrong type and strings written as numbers take the slower comparisons (a string
/// parsed as a number, three-valued conditions) and are counted per field: still no allocation.
#[test]
fn process_allocates_nothing_with_fields_of_the_wrong_type() {
    let config = Config::from_yaml(include_str!("../config/example.yaml"), "example.yaml").unwrap();
    let status = regex::Regex::new(r#""status":(\d+)"#).unwrap();
    let latency = regex::Regex::new(r#""latency_ms":[0-9.]+"#).unwrap();
    let mut events = events(17, WARM_UP + COUNTED, None);
    for (i, (payload, _)) in events.iter_mut().enumerate() {
        let text = String::from_utf8(std::mem::take(payload)).unwrap();
        let text = match i % 4 {
            0 => status.replace(&text, r#""status":"$1""#),
            1 => status.replace(&text, r#""status":"OK""#),
            2 => latency.replace(&text, r#""latency_ms":"fast""#),
            _ => latency.replace(&text, r#""latency_ms":"12.5""#),
        };
        *payload = text.into_owned().into_bytes();
    }
    let (allocs, view) = steady_state_allocs(&config, &events);
    assert_eq!(view.consumed, (WARM_UP + COUNTED) as u64);
    assert_eq!(view.rejected.iter().sum::<u64>(), 0, "a field's type never rejects the event");
    let status_at = config.condition_fields().iter().position(|f| *f == "status").unwrap();
    assert!(view.type_mismatches[status_at] > 0 && view.latency_invalid > 0, "{view:?}");
    assert_eq!(allocs, 0, "ingest allocated {allocs} times over {COUNTED} events (backtrace above)");
}

/// An SLI with a breakdown hashes its fields' text and looks the combination up in a set kept
/// between hand-overs: no allocation once every combination has been seen.
#[test]
fn process_allocates_nothing_with_a_breakdown() {
    let yaml = include_str!("../config/example.yaml").replace(
        "  search-latency:\n",
        "  search-latency:\n    breakdown: [route, status, latency_ms]\n    max_values: 20\n",
    );
    let config = Config::from_yaml(&yaml, "example.yaml").unwrap();
    let events = events(19, WARM_UP + COUNTED, None);
    let (allocs, view) = steady_state_allocs(&config, &events);
    check_counted(&view, config.slis.len());
    assert_eq!(allocs, 0, "ingest allocated {allocs} times over {COUNTED} events (backtrace above)");
}

/// Events in a maintenance window are tested against its schedule and `match:` and counted for
/// it instead of any SLI: still no allocation, whether the window claims the event or not.
#[test]
fn process_allocates_nothing_with_events_in_maintenance() {
    let mut start = String::new();
    slostream::time::format_rfc3339_ms(START - 3_600_000, &mut start);
    let yaml = format!(
        "{}maintenance:\n  - {{ name: booking, match: {{ service: booking, method: [POST, PUT] }}, start: \"{start}\", duration: 10s, every: 20s }}\n  \
         - {{ name: all, start: \"{start}\", duration: 1s, every: 1m }}\n",
        include_str!("../config/example.yaml")
    );
    let config = Config::from_yaml(&yaml, "example.yaml").unwrap();
    let events = events(23, WARM_UP + COUNTED, None);
    let (allocs, view) = steady_state_allocs(&config, &events);
    check_counted(&view, config.slis.len());
    assert!(view.in_maintenance.iter().all(|&n| n > 100), "both windows claimed events: {:?}", view.in_maintenance);
    assert_eq!(allocs, 0, "ingest allocated {allocs} times over {COUNTED} events (backtrace above)");
}
