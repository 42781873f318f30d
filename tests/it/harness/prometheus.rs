//! A real Prometheus (Debian's `prometheus`) on a free port, scraping one slostream every
//! second (and, when asked, evaluating rules every second and alerting an Alertmanager), and
//! its HTTP API.

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::daemon::{binary, Daemon};
use super::{free_port, http_client};

pub struct Prometheus {
    daemon: Daemon,
    url: String,
    http: reqwest::blocking::Client,
}

impl Prometheus {
    /// Scrapes `127.0.0.1:<target>` every second as job `slostream`.
    pub fn start(dir: &Path, target: u16) -> Prometheus {
        Prometheus::start_with(dir, target, "")
    }

    /// Also evaluates `rules` (a rule file's text) every second and sends what fires to the
    /// Alertmanager at `alertmanager` (`http://host:port`).
    pub fn start_alerting(dir: &Path, target: u16, rules: &str, alertmanager: &str) -> Prometheus {
        let file = dir.join("rules.yml");
        fs::write(&file, rules).expect("write rules.yml");
        let host = alertmanager.trim_start_matches("http://");
        Prometheus::start_with(
            dir,
            target,
            &format!(
                "rule_files:\n  - {:?}\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [{host:?}]\n",
                file.display().to_string()
            ),
        )
    }

    fn start_with(dir: &Path, target: u16, extra: &str) -> Prometheus {
        let bin = binary("prometheus", "prometheus");
        let port = free_port();
        let config = dir.join("prometheus.yml");
        fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n{extra}\
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
        Prometheus { daemon, url, http: http_client() }
    }

    pub fn api(&mut self, path: &str, params: &[(&str, &str)]) -> Value {
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
    pub fn query(&mut self, expr: &str) -> Vec<Value> {
        let data = self.api("/api/v1/query", &[("query", expr)]);
        assert_eq!(data["resultType"], "vector", "{expr}: {data}");
        data["result"].as_array().expect("result array").clone()
    }

    /// The single value of a query expected to return one series (0 when it returns none).
    pub fn value(&mut self, expr: &str) -> f64 {
        let r = self.query(expr);
        assert!(r.len() <= 1, "{expr} returned {} series", r.len());
        r.first().map_or(0.0, sample_value)
    }
}

pub fn sample_value(s: &Value) -> f64 {
    s["value"][1].as_str().expect("sample value").parse().expect("numeric sample")
}
