//! Latency quantiles over the last five minutes of event time, per SLI.
//!
//! SLOs never use these (latency SLIs are threshold counts decided per event); they are for the
//! "how slow is it now" panels. Five one-minute HdrHistograms rotate by event minute, created on
//! the first latency an SLI sees, with fixed bounds so recording never allocates.

use hdrhistogram::Histogram;

/// Microseconds, up to one hour, two significant digits (1% relative error).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("static histogram bounds")
}

const MINUTES: usize = 5;
const MINUTE_MS: i64 = 60_000;

#[derive(Debug, Default)]
pub struct LatencyWindow {
    ring: Option<Box<[(i64, Histogram<u64>); MINUTES]>>,
}

impl LatencyWindow {
    #[inline]
    pub fn record(&mut self, ts_ms: i64, latency_ms: f64) {
        let minute = ts_ms.div_euclid(MINUTE_MS);
        let ring = self.ring.get_or_insert_with(|| Box::new(std::array::from_fn(|_| (i64::MIN, new_histogram()))));
        let (at, hist) = &mut ring[minute.rem_euclid(MINUTES as i64) as usize];
        if minute > *at {
            hist.reset();
            *at = minute;
        } else if minute < *at {
            return; // older than the ring holds
        }
        hist.saturating_record((latency_ms * 1000.0).round().clamp(1.0, 3.6e9) as u64);
    }

    /// Adds the minutes `(now - 5 min, now]` into `out`; false when there was nothing to add.
    pub fn merge_into(&self, now_ms: i64, out: &mut Histogram<u64>) -> bool {
        let Some(ring) = &self.ring else { return false };
        let now = now_ms.div_euclid(MINUTE_MS);
        let mut any = false;
        for (minute, hist) in ring.iter() {
            if *minute > now - MINUTES as i64 && *minute <= now && !hist.is_empty() {
                out.add(hist).expect("histograms share bounds");
                any = true;
            }
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_cover_the_last_five_minutes_only() {
        let t0 = 1_795_694_400_000;
        let mut w = LatencyWindow::default();
        for i in 1..=100 {
            w.record(t0, i as f64);
        }
        w.record(t0 - 10 * MINUTE_MS, 10_000.0); // too old: its slot is reused
        let mut h = new_histogram();
        assert!(w.merge_into(t0, &mut h));
        assert_eq!(h.len(), 100);
        let p99 = h.value_at_quantile(0.99) as f64 / 1000.0;
        assert!((p99 - 99.0).abs() <= 1.0, "{p99}");
        let mut later = new_histogram();
        assert!(!w.merge_into(t0 + 5 * MINUTE_MS, &mut later));
    }
}
