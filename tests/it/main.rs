//! slostream's integration tests, one module per behaviour they guard, in ONE test binary: one
//! build, one link, and one shared Kafka broker for every test that needs the real one.
//!
//! The fast tier, [`in_process`], runs the whole pipeline in this process against librdkafka's
//! mock cluster: exact counts in seconds, without Java. Most other tests drive the real
//! `slostream` binary against a real Kafka broker
//! (`tests/kafka/broker.sh`; Java and Maven, no Docker), with a random topic and group per test,
//! a ground truth computed independently (`harness/truth.rs`, never slostream's library) and
//! exact assertions. The harness is `harness/`; its module doc says which file owns what.
//!
//! - [`in_process`]: every counter, SLO window, budget, alert and latency quantile of a mixed
//!   event set, exactly (the fast tier).
//! - [`exact_counts`]: the same event set through a real broker and the real binary: each message
//!   counted once, consumer lag 0 on every partition, a clean exit.
//! - [`readiness`]: `/ready` and the SLO series wait for partitions; `/metrics` stays fresh.
//! - [`shutdown`]: SIGTERM commits exactly what was counted; one instance per state directory.
//! - [`durability`]: kill -9 at random moments, graceful restarts, a broker crash and corrupt
//!   checkpoints lose and double-count nothing.
//! - [`rejected_messages`]: poison pills are counted once and never logged; the dead-letter topic
//!   holds exactly the rejects.
//! - [`kafka_edges`]: offsets lost to retention, SASL/SCRAM, a broker down at start, a broker
//!   that dies while the workers read.
//! - [`alerting`]: burn alerts in a real Alertmanager; a down or hanging one never blocks ingest.
//! - [`dashboards`]: every Grafana panel query returns data from a real Prometheus.
//! - [`rules`]: the generated Prometheus rules pass promtool's checks and unit tests.
//! - [`config_check`], [`compose`], [`sloth_compat`]: `slostream check`, docker-compose.yml, and
//!   the Sloth-compatible series (through the library).
//!
//! `tests/no_alloc.rs` is a binary of its own: it installs a counting global allocator, which
//! would count (and slow) every other test's allocations.

mod harness;

mod alerting;
mod compose;
mod config_check;
mod dashboards;
mod durability;
mod exact_counts;
mod in_process;
mod kafka_edges;
mod readiness;
mod rejected_messages;
mod rules;
mod shutdown;
mod sloth_compat;
