//! Checkpoint cost for 100 SLIs with 30 days of state: encode (done under the tally's lock, while
//! workers keep batching), durable write (fsync + rename) and read back.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use slostream::config::Config;
use slostream::state::file::CheckpointFiles;
use slostream::state::{Checkpoint, Counters, PartitionOffset};
use slostream::window::{Counts, WindowStore};

const NOW: i64 = 1_795_694_400_000;
const SLIS: usize = 100;

fn config() -> Config {
    let mut y = String::from("kafka: { brokers: b, topics: [t], group_id: g }\nslis:\n");
    for i in 0..SLIS {
        let _ = writeln!(y, "  sli-{i}:\n    match: {{ service: \"svc-{i}\" }}\n    good: {{ status: {{ lt: 500 }} }}");
    }
    y.push_str("slos:\n");
    for i in 0..SLIS / 10 {
        let list: Vec<String> = (0..10).map(|j| format!("sli-{}", i * 10 + j)).collect();
        let _ = writeln!(y, "  slo-{i}: {{ objective: 99.9, period: 30d, slis: [{}] }}", list.join(", "));
    }
    Config::from_yaml(&y, "bench.yaml").unwrap()
}

/// Every bucket of every tier holds counts: the largest a 30-day checkpoint gets.
fn full_store(config: &Config) -> WindowStore {
    let mut store = WindowStore::new(config.slis.len(), 30 * 86_400_000, 60_000);
    for (tier, res) in store.resolutions().into_iter().enumerate() {
        let span = [3_600_000, 6 * 3_600_000, 30 * 86_400_000][tier];
        let last = NOW / res;
        for k in (last - span / res)..=last {
            for sli in 0..config.slis.len() {
                store.add_bucket(tier, sli, k, Counts { good: 990_000 + k as u64 % 7, total: 1_000_000 });
            }
        }
    }
    store
}

fn checkpoint(c: &mut Criterion) {
    let config = config();
    let cp = Checkpoint {
        created_ms: NOW,
        offsets: (0..8).map(|p| PartitionOffset { topic: "requests".into(), partition: p, next: 1 << 40 }).collect(),
        dead_letters: Vec::new(),
        counters: Counters::for_config(&config),
        store: full_store(&config),
        breakdowns: slostream::window::breakdown::Breakdowns::new(&config),
        slices: Vec::new(),
        reports: slostream::report::Reports::new(&config),
        owner: None,
        changed_slis: Vec::new(),
        new_slis: Vec::new(),
        new_maintenance: Vec::new(),
        rebuild: None,
        history: Vec::new(),
        coverage: Default::default(),
    };
    let bytes = cp.encode(&config);
    println!(
        "checkpoint for {SLIS} SLIs with 30 days of state: {} bytes ({:.1} KB per SLI)",
        bytes.len(),
        bytes.len() as f64 / SLIS as f64 / 1024.0
    );
    let dir = std::env::temp_dir().join(format!("slostream-bench-checkpoint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut files = CheckpointFiles::open(&dir).unwrap();

    let mut g = c.benchmark_group("checkpoint_100_slis_30d");
    g.measurement_time(Duration::from_secs(4)).sample_size(20);
    g.bench_function("encode", |b| b.iter(|| black_box(cp.encode(&config))));
    g.bench_function("write_fsync_rename", |b| b.iter(|| files.write(black_box(&bytes)).unwrap()));
    g.bench_function("decode", |b| b.iter(|| Checkpoint::decode(black_box(&bytes), &config).unwrap()));
    g.finish();
    drop(files);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, checkpoint);
criterion_main!(benches);
