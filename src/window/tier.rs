//! One resolution of the window store: a ring of buckets per SLI sharing one head.

use super::Counts;

/// A ring of `len` buckets of `res_ms` each, for every SLI. Bucket index `k` covers event times
/// `[k * res_ms, (k + 1) * res_ms)` and lives in slot `k % len`; the ring holds indices
/// `(head - len, head]`, `head` being the newest index any event has reached.
#[derive(Debug, Clone)]
pub struct Tier {
    pub res_ms: i64,
    pub len: i64,
    head: i64,
    /// `[sli * len + slot]`: one SLI's ring is contiguous, so a window sum is a linear scan.
    buckets: Vec<Counts>,
}

impl Tier {
    /// A tier able to answer windows up to `span_ms` for `now` up to `future_ms` behind the head.
    pub fn new(slis: usize, res_ms: i64, span_ms: i64, future_ms: i64) -> Tier {
        let len = (span_ms + res_ms - 1) / res_ms + (future_ms + res_ms - 1) / res_ms + 2;
        Tier { res_ms, len, head: i64::MIN, buckets: vec![Counts::default(); slis * len as usize] }
    }

    pub fn slis(&self) -> usize {
        self.buckets.len() / self.len as usize
    }

    pub fn span_ms(&self) -> i64 {
        (self.len - 2) * self.res_ms
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
        for i in from..=k {
            let slot = i.rem_euclid(self.len) as usize;
            for ring in self.buckets.chunks_exact_mut(len) {
                ring[slot] = Counts::default();
            }
        }
        self.head = k;
    }

    #[inline]
    pub fn add(&mut self, sli: usize, slot: usize, good: bool) {
        let b = &mut self.buckets[sli * self.len as usize + slot];
        b.total += 1;
        b.good += u64::from(good);
    }

    fn ring(&self, sli: usize) -> &[Counts] {
        let len = self.len as usize;
        &self.buckets[sli * len..(sli + 1) * len]
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
    fn slices<'r>(&self, ring: &'r [Counts], first: i64, last: i64) -> (&'r [Counts], &'r [Counts]) {
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

    fn sum_range(&self, ring: &[Counts], first: i64, last: i64) -> Counts {
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
        self.sum_range(self.ring(sli), first, last)
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
        let ring = self.ring(sli);
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

    /// The non-empty buckets of one SLI as `(absolute index, counts)`, oldest first.
    pub fn buckets(&self, sli: usize) -> impl Iterator<Item = (i64, Counts)> + '_ {
        let (first, last) = if self.head == i64::MIN { (0, -1) } else { (self.head - self.len + 1, self.head) };
        let (a, b) = self.slices(self.ring(sli), first, last);
        (first..).zip(a.iter().chain(b).copied()).filter(|(_, c)| c.total > 0)
    }

    /// Adds counts to the bucket with absolute index `k` (restoring a checkpoint, merging
    /// stores); ignored when older than the ring holds.
    pub fn add_bucket(&mut self, sli: usize, k: i64, counts: Counts) {
        if k > self.head {
            self.advance(k);
        } else if k <= self.head - self.len {
            return;
        }
        self.buckets[sli * self.len as usize + k.rem_euclid(self.len) as usize].add(counts);
    }

    pub fn bytes_per_sli(&self) -> usize {
        self.len as usize * std::mem::size_of::<Counts>()
    }
}

/// Sum of a run of buckets, in two independent accumulators so the loop vectorises.
#[inline]
fn total(buckets: &[Counts]) -> Counts {
    let (mut good, mut all) = (0u64, 0u64);
    for b in buckets {
        good += b.good;
        all += b.total;
    }
    Counts { good, total: all }
}
