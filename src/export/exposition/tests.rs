use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use metrics::{Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::PrometheusBuilder;
use proptest::prelude::*;

use super::*;

type Labels = Vec<(String, String)>;

/// `(name, sorted labels, value bits)`, with every NaN and both zeros made one value.
type Sample = (String, Labels, u64);

/// What a test series is set to.
enum Value {
    Gauge(f64),
    Total(u64),
}

fn canonical(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// Parses sample lines strictly, panicking on anything malformed, so a torn or mis-sliced line
/// fails the test that rendered it.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let bad = |what: &str| -> ! { panic!("{what} in {line:?}") };
        let (name, mut rest) = line.split_at(line.find(['{', ' ']).unwrap_or_else(|| bad("no value")));
        assert!(is_name(name, true), "bad name in {line:?}");
        let mut labels = Vec::new();
        if let Some(mut r) = rest.strip_prefix('{') {
            while !r.starts_with('}') {
                let (key, after) = r.split_once("=\"").unwrap_or_else(|| bad("bad label"));
                assert!(is_name(key, false), "bad label name in {line:?}");
                let (mut value, mut chars) = (String::new(), after.char_indices());
                let end = loop {
                    match chars.next().unwrap_or_else(|| bad("unterminated label value")) {
                        (i, '"') => break i,
                        (_, '\\') => value.push(match chars.next() {
                            Some((_, '\\')) => '\\',
                            Some((_, '"')) => '"',
                            Some((_, 'n')) => '\n',
                            _ => bad("bad escape"),
                        }),
                        (_, c) => value.push(c),
                    }
                };
                labels.push((key.to_string(), value));
                r = &after[end + 1..];
                r = r.strip_prefix(',').unwrap_or_else(|| if r.starts_with('}') { r } else { bad("no separator") });
            }
            rest = &r[1..];
        }
        let value = rest.strip_prefix(' ').unwrap_or_else(|| bad("no space before the value"));
        let v: f64 = value.parse().unwrap_or_else(|_| bad("bad value"));
        labels.sort();
        samples.push((name.to_string(), labels, canonical(v)));
    }
    samples.sort();
    samples
}

/// Asserts `# HELP` then `# TYPE` once per family, each followed by all of its samples.
fn check_families(text: &str) {
    let mut seen = BTreeSet::new();
    let mut current = "";
    let mut lines = text.lines().filter(|l| !l.is_empty());
    while let Some(line) = lines.next() {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let name = help.split(' ').next().unwrap();
            assert!(seen.insert(name.to_string()), "second HELP for {name}");
            let ty = lines.next().unwrap_or_default();
            assert!(ty.starts_with(&format!("# TYPE {name} ")), "HELP of {name} followed by {ty:?}");
            current = name;
        } else {
            assert!(
                line.starts_with(current) && line[current.len()..].starts_with(['{', ' ']),
                "{line:?} not under {current}"
            );
        }
    }
}

fn render(e: &Exposition) -> String {
    let mut out = String::new();
    e.render_into(&mut out);
    out
}

#[test]
fn family_check_catches_split_and_repeated_families() {
    let split = "# HELP a x\n# TYPE a gauge\na 1\n# HELP b y\n# TYPE b gauge\nb 1\na 2\n";
    assert!(std::panic::catch_unwind(|| check_families(split)).is_err());
    let twice = "# HELP a x\n# TYPE a gauge\na 1\n# HELP a x\n# TYPE a gauge\na{l=\"v\"} 2\n";
    assert!(std::panic::catch_unwind(|| check_families(twice)).is_err());
    check_families("# HELP a x\n# TYPE a gauge\na 1\na{l=\"v\"} 2\n# HELP ab y\n# TYPE ab gauge\nab 1\n");
}

/// Same series in the recorder slostream used so far and here: the same samples, HELP and TYPE
/// lines must come out. Label values avoid `\\`, `\"` and `\` before a newline, which the
/// exporter takes as already escaped (`renders_exact_text` pins ours for those).
#[test]
fn matches_prometheus_exporter() {
    let families = [
        ("slostream_slo_sli_ratio", "Combined \"SLI\" ratio\nover C:\\window", Kind::Gauge),
        ("slostream_slo_burn_rate", "Burn rate", Kind::Gauge),
        ("slostream_sli_events_total", "Events of the SLI", Kind::Counter),
        ("slostream_build_info", "Build information", Kind::Gauge),
    ];
    let odd_floats = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        f64::MIN,
        1e21,
        1e-7,
        -1.5,
        123_456.789,
        0.1 + 0.2,
        EXACT_INTEGERS,
        EXACT_INTEGERS + 2.0,
        -(EXACT_INTEGERS - 1.0),
        1e15 + 0.5,
        -42.0,
    ];
    let escaped = ["say \"hi\"", "line1\nline2", "back\\slash", "tail\\", "ünïcode ✓ {a=b},c", ""];
    // (family, labels, gauge value or counter total), families interleaved on purpose.
    let mut series: Vec<(usize, Labels, Value)> = Vec::new();
    for (i, slo) in escaped.iter().enumerate() {
        let labels = vec![("slo".to_string(), slo.to_string()), ("window".to_string(), format!("{i}h"))];
        series.push((0, labels, Value::Gauge([0.999, 1.0 / 3.0, -0.0, f64::NAN, 1e-300, 1.0][i])));
        series.push((
            2,
            vec![("sli".to_string(), slo.to_string())],
            Value::Total([0, 1, 12_345, (1 << 53) - 1, (1 << 53) + 1, u64::MAX][i]),
        ));
    }
    for (i, v) in odd_floats.into_iter().enumerate() {
        series.push((1, vec![("slo".into(), format!("slo-{i}")), ("window".into(), "5m".into())], Value::Gauge(v)));
    }
    series.push((2, vec![("sli".into(), "big".into())], Value::Total(100_000_000_000_000_000)));
    series.push((3, vec![], Value::Gauge(1.0)));

    let recorder = PrometheusBuilder::new().build_recorder();
    let ours = Exposition::new();
    let meta = Metadata::new(module_path!(), metrics::Level::INFO, None);
    let ids = families.map(|(name, help, kind)| {
        match kind {
            Kind::Gauge => recorder.describe_gauge(KeyName::from(name), None, SharedString::from(help)),
            Kind::Counter => recorder.describe_counter(KeyName::from(name), None, SharedString::from(help)),
        }
        ours.family(name, help, kind)
    });
    for (family, labels, value) in &series {
        let key = Key::from_parts(
            families[*family].0,
            labels.iter().map(|(k, v)| Label::new(k.clone(), v.clone())).collect::<Vec<_>>(),
        );
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let handle = ours.series(ids[*family], &pairs);
        match *value {
            Value::Gauge(v) => {
                recorder.register_gauge(&key, &meta).set(v);
                handle.set(v);
            }
            Value::Total(total) => {
                recorder.register_counter(&key, &meta).absolute(total);
                handle.absolute(total);
            }
        }
    }
    let (theirs, mine) = (recorder.handle().render(), render(&ours));

    assert_eq!(parse(&mine), parse(&theirs), "ours:\n{mine}\nexporter:\n{theirs}");
    assert_eq!(parse(&mine).len(), series.len());
    let headers = |text: &str| text.lines().filter(|l| l.starts_with('#')).map(str::to_string).collect::<BTreeSet<_>>();
    assert_eq!(headers(&mine), headers(&theirs));
    assert_eq!(headers(&mine).len(), 2 * families.len());
    check_families(&mine);
}

#[test]
fn renders_exact_text() {
    let e = Exposition::new();
    let alert = e.family("slostream_slo_alert", "State: \"1\" firing\\0\nsecond line", Kind::Gauge);
    let events = e.family("slostream_sli_events_total", "Events", Kind::Counter);
    e.series(alert, &[("slo", "a\\\"b\\\\\\\nc"), ("severity", "page")]).set(1.0);
    e.series(events, &[]).absolute(42);
    e.series(alert, &[("slo", "x"), ("severity", "ticket")]).set(0.5);
    let want = "# HELP slostream_slo_alert State: \"1\" firing\\\\0\\nsecond line\n\
                # TYPE slostream_slo_alert gauge\n\
                slostream_slo_alert{slo=\"a\\\\\\\"b\\\\\\\\\\\\\\nc\",severity=\"page\"} 1\n\
                slostream_slo_alert{slo=\"x\",severity=\"ticket\"} 0.5\n\
                # HELP slostream_sli_events_total Events\n\
                # TYPE slostream_sli_events_total counter\n\
                slostream_sli_events_total 42\n";
    let got = render(&e);
    assert_eq!(got, want);
    let page = parse(&got).into_iter().find(|s| s.1.first() == Some(&("severity".into(), "page".into()))).unwrap();
    assert_eq!(page.1[1], ("slo".into(), "a\\\"b\\\\\\\nc".into()), "escaping must round-trip");
}

#[test]
fn values_are_integers_or_shortest_round_trip() {
    let cases: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "0"),
        (3.0, "3"),
        (-42.0, "-42"),
        (0.5, "0.5"),
        (1.0 / 3.0, "0.3333333333333333"),
        (EXACT_INTEGERS - 1.0, "9007199254740991"),
        (-(EXACT_INTEGERS - 1.0), "-9007199254740991"),
        (EXACT_INTEGERS, "9007199254740992.0"),
        (1e21, "1e21"),
        (1.5e-7, "1.5e-7"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
    ];
    for &(v, want) in cases {
        let mut out = String::new();
        write_value(&mut out, v);
        assert_eq!(out, want, "{v:?}");
    }
}

proptest! {
    #[test]
    fn every_value_parses_back(bits in any::<u64>(), int in -(1i64 << 53) + 1..1i64 << 53) {
        let v = f64::from_bits(bits);
        let mut out = String::new();
        write_value(&mut out, v);
        prop_assert_eq!(canonical(out.parse::<f64>().unwrap()), canonical(v), "{}", out);
        out.clear();
        write_value(&mut out, int as f64);
        prop_assert_eq!(out, int.to_string());
    }
}

#[test]
fn unset_series_and_families_are_not_rendered() {
    let e = Exposition::new();
    assert_eq!(render(&e), "");
    let ratio = e.family("ratio", "r", Kind::Gauge);
    let events = e.family("events_total", "e", Kind::Counter);
    let (a, b) = (e.series(ratio, &[("slo", "a")]), e.series(ratio, &[("slo", "b")]));
    let total = e.series(events, &[]);
    assert_eq!(render(&e), "");
    b.set(0.25);
    assert_eq!(render(&e), "# HELP ratio r\n# TYPE ratio gauge\nratio{slo=\"b\"} 0.25\n");
    a.set(f64::from_bits(UNSET));
    total.absolute(0);
    let got = render(&e);
    assert!(got.contains("ratio{slo=\"a\"} NaN\n") && got.ends_with("events_total 0\n"), "{got}");
}

#[test]
fn series_registered_after_a_render_join_their_family() {
    let e = Exposition::new();
    let ratio = e.family("ratio", "r", Kind::Gauge);
    e.series(ratio, &[("slo", "a")]).set(1.0);
    let before = render(&e);
    let latency = e.family("latency_seconds", "l", Kind::Gauge);
    e.series(latency, &[("quantile", "0.5")]).set(0.012);
    e.series(ratio, &[("slo", "b")]).set(0.5);
    assert_eq!(e.family("ratio", "other help", Kind::Gauge), ratio);
    let after = render(&e);
    assert!(after.starts_with(&before), "{after}");
    assert_eq!(
        &after[before.len()..],
        "ratio{slo=\"b\"} 0.5\n# HELP latency_seconds l\n# TYPE latency_seconds gauge\nlatency_seconds{quantile=\"0.5\"} 0.012\n"
    );
}

#[test]
fn same_labels_share_one_series() {
    let e = Exposition::new();
    let ratio = e.family("ratio", "r", Kind::Gauge);
    let first = e.series(ratio, &[("slo", "a"), ("window", "5m")]);
    let other = e.series(ratio, &[("slo", "a"), ("window", "1h")]);
    first.set(1.0);
    other.set(3.0);
    e.series(ratio, &[("slo", "a"), ("window", "5m")]).set(2.0);
    assert_eq!(render(&e).matches("ratio{").count(), 2);
    assert!(render(&e).contains("ratio{slo=\"a\",window=\"5m\"} 2\n"));
    // Past the first block, too.
    let many: Vec<Handle> = (0..3 * BLOCK).map(|i| e.series(ratio, &[("n", &i.to_string())])).collect();
    many[BLOCK + 1].set(7.0);
    e.series(ratio, &[("n", &(BLOCK + 1).to_string())]).set(8.0);
    assert!(render(&e).contains(&format!("ratio{{n=\"{}\"}} 8\n", BLOCK + 1)));
    assert_eq!(parse(&render(&e)).len(), 3);
}

#[test]
#[should_panic(expected = "registered as Gauge and as Counter")]
fn a_name_keeps_its_kind() {
    let e = Exposition::new();
    e.family("x", "x", Kind::Gauge);
    e.family("x", "x", Kind::Counter);
}

#[test]
#[should_panic(expected = "invalid label name")]
fn label_names_are_checked() {
    let e = Exposition::new();
    let x = e.family("x", "x", Kind::Gauge);
    e.series(x, &[("bad-name", "v")]);
}

#[test]
fn counter_absolute_never_lowers() {
    let e = Exposition::new();
    let c = e.series(e.family("c_total", "c", Kind::Counter), &[]);
    for (total, shown) in [(10, 10), (5, 10), (11, 11), (0, 11)] {
        c.absolute(total);
        assert!(render(&e).ends_with(&format!("c_total {shown}\n")), "after {total}");
    }
}

/// A setter, a registrar and a renderer at once: every render parses (no torn or mis-sliced
/// line), keeps families whole, and shows only values some setter stored.
#[test]
fn concurrent_set_register_and_render_never_tear_lines() {
    const A: f64 = 1.0 / 3.0;
    const B: f64 = -12_345_678.25;
    const SERIES: usize = 2_000;
    let e = Arc::new(Exposition::new());
    let ratio = e.family("ratio", "r", Kind::Gauge);
    let handles: Vec<Handle> = (0..SERIES).map(|i| e.series(ratio, &[("slo", &format!("slo-{i}"))])).collect();
    handles.iter().for_each(|h| h.set(A));
    let stop = Arc::new(AtomicBool::new(false));
    let setter = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || {
            for tick in 0.. {
                if stop.load(Relaxed) {
                    break;
                }
                handles.iter().for_each(|h| h.set(if tick % 2 == 0 { B } else { A }));
            }
        }
    });
    let registrar = std::thread::spawn({
        let e = Arc::clone(&e);
        move || {
            for n in 0..1_000u64 {
                let late = e.family(&format!("late_{}_total", n % 7), "late", Kind::Counter);
                e.series(late, &[("n", &n.to_string())]).absolute(n);
            }
        }
    });
    let (mut seen, mut late_before, mut renders) = (BTreeSet::new(), 0, 0);
    // Generous: on a busy 2-core machine the setter can go unscheduled for seconds, and the
    // deadline is only there so that a render that never sees both values fails, not hangs.
    let deadline = Instant::now() + Duration::from_secs(120);
    while renders < 100 || seen.len() < 2 || !registrar.is_finished() {
        assert!(Instant::now() < deadline, "renders never saw both values ({seen:?}) or registration finishing");
        let text = render(&e);
        check_families(&text);
        let samples = parse(&text);
        let (ratios, late): (Vec<_>, Vec<_>) = samples.iter().partition(|s| s.0 == "ratio");
        assert_eq!(ratios.len(), SERIES);
        seen.extend(ratios.iter().map(|s| s.2));
        for (_, labels, v) in &late {
            assert_eq!(f64::from_bits(*v), labels[0].1.parse::<f64>().unwrap());
        }
        assert!(late.len() >= late_before, "a registered series disappeared");
        late_before = late.len();
        renders += 1;
    }
    stop.store(true, Relaxed);
    setter.join().unwrap();
    registrar.join().unwrap();
    assert_eq!(seen, BTreeSet::from([canonical(A), canonical(B)]));
    assert_eq!(parse(&render(&e)).len(), SERIES + 1_000);
}
