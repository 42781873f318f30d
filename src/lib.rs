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
//! Kafka ─► ingest ─► decode ─► classify ─► count ─► window ─► slo ─► export (/metrics)
//!                                            │                   └──► alert (Alertmanager)
//!                                            └── state (checkpoint: counts + offsets together)
//! ```
//!
//! - [`config`]: YAML → validated, typed config with dense SLI ids.
//! - [`ingest`]: librdkafka consumers on dedicated threads, each driving its worker's shard.
//! - [`decode`]: payload → the configured fields (borrowed) and the event time, or a reject reason.
//! - [`classify`]: fields → `(sli, good)` via conditions compiled against field slots.
//! - [`count`]: the worker's shard (decode → classify → batch, no lock per event), the shared
//!   tally (every worker's counts with the offsets they cover) and the snapshot a tick reads.
//! - [`window`]: exact event-time good/total in tiered buckets; latency quantiles.
//! - [`report`]: each SLO's good/total per closed calendar period, folded from the hourly
//!   buckets before they leave the window store (the period reports).
//! - [`slo`]: windows → combined ratios, burn rates, budget, alert state (pure math).
//! - [`export`]: a snapshot and its evaluation → Prometheus series; `/metrics`, `/ready`, `/health`.
//! - [`alert`]: evaluations → Alertmanager v2 alerts, in real time.
//! - [`state`]: checkpoints of the tally, written atomically, read back verified.
//! - [`pipeline`]: the only module that wires the stages; owns start, the evaluation tick,
//!   checkpoints and shutdown. Nothing imports it.
//! - [`names`]: every exported metric, label and alert name; [`time`]: the clock and RFC 3339.
//! - [`rules`]: the Prometheus rule file; [`loadgen`]: realistic traffic.
//! - [`openslo`]: the SLIs and SLOs as OpenSLO v1 documents, and back.
//!
//! Imports run one way: a module only imports modules before it in this order, which
//! `src/layering.rs` checks: time, names, loadgen (a traffic source, which the decode tests
//! also use), config, openslo (the config's definitions in another notation), decode, classify,
//! window, report, state, count, ingest, slo, export, alert, rules, pipeline. `count`, `window` and `slo`
//! take time as an argument and never read a clock.

#![warn(missing_docs)]

pub mod alert;
pub mod classify;
pub mod config;
pub mod count;
pub mod decode;
pub mod export;
pub mod ingest;
#[cfg(test)]
mod layering;
pub mod loadgen;
pub mod names;
pub mod openslo;
pub mod pipeline;
pub mod report;
pub mod rules;
pub mod slo;
pub mod state;
pub mod time;
pub mod window;
