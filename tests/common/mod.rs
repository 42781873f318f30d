//! Shared harness for the end-to-end tests: a real Kafka broker, the real `slostream` binary,
//! and a small Prometheus text parser.
//!
//! # Broker lifecycle
//!
//! Each test binary starts ONE broker, lazily, the first time a test calls [`broker()`]
//! (`tests/kafka/broker.sh start <scratch>/kafka`, behind a `OnceLock`, so tests running in
//! parallel threads share it). Rust test binaries have no reliable at-exit hook, so before the
//! broker is started a detached watchdog (`setsid sh -c ...`) is spawned: it polls the test
//! process's pid once a second and, once that process is gone (however it ended: success,
//! panic, Ctrl-C), runs `broker.sh stop <dir>` and deletes the scratch directory. Set
//! `SLOSTREAM_E2E_KEEP=1` to keep the scratch directory (broker logs, configs, slostream
//! stderr) for a post-mortem; the broker is stopped either way.
//!
//! Tests that need a broker they can crash, stop or start late get one of their own with
//! [`Broker::start_own`] / [`Broker::reserve_own`] (data dir `<scratch>/kafka-<name>`); the same
//! watchdog stops every `<scratch>/kafka*` broker. A restarted data dir keeps its ports
//! (`broker.sh` records them in `DIR/env`), so clients configured with its address find it again.
//!
//! # slostream processes
//!
//! [`Slostream::start`] runs `slostream run --config FILE` with stderr (its log) and stdout
//! redirected to files (`NO_COLOR=1`, so the log is plain text). The handle kills the process on
//! drop, and prints the tail of its log when the drop happens during a panic, so a failing
//! assertion shows what the service said. [`Slostream::kill`] is a crash (SIGKILL),
//! [`Slostream::terminate`] a graceful stop (SIGTERM).
//!
//! # Ground truth
//!
//! [`truth`] restates the SLIs and SLOs of the example config ([`EXAMPLE_SLIS_AND_SLOS`]) by
//! hand: the event model, its classification, the windows, ratios and alert rules that the
//! tests compute their expectations with.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

pub mod truth;

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

/// One scratch directory per test process; removed by the watchdog when the process is gone.
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

fn broker_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/broker.sh")
}

pub struct Broker {
    /// The data dir given to `broker.sh start` (holds `env`, `server.log`, ...).
    pub dir: PathBuf,
    /// `127.0.0.1:PORT` of the PLAINTEXT listener.
    pub bootstrap: String,
}

/// Runs `broker.sh ARGS...`; its stderr goes to `log` (appended). Returns trimmed stdout, or
/// panics with the log.
fn broker_sh(args: &[&std::ffi::OsStr], log: &Path) -> String {
    let err = fs::OpenOptions::new().create(true).append(true).open(log).expect("broker.sh log");
    let out = Command::new(broker_script())
        .args(args)
        .stdin(Stdio::null())
        .stderr(err)
        .output()
        .expect("run tests/kafka/broker.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        panic!(
            "broker.sh {:?} failed ({}), stdout {stdout:?}; its log:\n{}",
            args,
            out.status,
            fs::read_to_string(log).unwrap_or_default()
        );
    }
    stdout
}

/// The broker of this test process, started on first use (about 15 s).
pub fn broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(|| {
        let dir = scratch_root().join("kafka");
        spawn_watchdog();
        let log = scratch_root().join("broker-start.log");
        let started = Instant::now();
        let bootstrap = broker_sh(&["start".as_ref(), dir.as_os_str()], &log);
        assert!(bootstrap.starts_with("127.0.0.1:"), "broker.sh start printed {bootstrap:?}");
        eprintln!(
            "[e2e] Kafka broker at {bootstrap}, started in {:.1} s (dir {})",
            started.elapsed().as_secs_f64(),
            dir.display()
        );
        Broker { dir, bootstrap }
    })
}

impl Broker {
    /// A broker of the calling test's own (`<scratch>/kafka-<name>`), started now: for tests that
    /// crash, stop or restart it, which the shared [`broker()`] must never be.
    pub fn start_own(name: &str) -> Broker {
        let b = Broker::reserve_own(name);
        b.start();
        b
    }

    /// Like [`Broker::start_own`] but only fixes its ports: the broker is started later with
    /// [`Broker::start`] (a client can be pointed at it before it exists).
    pub fn reserve_own(name: &str) -> Broker {
        spawn_watchdog();
        let dir = scratch_root().join(unique(&format!("kafka-{name}")));
        let bootstrap = broker_sh(&["reserve".as_ref(), dir.as_os_str()], &dir.with_extension("log"));
        assert!(bootstrap.starts_with("127.0.0.1:"), "broker.sh reserve printed {bootstrap:?}");
        Broker { dir, bootstrap }
    }

    /// (Re)starts the broker in its data dir, on the same ports; returns how long it took.
    pub fn start(&self) -> Duration {
        let started = Instant::now();
        let got = broker_sh(&["start".as_ref(), self.dir.as_os_str()], &self.dir.with_extension("log"));
        assert_eq!(got, self.bootstrap, "broker in {} came back on another address", self.dir.display());
        let took = started.elapsed();
        eprintln!("[e2e] broker {} up at {} in {:.1} s", self.name(), self.bootstrap, took.as_secs_f64());
        took
    }

    /// SIGKILL (a crash).
    pub fn kill(&self) {
        broker_sh(&["kill".as_ref(), self.dir.as_os_str()], &self.dir.with_extension("log"));
        eprintln!("[e2e] broker {} killed (SIGKILL)", self.name());
    }

    /// Graceful stop (SIGTERM).
    pub fn stop(&self) {
        broker_sh(&["stop".as_ref(), self.dir.as_os_str()], &self.dir.with_extension("log"));
    }

    fn name(&self) -> String {
        self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// A value of `DIR/env` (KAFKA_SASL_BOOTSTRAP, KAFKA_LIB, ...).
    pub fn env(&self, key: &str) -> Option<String> {
        let text = fs::read_to_string(self.dir.join("env")).ok()?;
        text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=').map(str::to_string))
    }

    /// `127.0.0.1:PORT` of the SASL_PLAINTEXT (SCRAM-SHA-256) listener.
    pub fn sasl_bootstrap(&self) -> String {
        self.env("KAFKA_SASL_BOOTSTRAP").expect("KAFKA_SASL_BOOTSTRAP in the broker env")
    }

    /// Creates a topic (no-op if it exists).
    pub fn create_topic(&self, name: &str, partitions: i32) {
        let out = Command::new(broker_script())
            .arg("topic")
            .arg(&self.dir)
            .arg(name)
            .arg(partitions.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("run broker.sh topic");
        assert!(
            out.status.success(),
            "broker.sh topic {name} {partitions} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Deletes every record below `offset` of each `(partition, offset)`, as retention would
    /// (Kafka's DeleteRecordsCommand with an offset JSON file).
    pub fn delete_records(&self, topic: &str, upto: &[(i32, i64)]) {
        let mut args: Vec<std::ffi::OsString> = vec!["delete-records".into(), self.dir.clone().into(), topic.into()];
        args.extend(upto.iter().map(|(p, o)| format!("{p}:{o}").into()));
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        broker_sh(&refs, &self.dir.with_extension("log"));
    }

    pub fn producer(&self) -> BaseProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("linger.ms", "5")
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .create()
            .expect("create producer")
    }

    /// [`produce`] on this broker.
    pub fn produce(&self, topic: &str, partitions: i32, payloads: &[Vec<u8>]) -> Vec<i64> {
        let records: Vec<Record> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| Record { partition: (i as i32) % partitions, key: None, payload: Some(p.clone()) })
            .collect();
        self.produce_records(topic, partitions, &records)
    }

    /// Produces `records` (each to its partition, with its key and payload, either possibly
    /// absent), flushes, and checks that every partition's high watermark grew by exactly what
    /// was sent to it. Returns per-partition counts.
    pub fn produce_records(&self, topic: &str, partitions: i32, records: &[Record]) -> Vec<i64> {
        let before = self.high_watermarks(topic, partitions);
        let producer = self.producer();
        let mut sent = vec![0i64; partitions as usize];
        for r in records {
            send_record(&producer, topic, r);
            sent[r.partition as usize] += 1;
        }
        producer.flush(Duration::from_secs(30)).expect("flush producer");
        let after = self.high_watermarks(topic, partitions);
        let grown: Vec<i64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        assert_eq!(
            grown, sent,
            "high watermarks of {topic} grew by {grown:?}, expected {sent:?} (lost or duplicated deliveries)"
        );
        sent
    }

    fn metadata_consumer(&self) -> BaseConsumer {
        ClientConfig::new().set("bootstrap.servers", &self.bootstrap).create().expect("create metadata consumer")
    }

    /// (low, high) watermark of every partition, asked of the broker.
    pub fn watermarks(&self, topic: &str, partitions: i32) -> Vec<(i64, i64)> {
        let consumer = self.metadata_consumer();
        (0..partitions)
            .map(|p| {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    match consumer.fetch_watermarks(topic, p, Duration::from_secs(5)) {
                        Ok(w) => break w,
                        // A just-created topic may not have a leader yet.
                        Err(e) if Instant::now() < deadline => {
                            eprintln!("[e2e] watermarks of {topic}/{p}: {e}; retrying");
                            std::thread::sleep(Duration::from_millis(300));
                        }
                        Err(e) => panic!("watermarks of {topic}/{p}: {e}"),
                    }
                }
            })
            .collect()
    }

    pub fn high_watermarks(&self, topic: &str, partitions: i32) -> Vec<i64> {
        self.watermarks(topic, partitions).into_iter().map(|w| w.1).collect()
    }

    /// Every record the topic holds now (read committed), per partition in offset order.
    pub fn read_all(&self, topic: &str, partitions: i32) -> Vec<Consumed> {
        let marks = self.watermarks(topic, partitions);
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", unique("reader"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()
            .expect("create reader");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning).expect("add partition");
        }
        consumer.assign(&tpl).expect("assign reader");
        let mut out = Vec::new();
        let mut next: Vec<i64> = marks.iter().map(|m| m.0).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        // Read committed: the last stable offset can sit below the high watermark (transaction
        // markers), so stop once every partition is past its last record or nothing came for 3 s.
        let mut quiet_since = Instant::now();
        while next.iter().zip(&marks).any(|(n, m)| n < &m.1) {
            assert!(Instant::now() < deadline, "reading {topic}: at {next:?} of {marks:?} after 60 s");
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    quiet_since = Instant::now();
                    let headers = m
                        .headers()
                        .map(|h| h.iter().map(|x| (x.key.to_string(), x.value.map(<[u8]>::to_vec))).collect())
                        .unwrap_or_default();
                    next[m.partition() as usize] = m.offset() + 1;
                    out.push(Consumed {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        payload: m.payload().map(<[u8]>::to_vec),
                        headers,
                    });
                }
                Some(Err(e)) => panic!("reading {topic}: {e}"),
                None if quiet_since.elapsed() > Duration::from_secs(3) => break,
                None => {}
            }
        }
        out.sort_by_key(|c| (c.partition, c.offset));
        out
    }
}

/// A record to produce.
#[derive(Clone, Debug)]
pub struct Record {
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    /// `None`: no value at all (a tombstone), not an empty one.
    pub payload: Option<Vec<u8>>,
}

/// A record read back.
#[derive(Clone, Debug)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Consumed {
    pub fn header(&self, key: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// Sends one record, waiting while the local queue is full.
pub fn send_record(producer: &BaseProducer, topic: &str, r: &Record) {
    loop {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).partition(r.partition);
        if let Some(k) = &r.key {
            record = record.key(k.as_slice());
        }
        if let Some(p) = &r.payload {
            record = record.payload(p.as_slice());
        }
        match producer.send(record) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => panic!("produce to {topic}/{}: {e}", r.partition),
        }
    }
}

/// A detached process that stops every broker of this test process (`<scratch>/kafka*`) and
/// removes the scratch root once this process has exited. `setsid` puts it in its own session
/// so a Ctrl-C aimed at `cargo test` does not kill it before it has done its job. Spawned once.
fn spawn_watchdog() {
    static SPAWNED: OnceLock<()> = OnceLock::new();
    SPAWNED.get_or_init(spawn_watchdog_now);
}

fn spawn_watchdog_now() {
    let keep = std::env::var_os("SLOSTREAM_E2E_KEEP").is_some_and(|v| !v.is_empty() && v != "0");
    let script = r#"
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        for d in "$3"/kafka*; do
            if [ -d "$d" ]; then "$2" stop "$d" >/dev/null 2>&1; fi
        done
        if [ "$4" != keep ]; then rm -rf "$3"; fi
    "#;
    let mut cmd = if Path::new("/usr/bin/setsid").exists() || Path::new("/bin/setsid").exists() {
        let mut c = Command::new("setsid");
        c.arg("sh");
        c
    } else {
        Command::new("sh")
    };
    cmd.arg("-c")
        .arg(script)
        .arg("slostream-e2e-watchdog")
        .arg(std::process::id().to_string())
        .arg(broker_script())
        .arg(scratch_root())
        .arg(if keep { "keep" } else { "remove" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // The Child is deliberately never waited for: it outlives this process by design (so it
    // cannot linger as a zombie of it), and dropping the handle neither waits nor kills.
    #[allow(clippy::zombie_processes)]
    let _ = cmd.spawn().expect("spawn broker watchdog");
}

/// Creates a topic with `partitions` partitions through `broker.sh topic`.
pub fn create_topic(name: &str, partitions: i32) {
    broker().create_topic(name, partitions)
}

/// Produces `payloads` to `topic`, payload `i` to partition `i % partitions`, flushes, and checks
/// that every partition's high watermark grew by exactly what was sent to it (so a lost
/// delivery fails here, not as a confusing count mismatch later). Returns per-partition counts.
pub fn produce(topic: &str, partitions: i32, payloads: &[Vec<u8>]) -> Vec<i64> {
    broker().produce(topic, partitions, payloads)
}

/// High watermark of every partition, asked of the broker.
pub fn high_watermarks(topic: &str, partitions: i32) -> Vec<i64> {
    broker().high_watermarks(topic, partitions)
}

/// Committed offset of `group` for each partition (`None`: nothing committed), read with a
/// fresh consumer of that group that never joins it (an OffsetFetch only).
pub fn committed_offsets(group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker().bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("create offsets consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = consumer.committed_offsets(tpl, Duration::from_secs(15)).expect("committed offsets");
    (0..partitions)
        .map(|p| {
            let e = got.find_partition(topic, p).unwrap_or_else(|| panic!("partition {p} missing in {got:?}"));
            match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            }
        })
        .collect()
}

/// A port that was free a moment ago (bind 127.0.0.1:0, read it, release it): slostream does not
/// accept port 0, and the test must know the port to scrape it.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// The SLIs and SLOs of `config/example.yaml`, restated here so that the tests' ground truth
/// (written against exactly these definitions) does not silently change with the example file.
pub const EXAMPLE_SLIS_AND_SLOS: &str = r#"
slis:
  search-availability:
    description: "search API answers without server error"
    match:
      service: "search-api"
      route: ["/v2/trips", "/v2/trips/{id}"]
    good:
      status: { lt: 500 }
  search-latency:
    match: { service: "search-api" }
    good:
      latency_ms: { le: 300 }
  geo-availability:
    match: { service: "geo" }
    good:
      status: { lt: 500 }
  booking-availability:
    match: { service: "booking", method: ["POST"] }
    good:
      all:
        - status: { lt: 500 }
        - status: { not_in: [429] }

slos:
  search-a-ride:
    description: "A member can search for a ride"
    objective: 99.5
    period: "28d"
    combine: pooled
    slis: [search-availability, search-latency, geo-availability]
  book-a-ride:
    objective: 99.9
    period: "30d"
    combine: weighted
    slis:
      - { sli: booking-availability, weight: 3 }
      - { sli: geo-availability, weight: 1 }
"#;

/// What varies between the tests' configs.
pub struct ConfigOpts<'a> {
    pub topic: &'a str,
    pub group: &'a str,
    pub port: u16,
    pub workers: usize,
    pub shutdown_grace: &'a str,
    /// Extra `kafka.properties` (handed to librdkafka).
    pub properties: Vec<(&'a str, &'a str)>,
}

/// Writes a config (the example's SLIs/SLOs, this broker, `opts`) into `dir/slostream.yaml`
/// and validates it with `slostream check`.
///
/// Checkpoints (`state.dir`) go to `dir/state`, never to the default `/var/lib/slostream`, so
/// tests neither need root nor share restored state.
pub fn write_config(dir: &Path, opts: &ConfigOpts<'_>) -> PathBuf {
    write_config_with(dir, opts, &Extra::default())
}

/// Settings beyond [`ConfigOpts`] (kept separate so its struct literals stay valid); `None`
/// leaves slostream's default or, for `brokers`, the shared test broker.
#[derive(Default)]
pub struct Extra<'a> {
    /// `kafka.brokers` (another broker, or a SASL listener).
    pub brokers: Option<&'a str>,
    /// `state.checkpoint_interval`.
    pub checkpoint_interval: Option<&'a str>,
    /// `events.max_message_bytes`.
    pub max_message_bytes: Option<u64>,
    /// `events.dead_letter_topic`.
    pub dead_letter_topic: Option<&'a str>,
    /// Environment of the `slostream check` run (for `${VAR}` in the config).
    pub env: Vec<(&'a str, &'a str)>,
}

/// [`write_config`] with [`Extra`] settings. Returns the path; `slostream check`'s output is in
/// `dir/check.out` (stdout and stderr).
pub fn write_config_with(dir: &Path, opts: &ConfigOpts<'_>, extra: &Extra<'_>) -> PathBuf {
    let path = dir.join("slostream.yaml");
    let mut state = format!("state:\n  dir: \"{}\"\n", dir.join("state").display());
    if let Some(i) = extra.checkpoint_interval {
        writeln!(state, "  checkpoint_interval: \"{i}\"").unwrap();
    }
    fs::write(&path, format!("{}{state}", config_text(opts, extra))).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_slostream"))
        .arg("check")
        .arg("--config")
        .arg(&path)
        .envs(extra.env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run slostream check");
    let mut shown = out.stdout.clone();
    shown.extend_from_slice(&out.stderr);
    fs::write(dir.join("check.out"), &shown).expect("write check.out");
    assert!(out.status.success(), "slostream check refused the test config:\n{}", String::from_utf8_lossy(&out.stderr));
    path
}

fn config_text(opts: &ConfigOpts<'_>, extra: &Extra<'_>) -> String {
    let mut yaml = String::new();
    writeln!(yaml, "kafka:").unwrap();
    match extra.brokers {
        Some(b) => writeln!(yaml, "  brokers: \"{b}\"").unwrap(),
        None => writeln!(yaml, "  brokers: \"{}\"", broker().bootstrap).unwrap(),
    }
    writeln!(yaml, "  topics: [\"{}\"]", opts.topic).unwrap();
    writeln!(yaml, "  group_id: \"{}\"", opts.group).unwrap();
    writeln!(yaml, "  properties:").unwrap();
    writeln!(yaml, "    client.id: \"slostream-e2e\"").unwrap();
    for (k, v) in &opts.properties {
        writeln!(yaml, "    {k}: \"{v}\"").unwrap();
    }
    writeln!(yaml, "events:\n  timestamp_field: \"timestamp\"\n  latency_field: \"latency_ms\"\n  max_future: \"1m\"")
        .unwrap();
    if let Some(n) = extra.max_message_bytes {
        writeln!(yaml, "  max_message_bytes: {n}").unwrap();
    }
    if let Some(t) = extra.dead_letter_topic {
        writeln!(yaml, "  dead_letter_topic: \"{t}\"").unwrap();
    }
    writeln!(yaml, "exporter:\n  listen: \"127.0.0.1:{}\"", opts.port).unwrap();
    writeln!(yaml, "ingest:\n  workers: {}\n  shutdown_grace: \"{}\"", opts.workers, opts.shutdown_grace).unwrap();
    yaml.push_str(EXAMPLE_SLIS_AND_SLOS);
    yaml
}

/// A running `slostream run` process.
pub struct Slostream {
    child: Option<Child>,
    pub port: u16,
    /// Its stderr: the log.
    pub log: PathBuf,
    /// Its stdout.
    pub stdout: PathBuf,
    http: reqwest::blocking::Client,
    exit: Option<ExitStatus>,
    /// When it was spawned.
    pub started: Instant,
}

impl Slostream {
    /// Spawns `slostream run --config <config>`; stderr goes to `dir/slostream-run-*.log`.
    pub fn start(dir: &Path, config: &Path, port: u16) -> Slostream {
        Slostream::start_with_env(dir, config, port, &[])
    }

    /// [`Slostream::start`] with extra environment variables.
    pub fn start_with_env(dir: &Path, config: &Path, port: u16, env: &[(&str, &str)]) -> Slostream {
        let name = unique("run");
        let log = dir.join(format!("slostream-{name}.log"));
        let stdout = dir.join(format!("slostream-{name}.stdout"));
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_slostream"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info,librdkafka=warn")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).expect("create slostream stdout"))
            .stderr(fs::File::create(&log).expect("create slostream log"))
            .spawn()
            .expect("spawn slostream");
        let http = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        Slostream { child: Some(child), port, log, stdout, http, exit: None, started }
    }

    /// SIGKILL (a crash at whatever it was doing) and reap it.
    pub fn kill(&mut self) {
        let child = self.child.as_mut().expect("process handle");
        if let Some(status) = child.try_wait().expect("try_wait") {
            self.exit = Some(status);
            panic!("slostream had already exited with {status} before the SIGKILL; log:\n{}", self.log_tail(60));
        }
        child.kill().expect("SIGKILL slostream");
        self.exit = Some(child.wait().expect("wait for slostream"));
    }

    /// Waits for the process to exit by itself; `None` if it still runs after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        let child = self.child.as_mut().expect("process handle");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.exit = Some(status);
                return Some(status);
            }
            if started.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls until the log holds `needle` (ANSI-free), failing after `timeout`.
    pub fn wait_log(&mut self, needle: &str, timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.log_text().contains(needle) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < timeout,
                "the log did not show {needle:?} within {timeout:?}; log:\n{}",
                self.log_tail(60)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything it wrote: stdout, then stderr.
    pub fn output_bytes(&self) -> Vec<u8> {
        let mut all = fs::read(&self.stdout).unwrap_or_default();
        all.extend(fs::read(&self.log).unwrap_or_default());
        all
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("process handle").id()
    }

    /// `GET path`: status and body, or `None` when nothing answered.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let resp = self.http.get(format!("http://127.0.0.1:{}{path}", self.port)).send().ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.text().ok()?))
    }

    /// Panics (with the log) if the process has already exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait")) {
            self.exit = Some(status);
            panic!("slostream exited early with {status}; its log:\n{}", self.log_tail(80));
        }
    }

    /// Polls `path` until it answers `status`; returns how long that took.
    pub fn wait_status(&mut self, path: &str, status: u16, timeout: Duration) -> Duration {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < timeout {
            self.assert_running();
            last = self.get(path);
            if matches!(&last, Some((s, _)) if *s == status) {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("GET {path} did not answer {status} within {timeout:?} (last: {last:?}); log:\n{}", self.log_tail(80));
    }

    pub fn wait_ready(&mut self, timeout: Duration) -> Duration {
        self.wait_status("/ready", 200, timeout)
    }

    /// One `/metrics` scrape, parsed.
    pub fn scrape(&mut self) -> Metrics {
        self.assert_running();
        match self.get("/metrics") {
            Some((200, body)) => Metrics::parse(&body),
            other => panic!("GET /metrics failed: {other:?}; log:\n{}", self.log_tail(80)),
        }
    }

    /// Polls `/metrics` until `slostream_events_consumed_total` is exactly `n` (panicking at
    /// once if it ever exceeds `n`: that would be double counting). Returns the scrape and the
    /// wall-clock time taken right after it.
    pub fn wait_consumed(&mut self, n: u64, timeout: Duration) -> (Metrics, i64) {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < timeout {
            let m = self.scrape();
            let at = now_ms();
            let consumed = m.get("slostream_events_consumed_total", &[]);
            if let Some(c) = consumed {
                assert!(c <= n as f64, "consumed {c} > produced {n}: events counted twice");
                if c == n as f64 {
                    return (m, at);
                }
            }
            last = consumed;
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("slostream_events_consumed_total stayed at {last:?}, expected {n}; log:\n{}", self.log_tail(80));
    }

    /// Sends SIGTERM and waits for the exit; returns the status and how long the exit took.
    /// On timeout the process is killed and the test fails.
    pub fn terminate(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        self.assert_running();
        let pid = self.pid();
        let ok = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("run kill");
        assert!(ok.success(), "kill -TERM {pid} failed");
        let started = Instant::now();
        let child = self.child.as_mut().expect("process handle");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.exit = Some(status);
                return (status, started.elapsed());
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("slostream did not exit within {timeout:?} of SIGTERM; log:\n{}", self.log_tail(80));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log, without ANSI colour codes (should any slip through `NO_COLOR`).
    pub fn log_text(&self) -> String {
        strip_ansi(&String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()))
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Slostream {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if self.exit.is_none() && child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("---- slostream log ({}) ----\n{}\n---- end of log ----", self.log.display(), self.log_tail(60));
        }
    }
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A parsed Prometheus text exposition: `name{labels sorted by name}` → value.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub series: BTreeMap<String, f64>,
    pub text: String,
}

/// The canonical key of a series: labels sorted by name, values escaped as in the exposition.
pub fn series_key(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let mut sorted: Vec<(&str, &str)> = labels.to_vec();
    sorted.sort();
    let inner: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    format!("{name}{{{}}}", inner.join(","))
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut series = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, rest) = parse_series(line).unwrap_or_else(|| panic!("unparsable exposition line {line:?}"));
            let value_text = rest.split_whitespace().next().unwrap_or_else(|| panic!("no value in {line:?}"));
            let value = match value_text {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                v => v.parse().unwrap_or_else(|_| panic!("bad value {v:?} in {line:?}")),
            };
            assert!(series.insert(key.clone(), value).is_none(), "series {key} rendered twice");
        }
        Metrics { series, text: text.to_string() }
    }

    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series.get(&series_key(name, labels)).copied()
    }

    /// Every series of the metric `name`.
    pub fn family(&self, name: &str) -> Vec<(&String, f64)> {
        self.series
            .iter()
            .filter(|(k, _)| k.as_str() == name || k.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
            .map(|(k, v)| (k, *v))
            .collect()
    }
}

/// Splits `name{a="x",b="y"} rest` into the canonical key and the rest.
fn parse_series(line: &str) -> Option<(String, &str)> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    if !line[name_end..].starts_with('{') {
        return Some((name.to_string(), &line[name_end..]));
    }
    let mut labels: Vec<(String, String)> = Vec::new();
    let bytes: Vec<char> = line[name_end + 1..].chars().collect();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i] == ',' || bytes[i] == ' ') {
            i += 1;
        }
        if bytes.get(i) == Some(&'}') {
            i += 1;
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != '=' {
            i += 1;
        }
        let key: String = bytes[start..i].iter().collect();
        i += 1;
        if bytes.get(i) != Some(&'"') {
            return None;
        }
        i += 1;
        let mut value = String::new();
        while i < bytes.len() && bytes[i] != '"' {
            if bytes[i] == '\\' && i + 1 < bytes.len() {
                i += 1;
                value.push(match bytes[i] {
                    'n' => '\n',
                    c => c,
                });
            } else {
                value.push(bytes[i]);
            }
            i += 1;
        }
        i += 1;
        labels.push((key.trim().to_string(), value));
    }
    let consumed: usize = bytes[..i].iter().map(|c| c.len_utf8()).sum();
    let rest = &line[name_end + 1 + consumed..];
    let refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Some((series_key(name, &refs), rest))
}

#[cfg(test)]
mod parser_tests {
    use super::*;

    #[test]
    fn parses_and_sorts_labels() {
        let m = Metrics::parse(
            "# HELP x y\n# TYPE x gauge\nx{b=\"2\",a=\"q\\\"uote\"} 1.5\nplain_total 7\nlast{a=\"}\"} +Inf 123\n",
        );
        assert_eq!(m.get("x", &[("a", "q\"uote"), ("b", "2")]), Some(1.5));
        assert_eq!(m.get("plain_total", &[]), Some(7.0));
        assert_eq!(m.get("last", &[("a", "}")]), Some(f64::INFINITY));
        assert_eq!(m.family("x").len(), 1);
    }
}
