//! Hot-path and per-tick benchmarks.
//!
//! - `decode_classify_count/*`: `Shard::process` (decode + classify into the worker's batch) per
//!   event, plus the batch's share of its hand-over to the tally (window/total/latency count),
//!   on the example config (also with breakdowns, and with a maintenance window) and on
//!   generated configs of 10 to 10,000 SLIs.
//! - `decode/*`, `classify/*`: the first two stages alone (classify on slots decoded beforehand).
//! - `event_bytes_decode/*`, `event_bytes_decode_classify_count/*`: the same per event, with
//!   throughput in payload bytes, on the ~250-byte events and on events padded to 1,500 bytes
//!   (`loadgen --event-bytes 1500`: a query list and ~20 request headers, `sec-ch-ua` values
//!   full of escaped quotes), for the example config and 100 SLIs.
//! - `window_record/*`: `WindowStore::record` for in-order and late event times.
//! - `window_sums/*`: every configured window of 100 SLIs, one window at a time or all windows
//!   of a tier in one pass.
//! - `publish/*`: `Snapshot::read_tally` (every window sum of every SLI, plus latency quantiles)
//!   per export tick, with no new latency since the last tick (quantiles are kept), and
//!   `publish_latency_changed/*` with every SLI's quantiles recomputed.
//! - `slo_evaluate/*`, `telemetry_update/*`, `render/*`: the exporter tick and a scrape, for
//!   100 and 1,000 SLOs.
//!
//! Events come from `loadgen::Traffic` (~250 bytes, 80% RFC 3339 timestamps, 20% epoch ms),
//! stamped a little before a fixed `now`. For generated configs the `service` value is rewritten
//! to one of the generated services, so an event matches a few SLIs (about 2.7 on average).
//!
//! Measurement times are short on purpose (2-core, shared machine): run with
//! `cargo bench --bench hot_path [-- filter]`.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use slostream::classify::Classifier;
use slostream::config::Config;
use slostream::count::{Cut, Shard, Snapshot, Tally};
use slostream::decode::{Decoder, Val};
use slostream::export::Telemetry;
use slostream::ingest::KafkaErrors;
use slostream::loadgen::{Incidents, Traffic};
use slostream::slo;
use slostream::state::delta_record::DeltaRecord;
use slostream::window::{Counts, WindowStore};

/// 2026-11-26T12:00:00Z.
const NOW: i64 = 1_795_694_400_000;
const EVENTS: usize = 10_000;
const SLIS_PER_SERVICE: usize = 5;
/// One SLO per this many services (10 SLIs).
const SERVICES_PER_SLO: usize = 2;
const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

const EXAMPLE: &str = include_str!("../config/example.yaml");

/// A config of `slis` SLIs: five per service, one SLO per ten SLIs.
fn generated_yaml(slis: usize) -> String {
    use std::fmt::Write as _;
    assert_eq!(slis % (SLIS_PER_SERVICE * SERVICES_PER_SLO), 0, "{slis} SLIs");
    let services = slis / SLIS_PER_SERVICE;
    let mut y = String::from(
        "kafka:\n  brokers: \"127.0.0.1:9092\"\n  topics: [\"requests\"]\n  group_id: \"bench\"\n\
         events:\n  timestamp_field: \"timestamp\"\n  latency_field: \"latency_ms\"\n  max_future: \"1m\"\n\
         slis:\n",
    );
    for s in 0..services {
        let _ = write!(
            y,
            r#"  svc-{s:05}-availability:
    match: {{ service: "svc-{s:05}", route: ["/v2/trips", "/v2/trips/{{id}}", "/v1/geocode", "/v1/bookings"] }}
    good: {{ status: {{ lt: 500 }} }}
  svc-{s:05}-latency:
    match: {{ service: "svc-{s:05}" }}
    good: {{ latency_ms: {{ le: 300 }} }}
  svc-{s:05}-writes:
    match: {{ service: "svc-{s:05}", method: ["POST"] }}
    good: {{ all: [ {{ status: {{ lt: 500 }} }}, {{ status: {{ not_in: [429] }} }} ] }}
  svc-{s:05}-search:
    match: {{ service: "svc-{s:05}", route: {{ prefix: "/v2/trips" }} }}
    good: {{ status: {{ lt: 500 }}, latency_ms: {{ le: 1000 }} }}
  svc-{s:05}-health:
    match: {{ service: "svc-{s:05}", route: "/v2/health" }}
    good: {{ status: {{ eq: 200 }} }}
"#
        );
    }
    y.push_str("slos:\n");
    for j in 0..services / SERVICES_PER_SLO {
        let (a, b) = (j * SERVICES_PER_SLO, j * SERVICES_PER_SLO + 1);
        let (objective, period) = if j % 2 == 0 { (99.5, "28d") } else { (99.9, "30d") };
        let combine = ["pooled", "weighted", "product", "min"][j % 4];
        let _ =
            writeln!(y, "  slo-{j:05}:\n    objective: {objective}\n    period: \"{period}\"\n    combine: {combine}");
        if combine == "weighted" {
            let _ = writeln!(
                y,
                "    slis:\n      - {{ sli: svc-{a:05}-availability, weight: 3 }}\n      - {{ sli: svc-{a:05}-latency, weight: 1 }}\n      - {{ sli: svc-{b:05}-availability, weight: 3 }}\n      - {{ sli: svc-{b:05}-writes, weight: 2 }}"
            );
        } else {
            let _ = writeln!(
                y,
                "    slis: [svc-{a:05}-availability, svc-{a:05}-latency, svc-{b:05}-availability, svc-{b:05}-writes]"
            );
        }
    }
    y
}

fn generated_config(slis: usize) -> Config {
    let config = Config::from_yaml(&generated_yaml(slis), "generated.yaml").expect("generated config is valid");
    assert_eq!(config.slis.len(), slis);
    assert_eq!(config.slos.len(), slis / (SLIS_PER_SERVICE * SERVICES_PER_SLO));
    config
}

/// Realistic events stamped up to a minute before `NOW`; with `services`, the service name is
/// replaced by a uniformly chosen `svc-NNNNN`.
fn events(seed: u64, n: usize, services: Option<usize>) -> Vec<Vec<u8>> {
    padded_events(seed, n, services, None)
}

/// [`events`], padded to about `bytes` each as `loadgen --event-bytes` pads them.
fn padded_events(seed: u64, n: usize, services: Option<usize>, bytes: Option<usize>) -> Vec<Vec<u8>> {
    let mut traffic =
        Traffic::new(seed, Incidents { every: Duration::ZERO, lasts: Duration::ZERO }).with_event_bytes(bytes);
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let mut buf = String::with_capacity(512);
    (0..n)
        .map(|_| {
            traffic.event(NOW - rng.random_range(0..60_000), &mut buf);
            if let Some(services) = services {
                let name = format!("\"service\":\"svc-{:05}\"", rng.random_range(0..services));
                for from in ["\"service\":\"search-api\"", "\"service\":\"geo\"", "\"service\":\"booking\""] {
                    if buf.contains(from) {
                        buf = buf.replace(from, &name);
                        break;
                    }
                }
            }
            buf.as_bytes().to_vec()
        })
        .collect()
}

/// A shard and its tally after every event was counted once (so every latency block exists).
fn warm_shard(config: &Config, events: &[Vec<u8>]) -> (Shard, Tally) {
    let mut shard = Shard::new(config);
    let mut tally = Tally::new(config, 1, None, Vec::new());
    for e in events {
        shard.process(e, NOW);
    }
    shard.hand_over(&mut tally, 0, cut());
    (shard, tally)
}

/// A hand-over's cut in a bench: no partitions, nothing pending.
fn cut() -> Cut<'static> {
    Cut { positions: &[], acknowledged: true, now: std::time::Instant::now() }
}

fn snapshot(config: &Config, tally: &Tally) -> Snapshot {
    let mut snapshot = Snapshot::new(config);
    snapshot.read_tally(tally, NOW);
    snapshot
}

/// Per event: process into the batch, and hand the batch over whenever it is full (as a worker
/// does under a backlog), so the window counting is included at its real batch size.
fn bench_process(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    (shard, tally): &mut (Shard, Tally),
    events: &[Vec<u8>],
    throughput: Throughput,
) {
    group.throughput(throughput);
    let mut i = 0;
    group.bench_function(id, |b| {
        b.iter(|| {
            shard.process(black_box(&events[i]), NOW);
            if shard.is_full() {
                shard.hand_over(tally, 0, cut());
            }
            i += 1;
            if i == events.len() {
                i = 0;
            }
        })
    });
}

/// Per event as an ingest member (`--role ingest`) counts: process into the batch, and whenever
/// it is full take it as a delta record and encode it (what each commit does), instead of a
/// hand-over to the tally.
fn bench_ingest(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, config: &Config, events: &[Vec<u8>]) {
    let mut shard = Shard::new(config);
    let mut record = DeltaRecord::empty(config);
    let mut i = 0;
    group.throughput(Throughput::Elements(1));
    group.bench_function(id, |b| {
        b.iter(|| {
            shard.process(black_box(&events[i]), NOW);
            if shard.is_full() {
                shard.take_delta(&mut record);
                black_box(record.encode(config));
                record.clear();
            }
            i += 1;
            if i == events.len() {
                i = 0;
            }
        })
    });
}

/// Decode alone, and classify alone on slots decoded beforehand.
fn bench_stages(c: &mut Criterion, id: &str, config: &Config, events: &[Vec<u8>]) {
    let decoder = Decoder::new(config);
    let classifier = Classifier::new(config, &decoder);
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    let mut slots = Vec::new();
    let mut i = 0;
    g.bench_function(id, |b| {
        b.iter(|| {
            black_box(decoder.decode(black_box(&events[i]), NOW, &mut slots)).ok();
            i = (i + 1) % events.len();
        })
    });
    g.finish();

    let decoded: Vec<Vec<Val<'_>>> = events
        .iter()
        .map(|e| {
            let mut slots = Vec::new();
            decoder.decode(e, NOW, &mut slots).expect("valid event");
            slots
        })
        .collect();
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function(id, |b| {
        b.iter(|| {
            black_box(classifier.classify(black_box(&decoded[i]), |sli, good| {
                black_box((sli, good));
            }));
            i = (i + 1) % decoded.len();
        })
    });
    g.finish();
}

/// Decode, and decode + classify + count, with throughput in payload bytes: 250-byte and
/// 1,500-byte events on the example config and on 100 SLIs.
fn event_bytes(c: &mut Criterion) {
    let example = Config::from_yaml(EXAMPLE, "example.yaml").expect("example config");
    let hundred = generated_config(100);
    for (name, config, services) in [("example", &example, None), ("100_slis", &hundred, Some(100 / SLIS_PER_SERVICE))]
    {
        for (size, bytes) in [("250", None), ("1500", Some(1_500))] {
            let events = padded_events(7, EVENTS, services, bytes);
            let total: usize = events.iter().map(Vec::len).sum();
            let avg = (total / events.len()) as u64;
            let id = format!("{name}_{size}");
            let decoder = Decoder::new(config);
            let mut g = c.benchmark_group("event_bytes_decode");
            g.throughput(Throughput::Bytes(avg));
            let mut slots = Vec::new();
            let mut i = 0;
            g.bench_function(&id, |b| {
                b.iter(|| {
                    black_box(decoder.decode(black_box(&events[i]), NOW, &mut slots)).ok();
                    i = (i + 1) % events.len();
                })
            });
            g.finish();
            let mut shard = warm_shard(config, &events);
            assert_eq!(shard.1.counters.rejected.iter().sum::<u64>(), 0, "{id}: rejected events");
            let mut g = c.benchmark_group("event_bytes_decode_classify_count");
            bench_process(&mut g, &id, &mut shard, &events, Throughput::Bytes(avg));
            g.finish();
            eprintln!("[{id}] {avg} bytes per event on average");
        }
    }
}

fn hot_path(c: &mut Criterion) {
    // Example config.
    {
        let config = Config::from_yaml(EXAMPLE, "example.yaml").expect("example config");
        let events = events(1, EVENTS, None);
        bench_stages(c, "example", &config, &events);
        let mut shard = warm_shard(&config, &events);
        let mut g = c.benchmark_group("decode_classify_count");
        bench_process(&mut g, "example", &mut shard, &events, Throughput::Elements(1));
        bench_ingest(&mut g, "example_ingest", &config, &events);
        // Same events with an unread object two levels deep (serde_json allocates to skip it).
        let nested: Vec<Vec<u8>> = events
            .iter()
            .map(|e| {
                String::from_utf8_lossy(e)
                    .replace(
                        r#""trace":{"sampled":false}"#,
                        r#""trace":{"sampled":false,"span":{"id":"a1b2c3d4","parent":null}}"#,
                    )
                    .into_bytes()
            })
            .collect();
        let mut shard = warm_shard(&config, &nested);
        bench_process(&mut g, "example_nested_unread", &mut shard, &nested, Throughput::Elements(1));
        // search-availability and search-latency broken down by route and status: one hash and
        // one set lookup per event of theirs (the loadgen's routes and statuses make about 20
        // combinations).
        let broken_down = Config::from_yaml(
            &EXAMPLE
                .replace("  search-latency:\n", "  search-latency:\n    breakdown: [route, status]\n")
                .replace("  search-availability:\n", "  search-availability:\n    breakdown: [route, status]\n"),
            "example.yaml",
        )
        .expect("example config with breakdowns");
        assert!(broken_down.slis.iter().filter(|s| s.breakdown.is_some()).count() == 2);
        let mut shard = warm_shard(&broken_down, &events);
        bench_process(&mut g, "example_breakdown", &mut shard, &events, Throughput::Elements(1));
        // A maintenance window on booking, 10 s of every minute: every event is tested against
        // its schedule, booking events within it against its match too (a sixth are claimed).
        let mut start = String::new();
        slostream::time::format_rfc3339_ms(NOW - 3_600_000, &mut start);
        let maintenance = Config::from_yaml(
            &format!(
                "{EXAMPLE}maintenance:\n  - {{ name: deploys, match: {{ service: booking }}, start: \"{start}\", duration: 10s, every: 1m }}\n"
            ),
            "example.yaml",
        )
        .expect("example config with a maintenance window");
        let mut shard = warm_shard(&maintenance, &events);
        bench_process(&mut g, "example_maintenance", &mut shard, &events, Throughput::Elements(1));
        // Both SLOs budgeted in one-minute slices: each event's time is checked against the
        // slices already judged, and slices are judged as event time moves on.
        let sliced = Config::from_yaml(
            &EXAMPLE.replace(
                "    combine: ",
                "    budgeting: { method: timeslices, slice: 1m, target: 95, min_events: 20 }\n    combine: ",
            ),
            "example.yaml",
        )
        .expect("example config with time slices");
        assert_eq!(sliced.slos.iter().filter(|s| s.budgeting.slices().is_some()).count(), 2);
        let mut shard = warm_shard(&sliced, &events);
        bench_process(&mut g, "example_timeslices", &mut shard, &events, Throughput::Elements(1));
        g.finish();
        // The tick's read of the tally, judging the live slices of both SLOs.
        let mut g = c.benchmark_group("publish");
        let mut view = snapshot(&sliced, &shard.1);
        g.bench_function("example_timeslices", |b| b.iter(|| view.read_tally(&shard.1, black_box(NOW))));
        let mut plain = warm_shard(&config, &events);
        plain.1.store.record(0, NOW, true);
        let mut view = snapshot(&config, &plain.1);
        g.bench_function("example", |b| b.iter(|| view.read_tally(&plain.1, black_box(NOW))));
        g.finish();
    }

    for slis in SIZES {
        let config = generated_config(slis);
        let events = events(slis as u64, EVENTS, Some(slis / SLIS_PER_SERVICE));
        bench_stages(c, &format!("{slis}_slis"), &config, &events);
        let mut shard = warm_shard(&config, &events);
        let (matched, unmatched) = matched(&shard.1);
        eprintln!(
            "[{slis} SLIs, {} SLOs] avg SLIs matched per event: {:.2}, unmatched events: {unmatched}; window bytes/SLI: {}, latency bytes/SLI: {}",
            config.slos.len(),
            matched as f64 / EVENTS as f64,
            shard.1.store.bytes_per_sli(),
            shard.1.latency.bytes_per_sli()
        );

        let mut g = c.benchmark_group("decode_classify_count");
        bench_process(&mut g, &format!("{slis}_slis"), &mut shard, &events, Throughput::Elements(1));
        g.finish();

        let mut g = c.benchmark_group("publish");
        if slis >= 1_000 {
            g.sampling_mode(SamplingMode::Flat).sample_size(10);
        }
        g.throughput(Throughput::Elements(slis as u64));
        let tally = &shard.1;
        let mut view = snapshot(&config, tally);
        g.bench_function(format!("{slis}_slis"), |b| b.iter(|| view.read_tally(tally, black_box(NOW))));
        g.finish();
        // The same, with every SLI's latency histogram rebuilt: `now` alternates between two
        // minutes that both hold all the events, as if every SLI had seen a new latency.
        let mut g = c.benchmark_group("publish_latency_changed");
        if slis >= 1_000 {
            g.sampling_mode(SamplingMode::Flat).sample_size(10);
        }
        g.throughput(Throughput::Elements(slis as u64));
        let mut minute = 0;
        g.bench_function(format!("{slis}_slis"), |b| {
            b.iter(|| {
                minute ^= 1;
                view.read_tally(tally, black_box(NOW + minute * 60_000))
            })
        });
        g.finish();

        let slos = config.slos.len();
        if slos < 100 {
            continue;
        }
        let merged = snapshot(&config, &shard.1);
        drop(shard);

        let mut g = c.benchmark_group("slo_evaluate");
        g.throughput(Throughput::Elements(slos as u64));
        g.bench_function(format!("{slos}_slos"), |b| {
            b.iter(|| {
                for s in &config.slos {
                    black_box(slo::evaluate(s, |sli, secs| merged.window(sli, config.window_index(secs))));
                }
            })
        });
        g.finish();

        // One tick's evaluation and publication, as the pipeline's tick does them.
        let mut telemetry = Telemetry::new(&config);
        let errors = KafkaErrors::default();
        let mut statuses = Vec::new();
        let mut update = || {
            slo::evaluate_all(&config, &merged, &mut statuses);
            telemetry.publish(&config, &merged, &errors, Some(&statuses), NOW);
        };
        update();
        let mut g = c.benchmark_group("telemetry_update");
        g.throughput(Throughput::Elements(slos as u64));
        g.bench_function(format!("{slos}_slos"), |b| b.iter(&mut update));
        g.finish();

        let handle = telemetry.handle();
        let size = handle.render().len();
        eprintln!("[{slos} SLOs] /metrics body: {size} bytes");
        let mut g = c.benchmark_group("render");
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Elements(slos as u64));
        g.bench_function(format!("{slos}_slos"), |b| b.iter(|| black_box(handle.render())));
        g.finish();
    }

    // Window store alone: 100 SLIs, 30-day period, 1 minute future.
    {
        let slis = 100;
        let mut rng = SmallRng::seed_from_u64(3);
        let picks: Vec<usize> = (0..4096).map(|_| rng.random_range(0..slis)).collect();
        // Late: 0 to 2 h behind the head, so about half miss the 1 h fine tier.
        let late: Vec<i64> = (0..4096).map(|_| rng.random_range(0..7_200_000)).collect();
        let mut g = c.benchmark_group("window_record");
        g.throughput(Throughput::Elements(1));

        let mut store = WindowStore::new(slis, 30 * 86_400_000, 60_000);
        let mut i = 0usize;
        // In order: 64 events per event-time millisecond (64k events/s).
        g.bench_function("in_order", |b| {
            b.iter(|| {
                let k = i & 4095;
                store.record(picks[k], NOW + (i / 64) as i64, k & 7 != 0);
                i += 1;
            })
        });

        let mut store = WindowStore::new(slis, 30 * 86_400_000, 60_000);
        store.record(0, NOW, true);
        let mut i = 0usize;
        g.bench_function("late_0_to_2h", |b| {
            b.iter(|| {
                let k = i & 4095;
                store.record(picks[k], NOW - late[k], k & 7 != 0);
                i += 1;
            })
        });
        g.finish();

        // Every configured window of every SLI, as `Shard::publish` needs them: one window at a
        // time, or all windows of a tier in one backward pass.
        let mut store = WindowStore::new(slis, 30 * 86_400_000, 60_000);
        for i in 0..100_000i64 {
            store.record(picks[(i & 4095) as usize], NOW - i * 25_000, i & 7 != 0);
        }
        let windows: Vec<i64> = Config::from_yaml(EXAMPLE, "example.yaml")
            .expect("example config")
            .windows
            .iter()
            .map(|w| w.secs * 1000)
            .collect();
        let set = store.window_set(&windows);
        let mut out = vec![Counts::default(); windows.len()];
        let mut g = c.benchmark_group("window_sums");
        g.throughput(Throughput::Elements(slis as u64));
        g.bench_function(format!("per_window_{slis}_slis"), |b| {
            b.iter(|| {
                for sli in 0..slis {
                    for (o, &w) in out.iter_mut().zip(&windows) {
                        *o = store.count(sli, w, NOW);
                    }
                    black_box(&out);
                }
            })
        });
        g.bench_function(format!("one_pass_{slis}_slis"), |b| {
            b.iter(|| {
                for sli in 0..slis {
                    store.sums(sli, &set, NOW, &mut out);
                    black_box(&out);
                }
            })
        });
        g.finish();
    }
}

/// Matched (sli, event) pairs and unmatched events so far; panics if any event was rejected.
fn matched(tally: &Tally) -> (u64, u64) {
    let c = &tally.counters;
    assert_eq!(c.rejected.iter().sum::<u64>(), 0, "rejected: {:?}", c.rejected);
    (c.totals.iter().map(|c| c.total).sum(), c.unmatched)
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = hot_path, event_bytes
}
criterion_main!(benches);
