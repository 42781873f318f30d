//! Combining an SLO's SLI counts into one ratio, by its `combine` method.
//!
//! Here rather than in `slo` because the window stage needs it too: a time slice's verdict is
//! the SLO's combined ratio over the slice's own events (see [`super::slices`]).

use super::Counts;
use crate::config::Combine;

/// Combines component counts; `None` when no component saw an event.
pub fn combine(method: Combine, parts: &[(Counts, f64)]) -> Option<f64> {
    let live = || parts.iter().filter(|(c, _)| c.total > 0);
    let ratio = |c: &Counts| c.good as f64 / c.total as f64;
    live().next()?;
    Some(match method {
        Combine::Pooled => {
            let (g, n) = live().fold((0u64, 0u64), |(g, n), (c, _)| (g + c.good, n + c.total));
            g as f64 / n as f64
        }
        Combine::Product => live().map(|(c, _)| ratio(c)).product(),
        Combine::Weighted => {
            let (sum, weights) = live().fold((0.0, 0.0), |(s, ws), (c, w)| (s + w * ratio(c), ws + w));
            sum / weights
        }
        Combine::Min => live().map(|(c, _)| ratio(c)).fold(f64::INFINITY, f64::min),
    })
}
