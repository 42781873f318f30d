//! Realistic request events for demos, docker-compose and benchmarks.
//!
//! Three services (search-api, geo, booking) with their routes, methods, statuses and
//! latencies, padded with fields no SLI reads (region, user agent, request id), about 250 bytes
//! each; [`Traffic::with_event_bytes`] adds what real access logs carry (a query-string list,
//! ~20 request headers with a long user agent and a cookie) to bring them to a given size.
//! Incidents recur on a schedule: search-api then fails 8% of requests and slows down four
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
    /// The seed, from which the padding's generator is derived.
    seed: u64,
    /// When set, fields no SLI reads that bring each event to a given size (see [`Padding`]).
    padding: Option<Padding>,
}

const REGIONS: [&str; 4] = ["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"];
const AGENTS: [&str; 3] = ["android/7.12.0", "ios/7.11.2", "web/2026.11"];

impl Traffic {
    /// A generator seeded with `seed`; incidents are timed from this call.
    pub fn new(seed: u64, incidents: Incidents) -> Traffic {
        Traffic {
            rng: SmallRng::seed_from_u64(seed),
            incidents,
            started: Instant::now(),
            seq: 0,
            services: None,
            seed,
            padding: None,
        }
    }

    /// Pads every event to about `bytes` (at least [`MIN_EVENT_BYTES`] make sense: smaller
    /// targets get the smallest padded event) with a query list and request headers, fields no
    /// example SLI reads; `None` leaves the ~250-byte events as they are. The fields an SLI reads keep their values: a padded
    /// stream classifies exactly as the unpadded one of the same seed.
    pub fn with_event_bytes(mut self, bytes: Option<usize>) -> Traffic {
        self.padding = bytes.map(|bytes| Padding {
            bytes,
            rng: SmallRng::seed_from_u64(self.seed ^ 0x0070_6164_6469_6e67),
            buf: String::with_capacity(bytes),
        });
        self
    }

    /// Spreads events over services `svc-00000` .. `svc-<n-1>` instead of the example's three.
    pub fn with_services(mut self, n: Option<u32>) -> Traffic {
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
        let agent_kind = r.random_range(0..AGENTS.len());
        let agent = AGENTS[agent_kind];
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
        let _ = write!(out, ",\"route\":\"{route}\",\"method\":\"{method}\"");
        // Padding goes here, between the fields SLIs read, as in a real access log.
        let padding_at = out.len();
        let _ = write!(
            out,
            ",\"status\":{status},\"latency_ms\":{latency:.1},\"region\":\"{region}\",\"user_agent\":\"{agent}\",\"request_id\":\"{id:016x}\",\"response_bytes\":{bytes},\"trace\":{{\"sampled\":false}}}}"
        );
        if let Some(padding) = &mut self.padding {
            padding.insert(out, padding_at, agent_kind, service);
        }
    }
}

/// The smallest event `--event-bytes` asks for: about the largest unpadded event plus the
/// query list and the user agent, which every padded event has.
pub const MIN_EVENT_BYTES: usize = 600;

/// Request fields of a real access log that no example SLI reads: `query` (the query string as
/// a list) and `headers` (a long user agent first, then typical headers while they fit, and a
/// `cookie` sized so the event reaches the target). Drawn from a generator of its own, so the
/// rest of the event is exactly the unpadded one.
struct Padding {
    bytes: usize,
    rng: SmallRng,
    buf: String,
}

/// Long user agents of each kind in [`AGENTS`].
const USER_AGENTS: [[&str; 2]; 3] = [
    [
        "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Pro Build/AP2A.240905.003) RideApp/7.12.0 (build 71200; okhttp/4.12.0)",
        "Dalvik/2.1.0 (Linux; U; Android 13; SM-S918B Build/TP1A.220624.014) RideApp/7.12.0 (build 71200; okhttp/4.12.0)",
    ],
    [
        "RideApp/7.11.2 (com.example.ride; build:71102; iOS 18.1.1) Alamofire/5.9.1 CFNetwork/1568.200.51 Darwin/24.1.0",
        "RideApp/7.11.2 (com.example.ride; build:71102; iOS 17.6.1) Alamofire/5.9.1 CFNetwork/1498.700.2 Darwin/23.6.0",
    ],
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ],
];
const PLATFORMS: [&str; 3] = ["Android", "iOS", "Windows"];
const LANGUAGES: [&str; 4] =
    ["en-GB,en;q=0.9", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "fr-FR,fr;q=0.9,en;q=0.8", "es-ES,es;q=0.9"];
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Padding {
    /// Inserts the padding fields into `out` at `at` (a position between two fields).
    fn insert(&mut self, out: &mut String, at: usize, agent_kind: usize, service: &str) {
        let (p, r) = (&mut self.buf, &mut self.rng);
        p.clear();
        p.push_str(",\"query\":[");
        let _ = match service {
            "geo" => write!(
                p,
                "\"q={}%20{}\",\"lang=en\",\"limit=5\"",
                ["Hauptbahnhof", "Airport", "Old%20Town", "Central%20Station"][r.random_range(0..4)],
                r.random_range(1..200)
            ),
            "booking" => write!(
                p,
                "\"trip_id={:012x}\",\"seats={}\",\"currency=EUR\",\"promo=\"",
                r.random::<u64>() >> 16,
                r.random_range(1..5)
            ),
            _ => write!(
                p,
                "\"from={:.4},{:.4}\",\"to={:.4},{:.4}\",\"date=2026-12-{:02}\",\"passengers={}\",\"lang=en\"",
                r.random_range(35.0..60.0),
                r.random_range(-9.0..25.0),
                r.random_range(35.0..60.0),
                r.random_range(-9.0..25.0),
                r.random_range(1..29),
                r.random_range(1..5)
            ),
        };
        let _ = write!(p, "],\"headers\":{{\"user-agent\":\"{}\"", USER_AGENTS[agent_kind][r.random_range(0..2)]);
        const COOKIE: &str = ",\"cookie\":\"sid=\"}";
        let budget = self.bytes.saturating_sub(out.len());
        for header in 0.. {
            let mark = p.len();
            let _ = match header {
                0 => write!(p, ",\"accept\":\"application/json, text/plain, */*\""),
                1 => write!(p, ",\"accept-encoding\":\"gzip, deflate, br, zstd\""),
                2 => write!(p, ",\"accept-language\":\"{}\"", LANGUAGES[r.random_range(0..LANGUAGES.len())]),
                3 => write!(p, ",\"host\":\"api.example.com\""),
                4 => write!(
                    p,
                    ",\"x-forwarded-for\":\"{}.{}.{}.{}, 10.0.{}.{}\"",
                    r.random_range(1..224),
                    r.random_range(0..256),
                    r.random_range(0..256),
                    r.random_range(1..255),
                    r.random_range(0..16),
                    r.random_range(1..255)
                ),
                5 => write!(p, ",\"x-forwarded-proto\":\"https\""),
                6 => {
                    let (a, b): (u64, u64) = (r.random(), r.random());
                    write!(
                        p,
                        ",\"x-request-id\":\"{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}\"",
                        a >> 32,
                        (a >> 16) & 0xffff,
                        a & 0xfff,
                        ((b >> 48) & 0x3fff) | 0x8000,
                        b & 0xffff_ffff_ffff
                    )
                }
                7 => write!(
                    p,
                    ",\"traceparent\":\"00-{:016x}{:016x}-{:016x}-0{}\"",
                    r.random::<u64>(),
                    r.random::<u64>(),
                    r.random::<u64>(),
                    r.random_range(0..2)
                ),
                8 => write!(p, ",\"content-type\":\"application/json; charset=utf-8\""),
                9 => write!(p, ",\"origin\":\"https://www.example.com\""),
                10 => write!(
                    p,
                    ",\"referer\":\"https://www.example.com/{}?utm_source=newsletter&utm_medium=email&utm_campaign=winter-{}\"",
                    ["trips/search", "bookings", "map"][r.random_range(0..3)],
                    r.random_range(1..40)
                ),
                11 => write!(
                    p,
                    ",\"sec-ch-ua\":\"\\\"Chromium\\\";v=\\\"131\\\", \\\"Not_A Brand\\\";v=\\\"24\\\", \\\"Google Chrome\\\";v=\\\"131\\\"\""
                ),
                12 => write!(p, ",\"sec-ch-ua-mobile\":\"?{}\"", u8::from(agent_kind < 2)),
                13 => write!(p, ",\"sec-ch-ua-platform\":\"\\\"{}\\\"\"", PLATFORMS[agent_kind]),
                14 => write!(p, ",\"sec-fetch-dest\":\"empty\""),
                15 => write!(p, ",\"sec-fetch-mode\":\"cors\""),
                16 => write!(p, ",\"sec-fetch-site\":\"same-site\""),
                17 => {
                    p.push_str(",\"authorization\":\"Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.");
                    base64url(r, p, 86);
                    p.push('"');
                    Ok(())
                }
                18 => write!(p, ",\"cache-control\":\"no-cache\""),
                19 => write!(p, ",\"pragma\":\"no-cache\""),
                20 => write!(p, ",\"x-app-version\":\"{}\"", ["7.12.0", "7.11.2", "2026.11"][agent_kind]),
                _ => break,
            };
            if p.len() + COOKIE.len() > budget {
                p.truncate(mark);
                break;
            }
        }
        let fill = budget.saturating_sub(p.len() + COOKIE.len());
        if fill > 0 {
            p.push_str(",\"cookie\":\"sid=");
            base64url(r, p, fill);
            p.push('"');
        }
        p.push('}');
        out.insert_str(at, p);
    }
}

/// Appends `n` random base64url characters.
fn base64url(r: &mut SmallRng, out: &mut String, n: usize) {
    let mut bits = 0u64;
    for i in 0..n {
        if i % 10 == 0 {
            bits = r.random();
        }
        out.push(char::from(BASE64URL[(bits & 63) as usize]));
        bits >>= 6;
    }
}

/// A skewed latency with a long tail: `scale_ms × e^(0.35 X)`, X exponential, so about 0.4% of
/// search requests pass 300 ms normally and a fifth of them during an incident.
fn latency(r: &mut SmallRng, scale_ms: f64) -> f64 {
    let u: f64 = r.random_range(0.0001..1.0);
    scale_ms * 0.7 * (-(u.ln()) * 0.35).exp()
}

/// What [`produce`] handed to librdkafka.
#[derive(Debug, Clone, Copy)]
pub struct Produced {
    /// Events sent.
    pub events: u64,
    /// Payload bytes of those events.
    pub bytes: u64,
}

/// The producer's `compression.type` unless told otherwise: what most deployments use.
pub const DEFAULT_COMPRESSION: &str = "lz4";

/// Produces `traffic`'s events at `rate` per second (0: as fast as possible) until `count`
/// events were sent or `stop` is set, compressed with `compression` (librdkafka's
/// `compression.type`); returns what was delivered to librdkafka.
pub fn produce(
    brokers: &str,
    topic: &str,
    (rate, count, compression): (u64, Option<u64>, &str),
    mut traffic: Traffic,
    stop: &AtomicBool,
) -> Result<Produced, KafkaError> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("compression.type", compression)
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let mut buf = String::with_capacity(512);
    let started = Instant::now();
    let (mut sent, mut bytes) = (0u64, 0u64);
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
        bytes += buf.len() as u64;
        if sent.is_multiple_of(1024) {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(Produced { events: sent, bytes })
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

    const NO_INCIDENTS: Incidents = Incidents { every: Duration::ZERO, lasts: Duration::ZERO };
    const NOW: i64 = 1_795_694_400_000;

    /// FNV-1a over 10,000 events of seed 16, and the first one, as the generator wrote them
    /// before padding existed: without `--event-bytes` the events stay byte for byte the same.
    #[test]
    fn unpadded_events_are_unchanged() {
        for mut t in [Traffic::new(16, NO_INCIDENTS), Traffic::new(16, NO_INCIDENTS).with_event_bytes(None)] {
            let (mut s, mut h) = (String::new(), 0xcbf2_9ce4_8422_2325u64);
            for i in 0..10_000 {
                t.event(NOW + i, &mut s);
                if i == 0 {
                    assert_eq!(s, FIRST_UNPADDED);
                }
                s.bytes().for_each(|b| h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
            }
            assert_eq!(h, UNPADDED_HASH, "{h:#018x}");
        }
    }

    const UNPADDED_HASH: u64 = 0xb461_725a_77a2_a5e9;
    const FIRST_UNPADDED: &str = r#"{"timestamp":"2026-11-26T12:00:00.000Z","service":"search-api","route":"/v2/trips","method":"GET","status":200,"latency_ms":50.2,"region":"eu-west-1","user_agent":"web/2026.11","request_id":"4fa2f51674fa8b69","response_bytes":19676,"trace":{"sampled":false}}"#;
}
