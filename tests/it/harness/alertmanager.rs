//! A real Alertmanager (Debian's `prometheus-alertmanager`) on a free port, notifying a
//! [`Webhook`] of the test's, and the few helpers its alerts are read with.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use slostream::names::label;

use super::daemon::{binary, Daemon};
use super::{free_port, http_client, now_ms};

/// A webhook receiver for Alertmanager's notifications: a plain HTTP/1.1 server on a thread
/// that answers 200 to every request and keeps each JSON body with the wall time it came.
pub struct Webhook {
    pub url: String,
    received: Arc<Mutex<Vec<(i64, Value)>>>,
}

impl Webhook {
    pub fn start() -> Webhook {
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
    pub fn alerts(&self) -> Vec<(i64, Value)> {
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

pub struct Alertmanager {
    daemon: Daemon,
    pub url: String,
    http: reqwest::blocking::Client,
    pub hook: Webhook,
}

impl Alertmanager {
    /// Every alert is its own group (`group_by: ['...']`), notified to a webhook of the test
    /// after 1 s, resolutions included.
    pub fn start(dir: &Path) -> Alertmanager {
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
        Alertmanager { daemon, url, http: http_client(), hook }
    }

    /// `GET /api/v2/alerts`: every alert it holds that has not ended.
    pub fn alerts(&mut self) -> Vec<Value> {
        self.daemon.assert_running();
        let resp = self.http.get(format!("{}/api/v2/alerts", self.url)).send().expect("GET /api/v2/alerts");
        assert!(resp.status().is_success(), "GET /api/v2/alerts: {}", resp.status());
        let v: Value = resp.json().expect("alerts JSON");
        v.as_array().expect("an array of alerts").clone()
    }

    /// The alerts of one run (its `run` label).
    pub fn run_alerts(&mut self, run: &str) -> Vec<Value> {
        self.alerts().into_iter().filter(|a| a["labels"]["run"] == run).collect()
    }
}

/// (severity, long_window, short_window) of every alert given.
pub fn rule_set(alerts: &[Value]) -> BTreeSet<(String, String, String)> {
    alerts
        .iter()
        .map(|a| {
            let l = |k: &str| a["labels"][k].as_str().unwrap_or("?").to_string();
            (l(label::SEVERITY), l(label::LONG_WINDOW), l(label::SHORT_WINDOW))
        })
        .collect()
}

pub fn rule(sev: &str, long: &str, short: &str) -> (String, String, String) {
    (sev.to_string(), long.to_string(), short.to_string())
}

// ---------------------------------------------------------------------------------------------
// Time, as Alertmanager writes it.
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
pub fn parse_rfc3339_ms(s: &str) -> i64 {
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
