use super::*;
use crate::config::Config;

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
    let window = |counts: Counts, ratio: f64| WindowStatus { counts, ratio, burn_rate: 0.0 };
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
