//! slostream's integration tests, one module per behaviour they guard, in ONE test binary: one
//! build, one link, and one shared Kafka broker for every test that needs the real one.
//!
//! The fast tier, [`in_process`], runs the whole pipeline in this process against librdkafka's
//! mock cluster: counting, readiness, restarts, committed offsets and rejects, exactly, in
//! seconds, without Java. Most other tests drive the real `slostream` binary against a real
//! Kafka broker (`tests/kafka/broker.sh`; Java and Maven, no Docker). Both tiers use a random
//! topic and group per test, a ground truth computed independently (`harness/truth.rs`, never
//! slostream's library) and exact assertions. The harness is `harness/`; its module doc says
//! which file owns what.
//!
//! - [`in_process`] (the fast tier): every counter, SLO window, budget, alert and latency quantile
//!   of a mixed event set; `/ready` and the SLO series wait for partitions; a stop and restart
//!   count exactly, the offsets committed at shutdown are what was counted and a restart counts
//!   only new events; poison pills are each counted once by reason and the dead-letter topic
//!   holds exactly the rejects.
//! - [`exact_counts`]: the same event set through a real broker and the real binary: each message
//!   counted once, consumer lag 0 on every partition, a clean exit.
//! - [`readiness`]: `/metrics` stays fresh under a steady trickle.
//! - [`shutdown`]: SIGTERM commits exactly what was counted, within the grace period; one
//!   instance per state directory.
//! - [`durability`]: kill -9 at random moments, a broker crash and corrupt checkpoints lose and
//!   double-count nothing; SIGTERM writes a final checkpoint that the restart restores.
//! - [`scale_out`]: a two-stage deployment (ingest members, merge replicas) counts exactly in
//!   both replicas while ingest members are killed, scaled 3→4→1→3 or frozen past their session
//!   timeout, and while a merge replica crashes; each reject is dead-lettered once.
//! - [`rebuild`]: SLIs changed or added after events were counted are rebuilt from the topic
//!   exactly while live events count once; through three kill -9s; from what retention left.
//! - [`rejected_messages`]: poison pills are never logged; the dead-letter topic holds exactly
//!   the rejects across SIGKILLs.
//! - [`kafka_edges`]: offsets lost to retention, SASL/SCRAM, a broker down at start, a broker
//!   that dies while the workers read.
//! - [`alerting`]: burn alerts in a real Alertmanager; a down or hanging one never blocks ingest.
//! - [`dashboards`]: every Grafana panel query returns data from a real Prometheus.
//! - [`status_page`]: the status page in a real headless Chromium shows exactly what `/metrics`
//!   says, worst first, with burn-down charts, the burning component ranked first and working
//!   links; the JSON API equals `/metrics`; screenshots under `target/it-artifacts/`.
//! - [`hostile_input`]: arbitrary and mutated events land in exactly one outcome without a
//!   panic; mutated configs are valid or name the key.
//! - [`rules`]: the generated Prometheus rules pass promtool's checks and unit tests.
//! - [`openslo`]: `openslo export` then `import` gives the same definitions; the documents meet
//!   the OpenSLO v1 spec; each broken rule exits 2 naming the document and field.
//! - [`config_check`], [`compose`], [`sloth_compat`]: `slostream check`, docker-compose.yml, and
//!   the Sloth-compatible series (through the library).
//! - [`exporter_access`]: `exporter.basic_auth` and `exporter.tls` over real HTTP(S): 401 without
//!   the right credentials, the probes open, no credential in any output.
//! - [`image`], [`chart`]: the Dockerfile read as the image build would (no Docker engine here),
//!   and the Helm chart rendered by the real helm, its objects validated against the Kubernetes
//!   and Prometheus Operator API types.
//!
//! `tests/no_alloc.rs` is a binary of its own: it installs a counting global allocator, which
//! would count (and slow) every other test's allocations.

mod harness;

mod alerting;
mod chart;
mod compose;
mod config_check;
mod dashboards;
mod durability;
mod exact_counts;
mod exporter_access;
mod hostile_input;
mod image;
mod in_process;
mod kafka_edges;
mod openslo;
mod readiness;
mod rebuild;
mod rejected_messages;
mod rules;
mod scale_out;
mod shutdown;
mod sloth_compat;
mod state_ownership;
mod status_page;
mod time_slices;
