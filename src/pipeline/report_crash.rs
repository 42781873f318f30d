//! The period reports across a `kill -9`, at the tally's level: a restart from the last
//! checkpoint, replaying what was read after it, ends with exactly the rows and counts of a run
//! that never stopped, wherever the crash falls (before October's first hours leave the ring,
//! after, after the close); a close already checkpointed is never made again.

use std::time::Instant;

use crate::config::Config;
use crate::report::Row;
use crate::state::{Checkpoint, Counters, PartitionOffset};
use crate::window::batch::Batch;

use crate::count::{Cut, Tally};

const HOUR: i64 = 3_600_000;
/// 2026-10-01T00:00:00Z.
const OCT: i64 = 1_790_812_800_000;
/// 2026-11-01T00:00:00Z.
const NOV: i64 = OCT + 31 * 24 * HOUR;

fn config() -> Config {
    let yaml = r#"
kafka: { brokers: "127.0.0.1:9092", topics: [t], group_id: g }
slis:
  a: { good: { ok: true } }
  b: { good: { ok: true } }
slos:
  rolling: { objective: 99, combine: min, period: 30d, slis: [a, b] }
"#;
    Config::from_yaml(yaml, "test.yaml").unwrap()
}

/// The messages of hand-over `i` (one every 3 hours from October 1st to November 1st, 06:00):
/// events of both SLIs in those hours, one an hour late, every 13th bad; and the tick's time.
fn hand_over(tally: &mut Tally, i: i64) -> i64 {
    let at = OCT + i * 3 * HOUR;
    let mut batch = Batch::with_capacity(64);
    for j in 0..12 {
        let ts = at + j * 15 * 60_000 - if j == 0 { HOUR } else { 0 };
        batch.push((j % 2) as usize, ts, (i + j) % 13 != 0, None);
    }
    let mut counters = Counters::for_config(&config());
    let positions = [PartitionOffset { topic: "t".into(), partition: 0, next: i + 1 }];
    tally.hand_over(
        0,
        &mut batch,
        &mut counters,
        Cut { positions: &positions, acknowledged: true, now: Instant::now() },
    );
    at + 3 * HOUR - 1
}

/// Hand-overs `from..to`, each followed by a tick closing what is due.
fn run(config: &Config, tally: &mut Tally, from: i64, to: i64) {
    for i in from..to {
        let now = hand_over(tally, i);
        let t = &mut *tally;
        t.reports.close_due(config, &t.store, &t.slices, now);
    }
}

fn checkpoint(config: &Config, t: &Tally) -> Vec<u8> {
    let slices = t.slices.saved();
    t.checkpoint_at(0, &[], &slices).encode(config)
}

fn rows(t: &Tally) -> Vec<Row> {
    t.reports.slos[0].closed.iter().cloned().collect()
}

#[test]
fn a_restart_from_any_checkpoint_ends_with_the_rows_of_a_run_that_never_stopped() {
    let config = config();
    let last = (NOV - OCT) / (3 * HOUR) + 2;
    let mut never_stopped = Tally::new(&config, 1, None, Vec::new());
    run(&config, &mut never_stopped, 0, last);
    let want = rows(&never_stopped);
    assert_eq!(want.len(), 1, "October closed");
    assert_eq!(want[0].totals().total as i64, 12 * (NOV - OCT) / (3 * HOUR), "every October event");
    // Crash points: early October, October 31st after its first hours left the 30-day ring,
    // and after the close.
    for crash in [5, (NOV - OCT) / (3 * HOUR) - 2, last - 1] {
        let mut before = Tally::new(&config, 1, None, Vec::new());
        run(&config, &mut before, 0, crash);
        let bytes = checkpoint(&config, &before);
        // What happened after the checkpoint is lost with the process ...
        run(&config, &mut before, crash, crash + 1);
        drop(before);
        // ... and read again from the checkpoint's offsets.
        let restored = Checkpoint::decode(&bytes, &config).unwrap();
        let resume_at = restored.offsets[0].next;
        let mut after = Tally::new(&config, 1, Some(restored), Vec::new());
        run(&config, &mut after, resume_at, last);
        assert_eq!(rows(&after), want, "crash after hand-over {crash}");
        let again = {
            let t = &mut after;
            t.reports.close_due(&config, &t.store, &t.slices, NOV + 7 * HOUR)
        };
        assert!(!again, "nothing closes twice");
    }
}
