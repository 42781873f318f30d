//! Prometheus text exposition (format 0.0.4) of the per-SLO and per-SLI series, without an
//! allocation per series.
//!
//! Why it exists: `metrics-exporter-prometheus` re-sanitises every name, rebuilds every label set
//! and clones its maps on each render: 0.1 to 0.25 s for 1,000 SLOs, about 2 s for 10,000 (~35
//! series per SLO), far over a scrape's budget. Here each series' line prefix
//! (`name{label="value",...} `) is escaped and laid out once, at registration; a render copies
//! prefixes and formats values, nothing else: 40 to 95 times faster (`benches/render.rs`). The
//! recorder keeps the small, fixed set of process metrics; `/metrics` serves both.
//!
//! Threads: the telemetry updater sets values every tick through [`Handle`]s (one atomic store,
//! no lock); the HTTP handler renders. The family table sits behind an `RwLock` taken once per
//! render (read) and once per registration (write), never per value, so series can be registered
//! while scrapes run: SLO series when the engine becomes ready, latency quantiles lazily.
//!
//! Output: families in registration order, `# HELP` and `# TYPE` once per family, then all its
//! samples in registration order. A series is rendered only once a value has been set, and a
//! family only once one of its series has: slostream exports no SLO value before it is ready.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

/// Bits of a series never set. A NaN that [`Handle::set`] cannot store, since it stores every
/// NaN as `f64::NAN`; so one atomic word holds both "absent" and the value.
const UNSET: u64 = u64::MAX;

/// Values live in blocks of this many: a render walks them in order, and a handle keeps its block
/// alive without an allocation per series.
const BLOCK: usize = 64;

type Block = [AtomicU64; BLOCK];

/// 2^53: every integer of smaller magnitude is exact in an `f64`, so printing it as an integer
/// loses nothing.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// Longest value text plus its newline (`-2.2250738585072014e-308\n`), to size the output once.
const MAX_VALUE_LEN: usize = 25;

/// The Prometheus metric type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// A family registered with [`Exposition::family`], valid only for that exposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FamilyId(usize);

/// Series registered once and set every tick, rendered as Prometheus text. Share it as
/// `Arc<Exposition>` between the updater and the HTTP handler.
#[derive(Default)]
pub struct Exposition {
    families: RwLock<Vec<Family>>,
    /// Hashes line prefixes to find a series registered twice.
    hasher: RandomState,
}

/// One metric name: its header and every series' prefix and value, in registration order.
struct Family {
    name: Box<str>,
    kind: Kind,
    /// `# HELP ...\n# TYPE ...\n`.
    head: Box<str>,
    /// The line prefixes of all series, back to back: a render reads them in one sweep.
    prefixes: String,
    /// Where each series' prefix ends in `prefixes`.
    ends: Vec<usize>,
    /// Series `i`'s value is `blocks[i / BLOCK][i % BLOCK]`.
    blocks: Vec<Arc<Block>>,
    /// Prefix hash to the first series with it. A collision between two distinct series only
    /// leaves the second undeduplicated; the prefixes are compared before a hit counts.
    index: HashMap<u64, usize>,
}

/// Sets one series' value; cheap to clone, lock-free, callable from any thread.
#[derive(Clone)]
pub struct Handle {
    block: Arc<Block>,
    slot: usize,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Registers a family, or returns the one already registered under `name` (its help stays).
    ///
    /// # Panics
    ///
    /// If `name` is not a valid metric name or is registered with another kind: both are bugs in
    /// the code declaring the series, and would otherwise render text Prometheus rejects.
    pub fn family(&self, name: &str, help: &str, kind: Kind) -> FamilyId {
        assert!(is_name(name, true), "invalid metric name {name:?}");
        let mut families = self.families.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = families.iter().position(|f| &*f.name == name) {
            let registered = families[i].kind;
            assert_eq!(registered, kind, "metric {name:?} registered as {registered:?} and as {kind:?}");
            return FamilyId(i);
        }
        let mut head = format!("# HELP {name} ");
        escape(&mut head, help, false);
        head.push_str("\n# TYPE ");
        head.push_str(name);
        head.push(' ');
        head.push_str(kind.as_str());
        head.push('\n');
        families.push(Family {
            name: name.into(),
            kind,
            head: head.into(),
            prefixes: String::new(),
            ends: Vec::new(),
            blocks: Vec::new(),
            index: HashMap::new(),
        });
        FamilyId(families.len() - 1)
    }

    /// Registers a series of `family`, unset until its first value; registering the same labels
    /// again returns a handle to the same series, as the `metrics` recorder does.
    ///
    /// # Panics
    ///
    /// If a label name is invalid, or `family` is out of range: ids mean something only to the
    /// exposition that made them.
    pub fn series(&self, family: FamilyId, labels: &[(&str, &str)]) -> Handle {
        let mut families = self.families.write().unwrap_or_else(PoisonError::into_inner);
        let f = families.get_mut(family.0).expect("family registered with this exposition");
        let mut prefix =
            String::with_capacity(f.name.len() + 2 + labels.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>());
        prefix.push_str(&f.name);
        for (i, (name, value)) in labels.iter().enumerate() {
            assert!(is_name(name, false), "invalid label name {name:?} for {}", f.name);
            prefix.push(if i == 0 { '{' } else { ',' });
            prefix.push_str(name);
            prefix.push_str("=\"");
            escape(&mut prefix, value, true);
            prefix.push('"');
        }
        if !labels.is_empty() {
            prefix.push('}');
        }
        prefix.push(' ');
        let hash = self.hasher.hash_one(&prefix);
        let i = match f.index.get(&hash) {
            Some(&i) if f.prefix(i) == prefix => i,
            _ => f.push(hash, &prefix),
        };
        Handle { block: Arc::clone(&f.blocks[i / BLOCK]), slot: i % BLOCK }
    }

    /// Appends every set series to `out`, family by family.
    pub fn render_into(&self, out: &mut String) {
        let families = self.families.read().unwrap_or_else(PoisonError::into_inner);
        out.reserve(families.iter().map(|f| f.head.len() + f.prefixes.len() + f.ends.len() * MAX_VALUE_LEN).sum());
        for f in families.iter() {
            f.render_into(out);
        }
    }
}

impl Family {
    fn prefix(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.prefixes[start..self.ends[i]]
    }

    fn push(&mut self, hash: u64, prefix: &str) -> usize {
        let i = self.ends.len();
        if i.is_multiple_of(BLOCK) {
            self.blocks.push(Arc::new([const { AtomicU64::new(UNSET) }; BLOCK]));
        }
        self.prefixes.push_str(prefix);
        self.ends.push(self.prefixes.len());
        self.index.entry(hash).or_insert(i);
        i
    }

    /// Writes the head only if a sample follows, so a family of unset series leaves no trace.
    fn render_into(&self, out: &mut String) {
        let mark = out.len();
        out.push_str(&self.head);
        let mut start = 0;
        for (block, ends) in self.blocks.iter().zip(self.ends.chunks(BLOCK)) {
            for (value, &end) in block.iter().zip(ends) {
                let bits = value.load(Relaxed);
                if bits != UNSET {
                    out.push_str(&self.prefixes[start..end]);
                    write_value(out, f64::from_bits(bits));
                    out.push('\n');
                }
                start = end;
            }
        }
        if out.len() == mark + self.head.len() {
            out.truncate(mark);
        }
    }
}

impl Handle {
    fn value(&self) -> &AtomicU64 {
        &self.block[self.slot]
    }

    /// Sets the value (a gauge's). Relaxed: each value stands alone, and a render may show any
    /// mix of this tick's and the last tick's values anyway.
    pub fn set(&self, v: f64) {
        let v = if v.is_nan() { f64::NAN } else { v };
        self.value().store(v.to_bits(), Relaxed);
    }

    /// Sets a counter to `total` unless that would lower it, like `metrics`' `Counter::absolute`,
    /// so a total that dips for a tick is not exported as a counter reset. Exact up to 2^53, as
    /// Prometheus keeps every sample as an `f64`.
    pub fn absolute(&self, total: u64) {
        let new = total as f64;
        let value = self.value();
        let mut bits = value.load(Relaxed);
        while bits == UNSET || f64::from_bits(bits) < new {
            match value.compare_exchange_weak(bits, new.to_bits(), Relaxed, Relaxed) {
                Ok(_) => return,
                Err(now) => bits = now,
            }
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names, the same without `:` for label names.
fn is_name(s: &str, colon: bool) -> bool {
    let ok = |c: u8| c.is_ascii_alphabetic() || c == b'_' || (colon && c == b':');
    let mut bytes = s.bytes();
    bytes.next().is_some_and(ok) && bytes.all(|c| ok(c) || c.is_ascii_digit())
}

/// Escapes `\` and newline, and `"` in label values (help text keeps its quotes), as the format
/// requires.
fn escape(out: &mut String, s: &str, quote: bool) {
    let mut rest = s;
    while let Some(i) = rest.find(|c| c == '\\' || c == '\n' || (quote && c == '"')) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            _ => "\\\"",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// Integers below 2^53 print as integers (event counts, alert states), everything else in
/// shortest round-trip form, NaN and infinities as Prometheus spells them.
fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.abs() < EXACT_INTEGERS && v as i64 as f64 == v {
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(v));
    }
}

#[cfg(test)]
mod tests {
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
        let headers =
            |text: &str| text.lines().filter(|l| l.starts_with('#')).map(str::to_string).collect::<BTreeSet<_>>();
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
        let deadline = Instant::now() + Duration::from_secs(20);
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
}
