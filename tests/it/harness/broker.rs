//! Kafka brokers for the tests: lifecycle, topics, producing, reading back, watermarks and
//! committed offsets.
//!
//! Each test process starts ONE shared broker, lazily, the first time a test calls [`broker()`]
//! (`tests/kafka/broker.sh start <scratch>/kafka`, behind a `OnceLock`, so tests running in
//! parallel threads share it; each test uses a topic and a group of its own). Rust test binaries
//! have no reliable at-exit hook, so before the broker is started a detached watchdog
//! (`setsid sh -c ...`) is spawned: it polls the test process's pid once a second and, once that
//! process is gone (however it ended: success, panic, Ctrl-C), runs `broker.sh stop <dir>` and
//! deletes the scratch directory (kept with `SLOSTREAM_E2E_KEEP=1`; the broker is stopped either
//! way).
//!
//! Tests that need a broker they can crash, stop or start late get one of their own with
//! [`Broker::start_own`] / [`Broker::reserve_own`] (data dir `<scratch>/kafka-<name>`); the same
//! watchdog stops every `<scratch>/kafka*` broker. A restarted data dir keeps its ports
//! (`broker.sh` records them in `DIR/env`), so clients configured with its address find it again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::{repo_path, scratch_root, unique};

fn broker_script() -> PathBuf {
    repo_path("tests/kafka/broker.sh")
}

/// A broker started by `broker.sh`: its data dir, and a [`KafkaClient`] of its PLAINTEXT
/// listener (which it derefs to, so `b.produce(...)` and `b.bootstrap` read naturally).
#[derive(Clone, Debug)]
pub struct Broker {
    /// The data dir given to `broker.sh start` (holds `env`, `server.log`, ...).
    pub dir: PathBuf,
    client: KafkaClient,
}

impl std::ops::Deref for Broker {
    type Target = KafkaClient;

    fn deref(&self) -> &KafkaClient {
        &self.client
    }
}

/// What the tests do as Kafka clients of any cluster (a `broker.sh` broker, or librdkafka's mock
/// cluster): produce with delivery checked against the watermarks, read everything back, ask
/// for watermarks and committed offsets.
#[derive(Clone, Debug)]
pub struct KafkaClient {
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
        Broker { dir, client: KafkaClient { bootstrap } }
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
        Broker { dir, client: KafkaClient { bootstrap } }
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

    /// The lines of the broker's log where its transaction coordinator skipped markers, taking
    /// partitions whose leader it did not know yet for deleted ones ("Couldn't find leader
    /// endpoint ... can be skipped"): Kafka 4.4 does this right after a restart, and a
    /// transaction it was completing then is left half-done (some records visible, its
    /// offsets never applied).
    pub fn skipped_markers(&self) -> Vec<String> {
        let log = fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        log.lines().filter(|l| l.contains("Couldn't find leader endpoint")).map(str::to_string).collect()
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
}

impl KafkaClient {
    pub fn producer(&self) -> BaseProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("linger.ms", "5")
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .create()
            .expect("create producer")
    }

    /// Produces `payloads` to `topic`, payload `i` to partition `i % partitions`, flushes, and
    /// checks that every partition's high watermark grew by exactly what was sent to it (so a lost
    /// delivery fails here, not as a confusing count mismatch later). Returns per-partition counts.
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

    /// High watermark of every partition, asked of the broker.
    pub fn high_watermarks(&self, topic: &str, partitions: i32) -> Vec<i64> {
        self.watermarks(topic, partitions).into_iter().map(|w| w.1).collect()
    }

    /// How many records the topic has ever received: the sum of the high watermarks.
    pub fn produced(&self, topic: &str, partitions: i32) -> u64 {
        self.high_watermarks(topic, partitions).iter().sum::<i64>() as u64
    }

    /// Every record the topic holds now (read committed), per partition in offset order.
    pub fn read_all(&self, topic: &str, partitions: i32) -> Vec<Consumed> {
        let marks = self.watermarks(topic, partitions);
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", unique("reader"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            // librdkafka's default, spelled out: records of aborted (or still open) transactions
            // must never be read back as if they had been written.
            .set("isolation.level", "read_committed")
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

    /// Committed offset of `group` for each partition (`None`: nothing committed), read with a
    /// fresh consumer of that group that never joins it (an OffsetFetch only).
    pub fn committed_offsets(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
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

/// Sends `recs` a chunk of `chunk` records every `every` (from now), polling after each chunk
/// and then calling `after_chunk` with its size. Does not flush.
pub fn send_paced(
    p: &BaseProducer,
    topic: &str,
    recs: &[Record],
    chunk: usize,
    every: Duration,
    mut after_chunk: impl FnMut(usize),
) {
    let started = Instant::now();
    for (i, chunk) in recs.chunks(chunk).enumerate() {
        for r in chunk {
            send_record(p, topic, r);
        }
        p.poll(Duration::ZERO);
        after_chunk(chunk.len());
        let due = started + every * (i as u32 + 1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
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
