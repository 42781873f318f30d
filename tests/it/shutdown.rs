//! How slostream stops and hands over to the next instance.
//!
//! - SIGTERM commits exactly what was counted (committed offsets == high watermarks), within the
//!   grace period. That the shutdown future commits what was counted and a restart of the same
//!   group and state directory counts only new events is asserted by the fast tier
//!   ([`in_process::restart`](crate::in_process::restart)); here, the binary's SIGTERM.
//! - A second instance on the same state directory fails fast, naming the holder's pid; the
//!   first is unaffected and its lock goes with it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slostream::names;

use crate::harness::stream::deployment;
use crate::harness::{Deployment, Served};

// ---------------------------------------------------------------------------------------------
// SIGTERM commits what was counted.
// ---------------------------------------------------------------------------------------------

#[test]
fn sigterm_commits_counted_offsets() {
    const N: u64 = 3000;
    const PARTITIONS: i32 = 3;
    let test_start = Instant::now();
    let d = Deployment::new("sigterm");
    d.create_topic(PARTITIONS);
    let high = loadgen_events(&d, N, PARTITIONS);

    let grace = Duration::from_secs(10);
    let mut app = d.start();
    app.wait_ready(Duration::from_secs(60));
    let (m, _) = app.wait_consumed(N, Duration::from_secs(60));
    let rejected: f64 = m.family(names::EVENTS_REJECTED.name).iter().map(|(_, v)| v).sum();
    assert_eq!(rejected, 0.0, "loadgen events are all valid");
    // Immediately: no waiting for an auto-commit to have happened first.
    let (status, took) = app.terminate(grace + Duration::from_secs(5));
    assert!(status.success(), "exit status after SIGTERM: {status}; log:\n{}", app.log_tail(40));
    assert!(took <= grace, "exit took {took:?}, longer than the {grace:?} grace period");
    let log = app.log_text();
    assert!(!log.contains("grace period ran out"), "log:\n{log}");
    eprintln!("[it] sigterm: exited {status} after {:.2} s", took.as_secs_f64());

    let committed = d.broker().committed_offsets(d.group(), d.topic(), PARTITIONS);
    let as_offsets: Vec<i64> = committed.iter().map(|c| c.unwrap_or(-1)).collect();
    assert_eq!(as_offsets, high, "committed offsets per partition must equal the high watermarks");
    assert_eq!(as_offsets.iter().sum::<i64>(), N as i64);
    eprintln!("[it] sigterm test took {:.1} s", test_start.elapsed().as_secs_f64());
}

/// `n` events written by the binary's own load generator (keyed, so spread over the
/// partitions); returns the high watermarks, which must hold all of them.
fn loadgen_events(d: &Deployment, n: u64, partitions: i32) -> Vec<i64> {
    let out = Command::new(env!("CARGO_BIN_EXE_slostream"))
        .args(["loadgen", "--brokers", &d.broker().bootstrap, "--topic", d.topic(), "--rate", "0", "--count"])
        .arg(n.to_string())
        .args(["--incident-every", "0"])
        .stdin(Stdio::null())
        .output()
        .expect("run slostream loadgen");
    assert!(out.status.success(), "loadgen failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let high = d.broker().high_watermarks(d.topic(), partitions);
    assert_eq!(high.iter().sum::<i64>(), n as i64, "loadgen delivered {high:?}");
    assert!(high.iter().all(|&h| h > 0), "every partition should get events: {high:?}");
    high
}

// ---------------------------------------------------------------------------------------------
// One instance per state dir.
// ---------------------------------------------------------------------------------------------

#[test]
fn second_instance_on_the_same_state_dir_fails_fast() {
    let d = deployment("lock");
    d.create_topic(1);
    let mut first = d.start();
    first.wait_ready(Duration::from_secs(60));

    let mut second = d.start();
    let started = Instant::now();
    let status = second.wait_exit(Duration::from_secs(10)).expect("the second instance is still running after 10 s");
    let took = started.elapsed();
    assert!(!status.success(), "second instance exit status {status}");
    assert!(took < Duration::from_secs(5), "the second instance took {took:?} to give up");
    let text = String::from_utf8_lossy(&second.output_bytes()).into_owned();
    assert!(text.contains("locked by another slostream instance"), "second instance said:\n{text}");
    assert!(
        text.contains(&first.pid().to_string()),
        "the message does not name the holder's pid {}:\n{text}",
        first.pid()
    );
    eprintln!(
        "[it] second instance: {status} after {:.2} s: {}",
        took.as_secs_f64(),
        text.lines().last().unwrap_or("")
    );
    // The first one is unaffected, and its lock goes with it.
    assert_eq!(first.get("/ready").map(|(s, _)| s), Some(200));
    first.stop();
    let mut third = d.start();
    third.wait_ready(Duration::from_secs(60));
    third.stop();
}
