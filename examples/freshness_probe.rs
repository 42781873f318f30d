//! The freshness probe for `benches/e2e/freshness.sh`: how long an event takes from the producer
//! to `/metrics`.
//!
//! ```sh
//! cargo run --release --example freshness_probe -- --brokers 127.0.0.1:9092 --topic requests \
//!     --metrics http://127.0.0.1:9464/metrics --secs 60
//! ```
//!
//! Produces one probe event (`"service":"freshness-probe"`, epoch-ms `timestamp` of the moment
//! it is sent, `status` 200, `latency_ms`) every `--every-ms` (50) for `--secs`, round robin over
//! the topic's partitions, with `linger.ms` 5 so batching does not hold a probe back. Meanwhile
//! a second thread scrapes `--metrics` every `--scrape-ms` (20) and reads
//! `slostream_sli_events_total{sli="<--sli>"}` (default `freshness-probe`: the config needs an SLI
//! of that name matching `service: "freshness-probe"` and nothing else).
//!
//! Probe i (from 0) is visible at the first scrape that shows at least base + i + 1, base being
//! the value read before the first probe; its latency is that scrape's time (when its response
//! was read) minus the time just before the probe was handed to the producer. Probes land on
//! different partitions, so a later probe can lift the count before an earlier one: the counter
//! cannot tell them apart, and that probe's latency then reads a little short. After the last
//! probe it keeps scraping until all are visible or `--settle-secs` (30) passed; the ones never
//! seen are reported as lost, not counted in the quantiles. Prints one line on stdout:
//!
//! `freshness_probe: count=N lost=L p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. ack_p50_ms=.. ack_p99_ms=.. scrapes=S scrape_errors=E`
//!
//! With `--stop-file PATH` it also stops sending as soon as PATH exists (checked before each
//! probe), `--secs` then being an upper bound: `benches/e2e/rebuild.sh` probes for as long as a
//! history rebuild runs.
//!
//! `ack_*` is produce → broker acknowledgement of the same probes, the part of the latency that
//! is Kafka's and not slostream's. Exit code 1 when no probe was seen at all.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::ClientContext;

const USAGE: &str = "usage: freshness_probe --brokers B --topic T --metrics URL --secs S \
                     [--every-ms 50] [--scrape-ms 20] [--settle-secs 30] [--sli freshness-probe] \
                     [--stop-file PATH]";

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2);
}

struct Options {
    brokers: String,
    topic: String,
    metrics: String,
    secs: f64,
    every: Duration,
    scrape_every: Duration,
    settle: Duration,
    sli: String,
    stop_file: Option<std::path::PathBuf>,
}

fn options() -> Options {
    let (mut brokers, mut topic, mut metrics, mut secs) = (None, None, None, None);
    let (mut every_ms, mut scrape_ms, mut settle_secs) = (50u64, 20u64, 30u64);
    let mut sli = "freshness-probe".to_string();
    let mut stop_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        let number = |v: String| v.parse::<u64>().unwrap_or_else(|_| usage());
        match arg.as_str() {
            "--brokers" => brokers = Some(value()),
            "--topic" => topic = Some(value()),
            "--metrics" => metrics = Some(value()),
            "--secs" => secs = Some(value().parse::<f64>().unwrap_or_else(|_| usage())),
            "--every-ms" => every_ms = number(value()),
            "--scrape-ms" => scrape_ms = number(value()),
            "--settle-secs" => settle_secs = number(value()),
            "--sli" => sli = value(),
            "--stop-file" => stop_file = Some(value().into()),
            _ => usage(),
        }
    }
    let (Some(brokers), Some(topic), Some(metrics), Some(secs)) = (brokers, topic, metrics, secs) else { usage() };
    if secs <= 0.0 || every_ms == 0 || scrape_ms == 0 {
        usage();
    }
    Options {
        brokers,
        topic,
        metrics,
        secs,
        every: Duration::from_millis(every_ms),
        scrape_every: Duration::from_millis(scrape_ms),
        settle: Duration::from_secs(settle_secs),
        sli,
        stop_file,
    }
}

/// Records when the broker acknowledged each probe (the delivery opaque is the probe's index).
struct Acks {
    at: Mutex<Vec<Option<Instant>>>,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, probe: usize) {
        if result.is_ok() {
            if let Some(slot) = self.at.lock().unwrap().get_mut(probe) {
                *slot = Some(Instant::now());
            }
        }
    }
}

/// The value of `slostream_sli_events_total{sli="<sli>"}` in a Prometheus text exposition.
fn sli_events(body: &str, sli: &str) -> Option<u64> {
    let label = format!("sli=\"{sli}\"");
    body.lines().filter(|l| l.starts_with("slostream_sli_events_total{")).find_map(|l| {
        let (labels, rest) = l.split_once('}')?;
        labels.split(',').any(|kv| kv.trim_start_matches("slostream_sli_events_total{") == label).then_some(())?;
        rest.split_whitespace().next()?.parse::<f64>().ok().map(|v| v as u64)
    })
}

/// Scrapes the counter, or says why not.
fn scrape(client: &reqwest::blocking::Client, url: &str, sli: &str) -> Result<u64, String> {
    let body =
        client.get(url).send().and_then(|r| r.error_for_status()).and_then(|r| r.text()).map_err(|e| e.to_string())?;
    sli_events(&body, sli).ok_or_else(|| format!("no slostream_sli_events_total{{sli=\"{sli}\"}} in {url}"))
}

/// Every change of the counter the scraper saw, in order, with when its response was read.
type Seen = Vec<(Instant, u64)>;

/// Nearest-rank quantile of sorted milliseconds.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let o = options();
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build().expect("http client");

    // The base: slostream must answer and export the probe's SLI before the first probe.
    let deadline = Instant::now() + Duration::from_secs(30);
    let base = loop {
        match scrape(&client, &o.metrics, &o.sli) {
            Ok(v) => break v,
            Err(e) if Instant::now() > deadline => {
                eprintln!("freshness_probe: {e}");
                std::process::exit(1);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };

    let probes = ((o.secs * 1000.0) / o.every.as_millis() as f64).round().max(1.0) as usize;
    let acks = Acks { at: Mutex::new(vec![None; probes]) };
    let producer: BaseProducer<Acks> = ClientConfig::new()
        .set("bootstrap.servers", &o.brokers)
        .set("linger.ms", "5")
        .create_with_context(acks)
        .unwrap_or_else(|e| panic!("producer: {e}"));
    // Connects and learns the partitions before the first probe, so no probe waits for that.
    let metadata = producer
        .client()
        .fetch_metadata(Some(&o.topic), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("metadata of {}: {e}", o.topic));
    let partitions = metadata.topics().first().map_or(0, |t| t.partitions().len()) as i32;
    if partitions == 0 {
        eprintln!("freshness_probe: topic {} has no partitions", o.topic);
        std::process::exit(1);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let latest = Arc::new(AtomicU64::new(base));
    let scraper = {
        let (stop, latest, client, url, sli, every) =
            (stop.clone(), latest.clone(), client.clone(), o.metrics.clone(), o.sli.clone(), o.scrape_every);
        std::thread::spawn(move || {
            let (mut seen, mut scrapes, mut errors): (Seen, u64, u64) = (vec![(Instant::now(), base)], 0, 0);
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                match scrape(&client, &url, &sli) {
                    Ok(v) => {
                        let at = Instant::now();
                        if v != seen.last().map_or(u64::MAX, |s| s.1) {
                            seen.push((at, v));
                            latest.store(v, Ordering::Relaxed);
                        }
                    }
                    Err(_) => errors += 1,
                }
                scrapes += 1;
                // Fixed deadlines, so a slow scrape does not shift every later one.
                next += every;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
            (seen, scrapes, errors)
        })
    };

    let mut payload = String::with_capacity(160);
    let mut sent_at = Vec::with_capacity(probes);
    let start = Instant::now();
    for i in 0..probes {
        if o.stop_file.as_ref().is_some_and(|f| f.exists()) {
            break;
        }
        let due = start + o.every * i as u32;
        // Serves delivery callbacks while it waits for the next probe's time.
        while let Some(left) = due.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
            producer.poll(left);
        }
        payload.clear();
        let _ = write!(
            payload,
            "{{\"timestamp\":{},\"service\":\"freshness-probe\",\"route\":\"/probe\",\"method\":\"GET\",\"status\":200,\"latency_ms\":1.0,\"probe\":{i}}}",
            slostream::time::wall_ms()
        );
        let key = (i as u64).to_le_bytes();
        let at = Instant::now();
        let record = BaseRecord::with_opaque_to(&o.topic, i)
            .payload(payload.as_str())
            .key(&key[..])
            .partition(i as i32 % partitions);
        if let Err((e, _)) = producer.send(record) {
            panic!("probe {i}: {e}");
        }
        sent_at.push(at);
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap_or_else(|e| panic!("flush: {e}"));
    let probes = sent_at.len();

    let settle = Instant::now() + o.settle;
    while latest.load(Ordering::Relaxed) < base + probes as u64 && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let (seen, scrapes, errors) = scraper.join().expect("scraper thread");

    let mut latencies: Vec<f64> = Vec::with_capacity(probes);
    for (i, sent) in sent_at.iter().enumerate() {
        let target = base + i as u64 + 1;
        // The counter never decreases, so the first change reaching the target is where it is.
        let first = seen.partition_point(|&(_, v)| v < target);
        if let Some(&(at, _)) = seen.get(first) {
            latencies.push(at.saturating_duration_since(*sent).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let acks = producer.context().at.lock().unwrap();
    let mut ack_ms: Vec<f64> = acks
        .iter()
        .zip(&sent_at)
        .filter_map(|(a, s)| a.map(|a| a.saturating_duration_since(*s).as_secs_f64() * 1000.0))
        .collect();
    ack_ms.sort_by(f64::total_cmp);

    println!(
        "freshness_probe: count={} lost={} p50_ms={:.0} p90_ms={:.0} p99_ms={:.0} max_ms={:.0} ack_p50_ms={:.1} ack_p99_ms={:.1} scrapes={scrapes} scrape_errors={errors}",
        latencies.len(),
        probes - latencies.len(),
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.90),
        quantile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        quantile(&ack_ms, 0.50),
        quantile(&ack_ms, 0.99),
    );
    if latencies.is_empty() {
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sli_counter_and_no_other() {
        let body = "# TYPE slostream_sli_events_total counter\n\
                    slostream_sli_events_total{sli=\"geo\"} 7\n\
                    slostream_sli_events_total{sli=\"freshness-probe\"} 42\n\
                    slostream_sli_good_events_total{sli=\"freshness-probe\"} 41\n";
        assert_eq!(sli_events(body, "freshness-probe"), Some(42));
        assert_eq!(sli_events(body, "geo"), Some(7));
        assert_eq!(sli_events(body, "freshness"), None);
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[3.0], 0.99), 3.0);
    }
}
