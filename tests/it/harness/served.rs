//! [`Served`]: what a test does with a running slostream over HTTP, whether it is the
//! `slostream run` process ([`Slostream`](super::Slostream)) or the pipeline in-process
//! ([`InProcess`](super::mock::InProcess)): wait for a status, scrape `/metrics`, wait for an
//! exact consumed total.

use std::time::{Duration, Instant};

use slostream::names;

use super::{now_ms, Metrics};

/// `GET http://127.0.0.1:{port}{path}`: status and body, or `None` when nothing answered.
pub fn get_local(http: &reqwest::blocking::Client, port: u16, path: &str) -> Option<(u16, String)> {
    let resp = http.get(format!("http://127.0.0.1:{port}{path}")).send().ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().ok()?))
}

/// A running slostream serving `/metrics`, `/ready` and `/health`. Implementors say how to
/// reach it, whether it still runs and what to show when a wait fails; the waits are shared.
pub trait Served {
    /// `GET path`: status and body, or `None` when nothing answered.
    fn get(&self, path: &str) -> Option<(u16, String)>;

    /// Panics (with what it said) if it has already stopped.
    fn assert_running(&mut self);

    /// What a failed wait shows besides its own message: the process's log tail; nothing for
    /// the pipeline in-process, which has no log of its own.
    fn context(&self) -> String;

    /// Polls `path` until it answers `status`; returns how long that took.
    fn wait_status(&mut self, path: &str, status: u16, timeout: Duration) -> Duration {
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
        panic!("GET {path} did not answer {status} within {timeout:?} (last: {last:?}){}", self.context());
    }

    /// Polls `/ready` until it answers 200; returns how long that took.
    fn wait_ready(&mut self, timeout: Duration) -> Duration {
        self.wait_status("/ready", 200, timeout)
    }

    /// One `/metrics` scrape, parsed.
    fn scrape(&mut self) -> Metrics {
        self.assert_running();
        match self.get("/metrics") {
            Some((200, body)) => Metrics::parse(&body),
            other => panic!("GET /metrics failed: {other:?}{}", self.context()),
        }
    }

    /// Polls `/metrics` until the consumed total is exactly `n` (panicking at once if it ever
    /// exceeds `n`: that would be double counting). Returns the scrape and the wall-clock time
    /// taken right after it.
    fn wait_consumed(&mut self, n: u64, timeout: Duration) -> (Metrics, i64) {
        match self.try_wait_consumed(n, timeout) {
            Ok(done) => done,
            Err(last) => panic!("{} stayed at {last:?}, expected {n}{}", names::EVENTS_CONSUMED.name, self.context()),
        }
    }

    /// [`Served::wait_consumed`], returning the last consumed total on timeout instead of
    /// panicking (for callers that tell more of what went wrong).
    fn try_wait_consumed(&mut self, n: u64, timeout: Duration) -> Result<(Metrics, i64), Option<f64>> {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < timeout {
            let m = self.scrape();
            let at = now_ms();
            let consumed = m.get(names::EVENTS_CONSUMED.name, &[]);
            if let Some(c) = consumed {
                assert!(c <= n as f64, "consumed {c} > produced {n}: events counted twice");
                if c == n as f64 {
                    return Ok((m, at));
                }
            }
            last = consumed;
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(last)
    }

    /// The consumed total of one scrape (`None` before it is rendered).
    fn consumed(&mut self) -> Option<f64> {
        self.scrape().get(names::EVENTS_CONSUMED.name, &[])
    }
}
