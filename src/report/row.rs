//! One report row: an SLO over one period, as raw counts frozen when the period closed.
//!
//! A row keeps what the period counted and the definition it was judged by (objective, combine
//! method, weights, SLI names) rather than the figures derived from them: the figures (ratio,
//! met, budget consumed, top contributors) are a pure function of the row, so a closed row shows
//! the same figures forever, whatever the config says later.

use crate::config::{Combine, Config, PeriodBounds, SloConfig};
use crate::window::Counts;

/// One component SLI of a row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowComponent {
    /// The SLI's name.
    pub sli: String,
    /// Its weight under `combine: weighted` (1 otherwise).
    pub weight: f64,
    /// Its good and total events over the period.
    pub counts: Counts,
}

/// Good and counted time slices over a period, for SLOs budgeted by time slices.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Slices {
    /// Good slices (`ratio_timeslices`: the sum of the slices' ratios).
    pub good: f64,
    /// Slices counted (sparse ones skipped with `sparse: skip` are not).
    pub total: u64,
}

/// An SLO over one report period `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The period's first instant, epoch ms.
    pub start_ms: i64,
    /// The next period's first instant, epoch ms.
    pub end_ms: i64,
    /// The objective at the close, as a ratio.
    pub objective: f64,
    /// The combine method at the close.
    pub combine: Combine,
    /// Every component at the close, in the SLO's order.
    pub components: Vec<RowComponent>,
    /// Time slices, for SLOs budgeted by them; `None` for occurrence SLOs.
    pub slices: Option<Slices>,
}

impl Row {
    /// The row of `slo` over `period` from each component's counts (in the SLO's order) and,
    /// for a time-slice SLO, its slices over the period.
    pub(crate) fn new(
        config: &Config,
        slo: &SloConfig,
        period: PeriodBounds,
        counts: &[Counts],
        slices: Option<Slices>,
    ) -> Row {
        Row {
            start_ms: period.start_ms,
            end_ms: period.end_ms,
            objective: slo.objective,
            combine: slo.combine,
            components: slo
                .components
                .iter()
                .zip(counts)
                .map(|(c, &counts)| RowComponent { sli: config.slis[c.sli].name.clone(), weight: c.weight, counts })
                .collect(),
            slices,
        }
    }

    /// Σ good and Σ events over the components.
    pub fn totals(&self) -> Counts {
        let mut sum = Counts::default();
        self.components.iter().for_each(|c| sum.add(c.counts));
        sum
    }
}
