//! One worker's hot path: payload → decode → classify → batch, into buffers it owns alone.
//!
//! A shard is never shared while it works: no lock, no atomic, no `metrics` call and no
//! allocation per event. Its batch and counters go to the shared [`Tally`] a few times a second,
//! under the tally's lock (once per hand-over, never per event).

use crate::classify::Classifier;
use crate::config::Config;
use crate::decode::{Decoder, Reject, SlotBuffer};
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
    /// Consumed, rejected and unmatched since the last hand-over (per-SLI totals are counted from
    /// the batch when it is handed over).
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
            counters: Counters::new(0, config.condition_fields().len()),
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

    /// Counts a rejected message written to the dead-letter topic.
    pub fn count_dead_letter(&mut self) {
        self.counters.dead_letters += 1;
    }

    /// Whether the batch must be handed over before the next message.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.batch.len() >= BATCH_EVENTS
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
