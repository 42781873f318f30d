//! One worker's hot path: payload → decode → classify → batch, into buffers it owns alone.
//!
//! A shard is never shared while it works: no lock, no atomic, no `metrics` call and no
//! allocation per event. Its batch and counters go to the shared [`Tally`] a few times a second,
//! under the tally's lock (once per hand-over, never per event).

use crate::classify::Classifier;
use crate::config::Config;
use crate::decode::{Decoder, Reject, SlotBuffer};
use crate::state::delta_record::DeltaRecord;
use crate::state::Counters;
use crate::window::batch::Batch;
use crate::window::breakdown::BreakdownEvent;
use crate::window::latency::Bin;

use super::combination::Combinations;
use super::tally::{Cut, Tally};

/// Matched events a batch holds before its worker must hand it over (16 B each: 1 MiB).
pub const BATCH_EVENTS: usize = 1 << 16;

/// One worker's decoder, classifier and the counts since its last hand-over.
#[derive(Debug)]
pub struct Shard {
    decoder: Decoder,
    classifier: Classifier,
    slots: SlotBuffer,
    batch: Batch,
    /// Consumed, rejected, unmatched and in maintenance since the last hand-over (per-SLI totals
    /// are counted from the batch when it is handed over).
    counters: Counters,
    /// Which value combination each event of an SLI with a `breakdown:` belongs to.
    combinations: Combinations,
    /// Events of SLIs with a `breakdown:` since the last hand-over (at most one per batch entry).
    breakdown: Vec<BreakdownEvent>,
    /// The clock of the newest message, for the hand-over.
    now_ms: i64,
    /// Combinations quiet for this long free their slot (the longest period).
    period_ms: i64,
}

impl Shard {
    /// A shard with its decoder and classifier compiled from `config`, and an empty batch.
    pub fn new(config: &Config) -> Shard {
        let decoder = Decoder::new(config);
        let classifier = Classifier::new(config, &decoder);
        let combinations = Combinations::new(config, &decoder);
        let breakdown_capacity = if combinations.any() { BATCH_EVENTS + config.slis.len() } else { 0 };
        Shard {
            combinations,
            breakdown: Vec::with_capacity(breakdown_capacity),
            now_ms: i64::MIN,
            period_ms: config.max_period_secs() * 1000,
            decoder,
            classifier,
            slots: SlotBuffer::default(),
            // Room for a full batch plus one message matching every SLI, so pushing never grows it.
            batch: Batch::with_capacity(BATCH_EVENTS + config.slis.len()),
            counters: Counters::new(0, config.condition_fields().len(), config.maintenance.len()),
        }
    }

    /// Decodes and classifies one message into the batch; returns why it was rejected, if it
    /// was. `now_ms` is the wall clock, read by the caller (not per event).
    #[inline]
    pub fn process(&mut self, payload: &[u8], now_ms: i64) -> Option<Reject> {
        self.counters.consumed += 1;
        self.now_ms = now_ms;
        let Shard { decoder, classifier, slots, batch, counters, combinations, breakdown, .. } = self;
        slots.with(|slots| match decoder.decode(payload, now_ms, slots) {
            Err(reason) => {
                counters.rejected[reason.index()] += 1;
                Some(reason)
            }
            Ok(event) => {
                for field in decoder.mismatched_fields(slots) {
                    counters.type_mismatches[field] += 1;
                }
                // In a maintenance window: in no SLI, breakdown or latency, and not unmatched.
                if let Some(window) = classifier.maintenance(slots, event.ts_ms) {
                    counters.in_maintenance[window] += 1;
                    return None;
                }
                counters.latency_invalid += u64::from(event.latency_invalid);
                let latency = event.latency_ms.map(Bin::of_ms);
                let matched = classifier.classify(slots, |sli, good| {
                    batch.push(sli, event.ts_ms, good, latency);
                    if let Some((bd, hash)) = combinations.of(sli, slots) {
                        breakdown.push(BreakdownEvent { hash, ts_ms: event.ts_ms, bd, good });
                    }
                });
                if matched == 0 {
                    counters.unmatched += 1;
                }
                None
            }
        })
    }

    /// The event time of a message, without counting it (`None`: it would be rejected). For the
    /// odd message whose time matters on its own: the first a history rebuild reads of a
    /// partition that retention cut.
    pub fn event_time(&mut self, payload: &[u8], now_ms: i64) -> Option<i64> {
        let Shard { decoder, slots, .. } = self;
        slots.with(|slots| decoder.decode(payload, now_ms, slots).ok().map(|e| e.ts_ms))
    }

    /// Counts a rejected message written to the dead-letter topic.
    pub fn count_dead_letter(&mut self) {
        self.counters.dead_letters += 1;
    }

    /// Whether the batch must be handed over before the next message.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.batch.len() >= BATCH_EVENTS
    }

    /// Everything since the last hand-over as a delta record (what an ingest member commits
    /// instead of handing over to a tally), leaving the shard empty: counts, latencies,
    /// counters, and each breakdown's new combinations and buckets.
    pub fn take_delta(&mut self, into: &mut DeltaRecord) {
        self.batch.drain_into_delta(&mut into.delta);
        into.counters.add(&self.counters);
        self.counters.clear();
        let delta = &mut into.delta;
        for (bd, hash, texts) in self.combinations.announced.iter() {
            delta.combinations.push((bd as u32, hash, texts.as_slice().iter().map(|t| Box::from(*t)).collect()));
        }
        self.combinations.announced.clear();
        for e in self.breakdown.drain(..) {
            delta.record_breakdown(e.bd, e.hash, e.ts_ms, e.good);
        }
        delta.now_ms = delta.now_ms.max(self.now_ms);
    }

    /// Adds everything since the last hand-over to the tally, with the offsets it covers.
    pub fn hand_over(&mut self, tally: &mut Tally, worker: usize, cut: Cut<'_>) {
        tally.hand_over(worker, &mut self.batch, &mut self.counters, cut);
        if self.combinations.any() {
            let announced = &mut self.combinations.announced;
            tally.breakdowns.add(announced.iter(), &self.breakdown, self.now_ms, self.period_ms);
            announced.clear();
            self.breakdown.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::window::latency::LatencyWindows;
    use crate::window::{Counts, WindowStore};

    const NOW: i64 = 1_795_694_400_000;
    const MIN: i64 = 60_000;

    /// Events in a maintenance window that match it reach no SLI, are not unmatched, and are
    /// counted for the first window that claims them; every other event is counted as before.
    /// The expectation lists the occurrences by hand instead of using the schedule's arithmetic.
    #[test]
    fn events_in_maintenance_are_counted_apart_and_in_no_sli() {
        let start = NOW - 6 * 60 * MIN;
        let at = |ms: i64| {
            let mut out = String::new();
            crate::time::format_rfc3339_ms(ms, &mut out);
            out
        };
        let yaml = format!(
            "kafka: {{ brokers: b, topics: [t], group_id: g }}\n\
             slis:\n  all: {{ match: {{ service: [booking, geo] }}, good: {{ status: {{ lt: 500 }} }} }}\n  booking: {{ match: {{ service: booking }}, good: {{ status: {{ lt: 500 }} }} }}\n\
             slos:\n  s: {{ objective: 99, period: 1d, slis: [all, booking] }}\n\
             maintenance:\n\
             - {{ name: booking-deploys, match: {{ service: booking }}, start: \"{}\", duration: 10m, every: 30m, until: \"{}\" }}\n\
             - {{ name: everything, start: \"{}\", duration: 45m }}\n",
            at(start),
            at(start + 4 * 60 * MIN),
            at(start + 20 * MIN),
        );
        let config = Config::from_yaml(&yaml, "m.yaml").unwrap();
        // The occurrences, written out: booking's every 30 minutes for 4 hours, then the one-off.
        let booking: Vec<(i64, i64)> =
            (0..8).map(|k| (start + k * 30 * MIN, start + k * 30 * MIN + 10 * MIN)).collect();
        let everything = (start + 20 * MIN, start + 65 * MIN);
        let inside = |(from, to): (i64, i64), ts: i64| from <= ts && ts < to;

        let mut rng = SmallRng::seed_from_u64(5);
        let mut shard = Shard::new(&config);
        let (mut want_totals, mut want_maintenance, mut want_unmatched) = ([Counts::default(); 2], [0u64; 2], 0);
        for _ in 0..20_000 {
            // Times over 6 hours, often right at an occurrence's edge.
            let ts = if rng.random_bool(0.3) {
                let edges = [start, start + 10 * MIN, start + 20 * MIN, start + 65 * MIN, start + 4 * 60 * MIN];
                edges[rng.random_range(0..edges.len())] + rng.random_range(-1..=1)
            } else {
                start - 30 * MIN + rng.random_range(0..6 * 60 * MIN)
            };
            let service = ["booking", "geo", "other"][rng.random_range(0..3)];
            let status = [200, 503][rng.random_range(0..2)];
            let has_status = rng.random_bool(0.95);
            let payload = if !has_status {
                format!(r#"{{"timestamp":{ts},"service":"{service}"}}"#)
            } else {
                format!(r#"{{"timestamp":{ts},"service":"{service}","status":{status}}}"#)
            };
            assert_eq!(shard.process(payload.as_bytes(), NOW), None, "{payload}");
            if service == "booking" && booking.iter().any(|&o| inside(o, ts)) {
                want_maintenance[0] += 1;
            } else if inside(everything, ts) {
                want_maintenance[1] += 1;
            } else if service == "other" {
                want_unmatched += 1;
            } else {
                let good = has_status && status < 500;
                for (sli, belongs) in [(0, true), (1, service == "booking")] {
                    if belongs {
                        want_totals[sli].total += 1;
                        want_totals[sli].good += u64::from(good);
                    }
                }
            }
        }
        // What a hand-over does with the batch (the tally's hand-over also needs a clock).
        let mut store = WindowStore::new(2, 86_400_000, config.events.max_future_ms);
        let mut totals = vec![Counts::default(); 2];
        shard.batch.drain_into(&mut store, &mut LatencyWindows::new(2), &mut totals, &mut Default::default());
        let c = &shard.counters;
        assert_eq!(c.consumed, 20_000);
        assert_eq!(c.in_maintenance, want_maintenance);
        assert!(want_maintenance.iter().all(|&n| n > 500), "both windows claim events: {want_maintenance:?}");
        assert_eq!(totals, want_totals);
        assert_eq!(c.unmatched, want_unmatched, "an event in maintenance is not unmatched");
        let day = store.count(0, 86_400_000, NOW);
        assert_eq!(day, want_totals[0], "the windows hold exactly the events outside maintenance");
    }
}
