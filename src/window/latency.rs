//! Latency quantiles over the last five minutes of event time, per SLI.
//!
//! SLOs never use these (latency SLIs are threshold counts decided per event); they are for the
//! "how slow is it now" panels. Each SLI keeps five one-minute histograms rotating by event
//! minute: a latency counts while its event minute is one of the five newest minutes up to
//! `now`, i.e. `(now - 5 min, now]` by minute.
//!
//! # Resolution
//!
//! The bins are exactly those of `new_histogram` (an HdrHistogram the tests compare against):
//! microseconds from 1 µs to 1 h (longer latencies are recorded as 1 h), two significant digits,
//! so a reported quantile is the highest value of its bin, at most 1/128 (under 1%) above the
//! true value. Merged into a [`Histogram`](hdrhistogram::Histogram) they give the same quantiles
//! as recording every latency into it.
//!
//! # Memory
//!
//! A dense histogram at this resolution is 3,328 counters (26.6 KB); five per SLI was 133 KB. A
//! minute of one SLI's latencies fills only the bins between its fastest and slowest request,
//! so each minute here is a table of 52 blocks of 64 bins, and a block is taken from a pool
//! shared by all SLIs on the first latency that falls in it, and given back (zeroed)
//! when its minute rotates out. Per SLI that is 1.1 KB of tables plus 256 bytes per block in use
//! (a latency spread over 5 octaves with a sparse tail uses about 10 blocks a minute: 13 KB
//! for five minutes). The pool reserves address space for every block that could ever be in
//! use when it is created (up to 1 GiB; pages never written cost no memory), so recording never
//! reallocates.
//!
//! Time is always an argument: nothing here reads a clock.

#[cfg(test)]
use hdrhistogram::Histogram;

/// Microseconds, up to one hour, two significant digits (1% relative error): the HdrHistogram
/// whose bins [`LatencyWindows`] counts in, and against which its quantiles are tested.
#[cfg(test)]
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 2).expect("static histogram bounds")
}

const MAX_US: u64 = 3_600_000_000;
const MINUTES: usize = 5;
const MINUTE_MS: i64 = 60_000;

/// HdrHistogram's index for 2 significant digits and a 1 µs unit: 256 sub-buckets, the first
/// bucket linear (index = value for values below 256), then 128 bins per doubling.
const HALF_MAGNITUDE: u32 = 7;
const BLOCK_BITS: u32 = 6;
const BLOCK: usize = 1 << BLOCK_BITS;
/// Bins needed up to [`MAX_US`], in whole blocks (3,328: what `new_histogram` allocates).
const BINS: usize = bin(MAX_US) / BLOCK * BLOCK + BLOCK;
const BLOCKS: usize = BINS / BLOCK;
const NONE: u32 = u32::MAX;
/// Address space reserved for pool blocks at most (1 GiB).
const RESERVE_MAX_BLOCKS: usize = (1 << 30) / (BLOCK * 4);

/// The bin of a value in `1..=MAX_US`, as HdrHistogram computes its counts index.
#[inline]
const fn bin(us: u64) -> usize {
    let bucket = 64 - (HALF_MAGNITUDE + 1) - (us | 0xff).leading_zeros();
    ((bucket << HALF_MAGNITUDE) as u64 + (us >> bucket)) as usize
}

/// The lowest value of a bin (the inverse of [`bin`]).
#[inline]
fn bin_value(bin: usize) -> u64 {
    let half = 1 << HALF_MAGNITUDE;
    if bin < 2 * half {
        return bin as u64;
    }
    let bucket = (bin >> HALF_MAGNITUDE) - 1;
    ((bin - (bucket << HALF_MAGNITUDE)) as u64) << bucket
}

/// The highest value of a bin: what a quantile falling in it reports (as HdrHistogram's
/// `value_at_quantile` does).
#[inline]
fn bin_highest(bin: usize) -> u64 {
    bin_value(bin + 1) - 1
}

/// A latency's bin, computed where the event is decoded so that batches carry 16 bits, not a
/// float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bin(pub(crate) u16);

impl Bin {
    /// Milliseconds to the bin of their microseconds, clamped to `1 µs..=1 h`.
    #[inline]
    pub(crate) fn of_ms(latency_ms: f64) -> Bin {
        Bin(bin((latency_ms * 1000.0).round().clamp(1.0, MAX_US as f64) as u64) as u16)
    }
}

/// One SLI's latencies of one event minute: the pool block holding each run of 64 bins.
#[derive(Debug, Clone)]
struct Minute {
    at: i64,
    /// Latencies recorded in this minute.
    count: u64,
    blocks: [u32; BLOCKS],
}

impl Minute {
    const EMPTY: Minute = Minute { at: i64::MIN, count: 0, blocks: [NONE; BLOCKS] };
}

/// Zeroed blocks of 64 bin counts, shared by every SLI.
#[derive(Debug, Default)]
struct Pool {
    blocks: Vec<[u32; BLOCK]>,
    free: Vec<u32>,
}

impl Pool {
    fn with_capacity(blocks: usize) -> Pool {
        Pool { blocks: Vec::with_capacity(blocks), free: Vec::with_capacity(blocks) }
    }

    #[inline]
    fn take(&mut self) -> u32 {
        self.free.pop().unwrap_or_else(|| {
            self.blocks.push([0; BLOCK]);
            (self.blocks.len() - 1) as u32
        })
    }

    fn release(&mut self, blocks: &mut [u32; BLOCKS]) {
        for b in blocks.iter_mut().filter(|b| **b != NONE) {
            self.blocks[*b as usize] = [0; BLOCK];
            self.free.push(*b);
            *b = NONE;
        }
    }

    fn in_use(&self) -> usize {
        self.blocks.len() - self.free.len()
    }
}

/// The last five minutes of latencies of every SLI.
#[derive(Debug)]
pub struct LatencyWindows {
    /// `[sli * MINUTES + minute % MINUTES]`.
    minutes: Vec<Minute>,
    /// Per SLI, latencies recorded so far: unchanged means the SLI's minutes are unchanged.
    recorded: Vec<u64>,
    pool: Pool,
}

impl LatencyWindows {
    /// Empty windows for `slis` SLIs.
    pub(crate) fn new(slis: usize) -> LatencyWindows {
        LatencyWindows {
            minutes: vec![Minute::EMPTY; slis * MINUTES],
            recorded: vec![0; slis],
            pool: Pool::with_capacity((slis * MINUTES * BLOCKS).min(RESERVE_MAX_BLOCKS)),
        }
    }

    /// Records one latency of `sli` in milliseconds at its event time.
    #[cfg(test)]
    pub(crate) fn record(&mut self, sli: usize, ts_ms: i64, latency_ms: f64) {
        self.record_bin(sli, ts_ms, Bin::of_ms(latency_ms));
    }

    /// Records one latency of `sli`, already binned, at its event time.
    #[inline]
    pub(crate) fn record_bin(&mut self, sli: usize, ts_ms: i64, bin: Bin) {
        self.record_bins(sli, ts_ms, bin, 1);
    }

    /// Records `n` latencies of `sli` in one bin at one event minute (`ts_ms` any time in it):
    /// what folding another process's latency counts does.
    #[inline]
    pub(crate) fn record_bins(&mut self, sli: usize, ts_ms: i64, bin: Bin, n: u32) {
        let minute = ts_ms.div_euclid(MINUTE_MS);
        let m = &mut self.minutes[sli * MINUTES + minute.rem_euclid(MINUTES as i64) as usize];
        if minute > m.at {
            self.pool.release(&mut m.blocks);
            m.at = minute;
            m.count = 0;
        } else if minute < m.at {
            return; // older than the ring holds
        }
        m.count += u64::from(n);
        let bin = usize::from(bin.0);
        let block = &mut m.blocks[bin >> BLOCK_BITS];
        if *block == NONE {
            *block = self.pool.take();
        }
        let count = &mut self.pool.blocks[*block as usize][bin & (BLOCK - 1)];
        *count = count.saturating_add(n);
        self.recorded[sli] += u64::from(n);
    }

    /// What [`LatencyWindows::quantiles`] of `sli` at `now_ms` depends on: the latencies
    /// recorded so far and `now`'s minute. While the stamp stays the same, so do the quantiles.
    pub(crate) fn stamp(&self, sli: usize, now_ms: i64) -> (u64, i64) {
        (self.recorded[sli], now_ms.div_euclid(MINUTE_MS))
    }

    /// Quantiles of `sli`'s latencies in the minutes `(now - 5 min, now]`, by nearest rank, each
    /// the highest value of its bin (as HdrHistogram reports them); `None` when there were none.
    /// One pass over the blocks in use, with no histogram built: the exporter runs this for every
    /// SLI whose latencies changed, every tick.
    pub(crate) fn quantiles<const N: usize>(&self, sli: usize, now_ms: i64, qs: [f64; N]) -> Option<[u64; N]> {
        let now = now_ms.div_euclid(MINUTE_MS);
        let mut held = [&Minute::EMPTY; MINUTES];
        let mut n = 0;
        for m in &self.minutes[sli * MINUTES..(sli + 1) * MINUTES] {
            if m.at > now - MINUTES as i64 && m.at <= now && m.count > 0 {
                held[n] = m;
                n += 1;
            }
        }
        let live = &held[..n];
        let total: u64 = live.iter().map(|m| m.count).sum();
        if total == 0 {
            return None;
        }
        let ranks = qs.map(|q| ((q * total as f64).ceil() as u64).clamp(1, total));
        let mut out = [0u64; N];
        let (mut seen, mut next) = (0u64, 0usize);
        for block in 0..BLOCKS {
            let mut bins = [0u64; BLOCK];
            let mut any = false;
            for m in live {
                if let Some(b) = self.pool.blocks.get(m.blocks[block] as usize) {
                    any = true;
                    for (sum, &n) in bins.iter_mut().zip(b) {
                        *sum += u64::from(n);
                    }
                }
            }
            if !any {
                continue;
            }
            for (j, &n) in bins.iter().enumerate().filter(|(_, n)| **n > 0) {
                seen += n;
                while next < N && seen >= ranks[next] {
                    out[next] = bin_highest(block * BLOCK + j);
                    next += 1;
                }
                if next == N {
                    return Some(out);
                }
            }
        }
        // Only reached if a bin count saturated; the highest recorded bin answers the rest.
        let last = out[next.saturating_sub(1)];
        out[next..].fill(last);
        Some(out)
    }

    /// Adds the minutes `(now - 5 min, now]` of `sli` into `out` (a [`new_histogram`]); false
    /// when there was nothing to add.
    #[cfg(test)]
    pub(crate) fn merge_into(&self, sli: usize, now_ms: i64, out: &mut Histogram<u64>) -> bool {
        let now = now_ms.div_euclid(MINUTE_MS);
        let mut any = false;
        for m in &self.minutes[sli * MINUTES..(sli + 1) * MINUTES] {
            if m.at <= now - MINUTES as i64 || m.at > now {
                continue;
            }
            for (i, &b) in m.blocks.iter().enumerate().filter(|(_, b)| **b != NONE) {
                for (j, &n) in self.pool.blocks[b as usize].iter().enumerate().filter(|(_, n)| **n > 0) {
                    out.saturating_record_n(bin_value(i * BLOCK + j), u64::from(n));
                    any = true;
                }
            }
        }
        any
    }

    /// Memory per SLI: the fixed tables, plus the blocks in use now spread over the SLIs.
    pub fn bytes_per_sli(&self) -> usize {
        let slis = self.recorded.len().max(1);
        MINUTES * std::mem::size_of::<Minute>()
            + std::mem::size_of::<u64>()
            + self.pool.in_use() * std::mem::size_of::<[u32; BLOCK]>() / slis
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_hdrhistograms() {
        let h = new_histogram();
        assert_eq!(BINS, h.distinct_values());
        let mut v = 1u64;
        while v <= MAX_US {
            for x in [v, v + 1, v * 3 / 2, (v * 2).saturating_sub(1)].into_iter().filter(|&x| (1..=MAX_US).contains(&x))
            {
                assert_eq!(bin_value(bin(x)), h.lowest_equivalent(x), "{x}");
                assert!(bin(x) < BINS);
            }
            v *= 2;
        }
        for b in 0..BINS {
            assert_eq!(bin(bin_value(b).max(1)), b.max(1), "bin {b}");
        }
    }

    #[test]
    fn quantiles_cover_the_last_five_minutes_only() {
        let t0 = 1_795_694_400_000;
        let mut w = LatencyWindows::new(2);
        for i in 1..=100 {
            w.record(1, t0, i as f64);
        }
        w.record(1, t0 - 10 * MINUTE_MS, 10_000.0); // too old: its slot is reused
        let mut h = new_histogram();
        assert!(w.merge_into(1, t0, &mut h));
        assert!(!w.merge_into(0, t0, &mut h));
        assert_eq!(h.len(), 100);
        let p99 = h.value_at_quantile(0.99) as f64 / 1000.0;
        assert!((p99 - 99.0).abs() <= 1.0, "{p99}");
        let mut later = new_histogram();
        assert!(!w.merge_into(1, t0 + 5 * MINUTE_MS, &mut later));
    }

    /// Against every latency recorded straight into one HdrHistogram: the same counts in the
    /// same bins, minute by minute as the ring rotates, and rotated-out blocks are reused.
    #[test]
    fn agrees_with_one_histogram_of_the_live_minutes() {
        let t0: i64 = 1_795_694_400_000;
        let mut w = LatencyWindows::new(3);
        let mut all: Vec<(usize, i64, f64)> = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for step in 0..20_000i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let now = t0 + step * 60;
            let ts = now - (x % 200_000) as i64;
            let ms = match x % 7 {
                0 => 0.0,
                1 => 5e6,
                _ => ((x >> 8) % 1_000_000) as f64 / 997.0,
            };
            let sli = (x % 3) as usize;
            w.record(sli, ts, ms);
            all.push((sli, ts, ms));
            if step % 1_000 == 999 {
                for sli in 0..3 {
                    let mut got = new_histogram();
                    w.merge_into(sli, now, &mut got);
                    let mut want = new_histogram();
                    let live = |ts: i64| {
                        let (m, n) = (ts.div_euclid(MINUTE_MS), now.div_euclid(MINUTE_MS));
                        m > n - MINUTES as i64 && m <= n
                    };
                    // Only the newest minute per slot survives: a late event of a rotated-out
                    // minute is dropped, so compare against the minutes the ring holds.
                    let held: Vec<i64> = w.minutes[sli * MINUTES..(sli + 1) * MINUTES].iter().map(|m| m.at).collect();
                    for &(s, ts, ms) in &all {
                        if s == sli && live(ts) && held.contains(&ts.div_euclid(MINUTE_MS)) {
                            want.saturating_record((ms * 1000.0).round().clamp(1.0, MAX_US as f64) as u64);
                        }
                    }
                    assert_eq!(got, want, "sli {sli} at step {step}");
                    let qs = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0];
                    let expected = (!want.is_empty()).then(|| qs.map(|q| want.value_at_quantile(q).max(want.min())));
                    let expected = expected.map(|e| e.map(|v| want.highest_equivalent(v)));
                    assert_eq!(w.quantiles(sli, now, qs), expected, "quantiles of sli {sli} at step {step}");
                }
            }
        }
        assert!(w.pool.in_use() <= w.pool.blocks.len());
        assert!(w.pool.blocks.len() < 3 * MINUTES * BLOCKS);
    }
}
