//! Prometheus text exposition as the tests read it: a parser into canonical series keys
//! ([`Metrics`]), the SLO window families a test looks for, and [`Check`], which compares
//! series with their expected values and lists every mismatch at once.

use std::collections::BTreeMap;

use slostream::names;

/// A parsed Prometheus text exposition: `name{labels sorted by name}` → value.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub series: BTreeMap<String, f64>,
    pub text: String,
}

/// The canonical key of a series: labels sorted by name, values escaped as in the exposition.
pub fn series_key(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let mut sorted: Vec<(&str, &str)> = labels.to_vec();
    sorted.sort();
    let inner: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    format!("{name}{{{}}}", inner.join(","))
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut series = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, rest) = parse_series(line).unwrap_or_else(|| panic!("unparsable exposition line {line:?}"));
            let value_text = rest.split_whitespace().next().unwrap_or_else(|| panic!("no value in {line:?}"));
            let value = match value_text {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                v => v.parse().unwrap_or_else(|_| panic!("bad value {v:?} in {line:?}")),
            };
            assert!(series.insert(key.clone(), value).is_none(), "series {key} rendered twice");
        }
        Metrics { series, text: text.to_string() }
    }

    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series.get(&series_key(name, labels)).copied()
    }

    /// Every series of the metric `name`.
    pub fn family(&self, name: &str) -> Vec<(&String, f64)> {
        self.series
            .iter()
            .filter(|(k, _)| k.as_str() == name || k.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
            .map(|(k, v)| (k, *v))
            .collect()
    }
}

/// Splits `name{a="x",b="y"} rest` into the canonical key and the rest.
fn parse_series(line: &str) -> Option<(String, &str)> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    if !line[name_end..].starts_with('{') {
        return Some((name.to_string(), &line[name_end..]));
    }
    let mut labels: Vec<(String, String)> = Vec::new();
    let bytes: Vec<char> = line[name_end + 1..].chars().collect();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i] == ',' || bytes[i] == ' ') {
            i += 1;
        }
        if bytes.get(i) == Some(&'}') {
            i += 1;
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != '=' {
            i += 1;
        }
        let key: String = bytes[start..i].iter().collect();
        i += 1;
        if bytes.get(i) != Some(&'"') {
            return None;
        }
        i += 1;
        let mut value = String::new();
        while i < bytes.len() && bytes[i] != '"' {
            if bytes[i] == '\\' && i + 1 < bytes.len() {
                i += 1;
                value.push(match bytes[i] {
                    'n' => '\n',
                    c => c,
                });
            } else {
                value.push(bytes[i]);
            }
            i += 1;
        }
        i += 1;
        labels.push((key.trim().to_string(), value));
    }
    let consumed: usize = bytes[..i].iter().map(|c| c.len_utf8()).sum();
    let rest = &line[name_end + 1 + consumed..];
    let refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Some((series_key(name, &refs), rest))
}

/// The per-window SLO families: rendered for every window of every SLO once slostream is ready,
/// never before.
pub const SLO_WINDOW_FAMILIES: [&str; 4] =
    [names::SLO_SLI_RATIO.name, names::SLO_EVENTS.name, names::SLO_GOOD_EVENTS.name, names::SLO_BURN_RATE.name];

/// Every series of the [`SLO_WINDOW_FAMILIES`] in `m`.
pub fn slo_window_series(m: &Metrics) -> Vec<String> {
    SLO_WINDOW_FAMILIES.iter().flat_map(|f| m.family(f).into_iter().map(|(k, _)| k.clone())).collect()
}

/// Accumulates every mismatch between a scrape and the expectations, so one run shows all of
/// them; [`Check::finish`] fails the test if there was any.
pub struct Check {
    what: String,
    failures: Vec<String>,
    checked: usize,
}

impl Check {
    /// A check of `what` (named in the failure and the summary line).
    pub fn new(what: &str) -> Check {
        Check { what: what.to_string(), failures: Vec::new(), checked: 0 }
    }

    /// The series is `want`, exactly.
    pub fn exact(&mut self, m: &Metrics, name: &str, labels: &[(&str, &str)], want: f64) {
        self.checked += 1;
        match m.get(name, labels) {
            Some(got) if got == want => {}
            got => self.failures.push(format!("{}: got {got:?}, want {want}", series_key(name, labels))),
        }
    }

    /// The series is `want` within 1e-9 relative (absolute below 1).
    pub fn close(&mut self, m: &Metrics, name: &str, labels: &[(&str, &str)], want: f64) {
        self.checked += 1;
        match m.get(name, labels) {
            Some(got) if (got - want).abs() <= 1e-9 * want.abs().max(1.0) => {}
            got => self.failures.push(format!("{}: got {got:?}, want {want}", series_key(name, labels))),
        }
    }

    /// Counts one check, failing it with `failure` when that is `Some`.
    pub fn that(&mut self, failure: Option<String>) {
        self.checked += 1;
        self.failures.extend(failure);
    }

    /// Fails the test, listing every mismatch, if there was any.
    pub fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} checks failed:\n  {}",
            self.what,
            self.failures.len(),
            self.checked,
            self.failures.join("\n  ")
        );
        eprintln!("[it] {}: {} metric checks passed", self.what, self.checked);
    }
}

#[cfg(test)]
mod parser_tests {
    use super::*;

    #[test]
    fn parses_and_sorts_labels() {
        let m = Metrics::parse(
            "# HELP x y\n# TYPE x gauge\nx{b=\"2\",a=\"q\\\"uote\"} 1.5\nplain_total 7\nlast{a=\"}\"} +Inf 123\n",
        );
        assert_eq!(m.get("x", &[("a", "q\"uote"), ("b", "2")]), Some(1.5));
        assert_eq!(m.get("plain_total", &[]), Some(7.0));
        assert_eq!(m.get("last", &[("a", "}")]), Some(f64::INFINITY));
        assert_eq!(m.family("x").len(), 1);
    }
}
