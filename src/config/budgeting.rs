//! An SLO's budgeting method: what its ratio counts, events or time slices.
//!
//! `occurrences` (the default) counts events: the ratio is good events over events. Time
//! slices count stretches of time instead, as OpenSLO's `Timeslices` and `RatioTimeslices` do:
//! the SLO's events are cut into slices of `slice` (aligned to the epoch, or to the period
//! start for a calendar period), each slice gets the SLO's combined ratio over its own events,
//! and the window's ratio is made of the slices, so a bad minute at 3 a.m. weighs as much as a
//! bad minute at noon. A slice with fewer than `min_events` events is *sparse*: too few to judge,
//! it counts as good (`sparse: good`) or not at all (`sparse: skip`), so two failed requests in
//! a quiet minute never page anyone.

/// How an SLO's ratio is counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budgeting {
    /// Good events over events.
    Occurrences,
    /// Good slices over counted slices, or the mean ratio of counted slices.
    Slices(SliceBudget),
}

impl Budgeting {
    /// The time-slice settings, for a time-slice method.
    pub fn slices(&self) -> Option<&SliceBudget> {
        match self {
            Budgeting::Occurrences => None,
            Budgeting::Slices(s) => Some(s),
        }
    }

    /// The `budgeting` method as written in the config.
    pub fn as_str(&self) -> &'static str {
        match self {
            Budgeting::Occurrences => "occurrences",
            Budgeting::Slices(s) if s.target.is_some() => "timeslices",
            Budgeting::Slices(_) => "ratio_timeslices",
        }
    }
}

/// `budgeting: {method: timeslices | ratio_timeslices, ...}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceBudget {
    /// Slice length: a multiple of 10 s that divides an hour.
    pub slice_ms: i64,
    /// `timeslices`: the ratio (0.95 for 95 %) at or above which a slice is good. `None`:
    /// `ratio_timeslices`, where each counted slice adds its own ratio.
    pub target: Option<f64>,
    /// Fewer events than this across the SLO's SLIs make a slice sparse.
    pub min_events: u64,
    /// What a sparse slice counts as.
    pub sparse: Sparse,
}

/// What a slice with too few events counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sparse {
    /// A good slice (ratio 1).
    Good,
    /// Not counted at all.
    Skip,
}

impl Sparse {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Sparse::Good => "good",
            Sparse::Skip => "skip",
        }
    }
}

/// One slice's verdict: whether it is counted, and what it adds to the good slices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceVerdict {
    /// 1 when the slice is counted, 0 when it is a skipped sparse slice.
    pub counted: u32,
    /// `timeslices`: 1 for a good slice, 0 for a bad one; `ratio_timeslices`: the slice's ratio.
    pub good: f64,
}

impl SliceBudget {
    /// The verdict on a slice holding `events` events of the SLO's SLIs, whose combined ratio is
    /// `ratio` (`None` when none had an event).
    pub fn verdict(&self, events: u64, ratio: Option<f64>) -> SliceVerdict {
        if events < self.min_events {
            return match self.sparse {
                Sparse::Good => SliceVerdict { counted: 1, good: 1.0 },
                Sparse::Skip => SliceVerdict { counted: 0, good: 0.0 },
            };
        }
        let ratio = ratio.unwrap_or(1.0);
        let good = match self.target {
            Some(target) => f64::from(u8::from(ratio >= target)),
            None => ratio,
        };
        SliceVerdict { counted: 1, good }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(target: Option<f64>, min_events: u64, sparse: Sparse) -> SliceBudget {
        SliceBudget { slice_ms: 60_000, target, min_events, sparse }
    }

    #[test]
    fn sparse_slices_are_good_or_skipped_and_the_rest_are_judged_by_their_ratio() {
        let t = budget(Some(0.95), 20, Sparse::Good);
        assert_eq!(t.verdict(19, Some(0.0)), SliceVerdict { counted: 1, good: 1.0 });
        assert_eq!(t.verdict(0, None), SliceVerdict { counted: 1, good: 1.0 });
        assert_eq!(t.verdict(20, Some(19.0 / 20.0)), SliceVerdict { counted: 1, good: 1.0 }, "at the target");
        assert_eq!(t.verdict(20, Some(18.0 / 20.0)), SliceVerdict { counted: 1, good: 0.0 });
        let skip = budget(Some(0.95), 20, Sparse::Skip);
        assert_eq!(skip.verdict(19, Some(1.0)), SliceVerdict { counted: 0, good: 0.0 });
        let r = budget(None, 1, Sparse::Skip);
        assert_eq!(r.verdict(0, None), SliceVerdict { counted: 0, good: 0.0 });
        assert_eq!(r.verdict(4, Some(0.75)), SliceVerdict { counted: 1, good: 0.75 });
        let zero = budget(None, 0, Sparse::Skip);
        assert_eq!(
            zero.verdict(0, None),
            SliceVerdict { counted: 1, good: 1.0 },
            "min_events 0: an empty slice is judged"
        );
    }
}
