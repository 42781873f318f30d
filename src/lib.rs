//! slostream: a streaming SLO engine.
//!
//! Services publish one JSON event per request to Kafka; slostream decides for each event which
//! SLIs it belongs to and whether it was good, keeps exact event-time good/total counts over
//! rolling windows up to the SLO period, combines SLIs into one SLO per user-facing feature and
//! exports objectives, ratios, budgets, burn rates and multiwindow alerts to Prometheus.
//!
//! # Layout (the data flow)
//!
//! ```text
//! Kafka ─► ingest ─► decode ─► classify ─► window ─► slo ─► export (/metrics)
//! ```
//!
//! - [`config`]: YAML → validated, typed config with dense SLI ids.
//! - [`ingest`]: librdkafka consumers on dedicated threads, offsets stored after counting.
//! - [`decode`]: payload → the configured fields (borrowed) and the event time, or a reject reason.
//! - [`classify`]: fields → `(sli, good)` via conditions compiled against field slots.
//! - [`window`]: exact event-time good/total in tiered buckets; latency quantiles; the batches
//!   workers fill without a lock and hand over to the shared tally.
//! - [`slo`]: windows → combined ratios, burn rates, budget, alert state (pure math).
//! - [`export`]: the tally and worker views → Prometheus series; `/metrics`, `/ready`, `/health`.
//! - [`pipeline`]: wires the stages, holds the tally (every worker's counts with the offsets
//!   they cover), and owns checkpoints, start-up and shutdown.
//! - [`loadgen`] and [`demo`]: realistic traffic, and the whole pipeline on an in-process broker.

pub mod alert;
pub mod classify;
pub mod config;
pub mod decode;
pub mod demo;
pub mod export;
pub mod ingest;
pub mod loadgen;
pub mod pipeline;
pub mod rules;
pub mod slo;
pub mod state;
pub mod window;
