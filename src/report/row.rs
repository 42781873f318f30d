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

/// Good and total time slices over a period, for SLOs budgeted by time slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Slices {
    /// Slices that met the slice objective.
    pub good: u64,
    /// Every slice of the period that had events.
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
    /// The row of `slo` over `period` from each component's counts (in the SLO's order).
    pub(crate) fn new(config: &Config, slo: &SloConfig, period: PeriodBounds, counts: &[Counts]) -> Row {
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
            slices: slices_for_period(slo, period),
        }
    }

    /// Σ good and Σ events over the components.
    pub fn totals(&self) -> Counts {
        let mut sum = Counts::default();
        self.components.iter().for_each(|c| sum.add(c.counts));
        sum
    }
}

/// The good and total time slices of `slo` over `period`: where time-slice budgeting plugs its
/// counts into the report rows. Occurrence SLOs (every SLO today) have none.
pub(crate) fn slices_for_period(_slo: &SloConfig, _period: PeriodBounds) -> Option<Slices> {
    None
}
