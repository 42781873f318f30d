//! Windows per value combination of an SLI's `breakdown:` fields ("which route burned it").
//!
//! Each SLI with a breakdown has `max_values` slots, each holding one combination's exact tiered
//! windows, plus one row for `__other__`, where every event of an untracked combination goes, so
//! the rows always add up to the SLI. A combination takes a free slot the first time it is seen
//! (first come, first tracked) and gives it back once it has had no event for the longest period,
//! when none of its buckets can be in any window any more.
//!
//! Workers identify a combination by a hash of its field texts (see `count::combination`) and
//! send the texts once; the table from hash to slot lives here, touched only under the tally's
//! lock at hand-over. Nothing here reads a clock.

use std::collections::HashMap;

use super::{Counts, WindowStore};
use crate::config::Config;

type Fixed = foldhash::fast::FixedState;

/// One event of a broken-down SLI on its way to the tally (24 bytes).
#[derive(Debug, Clone, Copy)]
pub struct BreakdownEvent {
    /// The combination's hash.
    pub hash: u64,
    /// Event time, epoch milliseconds.
    pub ts_ms: i64,
    /// Index of the breakdown (SLIs with a breakdown, in SLI order).
    pub bd: u32,
    /// Whether the event was good.
    pub good: bool,
}

/// A combination's field texts, one per breakdown field; `None` is `__other__`.
pub type Values = Option<Box<[Box<str>]>>;

/// A tracked combination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// Its hash, as workers compute it.
    pub hash: u64,
    /// One text per field, in the order of the breakdown's fields.
    pub values: Box<[Box<str>]>,
    /// The newest event time counted for it.
    pub last_ms: i64,
}

/// One SLI's breakdown.
#[derive(Debug, Clone)]
pub struct BreakdownSet {
    /// The SLI's id.
    pub sli: usize,
    /// Its fields (a checkpoint's rows are restored only under the same fields).
    pub fields: Vec<String>,
    slots: Vec<Option<Tracked>>,
    free: Vec<u32>,
    by_hash: HashMap<u64, u32, Fixed>,
    /// Texts of combinations announced but not tracked (no free slot then), bounded.
    waiting: HashMap<u64, Box<[Box<str>]>, Fixed>,
    /// Rows `0..max_values` are the slots; row `max_values` is `__other__`.
    store: WindowStore,
}

/// Every SLI's breakdown, in SLI order.
#[derive(Debug, Clone, Default)]
pub struct Breakdowns {
    /// One per SLI with a `breakdown:`.
    pub sets: Vec<BreakdownSet>,
}

/// Memory of one combination's windows under `config` (the same as an SLI's): a breakdown takes
/// `(max_values + 1)` times this, whatever the traffic.
pub fn bytes_per_combination(config: &Config) -> usize {
    WindowStore::new(1, config.max_period_secs() * 1000, config.events.max_future_ms).bytes_per_sli()
}

impl Breakdowns {
    /// Empty breakdowns for every SLI of `config` that has one.
    pub fn new(config: &Config) -> Breakdowns {
        let (period_ms, future_ms) = (config.max_period_secs() * 1000, config.events.max_future_ms);
        let sets = config
            .breakdowns()
            .map(|(sli, b)| BreakdownSet {
                sli,
                fields: b.fields.clone(),
                slots: vec![None; b.max_values],
                free: (0..b.max_values as u32).rev().collect(),
                by_hash: HashMap::with_capacity_and_hasher(b.max_values, Fixed::default()),
                waiting: HashMap::default(),
                store: WindowStore::new(b.max_values + 1, period_ms, future_ms),
            })
            .collect();
        Breakdowns { sets }
    }

    /// Adds one hand-over: the texts of new combinations first, then the events. `now_ms` is the
    /// hand-over's clock: combinations with no event for `period_ms` before it free their slot.
    pub fn add<'a, T: AsRef<[&'a str]>>(
        &mut self,
        announced: impl Iterator<Item = (usize, u64, T)>,
        events: &[BreakdownEvent],
        now_ms: i64,
        period_ms: i64,
    ) {
        for set in &mut self.sets {
            set.expire(now_ms.saturating_sub(period_ms));
        }
        for (bd, hash, values) in announced {
            self.sets[bd].announce(hash, values.as_ref());
        }
        for e in events {
            self.sets[e.bd as usize].record(e.hash, e.ts_ms, e.good);
        }
    }
}

impl Breakdowns {
    /// Adds one member's delta (a merge member): the texts of new combinations first, then each
    /// combination's buckets, oldest first, as [`Breakdowns::add`] adds events. `now_ms` is the
    /// member's clock at its newest event.
    pub fn fold(
        &mut self,
        combinations: &[super::delta::Combination],
        entries: &[super::delta::BreakdownEntry],
        now_ms: i64,
        period_ms: i64,
    ) {
        for set in &mut self.sets {
            set.expire(now_ms.saturating_sub(period_ms));
        }
        for (bd, hash, values) in combinations {
            if let Some(set) = self.sets.get_mut(*bd as usize) {
                let values: Vec<&str> = values.iter().map(|v| &**v).collect();
                set.announce(*hash, &values);
            }
        }
        let mut sorted: Vec<_> = entries.to_vec();
        sorted.sort_unstable_by_key(|&(b, h, k, _, _)| (k, b, h));
        for (bd, hash, k, c, last_ms) in sorted {
            if let Some(set) = self.sets.get_mut(bd as usize) {
                set.record_bucket(hash, k * super::delta::BUCKET_MS, c, last_ms);
            }
        }
    }
}

impl BreakdownSet {
    /// The row of `__other__`.
    pub fn other_row(&self) -> usize {
        self.slots.len()
    }

    /// Tracked combinations, as `(row, combination)`.
    pub fn tracked(&self) -> impl Iterator<Item = (usize, &Tracked)> {
        self.slots.iter().enumerate().filter_map(|(row, t)| t.as_ref().map(|t| (row, t)))
    }

    /// The windows of every row (tracked slots and `__other__`).
    pub fn store(&self) -> &WindowStore {
        &self.store
    }

    /// Keeps a new combination's texts until its first event finds a free slot. With every slot
    /// taken nothing can be tracked, so nothing is kept (and nothing allocated) until one frees.
    fn announce(&mut self, hash: u64, values: &[&str]) {
        if self.free.is_empty() || self.by_hash.contains_key(&hash) || self.waiting.contains_key(&hash) {
            return;
        }
        if self.waiting.len() >= 4 * self.slots.len() + 64 {
            self.waiting.clear();
        }
        self.waiting.insert(hash, values.iter().map(|v| Box::from(*v)).collect());
    }

    fn record(&mut self, hash: u64, ts_ms: i64, good: bool) {
        let row = match self.by_hash.get(&hash) {
            Some(&slot) => Some(slot),
            None => self.track(hash),
        };
        match row {
            Some(slot) => {
                self.store.record(slot as usize, ts_ms, good);
                let t = self.slots[slot as usize].as_mut().expect("a tracked slot");
                t.last_ms = t.last_ms.max(ts_ms);
            }
            None => self.store.record(self.other_row(), ts_ms, good),
        }
    }

    /// Counts a 10-second bucket's events of one combination, starting at `start_ms`, the newest
    /// at `last_ms`.
    fn record_bucket(&mut self, hash: u64, start_ms: i64, c: Counts, last_ms: i64) {
        let row = match self.by_hash.get(&hash) {
            Some(&slot) => Some(slot),
            None => self.track(hash),
        };
        let resolutions = self.store.resolutions();
        let row = match row {
            Some(slot) => {
                let t = self.slots[slot as usize].as_mut().expect("a tracked slot");
                t.last_ms = t.last_ms.max(last_ms);
                slot as usize
            }
            None => self.other_row(),
        };
        for (tier, res) in resolutions.iter().enumerate() {
            self.store.add_bucket(tier, row, start_ms.div_euclid(*res), c);
        }
    }

    /// Gives a free slot to a combination whose texts are known.
    fn track(&mut self, hash: u64) -> Option<u32> {
        let slot = *self.free.last()?;
        let values = self.waiting.remove(&hash)?;
        self.free.pop();
        self.slots[slot as usize] = Some(Tracked { hash, values, last_ms: i64::MIN });
        self.by_hash.insert(hash, slot);
        Some(slot)
    }

    /// Frees the slots of combinations with no event after `before_ms`.
    fn expire(&mut self, before_ms: i64) {
        for slot in 0..self.slots.len() {
            if self.slots[slot].as_ref().is_some_and(|t| t.last_ms <= before_ms) {
                let t = self.slots[slot].take().expect("checked");
                self.by_hash.remove(&t.hash);
                self.store.clear(slot);
                self.free.push(slot as u32);
            }
        }
    }

    /// Restores a checkpointed combination with its buckets `(tier, index, counts)`; when every
    /// slot is taken (a smaller `max_values` than before) its counts go to `__other__`.
    pub fn restore(&mut self, tracked: Option<Tracked>, buckets: &[(usize, i64, Counts)]) {
        let row = match tracked {
            Some(t) if !self.by_hash.contains_key(&t.hash) => match self.free.pop() {
                Some(slot) => {
                    self.by_hash.insert(t.hash, slot);
                    self.slots[slot as usize] = Some(t);
                    slot as usize
                }
                None => self.other_row(),
            },
            _ => self.other_row(),
        };
        for &(tier, k, c) in buckets {
            self.store.add_bucket(tier, row, k, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const NOW: i64 = 1_795_694_400_000;

    fn setup(max_values: u64) -> (Config, Breakdowns) {
        let yaml = include_str!("../../config/example.yaml").replace(
            "  geo-availability:\n",
            &format!("  geo-availability:\n    breakdown: [route]\n    max_values: {max_values}\n"),
        );
        let config = Config::from_yaml(&yaml, "x.yaml").unwrap();
        let b = Breakdowns::new(&config);
        (config, b)
    }

    fn ev(hash: u64, ts_ms: i64, good: bool) -> BreakdownEvent {
        BreakdownEvent { hash, ts_ms, bd: 0, good }
    }

    fn texts<'a>(pairs: &'a [(u64, [&'a str; 1])]) -> impl Iterator<Item = (usize, u64, &'a [&'a str])> {
        pairs.iter().map(|(h, t)| (0, *h, &t[..]))
    }

    #[test]
    fn first_come_first_tracked_the_rest_is_other_and_rows_add_up() {
        let (_, mut b) = setup(2);
        let events = [ev(1, NOW - 10, true), ev(2, NOW - 10, false), ev(3, NOW - 10, false), ev(1, NOW - 5, false)];
        b.add(texts(&[(1, ["/a"]), (2, ["/b"]), (3, ["/c"])]), &events, NOW, 30 * 24 * HOUR);
        let set = &b.sets[0];
        let rows: Vec<(usize, &str)> = set.tracked().map(|(r, t)| (r, &*t.values[0])).collect();
        assert_eq!(rows, [(0, "/a"), (1, "/b")]);
        let count = |row| set.store().count(row, HOUR, NOW);
        assert_eq!(count(0), Counts { good: 1, total: 2 });
        assert_eq!(count(1), Counts { good: 0, total: 1 });
        assert_eq!(count(set.other_row()), Counts { good: 0, total: 1 }, "/c found no slot");
    }

    #[test]
    fn a_combination_without_texts_waits_in_other_and_a_quiet_one_frees_its_slot() {
        let (_, mut b) = setup(1);
        let period = 30 * 24 * HOUR;
        b.add(texts(&[]), &[ev(7, NOW - 10, true)], NOW, period);
        assert_eq!(b.sets[0].tracked().count(), 0, "no texts: counted as other");
        b.add(texts(&[(7, ["/x"])]), &[ev(7, NOW - 5, true)], NOW, period);
        assert_eq!(b.sets[0].tracked().count(), 1);
        // Quiet for a whole period: its slot goes to the next combination, emptied.
        let later = NOW + period;
        b.add(texts(&[(8, ["/y"])]), &[ev(8, later - 1, false)], later, period);
        let set = &b.sets[0];
        let rows: Vec<&str> = set.tracked().map(|(_, t)| &*t.values[0]).collect();
        assert_eq!(rows, ["/y"]);
        assert_eq!(set.store().count(0, period, later), Counts { good: 0, total: 1 }, "nothing of /x left");
        assert_eq!(set.store().count(set.other_row(), period, later), Counts::default(), "out of every window");
    }
}
