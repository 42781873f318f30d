//! `/metrics` cost of the per-SLO and per-SLI series, for 10 to 10,000 SLOs, with the
//! metrics-exporter-prometheus recorder and with `export::exposition`, same series, same run.
//!
//! - `render/{prometheus_exporter,exposition}/N`: one scrape of N SLOs' series (a fresh `String`
//!   each time, as the HTTP handler would). The exporter is timed by hand at sizes where one
//!   render takes over 2 s, and printed.
//! - `set_all/{prometheus_exporter,exposition}/N`: setting every series once, the per-tick cost.
//! - `format_value/{std,ryu_itoa}`: one tick's values formatted with `std` or with `ryu`/`itoa`,
//!   the choice `exposition` makes.
//!
//! Each SLO has 34 series: `slostream_slo_{sli_ratio,events,good_events,burn_rate}` for 6
//! windows, `error_budget_remaining_ratio`, `alert` for 2 severities and `objective_ratio`; and
//! one SLI with `slostream_sli_{events,good_events}_total` and 4 latency quantiles. Values look
//! like a live tick's: ratios and burn rates with many digits, integral event counts, 0/1 alerts.
//!
//! Run with `cargo bench --bench render -- --warm-up-time 1 --measurement-time 3`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use metrics::{Counter, Gauge, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use slostream::export::exposition::{Exposition, Handle, Kind};
use slostream::names::{self, Metric};

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];
const WINDOWS: [&str; 6] = ["5m", "30m", "1h", "6h", "3d", "30d"];
const SEVERITIES: [&str; 2] = ["page", "ticket"];
const QUANTILES: [&str; 4] = ["0.5", "0.9", "0.99", "0.999"];
/// Above this, one exporter render is timed by hand instead of by criterion.
const BY_HAND_OVER: Duration = Duration::from_secs(2);

/// The families, in the order `series` refers to them.
const FAMILIES: [Metric; 10] = [
    names::SLO_SLI_RATIO,
    names::SLO_EVENTS,
    names::SLO_GOOD_EVENTS,
    names::SLO_BURN_RATE,
    names::SLO_BUDGET_REMAINING,
    names::SLO_ALERT,
    names::SLO_OBJECTIVE,
    names::SLI_EVENTS,
    names::SLI_GOOD_EVENTS,
    names::SLI_LATENCY,
];

/// One series: its family in [`FAMILIES`], labels and the value a tick sets.
struct Series {
    family: usize,
    labels: Vec<(&'static str, String)>,
    value: f64,
}

fn series(slos: usize) -> Vec<Series> {
    let mut out = Vec::with_capacity(slos * 34);
    let mut push = |family, labels: Vec<(&'static str, String)>, value| out.push(Series { family, labels, value });
    for s in 0..slos {
        let slo = format!("feature-{s}-checkout");
        let x = s as f64;
        for (w, window) in WINDOWS.iter().enumerate() {
            let labels = || vec![("slo", slo.clone()), ("window", window.to_string())];
            let total = (1_000 + s * 37 + w * 100_003) as f64;
            let good = total - (s % 13 + w) as f64;
            let ratio = good / total;
            push(0, labels(), ratio);
            push(1, labels(), total);
            push(2, labels(), good);
            push(3, labels(), (1.0 - ratio) / (1.0 - 0.999));
        }
        push(4, vec![("slo", slo.clone())], 1.0 - (x % 17.0) / 11.0);
        for (i, severity) in SEVERITIES.iter().enumerate() {
            push(5, vec![("slo", slo.clone()), ("severity", severity.to_string())], ((s + i) % 9 == 0) as u8 as f64);
        }
        push(6, vec![("slo", slo.clone())], 0.999);
        let sli = format!("svc-{s}-availability");
        push(7, vec![("sli", sli.clone())], (48_000_000 + s * 7_919) as f64);
        push(8, vec![("sli", sli.clone())], (47_990_000 + s * 7_907) as f64);
        for (q, quantile) in QUANTILES.iter().enumerate() {
            let micros = (1_200 + s * 31) * (q + 1) * (q + 1);
            push(9, vec![("sli", sli.clone()), ("quantile", quantile.to_string())], micros as f64 / 1e6);
        }
    }
    out
}

enum Recorded {
    Gauge(Gauge),
    Counter(Counter),
}

fn exporter(series: &[Series]) -> (PrometheusRecorder, Vec<Recorded>) {
    static META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);
    let recorder = PrometheusBuilder::new().build_recorder();
    for Metric { name, help, kind } in FAMILIES {
        match kind {
            Kind::Gauge => recorder.describe_gauge(KeyName::from(name), None, SharedString::from(help)),
            Kind::Counter => recorder.describe_counter(KeyName::from(name), None, SharedString::from(help)),
        }
    }
    let handles = series
        .iter()
        .map(|s| {
            let labels: Vec<Label> = s.labels.iter().map(|(k, v)| Label::new(*k, v.clone())).collect();
            let key = Key::from_parts(FAMILIES[s.family].name, labels);
            match FAMILIES[s.family].kind {
                Kind::Gauge => Recorded::Gauge(recorder.register_gauge(&key, &META)),
                Kind::Counter => Recorded::Counter(recorder.register_counter(&key, &META)),
            }
        })
        .collect();
    (recorder, handles)
}

fn exposition(series: &[Series]) -> (Exposition, Vec<Handle>) {
    let e = Exposition::new();
    let ids = FAMILIES.map(|m| e.family(m.name, m.help, m.kind));
    let handles = series
        .iter()
        .map(|s| {
            let labels: Vec<(&str, &str)> = s.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            e.series(ids[s.family], &labels)
        })
        .collect();
    (e, handles)
}

fn set_exporter(handles: &[Recorded], series: &[Series]) {
    for (h, s) in handles.iter().zip(series) {
        match h {
            Recorded::Gauge(g) => g.set(black_box(s.value)),
            Recorded::Counter(c) => c.absolute(black_box(s.value) as u64),
        }
    }
}

fn set_exposition(handles: &[Handle], series: &[Series]) {
    for (h, s) in handles.iter().zip(series) {
        match FAMILIES[s.family].kind {
            Kind::Gauge => h.set(black_box(s.value)),
            Kind::Counter => h.absolute(black_box(s.value) as u64),
        }
    }
}

fn render_into_new(e: &Exposition) -> String {
    let mut out = String::new();
    e.render_into(&mut out);
    out
}

fn render(c: &mut Criterion) {
    let mut g = c.benchmark_group("render");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    for slos in SIZES {
        let series = series(slos);
        g.throughput(Throughput::Elements(series.len() as u64));
        let (recorder, recorded) = exporter(&series);
        set_exporter(&recorded, &series);
        let handle = recorder.handle();
        let (e, handles) = exposition(&series);
        set_exposition(&handles, &series);

        let start = Instant::now();
        let theirs = handle.render();
        let once = start.elapsed();
        let ours = render_into_new(&e);
        println!(
            "{slos} SLOs: {} series, exporter {} bytes, exposition {} bytes",
            series.len(),
            theirs.len(),
            ours.len()
        );
        if once > BY_HAND_OVER {
            let mut runs: Vec<Duration> = (0..3)
                .map(|_| {
                    let start = Instant::now();
                    black_box(handle.render());
                    start.elapsed()
                })
                .collect();
            runs.sort();
            println!(
                "render/prometheus_exporter/{slos}: timed by hand (one render took {once:.2?}): runs {runs:.2?}, \
                 median {:.2?}",
                runs[1]
            );
        } else {
            g.bench_function(BenchmarkId::new("prometheus_exporter", slos), |b| b.iter(|| black_box(handle.render())));
        }
        g.bench_function(BenchmarkId::new("exposition", slos), |b| b.iter(|| black_box(render_into_new(&e))));
    }
    g.finish();
}

fn set_all(c: &mut Criterion) {
    let mut g = c.benchmark_group("set_all");
    g.sample_size(20);
    for slos in SIZES {
        let series = series(slos);
        g.throughput(Throughput::Elements(series.len() as u64));
        let (_recorder, recorded) = exporter(&series);
        g.bench_function(BenchmarkId::new("prometheus_exporter", slos), |b| {
            b.iter(|| set_exporter(&recorded, &series))
        });
        let (_e, handles) = exposition(&series);
        g.bench_function(BenchmarkId::new("exposition", slos), |b| b.iter(|| set_exposition(&handles, &series)));
    }
    g.finish();
}

/// What `exposition` prints, with `std` formatting or with `ryu` and `itoa`.
fn write_value(out: &mut String, v: f64, fast: bool) {
    if v.abs() < 9_007_199_254_740_992.0 && v as i64 as f64 == v {
        match fast {
            true => out.push_str(itoa::Buffer::new().format(v as i64)),
            false => write!(out, "{}", v as i64).unwrap(),
        }
    } else {
        match fast {
            true => out.push_str(ryu::Buffer::new().format_finite(v)),
            false => write!(out, "{v}").unwrap(),
        }
    }
}

fn format_value(c: &mut Criterion) {
    let values: Vec<f64> = series(1_000).iter().map(|s| s.value).collect();
    let mut g = c.benchmark_group("format_value");
    g.throughput(Throughput::Elements(values.len() as u64));
    let mut out = String::with_capacity(values.len() * 25);
    for (name, fast) in [("std", false), ("ryu_itoa", true)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for &v in &values {
                    write_value(&mut out, black_box(v), fast);
                    out.push('\n');
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, render, set_all, format_value);
criterion_main!(benches);
