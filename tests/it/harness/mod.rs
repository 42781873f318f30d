//! The shared harness of the integration tests: what every scenario module builds on.
//!
//! - [`broker`]: the Kafka brokers (one shared per test process, started lazily behind a
//!   watchdog; tests that crash or start late run their own), producing, reading back,
//!   watermarks and committed offsets.
//! - [`deploy`]: [`Deployment`], the one way a test describes a slostream deployment (topic,
//!   group, broker, workers, dead letters, Alertmanager, SLO labels ...); it writes the YAML,
//!   has `slostream check` validate it, and starts the process, or the members of a two-stage
//!   deployment ([`Role`]: ingest, merge), each with a config file and port of its own.
//! - [`process`]: [`Slostream`], the running `slostream run` process: HTTP, log, kill, SIGTERM,
//!   SIGSTOP/SIGCONT.
//! - [`mock`]: the whole pipeline in-process (`slostream::pipeline::run`) against librdkafka's
//!   mock cluster: the fast tier, no Java.
//! - [`served`]: [`Served`], what both of those serve and the waits on it (a status, an exact
//!   consumed total, a scrape).
//! - [`metrics`]: a Prometheus text parser and [`Check`], the exact/close comparisons that list
//!   every mismatch at once.
//! - [`truth`]: the ground truth, restated by hand from the SLI/SLO definitions.
//! - [`stream`]: seeded message streams (valid events of every SLI, rejects of every reason)
//!   with the counts they must produce; [`poison`]: hostile payloads; [`mixed`]: the exact-counts
//!   event set and every check of it; [`events`]: single request events; [`dead_letters`]: what
//!   the dead-letter topic must hold.
//! - [`daemon`], [`alertmanager`], [`prometheus`]: real Alertmanager and Prometheus processes;
//!   [`browser`]: a real headless Chromium over WebDriver.
//! - [`helm`]: the Helm chart rendered by the real helm, its objects validated against the
//!   Kubernetes and Prometheus Operator API types.
//!
//! This file holds the small helpers the rest share: names, scratch directories, ports, time.
//! Set `SLOSTREAM_E2E_KEEP=1` to keep the scratch directory (broker logs, configs, slostream
//! logs) for a post-mortem.

#![allow(dead_code)]

pub mod alertmanager;
pub mod broker;
pub mod browser;
pub mod daemon;
pub mod dead_letters;
pub mod deploy;
pub mod events;
pub mod helm;
pub mod metrics;
pub mod mixed;
pub mod mock;
pub mod poison;
pub mod process;
pub mod prometheus;
pub mod served;
pub mod stream;
pub mod truth;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub use broker::{broker, Broker, Consumed, KafkaClient, Record};
pub use deploy::{Deployment, Role};
pub use metrics::{series_key, Check, Metrics};
pub use process::Slostream;
pub use served::Served;

/// Wall clock, epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (of this or any other run) uses: prefix, pid, sequence, clock.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{}", std::process::id(), now_ms() % 1_000_000_000)
}

/// One scratch directory per test process; removed by the broker watchdog when the process is
/// gone (see [`broker`]).
pub fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = std::env::temp_dir().join(unique("slostream-e2e"));
        fs::create_dir_all(&dir).expect("create scratch root");
        dir
    })
}

/// A fresh directory under the scratch root.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = scratch_root().join(unique(name));
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A port that was free a moment ago (bound and released): slostream does not accept port 0, and
/// the test must know the port to scrape it. Taken below Linux's ephemeral range (32768 on), as
/// `tests/kafka/broker.sh` does: an ephemeral port released here can be the next outgoing
/// connection's (every Kafka client of every process makes some) before slostream binds it.
/// Each process walks the range from a random place, so parallel test runs rarely meet.
pub fn free_port() -> u16 {
    const LOW: u32 = 10_000;
    const SPAN: u32 = 15_000 - LOW;
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU32> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| std::sync::atomic::AtomicU32::new(rand::random::<u32>() % SPAN));
    for _ in 0..SPAN {
        let port = (LOW + next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN)
}

/// The repository root (where `config/`, `docker-compose.yml` and `tests/kafka/` are).
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A blocking HTTP client that never goes through a proxy (everything here is on 127.0.0.1).
pub fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("http client")
}
