//! Stop and restart, in-process: the shutdown future stops the pipeline cleanly, and a run on
//! the same state directory and the same mock cluster picks up exactly where it left off.
//!
//! - A stop and a restart count exactly across both runs (every count and every SLO window),
//!   with the restored counts and no SLO window series before the restart is ready.
//! - The offsets committed at shutdown are the high watermarks (what was counted); a restart of
//!   the same group and state directory counts only new events, and commits them too.
//!
//! What the binary adds (SIGTERM, its exit code and time, the "restored checkpoint" log line)
//! stays in [`durability`](crate::durability) and [`shutdown`](crate::shutdown).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use slostream::names::{self, label};

use super::{deployment, start_until_consumed};
use crate::harness::metrics::slo_window_series;
use crate::harness::mock::{InProcess, MockKafka};
use crate::harness::stream::{produce_counted, stream, Expected, BULK_AGES, FRESH_AGES};
use crate::harness::{now_ms, Deployment, Metrics, Served};

#[test]
fn graceful_stop_and_restart_is_exact() {
    const PARTITIONS: i32 = 4;
    let kafka = MockKafka::start();
    let d = deployment(&kafka, "graceful");
    kafka.create_topic(d.topic(), PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0x6_ACE);
    let mut expected = Expected::default();
    let first = stream(&mut rng, 1500, now_ms(), &BULK_AGES, 0.03);
    produce_counted(&kafka, d.topic(), PARTITIONS, &first, &mut expected);

    let (app, m, _) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    let consumed_before = m.get(names::EVENTS_CONSUMED.name, &[]).expect("consumed total");
    app.stop();
    assert!(!d.checkpoints().is_empty(), "no checkpoint after a graceful stop");

    // More events while it is down, some fresh for the 5m window.
    let second = stream(&mut rng, 500, now_ms(), &FRESH_AGES, 0.03);
    produce_counted(&kafka, d.topic(), PARTITIONS, &second, &mut expected);

    let mut app = InProcess::start(&d);
    let (to_ready, early) = wait_ready_checking_every_early_scrape(&mut app, consumed_before);
    let at_ready = app.consumed().unwrap_or(-1.0);
    assert!(
        at_ready >= first.len() as f64,
        "consumed {at_ready} right after ready: the first run's {} were not restored",
        first.len()
    );
    eprintln!(
        "[it] graceful restart in process: start to /ready 200 in {:.3} s ({early} scrapes before ready checked)",
        to_ready.as_secs_f64()
    );
    let (m, t_scrape) = app.wait_consumed(expected.consumed, Duration::from_secs(60));
    expected.assert_scrape("after a graceful restart", &m, t_scrape);
    app.stop();
}

/// Polls a restarting pipeline every 10 ms until `/ready` answers 200 (60 s at most). Every
/// scrape taken while it is still not ready must show `state_ready` 0, the restored consumed
/// total from the first scrape on (a dip would be a counter reset), and no SLO window series.
/// Returns the time from start to ready and how many such scrapes were checked.
fn wait_ready_checking_every_early_scrape(app: &mut InProcess, consumed_before: f64) -> (Duration, usize) {
    let mut early = 0;
    loop {
        app.assert_running();
        if let Some((status, _)) = app.get("/ready") {
            if status == 200 {
                return (app.started.elapsed(), early);
            }
            assert_eq!(status, 503);
            if let Some((200, body)) = app.get("/metrics") {
                let m = Metrics::parse(&body);
                if app.get("/ready").map(|(s, _)| s) == Some(503) {
                    early += 1;
                    assert_eq!(m.get(names::STATE_READY.name, &[]), Some(0.0), "state_ready before ready");
                    let consumed = m.get(names::EVENTS_CONSUMED.name, &[]);
                    assert!(
                        consumed.is_some_and(|c| c >= consumed_before),
                        "consumed total {consumed:?} before ready, below the restored {consumed_before}"
                    );
                    assert!(
                        slo_window_series(&m).is_empty(),
                        "SLO window series before ready: {:?}",
                        slo_window_series(&m)
                    );
                }
            }
        }
        assert!(app.started.elapsed() < Duration::from_secs(60), "not ready after 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn committed_offsets_at_shutdown_are_what_was_counted() {
    const N: usize = 3000;
    const PARTITIONS: i32 = 3;
    let kafka = MockKafka::start();
    let d = Deployment::new("commit").brokers(&kafka.bootstrap);
    kafka.create_topic(d.topic(), PARTITIONS);
    let mut rng = StdRng::seed_from_u64(0xC0FF5E7);
    let mut expected = Expected::default();
    produce_counted(&kafka, d.topic(), PARTITIONS, &stream(&mut rng, N, now_ms(), &BULK_AGES, 0.0), &mut expected);
    let high = kafka.high_watermarks(d.topic(), PARTITIONS);

    let (app, _, _) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    // Immediately: no waiting for a periodic commit to have happened first.
    app.stop();
    let as_offsets = committed(&kafka, &d, PARTITIONS);
    assert_eq!(as_offsets, high, "committed offsets per partition must equal the high watermarks");
    assert_eq!(as_offsets.iter().sum::<i64>(), N as i64);

    restart_counts_only_new_events(&kafka, &d, N as u64, PARTITIONS);
}

/// The group's committed offset of each partition (-1: none).
fn committed(kafka: &MockKafka, d: &Deployment, partitions: i32) -> Vec<i64> {
    kafka.committed_offsets(d.group(), d.topic(), partitions).iter().map(|c| c.unwrap_or(-1)).collect()
}

/// Restart with the same group and the same state directory, then add 7 events: whatever the
/// pipeline resumes from (the group's committed offsets, or a local checkpoint that also
/// restores the counters), it must count exactly the 7 new events on top of what it starts
/// with, and start with either nothing (no restored counters) or exactly the first run's `n`.
fn restart_counts_only_new_events(kafka: &MockKafka, d: &Deployment, n: u64, partitions: i32) {
    let extra: Vec<Vec<u8>> = (0..7)
        .map(|i| format!(r#"{{"timestamp":{},"service":"geo","status":200,"i":{i}}}"#, now_ms()).into_bytes())
        .collect();
    let geo = [(label::SLI, "geo-availability")];
    let mut again = InProcess::start(d);
    again.wait_ready(Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2)); // a re-read of committed events would show by now
    let base = again.scrape();
    let consumed0 = base.get(names::EVENTS_CONSUMED.name, &[]).unwrap_or(-1.0);
    let geo0 = base.get(names::SLI_EVENTS.name, &geo).unwrap_or(0.0);
    assert!(
        consumed0 == 0.0 || consumed0 == n as f64,
        "restarted pipeline starts at consumed {consumed0}: it re-read committed events"
    );
    eprintln!(
        "[it] restart in process: starts at consumed {consumed0} ({})",
        if consumed0 == 0.0 { "resumed from the group's offsets" } else { "restored its checkpoint" }
    );
    kafka.produce(d.topic(), partitions, &extra);
    let want = consumed0 as u64 + extra.len() as u64;
    again.wait_consumed(want, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let m = again.scrape();
    assert_eq!(
        m.get(names::EVENTS_CONSUMED.name, &[]),
        Some(want as f64),
        "the restarted pipeline re-read committed events"
    );
    assert_eq!(m.get(names::SLI_EVENTS.name, &geo), Some(geo0 + extra.len() as f64));
    again.stop();
    let high = kafka.high_watermarks(d.topic(), partitions);
    assert_eq!(committed(kafka, d, partitions), high, "after the second run");
}

/// A checkpointed offset past the end of its partition (the topic was recreated or truncated
/// while slostream was down) is reported and read on from the partition's end: the events
/// already there are never counted a second time. (Reading such a partition from the beginning
/// again counted every event a truncated partition still held twice.)
#[test]
fn a_checkpoint_past_the_end_of_the_partition_counts_nothing_twice() {
    let first_cluster = MockKafka::start();
    let d = deployment(&first_cluster, "past-end");
    first_cluster.create_topic(d.topic(), 1);
    let mut rng = StdRng::seed_from_u64(0xE2D);
    let mut expected = Expected::default();
    let first = stream(&mut rng, 100, now_ms(), &BULK_AGES, 0.0);
    produce_counted(&first_cluster, d.topic(), 1, &first, &mut expected);
    let (app, _, _) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    app.stop();

    // The same topic, group and state, but the partition now ends at 40: below the
    // checkpoint's next offset of 100.
    let second_cluster = MockKafka::start();
    let d = d.brokers(&second_cluster.bootstrap);
    second_cluster.create_topic(d.topic(), 1);
    let truncated = stream(&mut rng, 40, now_ms(), &BULK_AGES, 0.0);
    produce_counted(&second_cluster, d.topic(), 1, &truncated, &mut Expected::default());
    let mut app = InProcess::start(&d);
    app.wait_ready(Duration::from_secs(60));
    // Ready means every worker runs on its partitions; a few ticks more to read what it would.
    std::thread::sleep(Duration::from_secs(3));
    let m = app.scrape();
    assert_eq!(
        m.get(names::EVENTS_CONSUMED.name, &[]),
        Some(expected.consumed as f64),
        "the partition's 40 events were read again past a checkpoint at offset 100"
    );
    expected.assert_scrape("after a checkpoint past the end", &m, now_ms());

    // New events after it are counted.
    let fresh = stream(&mut rng, 25, now_ms(), &FRESH_AGES, 0.0);
    produce_counted(&second_cluster, d.topic(), 1, &fresh, &mut expected);
    let (m, t_scrape) = app.wait_consumed(expected.consumed, Duration::from_secs(60));
    expected.assert_scrape("new events after a checkpoint past the end", &m, t_scrape);
    app.stop();
}

/// A state directory whose newest checkpoint was written by a newer slostream (a format version
/// this build does not know) refuses the start with an error naming the file, instead of
/// starting with empty windows (which lost the whole history on a downgrade) or rolling back to
/// an older generation.
#[test]
fn a_checkpoint_from_a_newer_build_refuses_the_start() {
    use slostream::config::Config;
    use slostream::pipeline::RunError;
    use slostream::state::file::CheckpointFiles;
    use slostream::state::{Checkpoint, Counters};
    use slostream::window::WindowStore;

    let kafka = MockKafka::start();
    let d = deployment(&kafka, "newer-state");
    kafka.create_topic(d.topic(), 1);
    let config = Config::from_yaml(&d.render(crate::harness::free_port()), "newer-state.yaml").expect("valid config");
    let n = config.slis.len();
    let current = Checkpoint {
        created_ms: now_ms(),
        offsets: Vec::new(),
        dead_letters: Vec::new(),
        counters: Counters::for_config(&config),
        store: WindowStore::new(n, 30 * 86_400_000, 60_000),
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
    let mut newer = current.encode(&config);
    // The format version leads the encoding; no build will read u32::MAX.
    newer[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut files = CheckpointFiles::open(&config.state.dir).expect("state dir");
    files.write(&current.encode(&config)).expect("write the current format");
    let path = files.write(&newer).expect("write a newer format");
    drop(files);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let result = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), slostream::pipeline::run(config, std::future::pending())).await
    });
    match result {
        Ok(Err(RunError::NewerState { path: refused, reason })) => {
            assert_eq!(refused, path, "the error names the newer file");
            assert!(reason.contains("newer slostream"), "{reason}");
        }
        Ok(other) => panic!("expected a refused start, got {other:?}"),
        Err(_) => panic!("slostream started (and kept running) on a checkpoint of a newer format"),
    }
    assert!(path.exists(), "the newer checkpoint is left in place");
}

/// A topic removed from `kafka.topics` keeps its offsets in the checkpoint: configured again
/// later, it resumes where it stopped, and its events are never counted twice.
#[test]
fn a_topic_removed_and_added_back_is_never_counted_twice() {
    let kafka = MockKafka::start();
    let d = deployment(&kafka, "topics");
    let other = crate::harness::unique("other-topic");
    kafka.create_topic(d.topic(), 1);
    kafka.create_topic(&other, 1);
    let mut rng = StdRng::seed_from_u64(0x70_91C5);
    let mut expected = Expected::default();
    produce_counted(&kafka, d.topic(), 1, &stream(&mut rng, 60, now_ms(), &BULK_AGES, 0.0), &mut expected);
    produce_counted(&kafka, &other, 1, &stream(&mut rng, 40, now_ms(), &BULK_AGES, 0.0), &mut expected);

    // Both topics, then only the first, then both again.
    let both = d.clone().also_topics(&[&other]);
    let (app, _, _) = start_until_consumed(&both, &expected, Duration::from_secs(60));
    app.stop();
    let only_first = d.clone().also_topics(&[]);
    let more = stream(&mut rng, 20, now_ms(), &FRESH_AGES, 0.0);
    produce_counted(&kafka, d.topic(), 1, &more, &mut expected);
    let (app, _, _) = start_until_consumed(&only_first, &expected, Duration::from_secs(60));
    app.stop();
    let (mut app, m, t_scrape) = start_until_consumed(&both, &expected, Duration::from_secs(60));
    // A few ticks more: the other topic's 40 events would show up again if read from the start.
    std::thread::sleep(Duration::from_secs(3));
    let again = app.scrape();
    assert_eq!(
        again.get(names::EVENTS_CONSUMED.name, &[]),
        Some(expected.consumed as f64),
        "the re-added topic's events were counted again"
    );
    expected.assert_scrape("after a topic was removed and added back", &m, t_scrape);
    app.stop();
}

/// An SLI whose definition changed between two runs starts empty, with
/// `slostream_sli_state_resets_total{sli}`: its counts under the old definition are never mixed
/// with counts under the new one. Every other SLI keeps what it had.
#[test]
fn an_sli_whose_definition_changed_restarts_empty_and_says_so() {
    let kafka = MockKafka::start();
    let d = deployment(&kafka, "redefined");
    kafka.create_topic(d.topic(), 2);
    let mut rng = StdRng::seed_from_u64(0x5_1DEF);
    let mut expected = Expected::default();
    produce_counted(&kafka, d.topic(), 2, &stream(&mut rng, 300, now_ms(), &BULK_AGES, 0.0), &mut expected);
    let (app, before, _) = start_until_consumed(&d, &expected, Duration::from_secs(60));
    app.stop();
    let totals = |m: &Metrics, sli: &str| {
        (m.get(names::SLI_EVENTS.name, &[(label::SLI, sli)]), m.get(names::SLI_GOOD_EVENTS.name, &[(label::SLI, sli)]))
    };
    let geo_before = totals(&before, "geo-availability");
    assert!(geo_before.0.is_some_and(|n| n > 0.0), "geo-availability saw events: {geo_before:?}");

    let redefined = d.clone().sli_good("geo-availability", "{ status: { lt: 400 } }");
    let mut app = InProcess::start(&redefined);
    app.wait_ready(Duration::from_secs(60));
    let m = app.scrape();
    assert_eq!(m.get(names::SLI_STATE_RESETS.name, &[(label::SLI, "geo-availability")]), Some(1.0));
    assert_eq!(totals(&m, "geo-availability"), (Some(0.0), Some(0.0)), "its old counts are not carried over");
    for sli in ["search-availability", "search-latency", "booking-availability"] {
        assert_eq!(totals(&m, sli), totals(&before, sli), "{sli} keeps its counts");
        assert!(m.get(names::SLI_STATE_RESETS.name, &[(label::SLI, sli)]).is_none(), "{sli} was not reset");
    }
    assert_eq!(m.get(names::EVENTS_CONSUMED.name, &[]), Some(expected.consumed as f64), "nothing read again");
    app.stop();
}
