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

    /// Sum of the buckets overlapping `(now - window, now]`.
    pub fn sum(&self, sli: usize, window_ms: i64, now_ms: i64) -> Counts {
        if self.head == i64::MIN {
            return Counts::default();
        }
        let first = (now_ms - window_ms).div_euclid(self.res_ms).max(self.head - self.len + 1);
        let last = now_ms.div_euclid(self.res_ms).min(self.head);
        let ring = &self.buckets[sli * self.len as usize..(sli + 1) * self.len as usize];
        let mut out = Counts::default();
        for k in first..=last {
            let b = ring[k.rem_euclid(self.len) as usize];
            out.good += b.good;
            out.total += b.total;
        }
        out
    }

    /// The non-empty buckets of one SLI as `(absolute index, counts)`, oldest first.
    pub fn buckets(&self, sli: usize) -> impl Iterator<Item = (i64, Counts)> + '_ {
        let first = if self.head == i64::MIN { 0 } else { self.head - self.len + 1 };
        let last = if self.head == i64::MIN { -1 } else { self.head };
        let ring = &self.buckets[sli * self.len as usize..(sli + 1) * self.len as usize];
        (first..=last).map(move |k| (k, ring[k.rem_euclid(self.len) as usize])).filter(|(_, c)| c.total > 0)
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
