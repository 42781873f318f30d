//! The raw-consume baseline for `benches/e2e/run.sh`: reads a topic from the beginning with
//! exactly slostream's librdkafka settings and does nothing with a message but touch its
//! payload, so slostream's end-to-end rate can be given as a ratio of what the client alone
//! reaches on the same broker in the same run.
//!
//! ```sh
//! cargo run --release --example raw_consume -- --config slostream.yaml --count 5000000
//! ```
//!
//! The settings come from `slostream::ingest::client_config` with the same config file
//! slostream runs with. Like slostream's ingest workers, it runs `ingest.workers` threads (or
//! `--consumers`), each with its own `BaseConsumer`, polling without waiting while messages
//! flow; the partitions of `kafka.topics` are assigned by hand from the beginning and spread
//! evenly over the threads. It exits once `--count` messages were read, printing one line:
//! `raw_consume: N messages, B payload bytes in S s: R msg/s`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use slostream::config::Config;
use slostream::ingest::batch::BatchConsumer;
use slostream::ingest::client_config;

/// Messages a thread reads between updates of the shared total.
const BATCH: u64 = 1024;

/// One thread's reading: messages and bytes not yet added to the shared totals.
struct Touched<'a> {
    n: u64,
    size: u64,
    touched: u64,
    count: u64,
    total: &'a AtomicU64,
    bytes: &'a AtomicU64,
    done: &'a AtomicBool,
}

impl Touched<'_> {
    /// Touches the payload (its first and last byte) and counts it.
    #[inline]
    fn touch(&mut self, payload: Option<&[u8]>) {
        let payload = payload.unwrap_or(&[]);
        self.touched = self.touched.wrapping_add(u64::from(*payload.first().unwrap_or(&0)))
            ^ u64::from(*payload.last().unwrap_or(&0));
        self.size += payload.len() as u64;
        self.n += 1;
        if self.n == BATCH {
            self.flush();
        }
    }

    /// Adds what was read so far to the shared totals.
    fn flush(&mut self) {
        self.bytes.fetch_add(std::mem::take(&mut self.size), Ordering::Relaxed);
        let n = std::mem::take(&mut self.n);
        if self.total.fetch_add(n, Ordering::Relaxed) + n >= self.count {
            self.done.store(true, Ordering::Relaxed);
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: raw_consume --config FILE --count N [--consumers K] [--per-message]");
    std::process::exit(2);
}

fn main() {
    let (mut path, mut count, mut consumers, mut per_message) = (None, None, None, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--config" => path = Some(value()),
            "--count" => count = Some(value().parse::<u64>().unwrap_or_else(|_| usage())),
            "--consumers" => consumers = Some(value().parse::<usize>().unwrap_or_else(|_| usage())),
            "--per-message" => per_message = true,
            _ => usage(),
        }
    }
    let (Some(path), Some(count)) = (path, count) else { usage() };
    let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let config = Config::from_yaml(&yaml, &path).unwrap_or_else(|e| panic!("{e}"));
    let consumers = consumers.unwrap_or(config.ingest.workers).max(1);

    let metadata_client: BaseConsumer = client_config(&config).create().expect("consumer");
    let mut partitions = Vec::new();
    for topic in &config.kafka.topics {
        let metadata = metadata_client.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
        for t in metadata.topics() {
            partitions.extend(t.partitions().iter().map(|p| (t.name().to_string(), p.id())));
        }
    }
    drop(metadata_client);
    assert!(!partitions.is_empty(), "no partitions in {:?}", config.kafka.topics);

    let total = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..consumers)
        .map(|i| {
            let mut tpl = TopicPartitionList::new();
            for (topic, p) in partitions.iter().skip(i).step_by(consumers) {
                tpl.add_partition_offset(topic, *p, Offset::Beginning).expect("partition");
            }
            let mut c = client_config(&config);
            c.set("client.id", format!("raw-consume-{i}"));
            let consumer: BaseConsumer = c.create().expect("consumer");
            let (total, bytes, done) = (total.clone(), bytes.clone(), done.clone());
            std::thread::spawn(move || {
                consumer.assign(&tpl).expect("assign");
                let mut t = Touched { n: 0, size: 0, touched: 0, count, total: &total, bytes: &bytes, done: &done };
                if per_message {
                    let mut idle = false;
                    while !done.load(Ordering::Relaxed) {
                        let wait = if idle { Duration::from_millis(100) } else { Duration::ZERO };
                        match consumer.poll(wait) {
                            Some(Ok(msg)) => {
                                t.touch(msg.payload());
                                idle = false;
                            }
                            Some(Err(e)) => eprintln!("raw_consume: {e}"),
                            None => {
                                t.flush();
                                idle = true;
                            }
                        }
                    }
                } else {
                    let mut consumer = BatchConsumer::new(consumer).expect("consumer queue");
                    let mut idle = false;
                    while !done.load(Ordering::Relaxed) {
                        let wait = if idle { Duration::from_millis(100) } else { Duration::ZERO };
                        let batch = consumer.poll(wait);
                        idle = batch.is_empty();
                        for msg in batch {
                            match msg.error() {
                                None => t.touch(msg.payload()),
                                Some(e) => eprintln!("raw_consume: {e}"),
                            }
                        }
                        if idle {
                            t.flush();
                        }
                    }
                }
                t.flush();
                std::hint::black_box(t.touched);
            })
        })
        .collect();
    // A thread whose partitions run dry stops adding: check the total here as well.
    while !done.load(Ordering::Relaxed) {
        if total.load(Ordering::Relaxed) >= count {
            done.store(true, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = start.elapsed().as_secs_f64();
    for t in threads {
        t.join().expect("consumer thread");
    }
    let n = total.load(Ordering::Relaxed);
    println!(
        "raw_consume: {n} messages, {} payload bytes in {secs:.3} s: {:.0} msg/s",
        bytes.load(Ordering::Relaxed),
        n as f64 / secs
    );
}
