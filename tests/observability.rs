//! slostream in the observability stack people already run, each piece a real program:
//!
//! - burn alerts pushed to a real Alertmanager (Debian's `prometheus-alertmanager`) from events
//!   produced to the real test broker: labels, annotations, the notification Alertmanager sends
//!   its (webhook) receiver, resolution with `endsAt`, and the time from the first bad event
//!   produced to the alert visible in `GET /api/v2/alerts`;
//! - an unreachable or hanging Alertmanager never holds up ingest, and is counted;
//! - every panel query of every Grafana dashboard in `config/grafana/dashboards/` returns data
//!   from a real Prometheus (Debian's `prometheus`) scraping a real slostream, and the JSON holds
//!   what Grafana's provisioning needs.
//!
//! Alertmanager and Prometheus run on free 127.0.0.1 ports with their data in the scratch
//! directory; a guard kills each at the end of its test (or at a panic, printing its log).
//! Timings are printed (`--nocapture`), never asserted.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{broker, create_topic, free_port, now_ms, produce, scratch_dir, send_record, unique, Record, Slostream};
use rdkafka::producer::Producer;
use serde_json::Value;

const EXAMPLE: &str = include_str!("../config/example.yaml");
const DASHBOARDS: &[&str] = &["overview.json", "feature.json", "slostream.json"];
const RUNBOOK: &str = "https://runbooks.example/book";

// ---------------------------------------------------------------------------------------------
// Config: config/example.yaml with this test's broker, topic, group, port and extras.
// ---------------------------------------------------------------------------------------------

/// `text` with `from` (which must occur exactly once, so a changed example file fails here
/// rather than silently testing something else) replaced by `to`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "config/example.yaml should contain {from:?} exactly once");
    text.replacen(from, to, 1)
}

struct Setup<'a> {
    topic: &'a str,
    group: &'a str,
    port: u16,
    /// Extra keys of the `book-a-ride` SLO, each line indented by four spaces.
    book_a_ride: &'a str,
    /// Extra top-level sections (`alertmanager:` ...).
    top: &'a str,
    sloth: bool,
}

/// Writes `dir/slostream.yaml` and validates it with `slostream check`.
fn write_config(dir: &Path, s: &Setup<'_>) -> PathBuf {
    let mut yaml =
        replace_once(EXAMPLE, "brokers: \"127.0.0.1:9092\"", &format!("brokers: \"{}\"", broker().bootstrap));
    yaml = replace_once(&yaml, "topics: [\"requests\"]", &format!("topics: [\"{}\"]", s.topic));
    yaml = replace_once(&yaml, "group_id: \"slostream\"", &format!("group_id: \"{}\"", s.group));
    let compat = if s.sloth { "\n  compat: sloth" } else { "" };
    yaml = replace_once(&yaml, "listen: \"127.0.0.1:9464\"", &format!("listen: \"127.0.0.1:{}\"{compat}", s.port));
    yaml = replace_once(
        &yaml,
        "  book-a-ride:\n    objective: 99.9\n",
        &format!("  book-a-ride:\n    objective: 99.9\n{}", s.book_a_ride),
    );
    if !yaml.ends_with('\n') {
        yaml.push('\n');
    }
    yaml.push_str(&format!("state:\n  dir: \"{}\"\n{}", dir.join("state").display(), s.top));
    let path = dir.join("slostream.yaml");
    fs::write(&path, &yaml).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_slostream"))
        .args(["check", "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("run slostream check");
    assert!(
        out.status.success(),
        "slostream check refused the test config:\n{}\n---- config ----\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

fn booking(status: u16, ts: i64, latency: u64) -> Vec<u8> {
    format!(r#"{{"timestamp":{ts},"service":"booking","method":"POST","route":"/v1/bookings","status":{status},"latency_ms":{latency}}}"#)
        .into_bytes()
}

fn search(route: &str, status: u16, ts: i64, latency: u64) -> Vec<u8> {
    format!(r#"{{"timestamp":{ts},"service":"search-api","method":"GET","route":"{route}","status":{status},"latency_ms":{latency}}}"#)
        .into_bytes()
}

fn geo(status: u16, ts: i64, latency: u64) -> Vec<u8> {
    format!(r#"{{"timestamp":{ts},"service":"geo","method":"GET","route":"/v1/geocode","status":{status},"latency_ms":{latency}}}"#)
        .into_bytes()
}

/// Event `i` of a steady, realistic mix at `ts`: every SLI of the example config with
/// latencies, a few failures, unmatched events (booking GETs, payments) and, one in 50, an
/// invalid message of each reject reason in turn.
fn realistic(i: u64, ts: i64) -> Vec<u8> {
    let latency = 20 + (i * 37) % 380; // 20..400 ms, some above search-latency's 300
    if i % 50 == 49 {
        return match (i / 50) % 5 {
            0 => b"{\"timestamp\":".to_vec(),                   // invalid_json
            1 => b"[1,2,3]".to_vec(),                           // not_an_object
            2 => br#"{"service":"geo","status":200}"#.to_vec(), // missing_timestamp
            3 => br#"{"timestamp":"yesterday","service":"geo","status":200}"#.to_vec(), // invalid_timestamp
            _ => geo(200, ts + 3_600_000, latency),             // too_far_in_future
        };
    }
    match i % 8 {
        0 | 1 => search("/v2/trips", if i.is_multiple_of(97) { 503 } else { 200 }, ts, latency),
        2 => search("/v2/trips/{id}", 200, ts, latency),
        3 | 4 => geo(if i.is_multiple_of(61) { 500 } else { 200 }, ts, latency),
        5 => booking(if i.is_multiple_of(89) { 500 } else if i.is_multiple_of(73) { 429 } else { 201 }, ts, latency),
        6 => format!(r#"{{"timestamp":{ts},"service":"booking","method":"GET","route":"/v1/bookings/{{id}}","status":200,"latency_ms":{latency}}}"#)
            .into_bytes(),
        _ => format!(r#"{{"timestamp":{ts},"service":"payments","method":"POST","status":200,"latency_ms":{latency}}}"#).into_bytes(),
    }
}

// ---------------------------------------------------------------------------------------------
// Prometheus and Alertmanager processes
// ---------------------------------------------------------------------------------------------

/// The path of a Debian-packaged binary, or a failure that says how to get it.
fn binary(name: &str, package: &str) -> PathBuf {
    let in_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|c| c.is_file()))
        .unwrap_or(None);
    in_path.or_else(|| Some(Path::new("/usr/bin").join(name)).filter(|p| p.is_file())).unwrap_or_else(|| {
        panic!(
            "`{name}` not found (PATH or /usr/bin): this test needs Debian's `{package}` package \
             (`apt-get install prometheus prometheus-alertmanager`; tests/run.sh installs it)"
        )
    })
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().expect("http client")
}

/// A process of ours that is killed (SIGKILL, by its own pid) when the guard drops; at a panic
/// its log tail is printed.
struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(name: &str, bin: &Path, args: &[String], dir: &Path) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(bin)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join(format!("{name}.stdout"))).expect("create stdout file"))
            .stderr(fs::File::create(&log).expect("create log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        Daemon { name: name.to_string(), child, log }
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("{} exited early with {status}; its log:\n{}", self.name, self.log_tail(40));
        }
    }

    /// Polls `url` until it answers 200.
    fn wait_ok(&mut self, url: &str, timeout: Duration) -> Duration {
        let client = http();
        let started = Instant::now();
        loop {
            self.assert_running();
            if client.get(url).send().is_ok_and(|r| r.status().is_success()) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < timeout,
                "{} did not answer 200 on {url} within {timeout:?}; log:\n{}",
                self.name,
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- {} log ({}) ----\n{}\n---- end ----", self.name, self.log.display(), self.log_tail(40));
        }
    }
}

/// A webhook receiver for Alertmanager's notifications: a plain HTTP/1.1 server on a thread
/// that answers 200 to every request and keeps each JSON body with the wall time it came.
struct Webhook {
    url: String,
    received: Arc<Mutex<Vec<(i64, Value)>>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind webhook");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        // Detached: it blocks in accept until the test process ends.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let sink = sink.clone();
                std::thread::spawn(move || serve_webhook(conn, &sink));
            }
        });
        Webhook { url, received }
    }

    /// Every alert of every notification so far: (when it arrived, the notification's alert).
    fn alerts(&self) -> Vec<(i64, Value)> {
        let got = self.received.lock().unwrap();
        got.iter()
            .flat_map(|(at, n)| n["alerts"].as_array().cloned().unwrap_or_default().into_iter().map(move |a| (*at, a)))
            .collect()
    }
}

/// Serves requests on one keep-alive connection until it closes.
fn serve_webhook(conn: std::net::TcpStream, sink: &Mutex<Vec<(i64, Value)>>) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut writer = conn;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if !first {
                if let Some((k, v)) = line.split_once(':') {
                    if k.trim().eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            first = false;
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(v) = serde_json::from_slice::<Value>(&body) {
            sink.lock().unwrap().push((now_ms(), v));
        }
        if writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").is_err() {
            return;
        }
    }
}

struct Alertmanager {
    daemon: Daemon,
    url: String,
    http: reqwest::blocking::Client,
    hook: Webhook,
}

impl Alertmanager {
    /// Every alert is its own group (`group_by: ['...']`), notified to a webhook of the test
    /// after 1 s, resolutions included.
    fn start(dir: &Path) -> Alertmanager {
        let bin = binary("prometheus-alertmanager", "prometheus-alertmanager");
        let port = free_port();
        let hook = Webhook::start();
        let config = dir.join("alertmanager.yml");
        fs::write(
            &config,
            format!(
                "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
                 receivers:\n  - name: hook\n    webhook_configs:\n      - url: \"{}\"\n        send_resolved: true\n",
                hook.url
            ),
        )
        .expect("write alertmanager.yml");
        let args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", dir.join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".to_string(),
        ];
        let mut daemon = Daemon::spawn("alertmanager", &bin, &args, dir);
        let url = format!("http://127.0.0.1:{port}");
        let took = daemon.wait_ok(&format!("{url}/-/ready"), Duration::from_secs(30));
        eprintln!("[obs] Alertmanager at {url}, ready in {:.1} s", took.as_secs_f64());
        Alertmanager { daemon, url, http: http(), hook }
    }

    /// `GET /api/v2/alerts`: every alert it holds that has not ended.
    fn alerts(&mut self) -> Vec<Value> {
        self.daemon.assert_running();
        let resp = self.http.get(format!("{}/api/v2/alerts", self.url)).send().expect("GET /api/v2/alerts");
        assert!(resp.status().is_success(), "GET /api/v2/alerts: {}", resp.status());
        let v: Value = resp.json().expect("alerts JSON");
        v.as_array().expect("an array of alerts").clone()
    }

    /// The alerts of one run (its `run` label).
    fn run_alerts(&mut self, run: &str) -> Vec<Value> {
        self.alerts().into_iter().filter(|a| a["labels"]["run"] == run).collect()
    }
}

/// (severity, long_window, short_window) of every alert given.
fn rule_set(alerts: &[Value]) -> BTreeSet<(String, String, String)> {
    alerts
        .iter()
        .map(|a| {
            let l = |k: &str| a["labels"][k].as_str().unwrap_or("?").to_string();
            (l("severity"), l("long_window"), l("short_window"))
        })
        .collect()
}

fn rule(sev: &str, long: &str, short: &str) -> (String, String, String) {
    (sev.to_string(), long.to_string(), short.to_string())
}

struct Prometheus {
    daemon: Daemon,
    url: String,
    http: reqwest::blocking::Client,
}

impl Prometheus {
    /// Scrapes `127.0.0.1:<target>` every second as job `slostream`.
    fn start(dir: &Path, target: u16) -> Prometheus {
        let bin = binary("prometheus", "prometheus");
        let port = free_port();
        let config = dir.join("prometheus.yml");
        fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: slostream\n    static_configs:\n      - targets: [\"127.0.0.1:{target}\"]\n"
            ),
        )
        .expect("write prometheus.yml");
        let args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        let mut daemon = Daemon::spawn("prometheus", &bin, &args, dir);
        let url = format!("http://127.0.0.1:{port}");
        let took = daemon.wait_ok(&format!("{url}/-/ready"), Duration::from_secs(60));
        eprintln!("[obs] Prometheus at {url}, ready in {:.1} s", took.as_secs_f64());
        Prometheus { daemon, url, http: http() }
    }

    fn api(&mut self, path: &str, params: &[(&str, &str)]) -> Value {
        self.daemon.assert_running();
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .query(params)
            .send()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status();
        let body: Value = resp.json().unwrap_or_else(|e| panic!("GET {path} {params:?}: not JSON: {e}"));
        assert!(status.is_success() && body["status"] == "success", "GET {path} {params:?} failed ({status}): {body}");
        body["data"].clone()
    }

    /// An instant query: its result vector (panics unless the query succeeded).
    fn query(&mut self, expr: &str) -> Vec<Value> {
        let data = self.api("/api/v1/query", &[("query", expr)]);
        assert_eq!(data["resultType"], "vector", "{expr}: {data}");
        data["result"].as_array().expect("result array").clone()
    }

    /// The single value of a query expected to return one series (0 when it returns none).
    fn value(&mut self, expr: &str) -> f64 {
        let r = self.query(expr);
        assert!(r.len() <= 1, "{expr} returned {} series", r.len());
        r.first().map_or(0.0, sample_value)
    }
}

fn sample_value(s: &Value) -> f64 {
    s["value"][1].as_str().expect("sample value").parse().expect("numeric sample")
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 (as Alertmanager writes it: any fraction, `Z` or an offset) to epoch ms.
fn parse_rfc3339_ms(s: &str) -> i64 {
    let bad = || panic!("not an RFC 3339 time: {s:?}");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        bad();
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap_or_else(|_| bad());
    let (y, mo, d, h, mi, se) = (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19));
    let mut i = 19;
    let mut ms = 0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = format!("{:0<3}", &s[start..i]);
        ms = frac[..3].parse::<i64>().unwrap_or_else(|_| bad());
    }
    let offset_min = match &s[i..] {
        "Z" | "z" => 0,
        o if o.len() == 6 => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().unwrap_or_else(|_| bad()) * 60
                + o[4..6].parse::<i64>().unwrap_or_else(|_| bad()))
        }
        _ => bad(),
    };
    ((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60) * 1000) + ms
}

fn median(xs: &[Duration]) -> Duration {
    let mut v = xs.to_vec();
    v.sort();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------------------------------------
// 1. Burn alerts reach Alertmanager
// ---------------------------------------------------------------------------------------------

const ALERT_RUNS: usize = 5;

#[test]
fn burn_alert_reaches_alertmanager_with_its_labels() {
    let test_started = Instant::now();
    let am_dir = scratch_dir("alertmanager");
    let mut am = Alertmanager::start(&am_dir);
    let mut visible = Vec::new();
    let mut resolved = Vec::new();
    for run in 1..=ALERT_RUNS {
        let (v, r) = alert_run(&mut am, run);
        visible.push(v);
        resolved.push(r);
    }
    let list = |xs: &[Duration]| xs.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ");
    eprintln!(
        "[obs] ALERT LATENCY first bad event produced -> SLOBurnRateHigh visible in Alertmanager: runs [{}], median {}",
        list(&visible),
        ms(median(&visible))
    );
    eprintln!(
        "[obs] RESOLVE LATENCY good events produced (acked) -> 1h/5m page gone from Alertmanager: runs [{}], median {}",
        list(&resolved),
        ms(median(&resolved))
    );
    eprintln!(
        "[obs] burn_alert_reaches_alertmanager_with_its_labels took {:.1} s",
        test_started.elapsed().as_secs_f64()
    );
}

/// One independent run (fresh topic, group, state and slostream; a `run` label of its own so
/// alerts of earlier runs, still open in the shared Alertmanager, are told apart). Returns
/// (first bad event produced → page alert visible, last good event produced → page alert gone).
fn alert_run(am: &mut Alertmanager, run: usize) -> (Duration, Duration) {
    let dir = scratch_dir("alert-run");
    let topic = unique("alerts");
    let group = unique("alerts-group");
    let run_label = unique("run");
    create_topic(&topic, 2);
    let port = free_port();
    let config = write_config(
        &dir,
        &Setup {
            topic: &topic,
            group: &group,
            port,
            book_a_ride: &format!(
                "    labels: {{ team: booking, run: \"{run_label}\" }}\n    runbook_url: \"{RUNBOOK}\"\n"
            ),
            top: &format!("alertmanager:\n  url: \"{}\"\n", am.url),
            sloth: false,
        },
    );
    let mut s = Slostream::start(&dir, &config, port);
    s.wait_ready(Duration::from_secs(60));
    // The first ready tick registers the SLO series: from then on every tick is evaluated.
    let started = Instant::now();
    while s.scrape().get("slostream_slo_alert", &[("slo", "book-a-ride"), ("severity", "page")]).is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "no SLO series 10 s after /ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(am.run_alerts(&run_label).is_empty(), "run {run}: alerts before any event");

    // A producer connected and initialised (idempotent producer id, partition leaders) before
    // the clock starts, with one event of no SLI per partition (counted as unmatched, nothing else), so the
    // figure is the pipeline's latency, not a client's start-up.
    let producer = broker().producer();
    let warmup = format!(r#"{{"timestamp":{},"service":"warm-up"}}"#, now_ms()).into_bytes();
    for p in 0..2 {
        send_record(&producer, &topic, &Record { partition: p, key: None, payload: Some(warmup.clone()) });
    }
    producer.flush(Duration::from_secs(10)).expect("flush warm-up");
    let (m, _) = s.wait_consumed(2, Duration::from_secs(30));
    assert_eq!(m.get("slostream_events_unmatched_total", &[]), Some(2.0));
    const WARMUP: u64 = 2;

    // 10 failed bookings: booking-availability 0/10, geo-availability has no events and is left
    // out of the weighted combine, so book-a-ride's ratio is 0 and its burn rate
    // 1 / (1 - 0.999) = 1000 over every window: all four multiwindow rules fire.
    const BAD: usize = 10;
    // Each run starts at another phase of slostream's 500 ms publish and export ticks (the
    // warm-up above would otherwise align every run the same way), so the runs sample the
    // latency's whole range.
    std::thread::sleep(Duration::from_millis((run as u64 * 211) % 1000));
    let t0 = Instant::now();
    let t0_ms = now_ms();
    for i in 0..BAD {
        send_record(
            &producer,
            &topic,
            &Record { partition: (i % 2) as i32, key: None, payload: Some(booking(500, now_ms(), 120)) },
        );
    }
    producer.flush(Duration::from_secs(10)).expect("flush bad events");
    let produced = t0.elapsed();

    let is_fast_page = |a: &Value| {
        a["labels"]["severity"] == "page" && a["labels"]["long_window"] == "1h" && a["labels"]["short_window"] == "5m"
    };
    let mut polls = 0u32;
    let alert = loop {
        polls += 1;
        if let Some(a) = am.run_alerts(&run_label).into_iter().find(|a| is_fast_page(a)) {
            break a;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "run {run}: no SLOBurnRateHigh page alert in Alertmanager 60 s after the bad events; Alertmanager holds {:#?}; slostream alert series: {:?}",
            am.alerts(),
            s.scrape().family("slostream_slo_alert")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let seen = t0.elapsed();
    let seen_ms = now_ms();

    // Labels: exactly these.
    let labels: BTreeMap<String, String> = alert["labels"]
        .as_object()
        .expect("labels")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("label value").to_string()))
        .collect();
    let want: BTreeMap<String, String> = [
        ("alertname", "SLOBurnRateHigh"),
        ("slo", "book-a-ride"),
        ("severity", "page"),
        ("long_window", "1h"),
        ("short_window", "5m"),
        ("team", "booking"),
        ("run", run_label.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels, want, "run {run}: labels of the alert");

    // Annotations: burn rate 1000 on both windows, budget 1 - 1000 = -999 (-99900 %).
    let ann = &alert["annotations"];
    assert_eq!(ann["summary"], "book-a-ride is burning its error budget 1000.0x too fast (page)", "run {run}: {ann}");
    assert_eq!(
        ann["description"],
        "Burn rate 1000.00 over 1h and 1000.00 over 5m (threshold 14.40). Error budget remaining: -99900.0% of the 30d budget. Objective: 99.9%.",
        "run {run}: {ann}"
    );
    assert!(ann["summary"].as_str().unwrap().contains("book-a-ride"));
    assert!(ann["description"].as_str().unwrap().contains("99.9"));
    assert_eq!(ann["runbook_url"], RUNBOOK, "run {run}: {ann}");
    assert!(ann.get("dashboard_url").is_none(), "run {run}: no dashboard_url is configured: {ann}");
    assert_eq!(ann.as_object().unwrap().len(), 3, "run {run}: summary, description, runbook_url only: {ann}");
    // startsAt: when slostream saw it fire, between the first bad event and now.
    let starts = parse_rfc3339_ms(alert["startsAt"].as_str().expect("startsAt"));
    assert!(
        t0_ms <= starts && starts <= seen_ms,
        "run {run}: startsAt {} outside [{t0_ms}, {seen_ms}]",
        alert["startsAt"]
    );
    // Firing: Alertmanager holds it open for its resolve timeout (5m) from the last post.
    let ends = parse_rfc3339_ms(alert["endsAt"].as_str().expect("endsAt"));
    assert!(ends > seen_ms + 60_000, "run {run}: a firing alert ends in the future: endsAt {}", alert["endsAt"]);
    eprintln!(
        "[obs] run {run}: bad events produced (acked) in {}, fired in slostream at +{} ms (startsAt), visible in Alertmanager at +{} ({polls} polls)",
        ms(produced),
        starts - t0_ms,
        ms(seen)
    );

    // Every rule of book-a-ride fires (burn 1000 > 14.4, 6, 3, 1 on every window); no other SLO.
    let everything = BTreeSet::from([
        rule("page", "1h", "5m"),
        rule("page", "6h", "30m"),
        rule("ticket", "1d", "2h"),
        rule("ticket", "3d", "6h"),
    ]);
    let started = Instant::now();
    loop {
        let got = am.run_alerts(&run_label);
        if rule_set(&got) == everything && got.len() == 4 {
            assert!(got.iter().all(|a| a["labels"]["slo"] == "book-a-ride" && a["labels"]["team"] == "booking"));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "run {run}: expected the 4 rules {everything:?}, Alertmanager has {:?}",
            rule_set(&got)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Alertmanager notifies its receiver (after group_wait, 1 s here).
    let started = Instant::now();
    let hooked = loop {
        let got = am.hook.alerts();
        if let Some((at, a)) = got.iter().find(|(_, a)| a["labels"]["run"] == run_label && is_fast_page(a)) {
            assert_eq!(a["status"], "firing", "run {run}: first notification of the page alert");
            assert_eq!(a["labels"], alert["labels"]);
            assert_eq!(a["annotations"], alert["annotations"]);
            break at - t0_ms;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "run {run}: the webhook got no notification of the page alert in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("[obs] run {run}: firing notification at the webhook receiver at +{hooked} ms (group_wait 1s)");

    let (m, _) = s.wait_consumed(WARMUP + BAD as u64, Duration::from_secs(30));
    let book = |w: &'static str| [("slo", "book-a-ride"), ("window", w)];
    assert_eq!(m.get("slostream_slo_events", &book("5m")), Some(BAD as f64));
    assert_eq!(m.get("slostream_slo_good_events", &book("5m")), Some(0.0));
    assert_eq!(m.get("slostream_slo_alert", &[("slo", "book-a-ride"), ("severity", "page")]), Some(1.0));
    assert_eq!(m.get("slostream_slo_alert", &[("slo", "book-a-ride"), ("severity", "ticket")]), Some(1.0));
    assert_eq!(m.get("slostream_slo_alert", &[("slo", "search-a-ride"), ("severity", "page")]), Some(0.0));
    assert_eq!(
        m.get("slostream_alertmanager_errors_total", &[]),
        Some(0.0),
        "run {run}: posts to a healthy Alertmanager failed"
    );

    // Recovery: 99 good bookings per bad one. Every window then holds 10 bad of 1000, ratio
    // 0.99, burn rate (1 - 0.99) / 0.001 = 10: below 14.4 (the 1h/5m page clears) but above 6,
    // 3 and 1 (the 6h/30m page and both tickets keep firing).
    const GOOD: usize = 99 * BAD;
    let goods: Vec<Vec<u8>> = (0..GOOD).map(|i| booking(201, now_ms(), 80 + (i % 50) as u64)).collect();
    let t1_ms = now_ms();
    produce(&topic, 2, &goods);
    let t1 = Instant::now();
    let (m, _) = s.wait_consumed(WARMUP + (BAD + GOOD) as u64, Duration::from_secs(30));
    for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"] {
        assert_eq!(m.get("slostream_slo_events", &book(w)), Some((BAD + GOOD) as f64), "run {run}: events over {w}");
        assert_eq!(m.get("slostream_slo_good_events", &book(w)), Some(GOOD as f64), "run {run}: good events over {w}");
        let burn = m.get("slostream_slo_burn_rate", &book(w)).expect("burn rate");
        assert!((burn - 10.0).abs() < 1e-9, "run {run}: burn rate over {w} is {burn}, expected 10");
    }
    let gone = loop {
        let got = am.run_alerts(&run_label);
        if !got.iter().any(is_fast_page) {
            break got;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "run {run}: the 1h/5m page alert is still active 30 s after burn fell to 10: {:#?}",
            got.iter().find(|a| is_fast_page(a))
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let resolve = t1.elapsed();
    assert_eq!(
        rule_set(&gone),
        BTreeSet::from([rule("page", "6h", "30m"), rule("ticket", "1d", "2h"), rule("ticket", "3d", "6h")]),
        "run {run}: after recovery to burn 10 only the 1h/5m page may have resolved"
    );
    // The receiver is told it resolved, with endsAt in the past: when slostream saw it clear.
    let started = Instant::now();
    let (at, resolved) = loop {
        let got = am.hook.alerts();
        if let Some((at, a)) = got
            .into_iter()
            .find(|(_, a)| a["labels"]["run"] == run_label && is_fast_page(a) && a["status"] == "resolved")
        {
            break (at, a);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "run {run}: the webhook got no resolved notification of the page alert in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let ends = parse_rfc3339_ms(resolved["endsAt"].as_str().expect("endsAt"));
    assert!(
        t1_ms <= ends && ends <= at,
        "run {run}: endsAt {} not between the recovery ({t1_ms}) and the notification ({at})",
        resolved["endsAt"]
    );
    assert_eq!(parse_rfc3339_ms(resolved["startsAt"].as_str().unwrap()), starts, "run {run}: startsAt kept");
    let resolved_rules: Vec<Value> = am
        .hook
        .alerts()
        .into_iter()
        .map(|(_, a)| a)
        .filter(|a| a["labels"]["run"] == run_label && a["status"] == "resolved")
        .collect();
    assert_eq!(
        rule_set(&resolved_rules),
        BTreeSet::from([rule("page", "1h", "5m")]),
        "run {run}: only the 1h/5m page resolved"
    );
    eprintln!(
        "[obs] run {run}: resolved notification at the webhook {} ms after the first good event was produced",
        at - t1_ms
    );

    let m = s.scrape();
    assert_eq!(
        m.get("slostream_slo_alert", &[("slo", "book-a-ride"), ("severity", "page")]),
        Some(1.0),
        "6h/30m still pages"
    );
    assert_eq!(m.get("slostream_slo_alert", &[("slo", "book-a-ride"), ("severity", "ticket")]), Some(1.0));
    assert_eq!(m.get("slostream_alertmanager_errors_total", &[]), Some(0.0));
    eprintln!(
        "[obs] run {run}: 1h/5m page resolved in Alertmanager {} after the good events were produced",
        ms(resolve)
    );

    let (status, took) = s.terminate(Duration::from_secs(30));
    assert!(status.success(), "run {run}: slostream exited with {status}");
    eprintln!("[obs] run {run}: slostream stopped in {}", ms(took));
    (seen, resolve)
}

// ---------------------------------------------------------------------------------------------
// 2. An Alertmanager that is down or hangs never blocks ingest
// ---------------------------------------------------------------------------------------------

/// slostream pointed at `url` (which never accepts a post): a burning incident and more traffic
/// after it are consumed in full, the failures are counted and retried.
fn ingest_despite_alertmanager(url: &str, timeout: &str, what: &str) {
    let started_test = Instant::now();
    let dir = scratch_dir("am-down");
    let topic = unique("am-down");
    create_topic(&topic, 2);
    let port = free_port();
    let config = write_config(
        &dir,
        &Setup {
            topic: &topic,
            group: &unique("am-down-group"),
            port,
            book_a_ride: "    labels: { team: booking }\n",
            top: &format!("alertmanager:\n  url: \"{url}\"\n  timeout: \"{timeout}\"\n"),
            sloth: false,
        },
    );
    let mut s = Slostream::start(&dir, &config, port);
    s.wait_ready(Duration::from_secs(60));

    // An incident: 300 bookings, 100 of them failed (burn 333 on every window), and traffic on
    // the other SLIs.
    let now = now_ms();
    let mut first: Vec<Vec<u8>> = (0..300).map(|i| booking(if i % 3 == 0 { 500 } else { 201 }, now, 100)).collect();
    first.extend((0..200).map(|i| search("/v2/trips", 200, now, 50 + i % 100)));
    produce(&topic, 2, &first);
    let (m, _) = s.wait_consumed(first.len() as u64, Duration::from_secs(30));
    assert_eq!(m.get("slostream_slo_events", &[("slo", "book-a-ride"), ("window", "5m")]), Some(300.0));
    assert_eq!(m.get("slostream_slo_good_events", &[("slo", "book-a-ride"), ("window", "5m")]), Some(200.0));

    // The alert fires in slostream, the posts fail and are retried (500 ms, 1 s, 2 s ... backoff).
    let t = Instant::now();
    let errors = loop {
        let m = s.scrape();
        let errors = m.get("slostream_alertmanager_errors_total", &[]).unwrap_or(0.0);
        if errors >= 3.0 {
            assert_eq!(m.get("slostream_slo_alert", &[("slo", "book-a-ride"), ("severity", "page")]), Some(1.0));
            break errors;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{what}: slostream_alertmanager_errors_total is {errors} after 60 s, expected 3 or more"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("[obs] {what}: {errors} failed posts counted {} after the incident was consumed", ms(t.elapsed()));

    // Ingest keeps going while the client backs off: a second batch, all consumed.
    let now = now_ms();
    let second: Vec<Vec<u8>> = (0..500)
        .map(|i| match i % 3 {
            0 => booking(if i % 2 == 0 { 500 } else { 201 }, now, 90),
            1 => geo(200, now, 30),
            _ => search("/v2/trips/{id}", 200, now, 60),
        })
        .collect();
    produce(&topic, 2, &second);
    let t = Instant::now();
    let total = (first.len() + second.len()) as u64;
    let (m, _) = s.wait_consumed(total, Duration::from_secs(30));
    eprintln!(
        "[obs] {what}: second batch of {} consumed in {} while Alertmanager fails",
        second.len(),
        ms(t.elapsed())
    );
    assert_eq!(m.get("slostream_events_consumed_total", &[]), Some(total as f64));
    assert!(m.get("slostream_alertmanager_errors_total", &[]).unwrap() >= errors);
    assert_eq!(s.get("/health").map(|(c, _)| c), Some(200));
    assert!(s.log_text().contains("cannot post alerts to Alertmanager"), "{what}: the failure is logged");

    let (status, took) = s.terminate(Duration::from_secs(30));
    assert!(status.success(), "{what}: slostream exited with {status}");
    eprintln!(
        "[obs] {what}: slostream stopped in {} (test took {:.1} s)",
        ms(took),
        started_test.elapsed().as_secs_f64()
    );
}

#[test]
fn alertmanager_down_never_blocks_ingest() {
    // A port nothing listens on: every post is refused at once.
    let closed = free_port();
    ingest_despite_alertmanager(&format!("http://127.0.0.1:{closed}"), "5s", "Alertmanager down (connection refused)");
}

#[test]
fn alertmanager_hanging_never_blocks_ingest() {
    // A listener that is never accepted from: connections complete in the kernel's backlog,
    // requests are never answered, every post runs into the client timeout.
    let hole = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = hole.local_addr().unwrap().port();
    ingest_despite_alertmanager(&format!("http://127.0.0.1:{port}"), "1s", "Alertmanager hanging (no answer)");
    drop(hole);
}

// ---------------------------------------------------------------------------------------------
// 3. Every Grafana panel query returns data from a real Prometheus
// ---------------------------------------------------------------------------------------------

fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/grafana")
}

/// Every panel, rows' nested panels included.
fn all_panels(panels: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in panels.as_array().map(Vec::as_slice).unwrap_or_default() {
        out.push(p);
        out.extend(all_panels(&p["panels"]));
    }
    out
}

/// `expr` with the dashboard variable `slo` substituted in every form Grafana accepts; panics
/// if any other variable is left (Prometheus would get the literal text).
fn substitute(expr: &str, slo: &str) -> String {
    let out = expr.replace("${slo}", slo).replace("[[slo]]", slo).replace("$slo", slo);
    let b = out.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'$' && b.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic() || *n == b'_' || *n == b'{') {
            panic!("{expr:?} uses a variable other than $slo (at {:?})", &out[i..]);
        }
    }
    assert!(!out.contains("[["), "{expr:?} uses a [[variable]] other than slo");
    out
}

/// The JSON checks Grafana's provisioning needs; returns (dashboard file, panel id, title,
/// refId, expr) of every target.
fn check_dashboard(file: &str, dash: &Value, ds_uid: &str) -> Vec<(String, i64, String, String, String)> {
    for key in ["uid", "title"] {
        assert!(dash[key].as_str().is_some_and(|s| !s.is_empty()), "{file}: no {key}");
    }
    assert!(dash["uid"].as_str().unwrap().len() <= 40, "{file}: Grafana uids are at most 40 characters");
    assert!(
        dash["schemaVersion"].as_u64().is_some_and(|v| v > 0),
        "{file}: schemaVersion missing or not a positive integer"
    );
    let panels = all_panels(&dash["panels"]);
    assert!(!panels.is_empty(), "{file}: no panels");
    let mut ids = BTreeSet::new();
    let mut targets = Vec::new();
    for p in panels {
        let id = p["id"].as_i64().unwrap_or_else(|| panic!("{file}: panel {:?} has no numeric id", p["title"]));
        assert!(ids.insert(id), "{file}: panel id {id} is used twice");
        let title = p["title"].as_str().unwrap_or_default().to_string();
        if p["type"] == "row" && p["targets"].is_null() {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], ds_uid, "{file}: panel {id} ({title}) datasource");
        assert_eq!(p["datasource"]["type"], "prometheus", "{file}: panel {id} ({title}) datasource type");
        let ts = p["targets"].as_array().unwrap_or_else(|| panic!("{file}: panel {id} ({title}) has no targets"));
        assert!(!ts.is_empty(), "{file}: panel {id} ({title}) has no targets");
        let mut ref_ids = BTreeSet::new();
        for t in ts {
            let ref_id =
                t["refId"].as_str().unwrap_or_else(|| panic!("{file}: panel {id}: a target without refId")).to_string();
            assert!(ref_ids.insert(ref_id.clone()), "{file}: panel {id}: refId {ref_id} used twice");
            assert_eq!(t["datasource"]["uid"], ds_uid, "{file}: panel {id} target {ref_id} datasource");
            let expr = t["expr"].as_str().filter(|e| !e.trim().is_empty());
            let expr = expr.unwrap_or_else(|| panic!("{file}: panel {id} target {ref_id} has no expr"));
            targets.push((file.to_string(), id, title.clone(), ref_id, expr.to_string()));
        }
    }
    for v in dash["templating"]["list"].as_array().map(Vec::as_slice).unwrap_or_default() {
        if v["type"] == "query" {
            assert_eq!(v["datasource"]["uid"], ds_uid, "{file}: variable {} datasource", v["name"]);
        }
    }
    targets
}

/// The query text of a query variable (a string, or `{ query: ... }`).
fn variable_query(v: &Value) -> String {
    match &v["query"] {
        Value::String(s) => s.clone(),
        q => q["query"].as_str().unwrap_or_else(|| panic!("variable {} has no query: {v}", v["name"])).to_string(),
    }
}

#[test]
fn every_dashboard_panel_query_returns_data() {
    let test_started = Instant::now();
    // The provisioned datasource's uid, which every panel must name.
    let ds: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &fs::read_to_string(grafana_dir().join("provisioning/datasources/prometheus.yaml")).expect("datasource yaml"),
    )
    .expect("datasource YAML");
    let sources = ds["datasources"].as_sequence().expect("datasources list");
    assert_eq!(sources.len(), 1, "one provisioned datasource");
    assert_eq!(sources[0]["type"].as_str(), Some("prometheus"));
    let ds_uid = sources[0]["uid"].as_str().expect("datasource uid").to_string();
    assert_eq!(ds_uid, "slostream-prometheus");

    let mut dashboards = Vec::new();
    let mut uids = BTreeSet::new();
    for file in DASHBOARDS {
        let text =
            fs::read_to_string(grafana_dir().join("dashboards").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let dash: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: invalid JSON: {e}"));
        let targets = check_dashboard(file, &dash, &ds_uid);
        assert!(uids.insert(dash["uid"].as_str().unwrap().to_string()), "{file}: uid shared with another dashboard");
        dashboards.push((file.to_string(), dash, targets));
    }
    let feature = &dashboards.iter().find(|d| d.0 == "feature.json").expect("feature.json").1;
    let vars = feature["templating"]["list"].as_array().expect("feature.json templating.list");
    let slo_var = vars.iter().find(|v| v["name"] == "slo").expect("feature.json: variable slo");
    assert_eq!(slo_var["type"], "query");
    let var_query = variable_query(slo_var);
    assert_eq!(var_query, "label_values(slostream_slo_objective_ratio, slo)");

    // slostream with Sloth compatibility, fed realistic traffic through the broker.
    let dir = scratch_dir("dashboards");
    let topic = unique("dashboards");
    create_topic(&topic, 3);
    let port = free_port();
    let config = write_config(
        &dir,
        &Setup { topic: &topic, group: &unique("dash-group"), port, book_a_ride: "", top: "", sloth: true },
    );
    let slos: Vec<String> = {
        let cfg: serde_yaml_ng::Value = serde_yaml_ng::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
        cfg["slos"]
            .as_mapping()
            .expect("slos")
            .keys()
            .map(|k| k.as_str().unwrap().to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    assert_eq!(slos, ["book-a-ride", "search-a-ride"]);
    let mut s = Slostream::start(&dir, &config, port);
    s.wait_ready(Duration::from_secs(60));
    let mut prom = Prometheus::start(&dir, port);

    // ~200 events/s with timestamps = now, until stopped.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let loadgen = {
        let (stop, sent, topic) = (stop.clone(), sent.clone(), topic.clone());
        std::thread::spawn(move || {
            let producer = broker().producer();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..20 {
                    let r = Record { partition: (i % 3) as i32, key: None, payload: Some(realistic(i, now_ms())) };
                    send_record(&producer, &topic, &r);
                    i += 1;
                }
                producer.poll(Duration::ZERO);
                std::thread::sleep(Duration::from_millis(100));
            }
            producer.flush(Duration::from_secs(30)).expect("flush loadgen");
            sent.store(i, Ordering::SeqCst);
        })
    };

    // Prometheus must hold 20+ samples of the SLO series (rate(...[1m]) needs two).
    let t = Instant::now();
    let samples = "count_over_time(slostream_slo_burn_rate{slo=\"book-a-ride\",window=\"5m\"}[5m])";
    loop {
        let up = prom.value("up{job=\"slostream\"}");
        let n = prom.value(samples);
        if up == 1.0 && n >= 20.0 {
            eprintln!("[obs] Prometheus holds {n} samples after {:.1} s", t.elapsed().as_secs_f64());
            break;
        }
        s.assert_running();
        assert!(t.elapsed() < Duration::from_secs(120), "Prometheus: up {up}, {n} samples after 120 s");
        std::thread::sleep(Duration::from_millis(500));
    }

    // The variable's values, as Grafana asks for them.
    let values = prom.api("/api/v1/label/slo/values", &[("match[]", "slostream_slo_objective_ratio")]);
    let values: Vec<String> =
        values.as_array().expect("label values").iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(values, slos, "values of the feature dashboard's slo variable");

    // Tables that join their targets on the `slo` label (the overview: every SLO in one table).
    let joins_by_slo: BTreeSet<(String, i64)> = dashboards
        .iter()
        .flat_map(|(file, dash, _)| {
            all_panels(&dash["panels"])
                .into_iter()
                .filter(|p| {
                    p["transformations"].as_array().is_some_and(|ts| {
                        ts.iter().any(|t| t["id"] == "joinByField" && t["options"]["byField"] == "slo")
                    })
                })
                .map(|p| (file.clone(), p["id"].as_i64().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        joins_by_slo.contains(&("overview.json".to_string(), 1)),
        "the overview's table joins on slo: {joins_by_slo:?}"
    );

    // Every panel target, with $slo = each SLO when it uses it.
    let mut checked = 0;
    for (file, _, targets) in &dashboards {
        for (_, id, title, ref_id, expr) in targets {
            let uses_slo = expr.contains("$slo") || expr.contains("${slo}") || expr.contains("[[slo]]");
            let slo_values: Vec<&str> = if uses_slo { slos.iter().map(String::as_str).collect() } else { vec![""] };
            for slo in slo_values {
                let q = substitute(expr, slo);
                let result = prom.query(&q);
                let label = if slo.is_empty() { String::new() } else { format!(" [slo={slo}]") };
                assert!(!result.is_empty(), "{file} panel {id} \"{title}\" target {ref_id}{label}: no data for {q}");
                let slo_labels: Vec<&str> = result.iter().filter_map(|r| r["metric"]["slo"].as_str()).collect();
                if !slo.is_empty() {
                    assert!(
                        slo_labels.iter().all(|l| *l == slo),
                        "{file} panel {id} target {ref_id}: $slo={slo} but {q} returned slo={slo_labels:?}"
                    );
                }
                if joins_by_slo.contains(&(file.clone(), *id)) {
                    // A table joined on `slo`: exactly one row per SLO from every target.
                    let mut got: Vec<&str> = slo_labels.clone();
                    got.sort();
                    assert_eq!(got, slos, "{file} panel {id} target {ref_id}: {q} must give one series per SLO");
                }
                for r in &result {
                    let v = sample_value(r);
                    assert!(
                        v.is_finite(),
                        "{file} panel {id} \"{title}\" target {ref_id}{label}: {q} gave {v} for {}",
                        r["metric"]
                    );
                }
                eprintln!("[obs] {file} #{id} {ref_id}{label}: {} series  {q}", result.len());
                checked += 1;
            }
        }
    }
    // Sloth's dashboards' series, through the same Prometheus (names with colons).
    let mut sloth_checked = 0;
    for (slo, period) in [("book-a-ride", "30d"), ("search-a-ride", "28d")] {
        for name in [
            "slo:sli_error:ratio_rate5m".to_string(),
            format!("slo:sli_error:ratio_rate{period}"),
            "slo:objective:ratio".into(),
            "slo:error_budget:ratio".into(),
            "slo:time_period:days".into(),
            "slo:current_burn_rate:ratio".into(),
            "slo:period_burn_rate:ratio".into(),
            "slo:period_error_budget_remaining:ratio".into(),
            "sloth_slo_info".into(),
        ] {
            let q = format!("{name}{{sloth_slo=\"{slo}\"}}");
            assert_eq!(prom.query(&q).len(), 1, "Sloth series {q}");
            sloth_checked += 1;
        }
    }

    stop.store(true, Ordering::Relaxed);
    loadgen.join().expect("loadgen thread");
    let total = sent.load(Ordering::SeqCst);
    let (m, _) = s.wait_consumed(total, Duration::from_secs(60));
    let rejected: f64 = m.family("slostream_events_rejected_total").iter().map(|(_, v)| v).sum();
    let expected_rejects = (0..total).filter(|i| i % 50 == 49).count() as f64;
    assert_eq!(rejected, expected_rejects, "rejected events");
    eprintln!(
        "[obs] DASHBOARD QUERIES: {checked} panel queries checked ({} targets in {} dashboards, $slo = {slos:?}), plus {sloth_checked} Sloth series; {total} events produced and consumed ({rejected} rejected); test took {:.1} s",
        dashboards.iter().map(|d| d.2.len()).sum::<usize>(),
        dashboards.len(),
        test_started.elapsed().as_secs_f64()
    );
    let (status, _) = s.terminate(Duration::from_secs(30));
    assert!(status.success());
    drop(prom);
}
