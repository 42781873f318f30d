//! Attribution: which component burned an SLO's budget, as exact shares of its burn rate.
//!
//! The conversation a feature SLO starts is "what do we fix first?". Each component's
//! contribution is the part of the SLO's burn rate it caused, defined per combine method so that
//! the contributions of one window always add up to the window's burn rate:
//!
//! - pooled: `(nₖ − gₖ) / (Σn · b)`: each component's bad events over all events;
//! - weighted: `wₖ eₖ / (Σw · b)` with `eₖ = (nₖ − gₖ) / nₖ`;
//! - product: the burn split in proportion to `ln rₖ` (the ratio is `Π rₖ`, so `ln r = Σ ln rₖ`);
//!   a component at ratio 0 takes the whole burn, split evenly when several are at 0;
//! - min: all of it to the component with the lowest ratio, split evenly on ties.
//!
//! Components without events contribute 0 (they are left out of the ratio too); a window
//! without events has no burn and nothing to attribute.
//!
//! The burn rate itself is computed here from the same error terms ([`error`]), never as
//! `1 − ratio`: with large counts the ratio rounds to within 1e-16 of 1 and `1 − ratio` would
//! lose the digits that tell a burn of 0.001 from 0.0011, and the contributions would no longer
//! add up to it.

use crate::config::Combine;
use crate::window::Counts;

/// A component's error ratio `(n − g) / n`, in one division.
fn error_of(c: &Counts) -> f64 {
    c.total.saturating_sub(c.good) as f64 / c.total as f64
}

/// The combined error ratio `1 − ratio` of components `(counts, weight)`, computed without
/// subtracting from 1; `None` when no component saw an event.
pub fn error(method: Combine, parts: &[(Counts, f64)]) -> Option<f64> {
    let live = || parts.iter().filter(|(c, _)| c.total > 0);
    live().next()?;
    Some(match method {
        Combine::Pooled => {
            let (g, n) = live().fold((0u64, 0u64), |(g, n), (c, _)| (g + c.good, n + c.total));
            n.saturating_sub(g) as f64 / n as f64
        }
        Combine::Weighted => {
            let (sum, weights) = live().fold((0.0, 0.0), |(s, ws), (c, w)| (s + w * error_of(c), ws + w));
            sum / weights
        }
        // 1 − Π(1 − eₖ) = −expm1(Σ ln(1 − eₖ)), exact to the last digits for tiny errors.
        Combine::Product => -live().map(|(c, _)| (-error_of(c)).ln_1p()).sum::<f64>().exp_m1(),
        Combine::Min => live().map(|(c, _)| error_of(c)).fold(0.0, f64::max),
    })
}

/// Splits `burn`, the burn rate of one window over `parts` against budget `budget`
/// (`1 − objective`), into `out` (one entry per part, same order). The entries add up to `burn`.
pub fn split(method: Combine, parts: &[(Counts, f64)], budget: f64, burn: f64, out: &mut [f64]) {
    debug_assert_eq!(parts.len(), out.len());
    out.fill(0.0);
    let live = |i: usize| parts[i].0.total > 0;
    if burn == 0.0 || !(0..parts.len()).any(live) {
        return;
    }
    match method {
        Combine::Pooled => {
            let n: u64 = parts.iter().map(|(c, _)| c.total).sum();
            for (o, (c, _)) in out.iter_mut().zip(parts) {
                *o = c.total.saturating_sub(c.good) as f64 / (n as f64 * budget);
            }
        }
        Combine::Weighted => {
            let weights: f64 = parts.iter().filter(|(c, _)| c.total > 0).map(|(_, w)| w).sum();
            for (i, (o, (c, w))) in out.iter_mut().zip(parts).enumerate() {
                if live(i) {
                    *o = w * error_of(c) / (weights * budget);
                }
            }
        }
        Combine::Product => {
            let all_bad = |i: usize| live(i) && parts[i].0.good == 0;
            if (0..parts.len()).any(all_bad) {
                share_evenly(burn, out, all_bad);
            } else {
                let logs = |i: usize| if live(i) { (-error_of(&parts[i].0)).ln_1p() } else { 0.0 };
                let total: f64 = (0..parts.len()).map(logs).sum();
                for (i, o) in out.iter_mut().enumerate() {
                    *o = burn * logs(i) / total;
                }
            }
        }
        Combine::Min => {
            let worst = (0..parts.len()).filter(|&i| live(i)).map(|i| error_of(&parts[i].0)).fold(0.0, f64::max);
            share_evenly(burn, out, |i| live(i) && error_of(&parts[i].0) == worst);
        }
    }
}

/// `burn` split evenly among the parts `chosen` selects.
fn share_evenly(burn: f64, out: &mut [f64], chosen: impl Fn(usize) -> bool) {
    let n = (0..out.len()).filter(|&i| chosen(i)).count();
    for (i, o) in out.iter_mut().enumerate() {
        if chosen(i) {
            *o = burn / n as f64;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn c(good: u64, total: u64) -> Counts {
        Counts { good, total }
    }

    fn split_of(method: Combine, parts: &[(Counts, f64)], budget: f64) -> (f64, Vec<f64>) {
        let burn = error(method, parts).map_or(0.0, |e| e / budget);
        let mut out = vec![f64::NAN; parts.len()];
        split(method, parts, budget, burn, &mut out);
        (burn, out)
    }

    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
    }

    #[test]
    fn each_method_by_hand() {
        let parts = [(c(90, 100), 3.0), (c(1, 2), 1.0), (c(0, 0), 5.0)];
        let b = 0.01;
        // pooled: 11 bad of 102 → burn 11 / 1.02; booking's 10 and geo's 1 bad of 102.
        let (burn, out) = split_of(Combine::Pooled, &parts, b);
        assert!(near(burn, 11.0 / 102.0 / b));
        assert!(near(out[0], 10.0 / 102.0 / b) && near(out[1], 1.0 / 102.0 / b) && out[2] == 0.0, "{out:?}");
        // weighted: (3×0.1 + 1×0.5) / 4 = 0.2 error → 3×0.1/4/b and 1×0.5/4/b.
        let (burn, out) = split_of(Combine::Weighted, &parts, b);
        assert!(near(burn, 0.2 / b));
        assert!(near(out[0], 0.075 / b) && near(out[1], 0.125 / b) && out[2] == 0.0, "{out:?}");
        // product: 1 − 0.9×0.5 = 0.55, split as ln 0.9 : ln 0.5.
        let (burn, out) = split_of(Combine::Product, &parts, b);
        assert!(near(burn, 0.55 / b));
        let (l1, l2) = (0.9f64.ln(), 0.5f64.ln());
        assert!(near(out[0], burn * l1 / (l1 + l2)) && near(out[1], burn * l2 / (l1 + l2)), "{out:?}");
        // min: all to the 0.5 component.
        let (burn, out) = split_of(Combine::Min, &parts, b);
        assert!(near(burn, 0.5 / b));
        assert_eq!(out, [0.0, 0.5 / b, 0.0]);
    }

    #[test]
    fn zero_ratios_ties_and_no_events() {
        let b = 0.001;
        // product: two components at ratio 0 share the whole burn (1 / b).
        let (burn, out) = split_of(Combine::Product, &[(c(0, 5), 1.0), (c(9, 10), 1.0), (c(0, 1), 1.0)], b);
        assert!(near(burn, 1.0 / b));
        assert_eq!(out, [burn / 2.0, 0.0, burn / 2.0]);
        // min: a tie splits evenly.
        let (burn, out) = split_of(Combine::Min, &[(c(9, 10), 1.0), (c(18, 20), 1.0), (c(10, 10), 1.0)], b);
        assert_eq!(out, [burn / 2.0, burn / 2.0, 0.0]);
        // Nothing burns, nothing is attributed.
        for m in [Combine::Pooled, Combine::Weighted, Combine::Product, Combine::Min] {
            assert_eq!(split_of(m, &[(c(5, 5), 1.0), (c(0, 0), 1.0)], b), (0.0, vec![0.0, 0.0]), "{m:?}");
            assert_eq!(split_of(m, &[(c(0, 0), 1.0), (c(0, 0), 2.0)], b), (0.0, vec![0.0, 0.0]), "{m:?}");
        }
    }

    /// Regression guard for the precision the burn needs: 1 bad event in 10^15 is a burn of
    /// 1e-12 / b, which `1 − g/n` rounds to 0 or to 1.1e-16 / b.
    #[test]
    fn tiny_errors_keep_their_digits() {
        let n = 1_000_000_000_000_000u64;
        for m in [Combine::Pooled, Combine::Weighted, Combine::Product, Combine::Min] {
            let e = error(m, &[(c(n - 1, n), 1.0)]).unwrap();
            assert!(near(e, 1e-15), "{m:?}: {e}");
        }
    }

    fn method() -> impl Strategy<Value = Combine> {
        prop_oneof![Just(Combine::Pooled), Just(Combine::Weighted), Just(Combine::Product), Just(Combine::Min)]
    }

    fn parts() -> impl Strategy<Value = Vec<(Counts, f64)>> {
        let counts = prop_oneof![
            (0u64..20, 0u64..20).prop_map(|(bad, good)| c(good, good + bad)),
            (0u64..1000, 0u64..(1u64 << 50)).prop_map(|(bad, good)| c(good, good + bad)),
        ];
        prop::collection::vec((counts, prop_oneof![Just(1.0), 0.1f64..10.0]), 1..6)
    }

    proptest! {
        /// For every method the contributions add up to the burn rate (1e-9 relative), none is
        /// negative, and a component without events or bad events contributes nothing.
        #[test]
        fn contributions_add_up_to_the_burn(m in method(), parts in parts(), budget in 1e-6f64..0.5) {
            let (burn, out) = split_of(m, &parts, budget);
            let sum: f64 = out.iter().sum();
            prop_assert!((sum - burn).abs() <= 1e-9 * burn.abs(), "sum {} burn {} {:?}", sum, burn, out);
            for (o, (c, _)) in out.iter().zip(&parts) {
                prop_assert!(*o >= 0.0 && o.is_finite(), "{:?}", out);
                if c.total == c.good {
                    prop_assert_eq!(*o, 0.0);
                }
            }
        }
    }
}
