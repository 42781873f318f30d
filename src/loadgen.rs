//! Realistic request events for demos, docker-compose and benchmarks.
//!
//! Three services (search-api, geo, booking) with their routes, methods, statuses and
//! latencies, padded with fields no SLI reads (region, user agent, request id), about 250 bytes
//! each. Incidents recur on a schedule: search-api then fails 8% of requests and slows down four
//! times, booking fails 3%, so burn rates and alerts visibly move.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::time::format_rfc3339_ms as rfc3339;

/// When incidents happen, relative to the generator's start.
#[derive(Debug, Clone, Copy)]
pub struct Incidents {
    /// Time from one incident's start to the next; zero: no incidents.
    pub every: Duration,
    /// How long each incident lasts, at the end of each `every` period.
    pub lasts: Duration,
}

impl Incidents {
    fn active(&self, elapsed: Duration) -> bool {
        !self.every.is_zero() && (elapsed.as_millis() % self.every.as_millis()) >= (self.every - self.lasts).as_millis()
    }
}

/// Writes one event at a time into a reused buffer.
pub struct Traffic {
    rng: SmallRng,
    incidents: Incidents,
    started: Instant,
    seq: u64,
    /// When set, `service` is `svc-<k>` (`k` uniform below this, five digits) instead of the
    /// three example services: traffic for configs of thousands of SLIs.
    services: Option<u32>,
}

const REGIONS: [&str; 4] = ["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"];
const AGENTS: [&str; 3] = ["android/7.12.0", "ios/7.11.2", "web/2026.11"];

impl Traffic {
    /// A generator seeded with `seed`; incidents are timed from this call.
    pub fn new(seed: u64, incidents: Incidents) -> Traffic {
        Traffic { rng: SmallRng::seed_from_u64(seed), incidents, started: Instant::now(), seq: 0, services: None }
    }

    /// Spreads events over services `svc-00000` .. `svc-<n-1>` instead of the example's three.
    pub(crate) fn with_services(mut self, n: Option<u32>) -> Traffic {
        self.services = n.filter(|&n| n > 0);
        self
    }

    /// True while an incident is on.
    pub(crate) fn in_incident(&self) -> bool {
        self.incidents.active(self.started.elapsed())
    }

    /// Replaces `out` with one JSON event stamped `now_ms`.
    pub fn event(&mut self, now_ms: i64, out: &mut String) {
        out.clear();
        self.seq += 1;
        let incident = self.in_incident();
        let r = &mut self.rng;
        let pick: f64 = r.random();
        let (service, route, method, status, latency) = if pick < 0.5 {
            let route = ["/v2/trips", "/v2/trips", "/v2/trips/{id}", "/v2/health"][r.random_range(0..4)];
            let err = if incident { 0.08 } else { 0.002 };
            let status = if r.random_bool(err) { [500, 503][r.random_range(0..2)] } else { 200 };
            let slow = if incident { 4.0 } else { 1.0 };
            ("search-api", route, "GET", status, latency(r, 60.0 * slow))
        } else if pick < 0.75 {
            let status = if r.random_bool(if incident { 0.01 } else { 0.0005 }) { 502 } else { 200 };
            ("geo", "/v1/geocode", "GET", status, latency(r, 20.0))
        } else {
            let method = if r.random_bool(0.7) { "POST" } else { "GET" };
            let err = if incident { 0.03 } else { 0.0005 };
            let status = match r.random::<f64>() {
                x if x < err => 500,
                x if x < err + 0.0002 => 429,
                _ if method == "POST" => 201,
                _ => 200,
            };
            ("booking", "/v1/bookings", method, status, latency(r, 120.0))
        };
        let region = REGIONS[r.random_range(0..REGIONS.len())];
        let agent = AGENTS[r.random_range(0..AGENTS.len())];
        let bytes: u32 = r.random_range(200..20_000);
        let id: u64 = r.random();
        out.push_str("{\"timestamp\":");
        if self.seq.is_multiple_of(5) {
            let _ = write!(out, "{now_ms}");
        } else {
            out.push('"');
            rfc3339(now_ms, out);
            out.push('"');
        }
        match self.services {
            Some(n) => {
                let _ = write!(out, ",\"service\":\"svc-{:05}\"", r.random_range(0..n));
            }
            None => {
                let _ = write!(out, ",\"service\":\"{service}\"");
            }
        }
        let _ = write!(
            out,
            ",\"route\":\"{route}\",\"method\":\"{method}\",\"status\":{status},\"latency_ms\":{latency:.1},\"region\":\"{region}\",\"user_agent\":\"{agent}\",\"request_id\":\"{id:016x}\",\"response_bytes\":{bytes},\"trace\":{{\"sampled\":false}}}}"
        );
    }
}

/// A skewed latency with a long tail: `scale_ms × e^(0.35 X)`, X exponential, so about 0.4% of
/// search requests pass 300 ms normally and a fifth of them during an incident.
fn latency(r: &mut SmallRng, scale_ms: f64) -> f64 {
    let u: f64 = r.random_range(0.0001..1.0);
    scale_ms * 0.7 * (-(u.ln()) * 0.35).exp()
}

/// Produces events at `rate` per second (0: as fast as possible) until `count` events were
/// sent or `stop` is set; returns how many were delivered to librdkafka.
pub fn produce(
    brokers: &str,
    topic: &str,
    rate: u64,
    count: Option<u64>,
    incidents: Incidents,
    services: Option<u32>,
    stop: &AtomicBool,
) -> Result<u64, KafkaError> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let mut traffic = Traffic::new(rand::rng().random(), incidents).with_services(services);
    let mut buf = String::with_capacity(512);
    let started = Instant::now();
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) && count.is_none_or(|c| sent < c) {
        if rate > 0 {
            let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
            if sent >= due {
                // Sleep rather than poll with a timeout: a poll shorter than librdkafka's
                // 1 ms resolution returns at once, and loadgen would spin a core at any rate.
                producer.poll(Duration::ZERO);
                std::thread::sleep(Duration::from_micros(500));
                continue;
            }
        }
        traffic.event(crate::time::wall_ms(), &mut buf);
        let key = sent.to_le_bytes();
        loop {
            match producer.send(BaseRecord::to(topic).payload(buf.as_str()).key(&key[..])) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(e),
            }
        }
        sent += 1;
        if sent.is_multiple_of(1024) {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_valid_json_of_realistic_size() {
        let mut t = Traffic::new(7, Incidents { every: Duration::ZERO, lasts: Duration::ZERO });
        let mut s = String::new();
        let mut total = 0;
        for _ in 0..1000 {
            t.event(1_795_694_400_000, &mut s);
            let v: serde_json::Value = serde_json::from_str(&s).unwrap();
            assert!(v["service"].is_string() && v["status"].is_u64());
            total += s.len();
        }
        let avg = total / 1000;
        assert!((200..320).contains(&avg), "{avg}");
    }
}
