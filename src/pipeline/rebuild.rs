//! History rebuilds: at start, which SLIs need their history read again from the topics (new,
//! changed, or asked for with `slostream rebuild`), from which offsets, and the thread that
//! reads it ([`crate::ingest::rebuild`]) while the workers read live.
//!
//! Each partition's history starts at the offset of `now - the longest period of the SLOs
//! using the rebuilt SLIs` (`offsets_for_times`), or at the first retained offset when retention
//! deleted part of that, and ends where live reading starts. An interrupted rebuild is resumed
//! from the checkpoint; one that another definition change overtakes starts again with every
//! SLI involved (the state layer leaves their partial counts out).
//!
//! A merge member (`--role merge`) rebuilds the same way from the input topics its ingest
//! members read, but it does not read live itself: each partition's history ends where the
//! first delta record counted under the new definitions starts ([`Rebuild::learn_ends`]), which
//! the partition's history reader waits for.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::KAFKA_TIMEOUT;
use crate::config::{Config, Role};
use crate::count::{lock_tally, Tally};
use crate::ingest::rebuild::RebuildLinks;
use crate::ingest::{IngestContext, KafkaErrors};
use crate::state::rebuild::{Rebuild, RebuildPartition};
use crate::state::{Checkpoint, PartitionOffset};

/// Wait before a failed history reader tries again.
const RETRY: Duration = Duration::from_secs(5);

/// The file in the state directory where `slostream rebuild` leaves the SLIs to rebuild at the
/// next start, one name per line; removed once a checkpoint holds the rebuild.
pub const REQUEST_FILE: &str = "rebuild-requested";

/// The SLIs asked for with `slostream rebuild` (none when there is no request).
pub fn requested(state_dir: &Path) -> Vec<String> {
    match fs::read_to_string(state_dir.join(REQUEST_FILE)) {
        Ok(text) => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

/// Adds `sli` to the request in `state_dir` (creating the directory if need be).
pub fn request(state_dir: &Path, sli: &str) -> io::Result<PathBuf> {
    fs::create_dir_all(state_dir)?;
    let path = state_dir.join(REQUEST_FILE);
    let mut names = requested(state_dir);
    if !names.iter().any(|n| n == sli) {
        names.push(sli.to_string());
    }
    fs::write(&path, names.join("\n") + "\n")?;
    Ok(path)
}

/// The SLIs a restored checkpoint says must be rebuilt, in config order: those it does not know
/// and those whose counts it left out (definition changed, rebuild asked for, or a maintenance
/// window added for a time already counted).
pub(super) fn due(config: &Config, restored: &Checkpoint) -> Vec<String> {
    config
        .slis
        .iter()
        .map(|s| &s.name)
        .filter(|n| restored.new_slis.contains(n) || restored.changed_slis.contains(n))
        .cloned()
        .collect()
}

/// The longest period of the SLOs that use any of `slis` (the longest of all when none does).
fn period_ms(config: &Config, slis: &[String]) -> i64 {
    let ids: Vec<usize> = slis.iter().filter_map(|n| config.slis.iter().position(|s| &s.name == n)).collect();
    let using = config.slos.iter().filter(|slo| slo.components.iter().any(|c| ids.contains(&c.sli)));
    using.map(|slo| slo.period.secs).max().unwrap_or_else(|| config.max_period_secs()) * 1000
}

/// Where each partition's history starts for a rebuild of `slis`: `(topic, partition, first
/// offset, whether retention cut it)` (`i64::MAX`: nothing in the period), and the period's
/// start. Blocking (Kafka calls).
fn history_starts(
    config: &Config,
    admin: &BaseConsumer<IngestContext>,
    slis: &[String],
    partitions: &[(String, i32)],
    now_ms: i64,
) -> (i64, Vec<(String, i32, i64, bool)>) {
    let since = now_ms - period_ms(config, slis);
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in partitions {
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(since));
    }
    let found = admin.offsets_for_times(tpl, KAFKA_TIMEOUT).ok();
    let starts = partitions
        .iter()
        .map(|(topic, partition)| {
            let at = found.as_ref().and_then(|f| f.find_partition(topic, *partition)).map(|e| e.offset());
            let from = match at {
                Some(Offset::Offset(o)) => o,
                // No record at or after `since`: nothing of the history is in the period.
                Some(Offset::End) => i64::MAX,
                // Unknown (the broker did not answer): read all that is retained.
                _ => 0,
            };
            let low = admin.fetch_watermarks(topic, *partition, KAFKA_TIMEOUT).map_or(0, |(low, _)| low);
            (topic.clone(), *partition, from.max(low), low > 0 && from <= low)
        })
        .collect();
    (since, starts)
}

/// The rebuild of `slis` from `starts` ([`history_starts`]) up to the live `ends` (a merge
/// member's are [`RebuildPartition::OPEN`]), and the partitions retention cut.
fn up_to(
    slis: Vec<String>,
    starts: &[(String, i32, i64, bool)],
    ends: &[PartitionOffset],
) -> (Rebuild, Vec<(String, i32)>) {
    let mut partitions = Vec::new();
    let mut cut = Vec::new();
    for end in ends.iter().filter(|p| p.next > 0) {
        let Some((_, _, start, cut_by_retention)) =
            starts.iter().find(|(t, q, _, _)| *q == end.partition && *t == end.topic)
        else {
            continue;
        };
        if *start < end.next {
            if *cut_by_retention {
                cut.push((end.topic.clone(), end.partition));
            }
            let (topic, partition, start) = (end.topic.clone(), end.partition, *start);
            partitions.push(RebuildPartition { topic, partition, start, next: start, end: end.next });
        }
    }
    (Rebuild { slis, partitions }, cut)
}

/// A new rebuild of `slis` up to the live `starts`: each partition's history offsets, the
/// period's start, and the partitions retention cut. Blocking (Kafka calls).
pub(super) fn plan(
    config: &Config,
    admin: &BaseConsumer<IngestContext>,
    slis: Vec<String>,
    starts: &[PartitionOffset],
    now_ms: i64,
) -> (Rebuild, i64, Vec<(String, i32)>) {
    if config.role == Role::Merge {
        return plan_merge(config, admin, slis, now_ms);
    }
    let read: Vec<(String, i32)> =
        starts.iter().filter(|p| p.next > 0).map(|p| (p.topic.clone(), p.partition)).collect();
    let (since, from) = history_starts(config, admin, &slis, &read, now_ms);
    let (rebuild, cut) = up_to(slis, &from, starts);
    (rebuild, since, cut)
}

/// [`plan`] for a merge member: every partition of the input topics, each history's end open
/// until a delta record under the new definitions says where it is.
fn plan_merge(
    config: &Config,
    admin: &BaseConsumer<IngestContext>,
    slis: Vec<String>,
    now_ms: i64,
) -> (Rebuild, i64, Vec<(String, i32)>) {
    let mut read = Vec::new();
    for topic in &config.scale.input_topics {
        match admin.fetch_metadata(Some(topic), KAFKA_TIMEOUT) {
            Ok(m) => {
                for t in m.topics() {
                    read.extend(t.partitions().iter().map(|p| (t.name().to_string(), p.id())));
                }
            }
            Err(e) => {
                tracing::error!(topic, error = %e, "cannot list the input topic's partitions; its history is not rebuilt")
            }
        }
    }
    let (since, starts) = history_starts(config, admin, &slis, &read, now_ms);
    let open: Vec<PartitionOffset> = read
        .into_iter()
        .map(|(topic, partition)| PartitionOffset { topic, partition, next: RebuildPartition::OPEN })
        .collect();
    let (rebuild, cut) = up_to(slis, &starts, &open);
    (rebuild, since, cut)
}

/// A rebuild asked for while running (`slostream rebuild`), started when no other one runs: the
/// SLIs' counts are left out and live positions become the history's end, in one step under the
/// tally's lock (a checkpoint never holds the one without the other). Returns the partitions
/// retention cut, or `None` when there was nothing to start. Blocking.
pub(super) fn start_requested(
    config: &Config,
    admin: &BaseConsumer<IngestContext>,
    tally: &Mutex<Tally>,
    slis: Vec<String>,
) -> Option<Vec<(String, i32)>> {
    let read: Vec<(String, i32)> = {
        let t = lock_tally(tally);
        if t.rebuild.as_ref().is_some_and(|r| !r.is_done()) {
            return None;
        }
        t.offsets
            .iter()
            .filter(|p| p.next > 0 && config.kafka.topics.contains(&p.topic))
            .map(|p| (p.topic.clone(), p.partition))
            .collect()
    };
    let now_ms = config.clock.now_ms();
    let (since, from) = history_starts(config, admin, &slis, &read, now_ms);
    let mut t = lock_tally(tally);
    if let Err(e) = t.forget(config, &slis, now_ms) {
        tracing::error!(error = %e, "cannot leave the SLIs' counts out; no rebuild");
        return None;
    }
    let ends: Vec<PartitionOffset> =
        t.offsets.iter().filter(|p| config.kafka.topics.contains(&p.topic)).cloned().collect();
    let (rebuild, cut) = up_to(slis, &from, &ends);
    install(&mut t, rebuild, since);
    Some(cut)
}

/// The partitions of an interrupted rebuild whose unread history retention has deleted since.
/// Blocking.
pub(super) fn cut_since(admin: &BaseConsumer<IngestContext>, rebuild: &Rebuild) -> Vec<(String, i32)> {
    rebuild
        .partitions
        .iter()
        .filter(|p| p.next < p.end)
        .filter(|p| admin.fetch_watermarks(&p.topic, p.partition, KAFKA_TIMEOUT).is_ok_and(|(low, _)| low > p.next))
        .map(|p| (p.topic.clone(), p.partition))
        .collect()
}

/// Starts the rebuild the tally holds now (a new one, with its history starts recorded, or
/// an interrupted one), if any is unfinished: `ingest.workers` readers, the unread partitions
/// dealt out among them (live reading is light next to a backlog, so the readers get the cores).
pub(super) fn start(
    config: &Arc<Config>,
    tally: Arc<Mutex<Tally>>,
    errors: Arc<KafkaErrors>,
    cut_by_retention: Vec<(String, i32)>,
) -> Option<History> {
    let unread: Vec<(String, i32)> = match &lock_tally(&tally).rebuild {
        Some(r) => r.partitions.iter().filter(|p| p.next < p.end).map(|p| (p.topic.clone(), p.partition)).collect(),
        None => Vec::new(),
    };
    if unread.is_empty() {
        return None;
    }
    let readers = config.ingest.workers.clamp(1, unread.len());
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..readers)
        .map(|id| {
            let partitions = unread.iter().skip(id).step_by(readers).cloned().collect();
            let links = RebuildLinks {
                tally: tally.clone(),
                stop: stop.clone(),
                errors: errors.clone(),
                cut_by_retention: cut_by_retention.clone(),
                partitions,
                id,
            };
            let config = config.clone();
            std::thread::Builder::new()
                .name(format!("rebuild-{id}"))
                .spawn(move || {
                    // A reader that fails (a client it cannot create, say) tries again: the SLOs'
                    // alerts stay held until the rebuild is done.
                    while let Err(e) = crate::ingest::rebuild::run(config.clone(), links.clone()) {
                        tracing::error!(reader = id, error = %e, retry_in = ?RETRY, "history reader failed; trying again");
                        std::thread::sleep(RETRY);
                        if links.stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                })
                .expect("spawn a history reader")
        })
        .collect();
    Some(History { stop, threads })
}

/// The running history readers.
pub(super) struct History {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl History {
    /// Whether every reader has returned (the rebuild is done, or they were stopped).
    pub(super) fn is_finished(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    /// Asks the readers to hand over what they read and waits for them (at most `grace`); the
    /// rebuild resumes at the next start from what the last checkpoint holds.
    pub(super) async fn stop(self, grace: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| drop(t.join())));
        if tokio::time::timeout(grace, joined).await.is_err() {
            tracing::warn!("the history readers did not stop in time; their last hand-overs are what counts");
        }
    }
}

/// Records a new rebuild in the tally: its partitions, and for each rebuilt SLI the time its
/// history is complete from (`since`, raised later for partitions retention cut).
pub(super) fn install(tally: &mut Tally, rebuild: Rebuild, since: i64) {
    tally.history.retain(|(s, _)| !rebuild.slis.contains(s));
    tally.history.extend(rebuild.slis.iter().map(|s| (s.clone(), since)));
    tracing::info!(
        slis = ?rebuild.slis,
        partitions = rebuild.partitions.len(),
        events = rebuild.partitions.iter().filter(|p| !p.is_open()).map(|p| p.end - p.start).sum::<i64>(),
        ends_known = rebuild.partitions.iter().filter(|p| !p.is_open()).count(),
        "rebuilding the history of new or changed SLIs from the topics"
    );
    tally.rebuild = Some(rebuild);
}
