//! State belongs to its deployment. A state directory holding another consumer group's
//! checkpoint refuses the start with exit code 2, naming both group ids and the directory
//! (a second config once restored the first one's counts as its own); `slostream run
//! --reset-state` moves the old checkpoints aside into `discarded-<UTC time>/` and starts empty.
//! Neither needs a broker: both happen before slostream connects to Kafka.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slostream::config::Config;
use slostream::names;
use slostream::state::file::CheckpointFiles;
use slostream::state::{Checkpoint, Counters};
use slostream::window::WindowStore;

use crate::harness::{free_port, http_client, now_ms, Deployment};

/// No broker listens here: whatever these tests check happens before Kafka is reached.
const NO_BROKER: &str = "127.0.0.1:9";

/// Writes a checkpoint of `d`'s config, but for consumer group `group`, with `consumed` messages.
fn checkpoint_of_group(d: &Deployment, group: &str, consumed: u64) {
    let text = d.render(free_port()).replace(d.group(), group);
    let other = Config::from_yaml(&text, "other.yaml").expect("valid config");
    let n = other.slis.len();
    let mut counters = Counters::for_config(&other);
    counters.consumed = consumed;
    let c = Checkpoint {
        created_ms: now_ms(),
        offsets: Vec::new(),
        dead_letters: Vec::new(),
        counters,
        store: WindowStore::new(n, 30 * 86_400_000, 60_000),
        breakdowns: slostream::window::breakdown::Breakdowns::new(&other),
        slices: Vec::new(),
        reports: slostream::report::Reports::new(&other),
        owner: None,
        changed_slis: Vec::new(),
        new_slis: Vec::new(),
        new_maintenance: Vec::new(),
        rebuild: None,
        history: Vec::new(),
        coverage: Default::default(),
    };
    CheckpointFiles::open(&d.state_dir()).unwrap().write(&c.encode(&other)).expect("write checkpoint");
}

fn checkpoints_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        fs::read_dir(dir).map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect()).unwrap_or_default();
    out.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("checkpoint-")));
    out
}

fn run(config: &Path, extra: &[&str], log: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_slostream"))
        .args(["run", "--config"])
        .arg(config)
        .args(extra)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info,librdkafka=off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn slostream")
}

#[test]
fn another_groups_checkpoint_refuses_the_start_and_reset_state_moves_it_aside() {
    let d = Deployment::new("foreign").brokers(NO_BROKER);
    checkpoint_of_group(&d, "someone-elses-group", 12_345);
    let before = checkpoints_in(&d.state_dir());
    assert_eq!(before.len(), 1);
    let port = free_port();
    let config = d.dir.join("slostream.yaml");
    fs::write(&config, d.render(port)).unwrap();

    // Refused: exit code 2, both groups and the directory named, the checkpoint untouched.
    let log = d.dir.join("refused.log");
    let mut child = run(&config, &[], &log);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("slostream started on another group's checkpoint:\n{}", fs::read_to_string(&log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(2), "exit code for another deployment's state:\n{stderr}");
    for needle in ["someone-elses-group", d.group(), &d.state_dir().display().to_string(), "--reset-state"] {
        assert!(stderr.contains(needle), "the error names {needle:?}:\n{stderr}");
    }
    assert_eq!(checkpoints_in(&d.state_dir()), before, "the other deployment's checkpoint is left as it was");

    // --reset-state: moved aside, started empty (serving, not ready without a broker).
    let log = d.dir.join("reset.log");
    let mut child = run(&config, &["--reset-state"], &log);
    let http = http_client();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let body = loop {
        assert!(child.try_wait().unwrap().is_none(), "exited:\n{}", fs::read_to_string(&log).unwrap());
        if let Ok(r) = http.get(format!("{url}/metrics")).send() {
            break r.text().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no /metrics:\n{}", fs::read_to_string(&log).unwrap());
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    let consumed = body.lines().find(|l| l.starts_with(&format!("{} ", names::EVENTS_CONSUMED.name)));
    assert!(consumed.is_none_or(|l| l.ends_with(" 0")), "the old counts are not restored: {consumed:?}");
    assert!(checkpoints_in(&d.state_dir()).is_empty(), "no checkpoint left where it was");
    let discarded: Vec<PathBuf> = fs::read_dir(d.state_dir())
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("discarded-")))
        .collect();
    assert_eq!(discarded.len(), 1, "one discarded-<time> directory");
    let moved: Vec<_> = checkpoints_in(&discarded[0]).iter().map(|p| p.file_name().unwrap().to_owned()).collect();
    assert_eq!(moved, before.iter().map(|p| p.file_name().unwrap().to_owned()).collect::<Vec<_>>());
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("moved aside"), "it says so:\n{text}");
}
