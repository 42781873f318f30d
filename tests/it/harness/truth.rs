//! The SLIs and SLOs of `config/example.yaml` (the tests' copy is [`EXAMPLE_SLIS_AND_SLOS`],
//! which [`Deployment::new`](super::Deployment::new) runs with), restated by hand as the tests'
//! ground truth: which SLIs an event belongs to and whether it is good, which windows each SLO
//! has and how its ratio, burn rate and alerts follow from the counts. Nothing here calls
//! slostream's library: a bug there must not be able to hide in the expectations.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value};

/// The SLIs and SLOs of `config/example.yaml`, restated here so that the tests' ground truth
/// (written against exactly these definitions) does not silently change with the example file.
pub const EXAMPLE_SLIS_AND_SLOS: &str = r#"
slis:
  search-availability:
    description: "search API answers without server error"
    match:
      service: "search-api"
      route: ["/v2/trips", "/v2/trips/{id}"]
    good:
      status: { lt: 500 }
  search-latency:
    match: { service: "search-api" }
    good:
      latency_ms: { le: 300 }
  geo-availability:
    match: { service: "geo" }
    good:
      status: { lt: 500 }
  booking-availability:
    match: { service: "booking", method: ["POST"] }
    good:
      all:
        - status: { lt: 500 }
        - status: { not_in: [429] }

slos:
  search-a-ride:
    description: "A member can search for a ride"
    objective: 99.5
    period: "28d"
    combine: pooled
    slis: [search-availability, search-latency, geo-availability]
  book-a-ride:
    objective: 99.9
    period: "30d"
    combine: weighted
    slis:
      - { sli: booking-availability, weight: 3 }
      - { sli: geo-availability, weight: 1 }
"#;

// ---------------------------------------------------------------------------------------------
// SLIs, time, windows.
// ---------------------------------------------------------------------------------------------

pub const SA: usize = 0; // search-availability
pub const SL: usize = 1; // search-latency
pub const GEO: usize = 2; // geo-availability
pub const BOOK: usize = 3; // booking-availability
pub const SLI_NAMES: [&str; 4] = ["search-availability", "search-latency", "geo-availability", "booking-availability"];
/// Every field a condition tests, the `field` label values of the type mismatch counter.
pub const CONDITION_FIELDS: [&str; 5] = ["service", "route", "status", "latency_ms", "method"];

pub const SEC: i64 = 1000;
pub const MIN: i64 = 60 * SEC;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;

/// (label, length, bucket width of the tier that answers it: 10 s up to 1 h, 1 min up to 6 h,
/// 1 h above). The bucket width only matters to keep event times away from window edges.
pub const WINDOWS: [(&str, i64, i64); 9] = [
    ("5m", 5 * MIN, 10 * SEC),
    ("30m", 30 * MIN, 10 * SEC),
    ("1h", HOUR, 10 * SEC),
    ("2h", 2 * HOUR, MIN),
    ("6h", 6 * HOUR, MIN),
    ("1d", DAY, HOUR),
    ("3d", 3 * DAY, HOUR),
    ("28d", 28 * DAY, HOUR),
    ("30d", 30 * DAY, HOUR),
];

pub fn window_ms(label: &str) -> i64 {
    WINDOWS.iter().find(|w| w.0 == label).unwrap_or_else(|| panic!("window {label}")).1
}

/// Is an event of time `ts` inside `(now - w, now]`?
pub fn in_window(ts: i64, now: i64, w: i64) -> bool {
    ts > now - w && ts <= now
}

/// True when `ts` is far enough from the window start that slostream's bucketing cannot matter:
/// the bucket holding `now - w` is counted whole, so times in `(now - w - res, now - w]` are
/// ambiguous; keep a further 5 s margin either side.
pub fn edge_safe(ts: i64, now: i64, w: i64, res: i64) -> bool {
    let start = now - w;
    !(ts > start - res - 5 * SEC && ts <= start + 5 * SEC)
}

// ---------------------------------------------------------------------------------------------
// SLOs and alerts.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
pub enum Combine {
    Pooled,
    Weighted,
}

pub struct Slo {
    pub name: &'static str,
    /// A ratio (the YAML's percent / 100).
    pub objective: f64,
    pub period: &'static str,
    pub combine: Combine,
    /// (SLI, weight); the weight only counts for [`Combine::Weighted`].
    pub components: &'static [(usize, f64)],
}

pub const SLOS: [Slo; 2] = [
    Slo {
        name: "search-a-ride",
        objective: 0.995,
        period: "28d",
        combine: Combine::Pooled,
        components: &[(SA, 1.0), (SL, 1.0), (GEO, 1.0)],
    },
    Slo {
        name: "book-a-ride",
        objective: 0.999,
        period: "30d",
        combine: Combine::Weighted,
        components: &[(BOOK, 3.0), (GEO, 1.0)],
    },
];

/// The built-in alert windows every SLO gets when shorter than its period.
pub const ALERT_WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// SRE Workbook multiwindow rules: (long, short, percent of budget, severity).
pub const RULES: [(&str, &str, f64, &str); 4] =
    [("1h", "5m", 2.0, "page"), ("6h", "30m", 5.0, "page"), ("1d", "2h", 10.0, "ticket"), ("3d", "6h", 10.0, "ticket")];

/// (events, good) per (SLI, window label).
pub type WindowCounts = BTreeMap<(usize, &'static str), (u64, u64)>;

impl Slo {
    /// Every built-in alert window shorter than the period, then the period (another SLO's
    /// period, 28d for book-a-ride, is not one of this SLO's windows).
    pub fn windows(&self) -> Vec<&'static str> {
        let period = window_ms(self.period);
        ALERT_WINDOWS.iter().copied().filter(|w| window_ms(w) < period).chain([self.period]).collect()
    }

    /// `(events, good, ratio)` of window `w`: events and good events summed over the components;
    /// the ratio pooled, or weighted over the components that saw events; 1 when none did.
    pub fn window(&self, counts: &WindowCounts, w: &str) -> (u64, u64, f64) {
        let parts: Vec<((u64, u64), f64)> = self
            .components
            .iter()
            .map(|&(sli, weight)| (counts.get(&(sli, w)).copied().unwrap_or_default(), weight))
            .collect();
        let events: u64 = parts.iter().map(|p| p.0 .0).sum();
        let good: u64 = parts.iter().map(|p| p.0 .1).sum();
        let live: Vec<&((u64, u64), f64)> = parts.iter().filter(|p| p.0 .0 > 0).collect();
        let ratio = if live.is_empty() {
            1.0
        } else {
            match self.combine {
                Combine::Pooled => good as f64 / events as f64,
                Combine::Weighted => {
                    let num: f64 = live.iter().map(|((n, g), wt)| wt * (*g as f64 / *n as f64)).sum();
                    let den: f64 = live.iter().map(|(_, wt)| wt).sum();
                    num / den
                }
            }
        };
        (events, good, ratio)
    }

    /// Each component's part of window `w`'s burn rate, in component order: pooled, its bad
    /// events over all events; weighted, its weighted error ratio over the live weights; both
    /// divided by the budget. A component without events contributes 0.
    pub fn contributions(&self, counts: &WindowCounts, w: &str) -> Vec<f64> {
        let parts: Vec<((u64, u64), f64)> = self
            .components
            .iter()
            .map(|&(sli, weight)| (counts.get(&(sli, w)).copied().unwrap_or_default(), weight))
            .collect();
        let budget = 1.0 - self.objective;
        let events: u64 = parts.iter().map(|p| p.0 .0).sum();
        let live_weights: f64 = parts.iter().filter(|p| p.0 .0 > 0).map(|p| p.1).sum();
        parts
            .iter()
            .map(|&((n, g), weight)| match (n, self.combine) {
                (0, _) => 0.0,
                (_, Combine::Pooled) => (n - g) as f64 / (events as f64 * budget),
                (_, Combine::Weighted) => weight * ((n - g) as f64 / n as f64) / (live_weights * budget),
            })
            .collect()
    }

    /// `slostream_slo_budget_state`'s state for `budget` left of the period, with the default
    /// at-risk threshold (25 %).
    pub fn budget_state(budget: f64, period_events: u64) -> &'static str {
        match () {
            _ if period_events == 0 => "no_data",
            _ if budget <= 0.0 => "exhausted",
            _ if budget < 0.25 => "at_risk",
            _ => "healthy",
        }
    }

    /// How fast a window of this `ratio` spends the error budget (1: exactly over the period).
    pub fn burn_rate(&self, ratio: f64) -> f64 {
        (1.0 - ratio) / (1.0 - self.objective)
    }

    /// The [`RULES`] of `severity` whose long window is shorter than the period, each as
    /// `(long, short, factor)`: the alert fires when both windows burn faster than `factor`
    /// (its percent of the budget spent within the long window).
    pub fn alert_rules(&self, severity: &str) -> Vec<(&'static str, &'static str, f64)> {
        let period = window_ms(self.period) as f64;
        RULES
            .iter()
            .filter(|&&(long, _, _, sev)| sev == severity && window_ms(long) < window_ms(self.period))
            .map(|&(long, short, share, _)| (long, short, share / 100.0 * period / window_ms(long) as f64))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Events.
// ---------------------------------------------------------------------------------------------

/// How an event's timestamp is written.
#[derive(Clone, Copy, Debug)]
pub enum Fmt {
    /// `2026-11-26T12:00:00.123Z`
    Utc,
    /// The same instant as local time at `+02:00`.
    Plus2,
    /// Integer epoch milliseconds.
    Epoch,
}

/// A field value as a payload writes it: `Int(120)` → `120`, `Float(120.0)` → `120.0`,
/// `Text("503", Some(503.0))` → `"503"`, `Other("true")` → `true`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
    /// A string, with the number it is written as when it is exactly a JSON number (worked out
    /// by hand where the value is chosen), else `None`.
    Text(&'static str, Option<f64>),
    /// Raw JSON of another kind: `true`, `[201]`, `{"code":200}`.
    Other(&'static str),
}

impl Num {
    /// The number a test on this field compares (`None`: a type mismatch for a numeric test).
    pub fn number(self) -> Option<f64> {
        match self {
            Num::Int(i) => Some(i as f64),
            Num::Float(f) => Some(f),
            Num::Text(_, n) => n,
            Num::Other(_) => None,
        }
    }

    pub fn json(self) -> Value {
        match self {
            Num::Int(i) => json!(i),
            Num::Float(f) => json!(f),
            Num::Text(s, _) => json!(s),
            Num::Other(raw) => serde_json::from_str(raw).expect("valid raw JSON"),
        }
    }
}

impl fmt::Display for Num {
    /// As JSON (serde_json's number formatting).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.json())
    }
}

/// A valid event (decodable, in range), as the SLI definitions see it.
#[derive(Clone, Debug)]
pub struct Ev {
    /// Event time, epoch milliseconds.
    pub ts: i64,
    pub fmt: Fmt,
    /// `""`: the field is absent (likewise `route` and `method`).
    pub service: &'static str,
    pub route: &'static str,
    pub method: &'static str,
    /// `None`: absent.
    pub status: Option<Num>,
    /// Milliseconds; `None`: absent.
    pub latency: Option<Num>,
}

impl Ev {
    /// `(sli, good)` for every SLI the event belongs to, straight from the YAML definitions.
    /// A field of the wrong type fails the tests reading it: every test on `status` and
    /// `latency_ms` compares numbers, and no condition here sits under `not:`, so a mismatch is
    /// simply "not good".
    pub fn slis(&self) -> Vec<(usize, bool)> {
        let status = self.status.and_then(Num::number);
        let lt500 = status.is_some_and(|s| s < 500.0);
        let mut out = Vec::new();
        if self.service == "search-api" && matches!(self.route, "/v2/trips" | "/v2/trips/{id}") {
            out.push((SA, lt500));
        }
        if self.service == "search-api" {
            out.push((SL, self.latency.and_then(Num::number).is_some_and(|l| l <= 300.0)));
        }
        if self.service == "geo" {
            out.push((GEO, lt500));
        }
        if self.service == "booking" && self.method == "POST" {
            out.push((BOOK, lt500 && status != Some(429.0)));
        }
        out
    }

    /// The latency recorded in the quantiles: a non-negative number, or a string written as one.
    pub fn recorded_latency(&self) -> Option<f64> {
        self.latency.and_then(Num::number).filter(|l| *l >= 0.0)
    }

    /// A latency field present but not recorded (`slostream_latency_invalid_total`).
    pub fn latency_invalid(&self) -> bool {
        self.latency.is_some() && self.recorded_latency().is_none()
    }

    /// The condition fields holding a value no test on them compares with
    /// (`slostream_field_type_mismatches_total{field}`): `service`, `route` and `method` are
    /// always strings here; `status` and `latency_ms` are only compared with numbers.
    pub fn mismatched_fields(&self) -> Vec<&'static str> {
        [("status", self.status), ("latency_ms", self.latency)]
            .into_iter()
            .filter(|(_, v)| v.is_some_and(|v| v.number().is_none()))
            .map(|(f, _)| f)
            .collect()
    }

    /// The `timestamp` field's value.
    pub fn timestamp(&self) -> Value {
        timestamp(self.ts, self.fmt)
    }
}

/// `(events, good)` per SLI and window at `now`: an entry for every window of every SLI that
/// any of `events` belongs to (zero when none falls inside).
pub fn window_counts<'a>(events: impl IntoIterator<Item = &'a Ev>, now: i64) -> WindowCounts {
    let mut counts = WindowCounts::new();
    for ev in events {
        for (sli, good) in ev.slis() {
            for (label, w, _) in WINDOWS {
                let c = counts.entry((sli, label)).or_default();
                if in_window(ev.ts, now, w) {
                    c.0 += 1;
                    c.1 += u64::from(good);
                }
            }
        }
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// Maintenance windows.
// ---------------------------------------------------------------------------------------------

/// A maintenance window of `count` occurrences, `every` apart, each `duration` long from
/// `start`, claiming the valid events of `service` (and `method`, when given), or every valid
/// event when `service` is `None`. The ground truth lists its occurrences one by one; the config
/// gives slostream the same window as `start`, `duration`, `every` and `until`.
#[derive(Clone, Debug)]
pub struct Maintenance {
    pub name: &'static str,
    pub service: Option<&'static str>,
    pub method: Option<&'static str>,
    pub start: i64,
    pub duration: i64,
    pub every: i64,
    pub count: i64,
}

impl Maintenance {
    /// `[from, to)` of every occurrence.
    pub fn occurrences(&self) -> Vec<(i64, i64)> {
        (0..self.count).map(|k| (self.start + k * self.every, self.start + k * self.every + self.duration)).collect()
    }

    /// Whether an occurrence holds `ts` and the event matches.
    pub fn claims(&self, ev: &Ev) -> bool {
        self.service.is_none_or(|s| ev.service == s)
            && self.method.is_none_or(|m| ev.method == m)
            && self.occurrences().iter().any(|&(from, to)| from <= ev.ts && ev.ts < to)
    }

    /// Whether an occurrence holds `now`, whatever the events.
    pub fn active_at(&self, now: i64) -> bool {
        self.occurrences().iter().any(|&(from, to)| from <= now && now < to)
    }

    /// The config's entry (YAML flow mapping), its times in Paris summer time (+02:00) and
    /// its lengths in seconds; `until` is the end of its last occurrence.
    pub fn yaml(&self) -> String {
        let mut m = Vec::new();
        if let Some(s) = self.service {
            m.push(format!("service: {s}"));
        }
        if let Some(method) = self.method {
            m.push(format!("method: {method}"));
        }
        let matches = if m.is_empty() { String::new() } else { format!("match: {{ {} }}, ", m.join(", ")) };
        format!(
            "{{ name: {}, {matches}start: \"{}\", duration: {}s, every: {}s, until: \"{}\" }}",
            self.name,
            rfc3339(self.start, 120),
            self.duration / SEC,
            self.every / SEC,
            rfc3339(self.start + (self.count - 1) * self.every + self.duration, 0),
        )
    }
}

/// Three windows relative to `t_ref` (when the first events are stamped):
/// - `booking-writes`: booking POSTs, 10 minutes a day around three hours before `t_ref`, over
///   the last three weeks (it claims the 3 h old ones, and those of any day before);
/// - `everything`: every valid event of 4 minutes around 45 minutes before `t_ref`, once;
/// - `geo`: geo events from an hour before `t_ref` for a day: in force at every scrape, and it
///   loses the 45-minute-old geo events to `everything`, which comes first.
pub fn maintenance_windows(t_ref: i64) -> Vec<Maintenance> {
    vec![
        Maintenance {
            name: "booking-writes",
            service: Some("booking"),
            method: Some("POST"),
            start: t_ref - 21 * DAY - 3 * HOUR - 5 * MIN,
            duration: 10 * MIN,
            every: DAY,
            count: 22,
        },
        Maintenance {
            name: "everything",
            service: None,
            method: None,
            start: t_ref - 47 * MIN,
            duration: 4 * MIN,
            every: 4 * MIN,
            count: 1,
        },
        Maintenance {
            name: "geo",
            service: Some("geo"),
            method: None,
            start: t_ref - HOUR,
            duration: DAY,
            every: DAY,
            count: 1,
        },
    ]
}

/// The first of `windows` (in config order) that claims `ev`.
pub fn claimed_by(windows: &[Maintenance], ev: &Ev) -> Option<usize> {
    windows.iter().position(|w| w.claims(ev))
}

// ---------------------------------------------------------------------------------------------
// Timestamps.
// ---------------------------------------------------------------------------------------------

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's `civil_from_days`.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Epoch milliseconds as RFC 3339 with milliseconds, in local time at `offset_min` minutes
/// east of UTC (`Z` for 0).
pub fn rfc3339(ms: i64, offset_min: i64) -> String {
    let local = ms + offset_min * MIN;
    let secs = local.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let zone = if offset_min == 0 {
        "Z".to_string()
    } else {
        let sign = if offset_min > 0 { '+' } else { '-' };
        format!("{sign}{:02}:{:02}", offset_min.abs() / 60, offset_min.abs() % 60)
    };
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}{zone}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        local.rem_euclid(1000)
    )
}

/// A timestamp field's value in format `fmt`.
pub fn timestamp(ms: i64, fmt: Fmt) -> Value {
    match fmt {
        Fmt::Utc => json!(rfc3339(ms, 0)),
        Fmt::Plus2 => json!(rfc3339(ms, 120)),
        Fmt::Epoch => json!(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formatting_matches_independent_anchors() {
        // Independent anchors (not slostream's parser): 2026-11-26T12:00:00Z = 1795694400000.
        assert_eq!(rfc3339(1_795_694_400_123, 0), "2026-11-26T12:00:00.123Z");
        assert_eq!(rfc3339(1_795_694_400_000, 120), "2026-11-26T14:00:00.000+02:00");
        assert_eq!(rfc3339(1_709_164_800_000, 0), "2024-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(0, 120), "1970-01-01T02:00:00.000+02:00");
    }
}
