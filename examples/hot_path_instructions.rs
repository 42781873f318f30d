//! The hot path's instructions per event, for machines too busy (or too virtual) for timings or
//! hardware counters to tell two builds apart: `Shard::process` over 100,000 loadgen events,
//! `LOOPS` times, with a hand-over whenever the batch is full. Under callgrind, the difference
//! between two loop counts is the per-event cost, set-up excluded:
//!
//! ```sh
//! cargo build --release --example hot_path_instructions
//! for loops in 1 3; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/hot_path_instructions $loops [CONFIG] 2>&1 | grep Collected
//! done   # (second - first) / 200000 = instructions per event
//! ```
//!
//! `CONFIG` defaults to `config/example.yaml`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use slostream::config::Config;
use slostream::count::{Cut, Shard, Tally};
use slostream::loadgen::{Incidents, Traffic};
use slostream::state::PartitionOffset;

const NOW: i64 = 1_795_694_400_000;

fn main() {
    let loops: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).expect("usage: LOOPS [CONFIG]");
    let yaml = std::env::args().nth(2).map(|p| std::fs::read_to_string(p).unwrap());
    let yaml = yaml.unwrap_or_else(|| include_str!("../config/example.yaml").to_string());
    let config = Config::from_yaml(&yaml, "x.yaml").unwrap();
    let mut traffic = Traffic::new(1, Incidents { every: Duration::ZERO, lasts: Duration::ZERO });
    let mut buf = String::new();
    let events: Vec<Vec<u8>> = (0..100_000)
        .map(|i| {
            traffic.event(NOW - (i * 7919 % 60_000) as i64, &mut buf);
            buf.as_bytes().to_vec()
        })
        .collect();
    let mut shard = Shard::new(&config);
    let mut tally = Tally::new(&config, 1, None, Vec::new());
    let positions = vec![PartitionOffset { topic: "requests".into(), partition: 0, next: 0 }];
    let at = Instant::now();
    for _ in 0..loops {
        for e in &events {
            shard.process(black_box(e), NOW);
            if shard.is_full() {
                shard.hand_over(&mut tally, 0, Cut { positions: &positions, acknowledged: true, now: at });
            }
        }
    }
    shard.hand_over(&mut tally, 0, Cut { positions: &positions, acknowledged: true, now: at });
    black_box(&tally.counters);
}
