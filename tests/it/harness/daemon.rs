//! Real Prometheus and Alertmanager processes (Debian's packages) run by the tests: finding the
//! binary, and [`Daemon`], a process of the test's that is killed when its guard drops.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http_client;

/// The path of a Debian-packaged binary, or a failure that says how to get it.
pub fn binary(name: &str, package: &str) -> PathBuf {
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

/// A process of ours that is killed (SIGKILL, by its own pid) when the guard drops; at a panic
/// its log tail is printed.
pub struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub fn spawn(name: &str, bin: &Path, args: &[String], dir: &Path) -> Daemon {
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

    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("{} exited early with {status}; its log:\n{}", self.name, self.log_tail(40));
        }
    }

    /// Polls `url` until it answers 200.
    pub fn wait_ok(&mut self, url: &str, timeout: Duration) -> Duration {
        let client = http_client();
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
