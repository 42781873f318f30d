use super::*;
use crate::config::{Config, PeriodBounds};
use crate::window::slices::SliceCounts;

fn c(good: u64, total: u64) -> Counts {
    Counts { good, total }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn combine_methods_by_hand() {
    let parts = [(c(90, 100), 3.0), (c(1, 2), 1.0), (c(0, 0), 5.0)];
    // pooled: 91 / 102
    assert!(close(combine(Combine::Pooled, &parts).unwrap(), 91.0 / 102.0));
    // product: 0.9 × 0.5 (the empty component is left out)
    assert!(close(combine(Combine::Product, &parts).unwrap(), 0.45));
    // weighted: (3×0.9 + 1×0.5) / 4
    assert!(close(combine(Combine::Weighted, &parts).unwrap(), 0.8));
    assert!(close(combine(Combine::Min, &parts).unwrap(), 0.5));
    assert_eq!(combine(Combine::Pooled, &[(c(0, 0), 1.0)]), None);
}

#[test]
fn pooled_error_ratio_is_one_division() {
    let window = |counts: Counts, ratio: f64| WindowStatus { counts, ratio, burn_rate: 0.0, slices: None };
    assert_eq!(error_ratio(Combine::Pooled, &window(c(99, 100), 0.99)), 0.01);
    assert_eq!(error_ratio(Combine::Pooled, &window(c(0, 0), 1.0)), 0.0);
    assert_eq!(error_ratio(Combine::Min, &window(c(99, 100), 0.5)), 0.5);
}

#[test]
fn sre_workbook_burn_rates() {
    // 99.9% over 30 days: 0.1% errors burns at exactly 1; a full outage at 1000.
    assert!(close(burn_rate(0.999, 0.999), 1.0));
    assert!(close(burn_rate(0.0, 0.999), 1000.0));
    assert!(close(burn_rate(1.0 - 0.0144, 0.999), 14.4));
}

#[test]
fn sre_workbook_factors_for_30d_and_28d() {
    let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
    let factors = |name: &str| -> Vec<(String, String, f64, Severity)> {
        let slo = config.slos.iter().find(|s| s.name == name).unwrap();
        slo.alerts.iter().map(|a| (a.long.label.clone(), a.short.label.clone(), a.factor, a.severity)).collect()
    };
    let want30 = [
        ("1h", "5m", 14.4, Severity::Page),
        ("6h", "30m", 6.0, Severity::Page),
        ("1d", "2h", 3.0, Severity::Ticket),
        ("3d", "6h", 1.0, Severity::Ticket),
    ];
    let want28 = [13.44, 5.6, 2.8, 0.9333333333];
    for (got, want) in factors("book-a-ride").iter().zip(want30) {
        assert_eq!((got.0.as_str(), got.1.as_str(), got.3), (want.0, want.1, want.3));
        assert!(close(got.2, want.2), "{got:?}");
    }
    for (got, want) in factors("search-a-ride").iter().zip(want28) {
        assert!((got.2 - want).abs() < 1e-6, "{got:?}");
    }
    let search = config.slos.iter().find(|s| s.name == "search-a-ride").unwrap();
    let labels: Vec<&str> = search.windows.iter().map(|w| w.label.as_str()).collect();
    assert_eq!(labels, ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "28d"]);
}

#[test]
fn evaluate_budget_burn_and_page_alert() {
    let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
    let slo = config.slos.iter().find(|s| s.name == "book-a-ride").unwrap();
    let booking = config.sli_id("booking-availability").unwrap();
    // booking: 2% errors in the last 5 minutes and hour, nothing else bad; geo perfect.
    let status = evaluate(slo, |sli, w| match (sli == booking, w) {
        (true, w) if w <= 3600 => c(980, 1000),
        (true, _) => c(99_980, 100_000),
        (false, _) => c(500, 500),
    });
    let five_m = &status.windows[0];
    assert_eq!(five_m.counts, c(1480, 1500));
    // weighted: (3 × 0.98 + 1 × 1) / 4 = 0.985 → burn 15 > 14.4 on 1h and 5m: page.
    assert!(close(five_m.ratio, 0.985));
    assert!(close(five_m.burn_rate, 15.0));
    assert_eq!(status.alerts, [true, false]);
    // Period: (3 × 0.9998 + 1) / 4 = 0.99985 → 15% of the budget spent.
    assert!(close(status.budget_remaining, 0.85));
}

/// `clone_from` copies into the vectors already there (the status page's copy every tick).
#[test]
fn clone_from_copies_in_place() {
    let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
    let slo = &config.slos[0];
    let burning = evaluate(slo, |_, _| c(90, 100));
    let mut copy = evaluate(slo, |_, _| Counts::default());
    let (windows, contributions) = (copy.windows.as_ptr(), copy.contributions(0).as_ptr());
    copy.clone_from(&burning);
    assert_eq!(copy, burning);
    assert_eq!(copy.clone(), burning);
    assert_eq!((copy.windows.as_ptr(), copy.contributions(0).as_ptr()), (windows, contributions));
}

#[test]
fn no_events_means_ratio_one_and_no_burn() {
    let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
    let status = evaluate(&config.slos[0], |_, _| Counts::default());
    assert!(status.windows.iter().all(|w| w.ratio == 1.0 && w.burn_rate == 0.0));
    assert_eq!(status.budget_remaining, 1.0);
    assert_eq!(status.alerts, [false, false]);
}

#[test]
fn overspent_budget_goes_negative() {
    let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
    let search = config.slos.iter().find(|s| s.name == "search-a-ride").unwrap();
    let status = evaluate(search, |_, _| c(97, 100));
    // search-a-ride: 99.5%, 3% errors → 6× the budget spent.
    assert!(close(status.budget_remaining, 1.0 - 6.0));
}

/// A valid config never exports NaN or Inf: an objective so close to 100 that it rounds to 1 is
/// refused, and every objective accepted gives finite ratios, burn rates and budgets, with no
/// events, all good or all bad.
#[test]
fn edge_objectives_give_finite_ratios_burns_and_budgets() {
    let example = include_str!("../../config/example.yaml");
    let objectives =
        [("99.9999", true), ("50", true), ("0.001", true), ("99.9999999999", true), ("99.99999999999", false)];
    for (objective, valid) in objectives {
        let yaml = example.replacen("objective: 99.5 ", &format!("objective: {objective} "), 1);
        let loaded = Config::from_yaml(&yaml, "x.yaml");
        assert_eq!(loaded.is_ok(), valid, "objective {objective}: {:?}", loaded.as_ref().err());
        let Ok(config) = loaded else { continue };
        let slo = config.slos.iter().find(|s| s.name == "search-a-ride").unwrap();
        for counts in [c(0, 0), c(10, 10), c(0, 10)] {
            let status = evaluate(slo, |_, _| counts);
            for w in &status.windows {
                assert!(
                    w.ratio.is_finite() && w.burn_rate.is_finite() && error_ratio(slo.combine, w).is_finite(),
                    "objective {objective}, {counts:?}: ratio {} burn {}",
                    w.ratio,
                    w.burn_rate
                );
            }
            let budget = status.budget_remaining;
            assert!(budget.is_finite(), "objective {objective}, {counts:?}: budget {budget}");
        }
    }
}

/// A calendar SLO over one SLI, 99% per month in Paris.
fn monthly() -> Config {
    let yaml = r#"
kafka: { brokers: "127.0.0.1:9092", topics: ["requests"], group_id: "g" }
events: { timestamp_field: "timestamp" }
exporter: { listen: "127.0.0.1:9464" }
slis:
  api: { match: { service: "api" }, good: { status: { lt: 500 } } }
slos:
  monthly:
    objective: 99
    period: { calendar: month, time_zone: "Europe/Paris" }
    slis: [api]
"#;
    Config::from_yaml(yaml, "monthly.yaml").unwrap()
}

/// Across a month's end, from the tally: the period window holds the events since the local
/// midnight that began it and none before, the budget starts again, and the factors follow
/// the new month's length (November 30 days, December 31).
#[test]
fn a_calendar_period_rolls_over_at_local_midnight_with_its_budget_and_factors() {
    use crate::count::{Snapshot, Tally};
    use crate::time::parse_rfc3339_ms;
    let at = |t: &str| parse_rfc3339_ms(t).unwrap();
    let config = monthly();
    let slo = &config.slos[0];
    assert_eq!((slo.period.label.as_str(), slo.period.secs), ("month", 32 * 86_400));
    let mut tally = Tally::new(&config, 1, None, Vec::new());
    // November: 100 events, 2 bad (its first days and its last millisecond); December: 10 good.
    let november_start = at("2026-11-01T00:00:00+01:00");
    tally.store.record(0, at("2026-10-31T23:59:59.999+01:00"), false); // October's: never counted
    for i in 0..98 {
        tally.store.record(0, at("2026-11-10T12:00:00Z") + i * 1000, true);
    }
    tally.store.record(0, at("2026-11-03T00:00:00+01:00"), false);
    tally.store.record(0, at("2026-11-30T23:59:59.999+01:00"), false);
    let december_start = at("2026-12-01T00:00:00+01:00");
    for i in 0..10 {
        tally.store.record(0, december_start + i * 1000, true);
    }
    let mut snapshot = Snapshot::new(&config);
    let mut out = Vec::new();

    let before = december_start - 1;
    snapshot.read_tally(&tally, before);
    evaluate_all(&config, &snapshot, &mut out);
    let status = &out[0];
    let period = status.windows.last().unwrap();
    assert_eq!(period.counts, c(98, 100));
    assert_eq!(status.period, PeriodBounds { start_ms: november_start, end_ms: december_start });
    assert!(close(status.budget_remaining, 1.0 - 0.02 / 0.01), "{}", status.budget_remaining);
    // The 1h/5m page: 2% of a 30-day month's budget in an hour.
    assert!(close(status.factors[0], 0.02 * 30.0 * 24.0), "{:?}", status.factors);

    let after = december_start + 60_000;
    snapshot.read_tally(&tally, after);
    evaluate_all(&config, &snapshot, &mut out);
    let status = &out[0];
    assert_eq!(status.windows.last().unwrap().counts, c(10, 10));
    assert_eq!(status.period.start_ms, december_start);
    assert_eq!(status.period.end_ms, at("2027-01-01T00:00:00+01:00"));
    assert_eq!(status.budget_remaining, 1.0);
    assert!(close(status.factors[0], 0.02 * 31.0 * 24.0), "{:?}", status.factors);
    // The rolling 1h window still holds November's last bad event.
    let hour = slo.windows.iter().position(|w| w.label == "1h").unwrap();
    assert_eq!(status.windows[hour].counts, c(10, 11));
}

/// The factor decides whether a rule fires: the same burn pages in February (28 days) and not
/// in a 31-day month.
#[test]
fn a_calendar_periods_length_decides_whether_an_alert_fires() {
    let config = monthly();
    let slo = &config.slos[0];
    // Every alert window at an error ratio of 14%: a burn rate of 14 against a 1% budget.
    let counts = |_: usize, secs: i64| if secs == slo.period.secs { c(1_000_000, 1_000_000) } else { c(8_600, 10_000) };
    let month = |start: &str, end: &str| PeriodBounds {
        start_ms: crate::time::parse_rfc3339_ms(start).unwrap(),
        end_ms: crate::time::parse_rfc3339_ms(end).unwrap(),
    };
    let february = evaluate_in(slo, month("2027-02-01T00:00:00+01:00", "2027-03-01T00:00:00+01:00"), counts);
    let january = evaluate_in(slo, month("2027-01-01T00:00:00+01:00", "2027-02-01T00:00:00+01:00"), counts);
    assert!(close(february.windows[0].burn_rate, 14.0), "{:?}", february.windows[0]);
    assert!(close(february.factors[0], 13.44) && close(january.factors[0], 14.88));
    // The 1h/5m rule; the 6h/30m one (6.2 in January) fires in both.
    assert!(february.fired[0] && !january.fired[0]);
    assert!(february.fired[1] && january.fired[1] && january.alerts[0]);
}

/// A time-slice SLO's ratio and burn rate come from its slices, not its events; the burn is
/// still split among the SLIs in proportion to their errors, and adds up to the burn rate.
#[test]
fn time_slice_ratios_make_the_burn_rate_and_alerts() {
    let yaml = include_str!("../../config/example.yaml").replacen(
        "    period: \"30d\"\n",
        "    period: \"30d\"\n    budgeting: { method: timeslices, slice: 1m, target: 95, min_events: 20 }\n",
        1,
    );
    let config = Config::from_yaml(&yaml, "x.yaml").unwrap();
    let slo = config.slos.iter().find(|s| s.budgeting.slices().is_some()).unwrap();
    assert!(slo.components.len() >= 2, "{}", slo.name);
    // Events: 1 % bad in every window, all from the first component. Slices: 1 bad in 10 over
    // the short windows, none bad over the longer ones.
    let counts = |sli: usize, _: i64| if sli == slo.components[0].sli { c(990, 1000) } else { c(500, 500) };
    let slices: Vec<SliceCounts> = slo
        .windows
        .iter()
        .map(|w| {
            if w.secs <= 3_600 {
                SliceCounts { slices: 10, good: 9.0 }
            } else {
                SliceCounts { slices: 100, good: 100.0 }
            }
        })
        .collect();
    let s = evaluate_slices_in(slo, PeriodBounds { start_ms: -slo.period.secs * 1000, end_ms: 0 }, counts, &slices);
    let budget = 1.0 - slo.objective;
    for (i, (w, status)) in slo.windows.iter().zip(&s.windows).enumerate() {
        let want = if w.secs <= 3_600 { 0.9 } else { 1.0 };
        assert_eq!(status.ratio, want, "{}", w.label);
        assert!(close(status.burn_rate, (1.0 - want) / budget), "{}", w.label);
        assert_eq!(status.counts, c(1490, 1500), "events are still reported");
        assert_eq!(status.slices, Some(slices[i]));
        let parts = s.contributions(i);
        assert!(close(parts.iter().sum::<f64>(), status.burn_rate), "{}: {parts:?}", w.label);
        assert!(parts[1..].iter().all(|p| *p == 0.0), "only the first SLI had errors");
        assert_eq!(error_ratio(slo.combine, status), 1.0 - want);
    }
    // 1h and 5m both burn at 0.1 / budget: the page rule over them fires only if that beats 14.4.
    let fired = (1.0 - 0.9) / budget > 14.4;
    assert_eq!(s.alerts[0], fired);
    assert_eq!(s.budget_remaining, 1.0, "no bad slice over the period");
}
