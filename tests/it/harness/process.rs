//! The `slostream run` process under test.
//!
//! [`Slostream::spawn`] runs `slostream run --config FILE` with stderr (its log) and stdout
//! redirected to files (`NO_COLOR=1`, so the log is plain text). The handle kills the process on
//! drop, and prints the tail of its log when the drop happens during a panic, so a failing
//! assertion shows what the service said. [`Slostream::kill`] is a crash (SIGKILL),
//! [`Slostream::terminate`] a graceful stop (SIGTERM), [`Slostream::pause`] and
//! [`Slostream::resume`] a freeze (SIGSTOP, SIGCONT). It is [`Served`]: the waits and scrapes
//! shared with the in-process pipeline.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::served::get_local;
use super::{http_client, unique, Served};

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
    /// Spawns `slostream run --config <config>` (serving HTTP on `port`) with `env` added to its
    /// environment; stderr goes to `dir/slostream-run-*.log`. Tests start it through
    /// [`Deployment::start`](super::Deployment::start).
    pub fn spawn(dir: &Path, config: &Path, port: u16, env: &[(&str, &str)]) -> Slostream {
        Slostream::spawn_with(dir, "run", config, port, env, &[])
    }

    /// [`Slostream::spawn`] with `args` after `--config <config>` (`--role`, `--instance`),
    /// logging to `dir/slostream-<name>-*.log`, so that the members of one deployment each have
    /// a log named after them. Tests start members through
    /// [`Deployment::start_member`](super::Deployment::start_member).
    pub fn spawn_with(
        dir: &Path,
        name: &str,
        config: &Path,
        port: u16,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Slostream {
        let name = unique(name);
        let log = dir.join(format!("slostream-{name}.log"));
        let stdout = dir.join(format!("slostream-{name}.stdout"));
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_slostream"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(args)
            .env("RUST_LOG", "info,librdkafka=warn")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).expect("create slostream stdout"))
            .stderr(fs::File::create(&log).expect("create slostream log"))
            .spawn()
            .expect("spawn slostream");
        let http = http_client();
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

    /// SIGSTOP: the process freezes mid-whatever (a long GC pause, a stalled VM), holding its
    /// sockets, until [`Slostream::resume`].
    pub fn pause(&mut self) {
        self.assert_running();
        self.signal("STOP");
    }

    /// SIGCONT after [`Slostream::pause`]: it carries on as if no time had passed.
    pub fn resume(&mut self) {
        // Only while it is ours: a pid already reaped may belong to another process by now.
        self.assert_running();
        self.signal("CONT");
    }

    /// `kill -<sig> <pid>`, which must succeed.
    fn signal(&self, sig: &str) {
        let pid = self.pid();
        let ok = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().expect("run kill");
        assert!(ok.success(), "kill -{sig} {pid} failed");
    }

    /// Whether it has not exited yet (a paused process is running).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait")) {
            Some(status) => {
                self.exit = Some(status);
                false
            }
            None => self.child.is_some(),
        }
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

    /// SIGTERM, and a successful exit within 15 s.
    pub fn stop(&mut self) {
        let (status, _) = self.terminate(Duration::from_secs(15));
        assert!(status.success(), "exit status {status}; log:\n{}", self.log_tail(30));
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

impl Served for Slostream {
    fn get(&self, path: &str) -> Option<(u16, String)> {
        get_local(&self.http, self.port, path)
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait")) {
            self.exit = Some(status);
            panic!("slostream exited early with {status}; its log:\n{}", self.log_tail(80));
        }
    }

    fn context(&self) -> String {
        format!("; log:\n{}", self.log_tail(80))
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
