//! The snapshot: what one evaluation tick reads from the count stage, at one instant.
//!
//! Once per tick the pipeline reads the tally's window sums under its lock (a sum per SLI and
//! window, never per event) and every worker's view; `slo` evaluates the snapshot and `export`
//! publishes both. Nothing downstream touches the tally, so scrapes never wait for ingest.
//!
//! A calendar period's window is `[period start, now]`: its length changes at every tick, so it
//! is read on its own with the length of the moment rather than in the window set. Its start is
//! counted at the resolution of the tier that answers that length (a boundary off a bucket edge,
//! in a zone with a :30 or :45 offset, has the bucket error any window has).

use crate::config::{Calendar, Config};
use crate::names::QUANTILES;
use crate::state::Counters;
use crate::window::breakdown::{BreakdownSet, Values};
use crate::window::slices::{SliceCounts, SloSlices};
use crate::window::{Counts, WindowSet, WindowStore};

use super::tally::Tally;

/// A partition a worker reads, as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// The topic's name.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// High watermark minus the consumer position; `None` until both are known.
    pub lag: Option<i64>,
    /// Events retention deleted before the worker read them, since it started.
    pub skipped: u64,
}

/// What a worker publishes besides its counts, refreshed every publish tick.
#[derive(Debug, Default)]
pub struct WorkerView {
    /// When it was last refreshed (0: never, so the worker is not running yet).
    pub at_ms: i64,
    /// The partitions the worker reads.
    pub partitions: Vec<PartitionState>,
    /// Times the worker's consumer was recreated after a stall.
    pub stalls: u64,
    /// Delta records a merge member's worker refused, by [`DeltaError::REASONS`](crate::state::delta_record::DeltaError::REASONS).
    pub refused: [u64; crate::state::delta_record::DeltaError::REASONS.len()],
}

/// The tally's window sums, counters and latency quantiles, and the workers' partitions, as of
/// one tick.
pub struct Snapshot {
    /// Every configured window's length (a calendar period's longest).
    windows_ms: Vec<i64>,
    /// Indices in [`Config::windows`] of the rolling windows, in the order of `set`.
    rolling: Vec<usize>,
    /// Indices in [`Config::windows`] of the calendar periods, with their calendars.
    calendars: Vec<(usize, Calendar)>,
    /// The rolling windows grouped by tier (made from the tally's store on first read).
    set: Option<WindowSet>,
    /// One SLI's rolling sums, before they are placed.
    scratch: Vec<Counts>,
    /// The instant of the last [`Snapshot::read_tally`].
    now_ms: i64,
    /// `[sli * windows + w]`.
    counts: Vec<Counts>,
    /// The history rebuild in progress (or the last one done), as of the read.
    pub rebuild: Option<crate::state::rebuild::Rebuild>,
    /// Per rebuilt SLI, the event time from which its history is complete.
    pub history: Vec<(String, i64)>,
    /// The tally's counters.
    pub counters: Counters,
    /// Per SLI, the [`QUANTILES`] of the last five minutes of latency, in µs.
    pub latency: Vec<Option<[u64; 4]>>,
    /// Per SLI, the [`LatencyWindows::stamp`](crate::window::latency::LatencyWindows::stamp)
    /// `latency` was computed at: while it is unchanged, so are the quantiles.
    latency_from: Vec<(u64, i64)>,
    /// Every worker's partitions.
    pub partitions: Vec<PartitionState>,
    /// Consumers recreated after a stall, over all workers.
    pub stalls: u64,
    /// Delta records refused, over all workers, by reason.
    pub refused: [u64; crate::state::delta_record::DeltaError::REASONS.len()],
    /// Whether every worker has published a view.
    pub workers_started: bool,
    /// Per SLI with a `breakdown:`, its combinations' window sums.
    pub breakdowns: Vec<BreakdownView>,
    /// Per time-slice SLO, its slices over each of its windows.
    pub slices: Vec<SliceView>,
    /// Scratch for judging a slice.
    parts: Vec<(Counts, f64)>,
}

/// One time-slice SLO's slices as of one tick.
#[derive(Debug, Clone)]
pub struct SliceView {
    /// Index of the SLO in [`Config::slos`].
    pub slo: usize,
    /// The SLO's windows in ms, in the order of [`crate::config::SloConfig::windows`]; the
    /// period's is replaced by the calendar period's start when it has one.
    windows_ms: Vec<i64>,
    calendar: Option<Calendar>,
    /// Where each window starts, as of the tick.
    starts: Vec<i64>,
    /// Counted and good slices per window.
    pub counts: Vec<SliceCounts>,
    /// Events that arrived for a slice already judged, since the first start.
    pub late: u64,
}

/// One SLI's breakdown as of one tick.
#[derive(Debug, Clone)]
pub struct BreakdownView {
    /// The SLI's id.
    pub sli: usize,
    /// The breakdown's windows, in ms (its config's order).
    windows_ms: Vec<i64>,
    set: Option<WindowSet>,
    /// Every tracked combination (its field texts), then `__other__` (`None`), each with one
    /// count per breakdown window: the rows add up to the SLI's counts.
    pub rows: Vec<(Values, Vec<Counts>)>,
}

impl Snapshot {
    /// An empty snapshot sized for `config`'s SLIs and windows.
    pub fn new(config: &Config) -> Snapshot {
        let n = config.slis.len();
        let mut calendars: Vec<(usize, Calendar)> = Vec::new();
        for slo in &config.slos {
            if let Some(c) = &slo.calendar {
                let index = config.window_index(slo.period.secs);
                if !calendars.iter().any(|(i, _)| *i == index) {
                    calendars.push((index, c.clone()));
                }
            }
        }
        let rolling = (0..config.windows.len()).filter(|i| !calendars.iter().any(|(c, _)| c == i)).collect();
        Snapshot {
            windows_ms: config.windows.iter().map(|w| w.secs * 1000).collect(),
            rolling,
            calendars,
            set: None,
            scratch: Vec::new(),
            now_ms: 0,
            counts: vec![Counts::default(); n * config.windows.len()],
            counters: Counters::for_config(config),
            rebuild: None,
            history: Vec::new(),
            latency: vec![None; n],
            latency_from: vec![(0, i64::MIN); n],
            partitions: Vec::new(),
            stalls: 0,
            refused: Default::default(),
            workers_started: true,
            breakdowns: config
                .breakdowns()
                .map(|(sli, b)| BreakdownView {
                    sli,
                    windows_ms: b.windows.iter().map(|w| w.secs * 1000).collect(),
                    set: None,
                    rows: Vec::new(),
                })
                .collect(),
            slices: config
                .slos
                .iter()
                .enumerate()
                .filter(|(_, slo)| slo.budgeting.slices().is_some())
                .map(|(i, slo)| SliceView {
                    slo: i,
                    windows_ms: slo.windows.iter().map(|w| w.secs * 1000).collect(),
                    calendar: slo.calendar.clone(),
                    starts: vec![0; slo.windows.len()],
                    counts: vec![SliceCounts::default(); slo.windows.len()],
                    late: 0,
                })
                .collect(),
            parts: Vec::new(),
        }
    }

    /// Reads every SLI's window sums at `now_ms`, the counters and the changed latency quantiles.
    pub fn read_tally(&mut self, tally: &Tally, now_ms: i64) {
        self.now_ms = now_ms;
        let rolling_ms: Vec<i64> = self.rolling.iter().map(|&i| self.windows_ms[i]).collect();
        let set = self.set.get_or_insert_with(|| tally.store.window_set(&rolling_ms));
        self.scratch.resize(self.rolling.len(), Counts::default());
        let since: Vec<i64> = self.calendars.iter().map(|(_, c)| now_ms - c.bounds(now_ms).start_ms).collect();
        if !self.windows_ms.is_empty() {
            for (sli, out) in self.counts.chunks_exact_mut(self.windows_ms.len()).enumerate() {
                tally.store.sums(sli, set, now_ms, &mut self.scratch);
                for (&i, c) in self.rolling.iter().zip(&self.scratch) {
                    out[i] = *c;
                }
                for ((i, _), &window_ms) in self.calendars.iter().zip(&since) {
                    out[*i] = tally.store.count(sli, window_ms, now_ms);
                }
            }
        }
        for (view, set) in self.breakdowns.iter_mut().zip(&tally.breakdowns.sets) {
            view.read(set, now_ms);
        }
        for (view, slo) in self.slices.iter_mut().zip(&tally.slices.slos) {
            view.read(slo, &tally.store, now_ms, &mut self.parts);
        }
        self.counters.clone_from(&tally.counters);
        self.rebuild.clone_from(&tally.rebuild);
        self.history.clone_from(&tally.history);
        let qs = QUANTILES.map(|(q, _)| q);
        for (sli, (out, from)) in self.latency.iter_mut().zip(&mut self.latency_from).enumerate() {
            let source = tally.latency.stamp(sli, now_ms);
            if *from != source {
                *from = source;
                *out = tally.latency.quantiles(sli, now_ms, qs);
            }
        }
    }

    /// The instant the tally was last read at.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Forgets the workers' part, before their views are added again.
    pub fn clear_views(&mut self) {
        self.partitions.clear();
        self.stalls = 0;
        self.refused = Default::default();
        self.workers_started = true;
    }

    /// Adds one worker's view.
    pub fn add_view(&mut self, view: &WorkerView) {
        self.workers_started &= view.at_ms > 0;
        self.partitions.extend(view.partitions.iter().cloned());
        self.stalls += view.stalls;
        for (sum, n) in self.refused.iter_mut().zip(view.refused) {
            *sum += n;
        }
    }

    /// Ready to publish SLO values: every worker runs and partitions are assigned.
    pub fn is_ready(&self) -> bool {
        self.workers_started && !self.partitions.is_empty()
    }

    /// Good/total of an SLI over the window at `index` in [`Config::windows`].
    #[inline]
    pub fn window(&self, sli: usize, index: usize) -> Counts {
        self.counts[sli * self.windows_ms.len() + index]
    }
}

impl Snapshot {
    /// The slices of the SLO at index `slo` of [`Config::slos`], if it budgets by time slices.
    pub fn slices_of(&self, slo: usize) -> Option<&SliceView> {
        self.slices.iter().find(|v| v.slo == slo)
    }
}

impl SliceView {
    fn read(&mut self, slo: &SloSlices, store: &WindowStore, now_ms: i64, parts: &mut Vec<(Counts, f64)>) {
        let last = self.windows_ms.len() - 1;
        for (i, (start, &w)) in self.starts.iter_mut().zip(&self.windows_ms).enumerate() {
            *start = match &self.calendar {
                Some(c) if i == last => c.bounds(now_ms).start_ms,
                _ => now_ms - w,
            };
        }
        slo.windows(store, now_ms, &self.starts, &mut self.counts, parts);
        self.late = slo.late;
    }
}

impl BreakdownView {
    /// Reads every row's sums at `now_ms`.
    fn read(&mut self, set: &BreakdownSet, now_ms: i64) {
        let windows = self.set.get_or_insert_with(|| set.store().window_set(&self.windows_ms));
        let rows = set.tracked().map(|(row, t)| (Some(t.values.clone()), row)).chain([(None, set.other_row())]);
        self.rows.clear();
        for (values, row) in rows {
            let mut out = vec![Counts::default(); self.windows_ms.len()];
            set.store().sums(row, windows, now_ms, &mut out);
            self.rows.push((values, out));
        }
    }
}
