//! One resolution of the window store: a ring of buckets per SLI sharing one head.
//!
//! # Bucket width
//!
//! Buckets of up to a minute hold 32-bit counts, the hourly ones 64-bit: half the memory for
//! the two fine tiers (17 KB instead of 23 KB per SLI for 30 days). A 32-bit count cannot
//! wrap in practice: filling one 1-minute bucket of one SLI takes 4.29 × 10⁹ events of that SLI
//! within one minute of event time, 71 million per second, far above what one instance reads.
//! Should it happen, the count stops at `u32::MAX` (saturates) rather than wrapping to a small
//! number. An hourly bucket at 1M events/s of one SLI holds 3.6 × 10⁹, so those stay 64-bit.

use super::Counts;

/// Good and total of one bucket, stored at some width.
trait Cell: Copy + Default {
    fn bump(&mut self, good: bool);
    fn counts(&self) -> Counts;
    fn put(&mut self, c: Counts);
}

impl Cell for Counts {
    #[inline]
    fn bump(&mut self, good: bool) {
        self.total += 1;
        self.good += u64::from(good);
    }

    #[inline]
    fn counts(&self) -> Counts {
        *self
    }

    fn put(&mut self, c: Counts) {
        self.add(c);
    }
}

/// 32-bit good and total, saturating (see the module doc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Narrow {
    good: u32,
    total: u32,
}

impl Cell for Narrow {
    #[inline]
    fn bump(&mut self, good: bool) {
        self.total = self.total.saturating_add(1);
        self.good = self.good.saturating_add(u32::from(good));
    }

    #[inline]
    fn counts(&self) -> Counts {
        Counts { good: u64::from(self.good), total: u64::from(self.total) }
    }

    fn put(&mut self, c: Counts) {
        let narrow = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        self.good = self.good.saturating_add(narrow(c.good));
        self.total = self.total.saturating_add(narrow(c.total));
    }
}

/// Every SLI's ring, `[sli * len + slot]`: one SLI's ring is contiguous, so a window sum is a
/// linear scan.
#[derive(Debug, Clone)]
enum Cells {
    Narrow(Vec<Narrow>),
    Wide(Vec<Counts>),
}

/// Runs `$body` with `$v` bound to the cells as a slice (or mutable slice) of their own type.
macro_rules! with_cells {
    ($cells:expr, |$v:ident| $body:expr) => {
        match $cells {
            Cells::Narrow($v) => $body,
            Cells::Wide($v) => $body,
        }
    };
}

/// A ring of `len` buckets of `res_ms` each, for every SLI. Bucket index `k` covers event times
/// `[k * res_ms, (k + 1) * res_ms)` and lives in slot `k % len`; the ring holds indices
/// `(head - len, head]`, `head` being the newest index any event has reached.
///
/// # Why the ring is longer than the windows it answers
///
/// The head follows the newest event, and an accepted event may be up to `future_ms` ahead of
/// `now`, so up to `F = ceil(future_ms / res_ms)` of the newest slots can hold the future and
/// are no use to a window ending at `now`. A window `(now - W, now]` spans at most
/// `ceil(W / res_ms) + 1` buckets, so the ring needs `ceil(W / res_ms) + F + 1` slots; it gets
/// one more, so that a `now` up to one bucket behind the clock that accepted the newest event
/// (a tick that read the time just before a worker did) still finds every bucket. Only
/// `span_ms` (the windows it was built for) is offered to [`super::WindowStore`] to choose from,
/// never the future slots: answering a longer window from them loses its oldest buckets as
/// soon as an event ahead of `now` moves the head.
#[derive(Debug, Clone)]
pub struct Tier {
    pub res_ms: i64,
    pub len: i64,
    span_ms: i64,
    head: i64,
    cells: Cells,
    /// When kept: `(sli, bucket index, counts)` of every non-empty bucket the head pushed out of
    /// the ring, oldest first, until taken (the period reports fold them, see `crate::report`).
    evicted: Option<Vec<(usize, i64, Counts)>>,
}

impl Tier {
    /// A tier able to answer windows up to `span_ms` for `now` up to `future_ms` behind the head;
    /// `narrow`: 32-bit counts (for buckets of a minute or less).
    pub fn new(slis: usize, res_ms: i64, span_ms: i64, future_ms: i64, narrow: bool) -> Tier {
        let len = (span_ms + res_ms - 1) / res_ms + (future_ms + res_ms - 1) / res_ms + 2;
        let n = slis * len as usize;
        let cells =
            if narrow { Cells::Narrow(vec![Narrow::default(); n]) } else { Cells::Wide(vec![Counts::default(); n]) };
        Tier { res_ms, len, span_ms, head: i64::MIN, cells, evicted: None }
    }

    /// From now on, keeps the buckets the head pushes out of the ring for [`Tier::take_evicted`].
    pub fn keep_evicted(&mut self) {
        self.evicted.get_or_insert_with(Vec::new);
    }

    /// The buckets pushed out since the last call (none unless kept), oldest first per SLI.
    pub fn take_evicted(&mut self) -> std::vec::Drain<'_, (usize, i64, Counts)> {
        self.evicted.get_or_insert_with(Vec::new).drain(..)
    }

    /// The longest window this tier answers whole, whatever events up to `future_ms` ahead have
    /// moved the head: the span it was built for, not its length (see the type's doc).
    pub fn span_ms(&self) -> i64 {
        self.span_ms
    }

    /// The slot for an event time, advancing the head (and clearing the slots it passes) when the
    /// time is newer than anything seen; `None` when the time is older than the ring.
    #[inline]
    pub fn locate(&mut self, ts_ms: i64) -> Option<usize> {
        let k = ts_ms.div_euclid(self.res_ms);
        if k > self.head {
            self.advance(k);
        } else if k <= self.head - self.len {
            return None;
        }
        Some(k.rem_euclid(self.len) as usize)
    }

    #[cold]
    fn advance(&mut self, k: i64) {
        let from = if self.head == i64::MIN { k } else { (self.head + 1).max(k - self.len + 1) };
        let len = self.len as usize;
        if let (Some(evicted), true) = (&mut self.evicted, self.head != i64::MIN) {
            // The indices leaving: the ring's oldest up to what the new head no longer holds.
            for j in self.head - self.len + 1..=self.head.min(k - self.len) {
                let slot = j.rem_euclid(self.len) as usize;
                with_cells!(&self.cells, |v| {
                    for (sli, ring) in v.chunks_exact(len).enumerate() {
                        let c = ring[slot].counts();
                        if c.total > 0 {
                            evicted.push((sli, j, c));
                        }
                    }
                })
            }
        }
        for i in from..=k {
            let slot = i.rem_euclid(self.len) as usize;
            with_cells!(&mut self.cells, |v| {
                for ring in v.chunks_exact_mut(len) {
                    ring[slot] = Default::default();
                }
            })
        }
        self.head = k;
    }

    #[inline]
    pub fn add(&mut self, sli: usize, slot: usize, good: bool) {
        let i = sli * self.len as usize + slot;
        with_cells!(&mut self.cells, |v| v[i].bump(good))
    }

    /// Where one SLI's ring is in the cells.
    fn ring(&self, sli: usize) -> std::ops::Range<usize> {
        let len = self.len as usize;
        sli * len..(sli + 1) * len
    }

    /// The absolute indices `[first, last]` of the buckets overlapping `(now - window, now]`,
    /// clamped to what the ring holds (empty when `first > last`).
    #[inline]
    fn span(&self, window_ms: i64, now_ms: i64) -> (i64, i64) {
        let first = (now_ms - window_ms).div_euclid(self.res_ms).max(self.head - self.len + 1);
        let last = now_ms.div_euclid(self.res_ms).min(self.head);
        (first, last)
    }

    /// The buckets with absolute indices `[first, last]` (a range the ring holds, at most `len`
    /// long) as at most two contiguous slices of the ring, oldest first.
    #[inline]
    fn slices<'r, C>(&self, ring: &'r [C], first: i64, last: i64) -> (&'r [C], &'r [C]) {
        if first > last {
            return (&[], &[]);
        }
        let start = first.rem_euclid(self.len) as usize;
        let end = start + (last - first + 1) as usize;
        if end <= ring.len() {
            (&ring[start..end], &[])
        } else {
            (&ring[start..], &ring[..end - ring.len()])
        }
    }

    fn sum_range<C: Cell>(&self, ring: &[C], first: i64, last: i64) -> Counts {
        let (a, b) = self.slices(ring, first, last);
        let mut out = total(a);
        out.add(total(b));
        out
    }

    /// Sum of the buckets overlapping `(now - window, now]`.
    pub fn sum(&self, sli: usize, window_ms: i64, now_ms: i64) -> Counts {
        if self.head == i64::MIN {
            return Counts::default();
        }
        let (first, last) = self.span(window_ms, now_ms);
        with_cells!(&self.cells, |v| self.sum_range(&v[self.ring(sli)], first, last))
    }

    /// Sum of the buckets with absolute indices `[first, last]` that the ring holds.
    pub fn sum_indices(&self, sli: usize, first: i64, last: i64) -> Counts {
        if self.head == i64::MIN {
            return Counts::default();
        }
        let (first, last) = (first.max(self.head - self.len + 1), last.min(self.head));
        with_cells!(&self.cells, |v| self.sum_range(&v[self.ring(sli)], first, last))
    }

    /// Sum of the buckets starting in `[from_ms, to_ms)` (both on bucket edges), as far as the
    /// ring holds them: a time slice's events.
    pub fn sum_between(&self, sli: usize, from_ms: i64, to_ms: i64) -> Counts {
        self.sum_indices(sli, from_ms.div_euclid(self.res_ms), to_ms.div_euclid(self.res_ms) - 1)
    }

    /// Where the newest bucket any event reached ends; `None` before the first event.
    pub fn newest_end_ms(&self) -> Option<i64> {
        (self.head != i64::MIN).then(|| (self.head + 1) * self.res_ms)
    }

    /// [`Tier::sum`] for several windows at once, in one backward pass over the ring: the
    /// windows all end at `now`, so each one is the previous (shorter) one plus the buckets
    /// before it. `windows` is `(index into out, window_ms)` sorted by ascending `window_ms`.
    pub fn sums(&self, sli: usize, now_ms: i64, windows: &[(usize, i64)], out: &mut [Counts]) {
        if self.head == i64::MIN {
            for &(i, _) in windows {
                out[i] = Counts::default();
            }
            return;
        }
        with_cells!(&self.cells, |v| self.sums_in(&v[self.ring(sli)], now_ms, windows, out))
    }

    fn sums_in<C: Cell>(&self, ring: &[C], now_ms: i64, windows: &[(usize, i64)], out: &mut [Counts]) {
        let mut acc = Counts::default();
        let mut upper = i64::MAX;
        for &(i, window_ms) in windows {
            let (first, last) = self.span(window_ms, now_ms);
            let last = last.min(upper);
            if first <= last {
                acc.add(self.sum_range(ring, first, last));
                upper = first - 1;
            }
            out[i] = acc;
        }
    }

    /// Every bucket of one SLI overlapping `(now - window, now]`, oldest first, into `out`
    /// (replacing what it held): one entry per bucket index from the one holding `now - window`
    /// to the one holding `now`, the same buckets [`Tier::sum`] adds up, with zeros for those the
    /// ring no longer (or not yet) holds. Returns the absolute index of the first.
    pub fn each(&self, sli: usize, window_ms: i64, now_ms: i64, out: &mut Vec<Counts>) -> i64 {
        let first = (now_ms - window_ms).div_euclid(self.res_ms);
        let last = now_ms.div_euclid(self.res_ms);
        out.clear();
        if self.head == i64::MIN {
            out.resize((last - first + 1) as usize, Counts::default());
            return first;
        }
        let (held_from, held_to) = self.span(window_ms, now_ms);
        with_cells!(&self.cells, |v| {
            let ring = &v[self.ring(sli)];
            out.extend((first..=last).map(|k| {
                let held = held_from <= k && k <= held_to;
                if held {
                    ring[k.rem_euclid(self.len) as usize].counts()
                } else {
                    Counts::default()
                }
            }));
        });
        first
    }

    /// The non-empty buckets of one SLI as `(absolute index, counts)`, oldest first.
    pub fn buckets(&self, sli: usize) -> Box<dyn Iterator<Item = (i64, Counts)> + '_> {
        let (first, last) = if self.head == i64::MIN { (0, -1) } else { (self.head - self.len + 1, self.head) };
        with_cells!(&self.cells, |v| {
            let (a, b) = self.slices(&v[self.ring(sli)], first, last);
            Box::new((first..).zip(a.iter().chain(b).map(Cell::counts)).filter(|(_, c)| c.total > 0))
        })
    }

    /// Adds counts to the bucket with absolute index `k` (restoring a checkpoint); when older
    /// than the ring holds, ignored, or handed to the evicted buckets when they are kept (a
    /// checkpoint of a longer ring restored into a shorter one).
    pub fn add_bucket(&mut self, sli: usize, k: i64, counts: Counts) {
        if k > self.head {
            self.advance(k);
        } else if k <= self.head - self.len {
            if let Some(evicted) = self.evicted.as_mut().filter(|_| counts.total > 0) {
                evicted.push((sli, k, counts));
            }
            return;
        }
        let i = sli * self.len as usize + k.rem_euclid(self.len) as usize;
        with_cells!(&mut self.cells, |v| v[i].put(counts))
    }

    /// Empties one SLI's ring.
    pub fn clear(&mut self, sli: usize) {
        let ring = self.ring(sli);
        with_cells!(&mut self.cells, |v| v[ring].fill(Default::default()))
    }

    pub fn bytes_per_sli(&self) -> usize {
        self.len as usize
            * match self.cells {
                Cells::Narrow(_) => std::mem::size_of::<Narrow>(),
                Cells::Wide(_) => std::mem::size_of::<Counts>(),
            }
    }
}

/// Sum of a run of buckets, in two independent accumulators so the loop vectorises.
#[inline]
fn total<C: Cell>(buckets: &[C]) -> Counts {
    let (mut good, mut all) = (0u64, 0u64);
    for b in buckets {
        let c = b.counts();
        good += c.good;
        all += c.total;
    }
    Counts { good, total: all }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_buckets_saturate_instead_of_wrapping() {
        let mut t = Tier::new(1, 60_000, 3_600_000, 0, true);
        let slot = t.locate(0).unwrap();
        t.add_bucket(0, 0, Counts { good: u64::from(u32::MAX) - 1, total: u64::from(u32::MAX) - 1 });
        t.add(0, slot, true);
        assert_eq!(t.sum(0, 60_000, 0), Counts { good: u64::from(u32::MAX), total: u64::from(u32::MAX) });
        t.add(0, slot, true);
        t.add_bucket(0, 0, Counts { good: 5, total: 1 << 40 });
        assert_eq!(t.sum(0, 60_000, 0), Counts { good: u64::from(u32::MAX), total: u64::from(u32::MAX) });
        let mut wide = Tier::new(1, 60_000, 3_600_000, 0, false);
        wide.add_bucket(0, 0, Counts { good: 5, total: 1 << 40 });
        assert_eq!(wide.sum(0, 60_000, 0), Counts { good: 5, total: 1 << 40 });
    }
}
