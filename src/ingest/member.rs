//! One worker of an ingest member (`--role ingest`): a consumer-group member that counts into a
//! shard, like a worker of `--role all`, but commits what it counted instead of keeping windows.
//!
//! Every `scale.flush_interval`, when the shard is full, before giving partitions up in a
//! rebalance and at shutdown, the worker commits ONE Kafka transaction holding its delta record
//! (to `<group_id>.deltas`), the dead letters of the messages it covers, and the group offsets
//! just past them (`send_offsets_to_transaction`). Counts, dead letters and offsets therefore
//! land together or not at all, and a merge member reading `read_committed` sees each event's
//! count exactly once. Nothing else is kept: a worker whose transaction is aborted drops its
//! uncommitted counts and seeks back to the committed offsets (`Failure::Rewind`); one that
//! is fenced, fails fatally or loses its assignment also replaces its clients (`Rejoin`).
//!
//! Its ids derive from the stable member name: `transactional.id = <group_id>-<instance>-<n>`,
//! so a restarted member's `init_transactions` aborts its predecessor's open transaction at
//! once, and `group.instance.id = <instance>-<n>` (static membership), so a restart within the
//! session timeout gets its partitions back without a rebalance.
//!
//! Each delta record carries its place in the worker's chain of transactions ([`Chain`]): a
//! transaction number, and the last earlier one that committed and whose offsets took effect.
//! The worker keeps the chain across rejoins; a transaction that did not take effect is never
//! named, so a merge member can leave out its record should a broker show it anyway. Whether
//! it took effect, the group's committed offsets say (they were part of the transaction):
//! - a commit seen to succeed is read back before the next commit builds on it (a broker
//!   restarting after a crash can skip its markers, so that its records show and its offsets
//!   never apply); if they did not apply, what was read since is read again from them, and if
//!   they are still pending, it is named `unsure`;
//! - a commit whose outcome the worker could not see (the commit failed, and so did the abort)
//!   is settled when the worker joins again, once its new producer's `init_transactions` has
//!   ended that transaction one way or the other.
//!
//! Each record also carries the input offsets it covers ([`InputRange`]), so even a commit that
//! cannot be settled here (its worker died first) is left to the merge member, which decides it
//! from the records that follow.
//!
//! Rebalances: rust-rdkafka registers no native rebalance callback, and the batch read would
//! then "force unassign" every partition. So the worker reads a queue of its own that assigned
//! partitions are forwarded to, and serves the consumer queue with `poll(0)` between batches;
//! the context's rebalance hook only records the event, and the worker acts on it right after
//! the poll: forward and assign, or commit and unassign.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, PurgeConfig};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use super::batch::BatchConsumer;
use super::worker::CurrentPartition;
use super::{client_config, dead_letter, IngestContext, KafkaErrors};
use crate::config::scale::deltas_topic;
use crate::config::Config;
use crate::count::Shard;
use crate::state::delta_record::{Chain, DeltaRecord, InputRange};
use crate::state::PartitionOffset;

/// Messages between housekeeping rounds on a busy stream (as in `--role all`).
const CLOCK_EVERY: usize = 256;
/// Wait between attempts to join while the brokers cannot be reached.
const JOIN_RETRY: Duration = Duration::from_secs(1);
/// How long a worker waits for stable committed offsets ([`stable_offsets`]): its last
/// commit's, and those it reads on from. A transaction whose markers a restarted broker skipped
/// leaves its offsets pending until the same producer's next commit marker, so waiting longer
/// would hold the worker (and any rebalance) up for nothing. Not settled by then, a commit is
/// named `unsure`, and reading goes on from the offsets applied.
const SETTLE_AT_MOST: Duration = Duration::from_secs(5);

/// What an ingest member's workers count, shared with the exporter; each worker adds to it
/// after every transaction, never per event.
#[derive(Debug)]
pub struct MemberStats {
    /// Transactions committed.
    pub committed: AtomicU64,
    /// Transactions aborted (their counts were dropped and read again).
    pub aborted: AtomicU64,
    /// Bytes of delta records committed.
    pub delta_bytes: AtomicU64,
    /// Input messages read.
    pub messages: AtomicU64,
    /// Rejoins after a failed transaction or a lost assignment.
    pub rejoins: AtomicU64,
    /// Rewinds to the committed offsets after an aborted transaction.
    pub rewinds: AtomicU64,
    /// Partitions owned now, all workers together.
    pub partitions: AtomicU64,
    /// Per worker: when its commit (or its leaving the group after a failure) began, in ms since
    /// `epoch` (0: not committing).
    committing: Vec<AtomicU64>,
    epoch: Instant,
}

impl MemberStats {
    /// Stats for `workers` workers.
    pub fn new(workers: usize) -> MemberStats {
        MemberStats {
            committed: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
            delta_bytes: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            rejoins: AtomicU64::new(0),
            rewinds: AtomicU64::new(0),
            partitions: AtomicU64::new(0),
            committing: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            epoch: Instant::now(),
        }
    }

    /// The worker whose commit has been in progress longest, and for how long, if one is.
    pub fn longest_commit(&self) -> Option<(usize, Duration)> {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.committing
            .iter()
            .enumerate()
            .filter_map(|(w, since)| match since.load(Ordering::Relaxed) {
                0 => None,
                since => Some((w, Duration::from_millis(now.saturating_sub(since)))),
            })
            .max_by_key(|&(_, d)| d)
    }

    /// Marks worker `w`'s commit as in progress until the guard is dropped.
    fn committing(&self, w: usize) -> CommitInProgress<'_> {
        let now = (self.epoch.elapsed().as_millis() as u64).max(1);
        if let Some(since) = self.committing.get(w) {
            since.store(now, Ordering::Relaxed);
        }
        CommitInProgress { stats: self, worker: w }
    }
}

/// A commit in progress, seen by the member's watchdog ([`MemberStats::longest_commit`]).
struct CommitInProgress<'a> {
    stats: &'a MemberStats,
    worker: usize,
}

impl Drop for CommitInProgress<'_> {
    fn drop(&mut self) {
        if let Some(since) = self.stats.committing.get(self.worker) {
            since.store(0, Ordering::Relaxed);
        }
    }
}

/// What an ingest member's workers share.
pub struct MemberLinks {
    /// Set when the workers must commit and return.
    pub stop: Arc<AtomicBool>,
    /// Where the Kafka clients count errors.
    pub errors: Arc<KafkaErrors>,
    /// What the exporter shows.
    pub stats: Arc<MemberStats>,
}

/// Why a worker leaves the group and joins again, dropping what it has not committed.
#[derive(Debug)]
struct Rejoin(String);

/// A transaction that did not commit, and what the worker does about it.
#[derive(Debug)]
enum Failure {
    /// The transaction was aborted (a rebalance moved the group's generation, a broker hiccup):
    /// the worker drops its uncommitted counts and reads its partitions again from their
    /// committed offsets, staying in the group.
    Rewind(String),
    /// The producer or the membership cannot go on (fenced, fatal, assignment lost): new
    /// clients, a new membership.
    Rejoin(String),
}

impl From<Rejoin> for Failure {
    fn from(r: Rejoin) -> Failure {
        Failure::Rejoin(r.0)
    }
}

/// Runs worker `id` of member `instance` until `stop`, committing everything it read before it
/// returns. Only a client that cannot be created at all (a bad `kafka.properties`) is an error.
pub fn run(id: usize, config: Arc<Config>, instance: &str, links: &MemberLinks) -> Result<(), KafkaError> {
    let mut chain = RecordChain::new();
    while !links.stop.load(Ordering::Relaxed) {
        let mut member = match Member::join(id, config.clone(), instance, links, &mut chain) {
            Ok(m) => m,
            Err(e @ KafkaError::ClientCreation(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(worker = id, error = %e, "cannot join the group yet; trying again");
                std::thread::sleep(JOIN_RETRY);
                continue;
            }
        };
        let outcome = member.run(links);
        {
            // Closing the clients can hang after a failed transaction: the watchdog sees it.
            let _watched = links.stats.committing(id);
            chain = member.leave(links);
        }
        match outcome {
            Ok(()) => return Ok(()),
            Err(Rejoin(why)) => {
                links.stats.rejoins.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(worker = id, reason = %why, "dropped the uncommitted counts; joining the group again");
                // A refused membership (a static member whose predecessor's session has not
                // expired yet) is refused again at once.
                std::thread::sleep(JOIN_RETRY);
            }
        }
    }
    Ok(())
}

/// Where a worker stands in its chain of transactions ([`Chain`]), for the life of the process.
#[derive(Debug, Clone)]
struct RecordChain {
    writer: u64,
    /// The next transaction's number.
    next: u64,
    /// The last transaction that committed (0: none).
    prev: u64,
    /// The first transaction after `prev` whose outcome is unknown (0: none).
    unsure: u64,
    /// The last transaction that covered input, until the group's committed offsets settle
    /// whether it took effect: its commit was seen to succeed (settled before the next commit
    /// builds on it), or the worker could not see the end of its commit (settled when the
    /// worker joins again). Only its input ranges that are not empty.
    unsettled: Option<(u64, Vec<InputRange>)>,
}

/// What the group's committed offsets say of a transaction: whether its offsets took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Committed,
    Aborted,
    /// The offsets moved on since (another member read the partitions), or could not be read.
    Unknown,
}

impl RecordChain {
    fn new() -> RecordChain {
        RecordChain { writer: rand::random(), next: 1, prev: 0, unsure: 0, unsettled: None }
    }

    /// Numbers the transaction about to be committed.
    fn begin(&mut self) -> Chain {
        let seq = self.next;
        self.next += 1;
        Chain { writer: self.writer, seq, prev: self.prev, unsure: self.unsure }
    }

    /// Transaction `seq` was seen to commit, covering `ranges`: settled once the group's
    /// offsets are read back, unless it covered no input (its offsets moved nothing).
    fn seen_committed(&mut self, seq: u64, ranges: &[InputRange]) {
        let covered: Vec<InputRange> = ranges.iter().filter(|r| !r.is_empty()).cloned().collect();
        if covered.is_empty() {
            self.committed(seq);
        } else {
            self.unsettled = Some((seq, covered));
        }
    }

    /// Transaction `seq` committed, and its offsets took effect.
    fn committed(&mut self, seq: u64) {
        self.prev = seq;
        self.unsure = 0;
    }

    /// Records what became of the unsettled transaction, if there is one.
    fn settle(&mut self, how: impl FnOnce(&[InputRange]) -> Settled) {
        let Some((seq, ranges)) = self.unsettled.take() else { return };
        match how(&ranges) {
            Settled::Committed => self.committed(seq),
            Settled::Aborted => {}
            Settled::Unknown if self.unsure == 0 => self.unsure = seq,
            Settled::Unknown => {}
        }
    }
}

/// Reads back the group's stable committed offsets of the ranges' partitions
/// ([`stable_offsets`]) and settles the transaction that covered them; `Unknown` when they
/// cannot be read. The offsets read are returned too, for the log.
fn read_back(
    consumer: &BaseConsumer<MemberContext>,
    ranges: &[InputRange],
    config: &Config,
    worker: usize,
) -> (Settled, Vec<(String, i32, i64)>) {
    let mut tpl = TopicPartitionList::new();
    for r in ranges {
        tpl.add_partition(&r.topic, r.partition);
    }
    match stable_offsets(consumer, tpl, config) {
        Ok(committed) => {
            let committed: Vec<_> = committed
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((e.topic().to_string(), e.partition(), o)),
                    _ => None,
                })
                .collect();
            (settled_by(ranges, &committed), committed)
        }
        Err(e) => {
            tracing::warn!(worker, error = %e, "a commit's offsets could not be read back: it is named unsure");
            (Settled::Unknown, Vec::new())
        }
    }
}

/// The group's committed offsets of `tpl`'s partitions, stable ones: a `read_committed`
/// consumer's fetch waits for transactions in progress, here at most [`SETTLE_AT_MOST`].
fn stable_offsets(
    consumer: &BaseConsumer<MemberContext>,
    tpl: TopicPartitionList,
    config: &Config,
) -> KafkaResult<TopicPartitionList> {
    consumer.committed_offsets(tpl, config.scale.transaction_timeout.min(SETTLE_AT_MOST))
}

/// Settles a transaction from the group's committed offsets of its partitions, read after its
/// outcome was decided: an offset at the end of the transaction's range means its offsets took
/// effect, one at its start that they did not (it aborted, or the broker skipped its markers).
fn settled_by(ranges: &[InputRange], committed: &[(String, i32, i64)]) -> Settled {
    let mut verdict = Settled::Unknown;
    for r in ranges.iter().filter(|r| !r.is_empty()) {
        let Some(&(_, _, offset)) = committed.iter().find(|(t, p, _)| *p == r.partition && *t == r.topic) else {
            continue;
        };
        if offset == r.to {
            return Settled::Committed;
        }
        if offset == r.from {
            verdict = Settled::Aborted;
        }
    }
    verdict
}

/// Where a partition never committed is read from: `auto.offset.reset` (`earliest` unless
/// `kafka.properties` says otherwise).
fn never_committed(config: &Config) -> Offset {
    match client_config(config).get("auto.offset.reset") {
        Some("latest" | "largest" | "end") => Offset::End,
        _ => Offset::Beginning,
    }
}

/// Where a partition's next record range starts.
#[derive(Debug, Clone, Copy)]
struct RangeStart {
    /// The offset committed last (-1: never committed, and nothing read yet).
    offset: i64,
    /// It was committed under other SLI definitions than this worker's, or never.
    first: bool,
}

/// The metadata an ingest worker commits its offsets with: its SLI definitions' fingerprint, so
/// the next owner of a partition knows whether what came before was counted under its own.
fn definitions_metadata(config: &Config) -> String {
    format!("slostream-slis:{:016x}", config.slis_fingerprint())
}

/// A rebalance event, recorded by the context and acted on by the worker after the poll.
enum GroupEvent {
    Assign(TopicPartitionList),
    Revoke(TopicPartitionList),
    Failed(RDKafkaErrorCode),
}

/// The member consumer's context: counts errors like every client's, and records rebalance
/// events for the worker instead of acting on them inside the poll (the worker must commit
/// before it gives partitions up, and only it holds the producer). Once the worker is leaving,
/// events are handled the default way, so closing the consumer never waits for the worker.
pub(crate) struct MemberContext {
    inner: IngestContext,
    events: Mutex<Vec<GroupEvent>>,
    leaving: AtomicBool,
    /// Whether the group rebalances incrementally, as the worker last saw it: asking librdkafka
    /// from inside a rebalance hook while the consumer closes blocks for good.
    cooperative: AtomicBool,
}

impl ClientContext for MemberContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.inner.client_error(&error, reason);
    }
}

impl ConsumerContext for MemberContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        if self.leaving.load(Ordering::Relaxed) {
            let cooperative = self.cooperative.load(Ordering::Relaxed);
            let result = match (err, cooperative) {
                (RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, true) => consumer.incremental_assign(tpl),
                (RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, false) => consumer.assign(tpl),
                (_, true) => consumer.incremental_unassign(tpl),
                (_, false) => consumer.unassign(),
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "rebalance while leaving");
            }
            return;
        }
        let event = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => GroupEvent::Assign(tpl.clone()),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => GroupEvent::Revoke(tpl.clone()),
            other => GroupEvent::Failed(other.into()),
        };
        self.events.lock().unwrap_or_else(|e| e.into_inner()).push(event);
    }
}

struct Member {
    id: usize,
    config: Arc<Config>,
    consumer: BatchConsumer<MemberContext>,
    producer: BaseProducer<IngestContext>,
    shard: Shard,
    record: DeltaRecord,
    positions: Vec<PartitionOffset>,
    /// Per position, where its next record's range starts.
    starts: Vec<RangeStart>,
    /// The next commit goes ahead even with nothing read: a partition was assigned since the
    /// last one (a merge member learns from it where the partition switched definitions), or
    /// the last one covered input and nothing confirms it yet (a merge member folds a record
    /// once another starts where it ends).
    announce: bool,
    /// The metadata of the offsets this worker commits: its SLI definitions' fingerprint.
    definitions: String,
    current: CurrentPartition,
    /// Messages read since the last commit.
    uncommitted: u64,
    /// Messages read and not yet added to the member's stats.
    unreported: u64,
    last_commit: Instant,
    deltas_topic: String,
    /// The delta records' key: the worker's ids, so one worker's records stay in one partition,
    /// in order.
    key: String,
    chain: RecordChain,
}

impl Member {
    /// A new consumer and transactional producer for worker `id`: the producer's
    /// `init_transactions` fences any predecessor with the same ids, then the consumer
    /// subscribes and a transaction begins.
    fn join(
        id: usize,
        config: Arc<Config>,
        instance: &str,
        links: &MemberLinks,
        chain: &mut RecordChain,
    ) -> Result<Member, KafkaError> {
        let group = &config.kafka.group_id;
        let member = format!("{instance}-{id}");
        let mut p = dead_letter::producer_config(&config);
        // A record not delivered within the transaction timeout belongs to a transaction the
        // broker aborts anyway, so it may not wait longer (the dead-letter settings never give up).
        let txn_ms = config.scale.transaction_timeout.as_millis().to_string();
        p.set("transactional.id", format!("{group}-{member}"))
            .set("transaction.timeout.ms", &txn_ms)
            .set("message.timeout.ms", &txn_ms)
            .set("linger.ms", "5");
        let producer: BaseProducer<IngestContext> =
            p.create_with_context(IngestContext::new(format!("{id} transactions"), links.errors.clone()))?;
        producer.init_transactions(config.scale.transaction_timeout)?;

        let mut c = client_config(&config);
        if config.scale.static_membership {
            c.set("group.instance.id", &member);
        }
        c.set("isolation.level", "read_committed").set("client.id", super::client_id(&config, &member));
        // How long the group waits for a member to rejoin in a rebalance, and how long a member
        // may go without polling: the 300 s default would stall every partition for five minutes
        // behind one stuck member. A commit blocks at most the transaction timeout.
        if !config.kafka.properties.iter().any(|(k, _)| k == "max.poll.interval.ms") {
            let bound = (3 * config.scale.transaction_timeout).max(Duration::from_secs(30));
            c.set("max.poll.interval.ms", bound.as_millis().to_string());
        }
        // KIP-848 assigns on the broker and refuses a client-side strategy.
        if c.get("group.protocol") != Some("consumer") && c.get("partition.assignment.strategy").is_none() {
            c.set("partition.assignment.strategy", "cooperative-sticky");
        }
        let context = MemberContext {
            inner: IngestContext::new(id, links.errors.clone()),
            events: Mutex::new(Vec::new()),
            leaving: AtomicBool::new(false),
            cooperative: AtomicBool::new(false),
        };
        let consumer = BatchConsumer::with_worker_queue(c.create_with_context(context)?)?;
        // `init_transactions` has ended the unsettled transaction: the offsets say how it went.
        chain.settle(|ranges| {
            let (outcome, _) = read_back(consumer.consumer(), ranges, &config, id);
            tracing::warn!(worker = id, ?outcome, "the last commit before joining again is settled");
            outcome
        });
        let topics: Vec<&str> = config.kafka.topics.iter().map(String::as_str).collect();
        consumer.consumer().subscribe(&topics)?;
        producer.begin_transaction()?;
        tracing::info!(worker = id, member, "joined the group; counts go to {}", deltas_topic(group));
        Ok(Member {
            id,
            shard: Shard::new(&config),
            record: DeltaRecord::empty(&config),
            positions: Vec::new(),
            starts: Vec::new(),
            announce: false,
            definitions: definitions_metadata(&config),
            current: CurrentPartition::NONE,
            uncommitted: 0,
            unreported: 0,
            last_commit: Instant::now(),
            deltas_topic: deltas_topic(group),
            key: member,
            chain: chain.clone(),
            consumer,
            producer,
            config,
        })
    }

    /// Whether the group rebalances incrementally (cooperative-sticky, KIP-848). Asked at each
    /// rebalance: librdkafka knows the protocol only once the group is joined.
    fn cooperative(&self) -> bool {
        matches!(self.consumer.consumer().rebalance_protocol(), RebalanceProtocol::Cooperative)
    }

    /// Reads, counts and commits until `stop`; then commits what it read. An aborted
    /// transaction rewinds to the committed offsets and reads on.
    fn run(&mut self, links: &MemberLinks) -> Result<(), Rejoin> {
        while !links.stop.load(Ordering::Relaxed) {
            match self.read(links) {
                Ok(()) => break,
                Err(Failure::Rewind(why)) => self.rewind(&why, links)?,
                Err(Failure::Rejoin(why)) => return Err(Rejoin(why)),
            }
        }
        match self.commit(links) {
            Ok(()) => tracing::info!(worker = self.id, "committed and stopped"),
            // Nothing of it counts; the partitions' next owner reads it again.
            Err(Failure::Rewind(why)) => {
                tracing::warn!(worker = self.id, reason = %why, "the last transaction was aborted; stopped")
            }
            Err(Failure::Rejoin(why)) => return Err(Rejoin(why)),
        }
        links.stats.messages.fetch_add(std::mem::take(&mut self.unreported), Ordering::Relaxed);
        Ok(())
    }

    /// Reads and counts, committing every flush interval, until `stop` or a failed transaction
    /// (the rest of the batch is then left unread).
    fn read(&mut self, links: &MemberLinks) -> Result<(), Failure> {
        let clock = self.config.clock.clone();
        let mut now_ms = clock.now_ms();
        let mut since_clock = CLOCK_EVERY;
        let mut idle = false;
        while !links.stop.load(Ordering::Relaxed) {
            if since_clock >= CLOCK_EVERY {
                since_clock = 0;
                now_ms = clock.now_ms();
                self.serve_group(links)?;
                self.producer.poll(Duration::ZERO);
                let context = &self.consumer.consumer().context().inner;
                self.consumer.serve_client_errors(|e, reason| context.client_error(&e, reason));
                links.stats.messages.fetch_add(std::mem::take(&mut self.unreported), Ordering::Relaxed);
                if self.last_commit.elapsed() >= self.config.scale.flush_interval {
                    self.commit(links)?;
                }
            }
            let wait = if idle { Duration::from_millis(50) } else { Duration::ZERO };
            let n = self.consumer.poll(wait).len();
            idle = n == 0;
            if idle {
                since_clock = CLOCK_EVERY;
                continue;
            }
            for i in 0..n {
                self.count_message(i, now_ms)?;
                if self.shard.is_full() {
                    self.commit(links)?;
                }
            }
            since_clock += n;
        }
        Ok(())
    }

    /// After an aborted transaction: drops the uncommitted counts, seeks every partition back to
    /// its committed offset (messages fetched before the seek are discarded by librdkafka) and
    /// begins a new transaction.
    fn rewind(&mut self, why: &str, links: &MemberLinks) -> Result<(), Rejoin> {
        tracing::warn!(worker = self.id, reason = %why, "transaction aborted; reading again from the committed offsets");
        self.shard.take_delta(&mut self.record);
        self.record.clear();
        self.uncommitted = 0;
        let timeout = self.config.scale.transaction_timeout;
        let mut owned = TopicPartitionList::new();
        for p in &self.positions {
            owned.add_partition(&p.topic, p.partition);
        }
        let committed = self.read_from(&owned)?;
        let consumer = self.consumer.consumer();
        for e in committed.elements() {
            let (seek_to, next) = match e.offset() {
                Offset::Offset(o) => (Offset::Offset(o), o),
                _ => (never_committed(&self.config), -1),
            };
            consumer
                .seek(e.topic(), e.partition(), seek_to, timeout)
                .map_err(|err| Rejoin(format!("seek {} [{}]: {err}", e.topic(), e.partition())))?;
            if let Some(i) = self.positions.iter().position(|p| p.partition == e.partition() && p.topic == e.topic()) {
                self.positions[i].next = next;
                self.starts[i].offset = next;
            }
        }
        self.current = CurrentPartition::NONE;
        links.stats.rewinds.fetch_add(1, Ordering::Relaxed);
        self.producer.begin_transaction().map_err(|e| Rejoin(format!("begin_transaction: {e}")))
    }

    /// Counts message `i` of the batch if its partition is still this worker's.
    #[inline]
    fn count_message(&mut self, i: usize, now_ms: i64) -> Result<(), Failure> {
        let msg = &self.consumer.messages()[i];
        if let Some(e) = msg.error() {
            self.consumer.consumer().context().inner.kafka_error(&e);
            return Ok(());
        }
        // A message of a partition given up in a rebalance is the new owner's to count.
        let Some(index) = self.current.find(&self.positions, msg) else { return Ok(()) };
        if let Some(reason) = self.shard.process(msg.payload().unwrap_or(&[]), now_ms) {
            if let Some(topic) = &self.config.events.dead_letter_topic {
                dead_letter::send(&self.producer, topic, msg, reason)
                    .map_err(|e| Failure::Rejoin(format!("dead letter not queued: {e}")))?;
                self.shard.count_dead_letter();
            }
        }
        self.positions[index].next = msg.offset() + 1;
        let start = &mut self.starts[index].offset;
        if *start < 0 {
            *start = msg.offset();
        }
        self.uncommitted += 1;
        self.unreported += 1;
        Ok(())
    }

    /// Serves the consumer queue (where rebalance events and group errors wait) and acts on
    /// the rebalance events it recorded.
    fn serve_group(&mut self, links: &MemberLinks) -> Result<(), Failure> {
        // A fatal error leaves a client unusable for good (KIP-848 refuses a static member
        // whose predecessor's session has not expired, UNRELEASED_INSTANCE_ID; a fenced
        // producer): new clients.
        let fatal = self.consumer.consumer().client().fatal_error().or_else(|| self.producer.client().fatal_error());
        if let Some((code, reason)) = fatal {
            return Err(Failure::Rejoin(format!("fatal client error {code}: {reason}")));
        }
        while let Some(next) = self.consumer.consumer().poll(Duration::ZERO) {
            match next {
                Err(e) => self.consumer.consumer().context().inner.kafka_error(&e),
                Ok(m) => {
                    return Err(Failure::Rejoin(format!(
                        "a message of {} [{}] reached the consumer queue, not the worker's",
                        m.topic(),
                        m.partition()
                    )))
                }
            }
        }
        let events =
            std::mem::take(&mut *self.consumer.consumer().context().events.lock().unwrap_or_else(|e| e.into_inner()));
        for event in events {
            match event {
                GroupEvent::Assign(tpl) => self.assign(&tpl, links)?,
                GroupEvent::Revoke(tpl) => self.revoke(&tpl, links)?,
                GroupEvent::Failed(code) => return Err(Failure::Rejoin(format!("rebalance failed: {code}"))),
            }
        }
        Ok(())
    }

    /// Forwards the partitions to the worker's queue, then assigns them at the group's committed
    /// offsets ([`Member::read_from`]).
    fn assign(&mut self, tpl: &TopicPartitionList, links: &MemberLinks) -> Result<(), Rejoin> {
        // Where reading starts, and under which definitions it was committed: the first
        // record's ranges start there.
        let committed = self.read_from(tpl)?;
        let mut at = TopicPartitionList::new();
        for e in committed.elements() {
            // Explicit, so librdkafka does not ask for the (stable) committed offset again.
            let offset = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => never_committed(&self.config),
            };
            at.add_partition_offset(e.topic(), e.partition(), offset)
                .map_err(|err| Rejoin(format!("assign {} [{}]: {err}", e.topic(), e.partition())))?;
        }
        self.consumer.forward(tpl);
        let consumer = self.consumer.consumer();
        let assigned = if self.cooperative() { consumer.incremental_assign(&at) } else { consumer.assign(&at) };
        assigned.map_err(|e| Rejoin(format!("assign: {e}")))?;
        let mut added = 0;
        for e in tpl.elements() {
            let (topic, partition) = (e.topic(), e.partition());
            if self.positions.iter().any(|p| p.partition == partition && p.topic == topic) {
                continue;
            }
            let found = committed.find_partition(topic, partition);
            let start = match found.as_ref().map(|c| (c.offset(), c.metadata() == self.definitions)) {
                Some((Offset::Offset(offset), same)) => RangeStart { offset, first: !same },
                // Never committed: the range starts at the first message read.
                _ => RangeStart { offset: -1, first: true },
            };
            self.positions.push(PartitionOffset { topic: topic.to_string(), partition, next: start.offset });
            self.starts.push(start);
            added += 1;
        }
        self.announce |= added > 0;
        links.stats.partitions.fetch_add(added, Ordering::Relaxed);
        self.current = CurrentPartition::NONE;
        tracing::info!(worker = self.id, assigned = tpl.count(), owned = self.positions.len(), "partitions assigned");
        Ok(())
    }

    /// The group's committed offsets of `tpl`'s partitions, where reading goes on: stable ones
    /// ([`stable_offsets`]), else the offsets applied so far.
    ///
    /// Offsets still pending by then belong to a transaction whose writer is gone (it times
    /// out and aborts: its offsets never apply) or whose markers a restarted broker skipped
    /// (they apply with that producer's next commit only, and never over a later commit).
    /// Either way the applied offsets are where reading goes on. Waiting would not do: a
    /// worker whose own commit's markers were skipped would wait for good, since only its next
    /// commit applies them, and it joined again on every timeout. Should the pending
    /// transaction commit after all, the merge members fold one of the two records that read
    /// the same events ([`crate::ingest::fold_queue`]).
    fn read_from(&self, tpl: &TopicPartitionList) -> Result<TopicPartitionList, Rejoin> {
        let error = match stable_offsets(self.consumer.consumer(), tpl.clone(), &self.config) {
            Ok(committed) => return Ok(committed),
            Err(e) => e,
        };
        tracing::warn!(
            worker = self.id,
            error = %error,
            "the group's stable offsets were not read in time (a transaction left them pending, or the broker is away); reading on from the offsets applied"
        );
        let applied: BaseConsumer = client_config(&self.config)
            .set("isolation.level", "read_uncommitted")
            .set("client.id", super::client_id(&self.config, format!("{}-applied-offsets", self.key)))
            .create()
            .map_err(|e| Rejoin(format!("a client for the applied offsets: {e}")))?;
        applied
            .committed_offsets(tpl.clone(), self.config.scale.transaction_timeout)
            .map_err(|e| Rejoin(format!("committed offsets: {e}")))
    }

    /// Commits everything read (so the next owner starts right after it), then gives the
    /// partitions up. A lost assignment (the session expired) is not committed: the group has
    /// moved on, and the transaction would be fenced anyway.
    fn revoke(&mut self, tpl: &TopicPartitionList, links: &MemberLinks) -> Result<(), Failure> {
        if self.consumer.consumer().assignment_lost() {
            self.abort(None, links);
            return Err(Failure::Rejoin("the assignment was lost (session timed out?)".into()));
        }
        // Settled before the partitions go: their next owner's commits move the offsets on.
        match self.commit(links).and_then(|()| self.settle_last_commit(links)) {
            Ok(()) => {}
            // The revoked partitions' next owner reads what was not committed.
            Err(Failure::Rewind(why)) => self.rewind(&why, links)?,
            Err(rejoin) => return Err(rejoin),
        }
        let consumer = self.consumer.consumer();
        let unassigned = if self.cooperative() { consumer.incremental_unassign(tpl) } else { consumer.unassign() };
        unassigned.map_err(|e| Rejoin(format!("unassign: {e}")))?;
        let before = self.positions.len();
        let cooperative = self.cooperative();
        let mut i = 0;
        while i < self.positions.len() {
            let p = &self.positions[i];
            if !cooperative || tpl.elements().iter().any(|e| e.partition() == p.partition && e.topic() == p.topic) {
                self.positions.swap_remove(i);
                self.starts.swap_remove(i);
            } else {
                i += 1;
            }
        }
        links.stats.partitions.fetch_sub((before - self.positions.len()) as u64, Ordering::Relaxed);
        self.current = CurrentPartition::NONE;
        tracing::info!(worker = self.id, revoked = tpl.count(), owned = self.positions.len(), "partitions revoked");
        Ok(())
    }

    /// Commits the delta, its dead letters and the offsets just past what it covers as one
    /// transaction, and begins the next.
    fn commit(&mut self, links: &MemberLinks) -> Result<(), Failure> {
        self.last_commit = Instant::now();
        if self.uncommitted == 0 && !self.announce {
            return Ok(());
        }
        let _watched = links.stats.committing(self.id);
        self.settle_last_commit(links)?;
        self.shard.take_delta(&mut self.record);
        let chain = self.chain.begin();
        self.record.chain = Some(chain);
        for (p, start) in self.positions.iter().zip(&self.starts).filter(|(_, s)| s.offset >= 0) {
            let (topic, partition, from, first) = (p.topic.clone(), p.partition, start.offset, start.first);
            let to = p.next.max(from);
            self.record.ranges.push(InputRange { topic, partition, from, to, first });
        }
        let bytes = self.record.encode(&self.config);
        let ranges = std::mem::take(&mut self.record.ranges);
        self.record.clear();
        let mut record = BaseRecord::<[u8], [u8]>::to(&self.deltas_topic).key(self.key.as_bytes()).payload(&bytes);
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(self.failed("delta record not queued", e, links, None)),
            }
        }
        let mut offsets = TopicPartitionList::new();
        for p in self.positions.iter().filter(|p| p.next >= 0) {
            match offsets.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.next)) {
                Ok(()) => {
                    if let Some(mut e) = offsets.find_partition(&p.topic, p.partition) {
                        e.set_metadata(&self.definitions);
                    }
                }
                Err(e) => return Err(self.failed("offsets", e, links, None)),
            }
        }
        let Some(group) = self.consumer.consumer().group_metadata() else {
            self.abort(None, links);
            return Err(Failure::Rejoin("no group metadata (not a group member?)".into()));
        };
        let timeout = self.config.scale.transaction_timeout;
        if let Err(e) = self.producer.send_offsets_to_transaction(&offsets, &group, timeout) {
            return Err(self.failed("send_offsets_to_transaction", e, links, None));
        }
        if let Err(e) = self.producer.commit_transaction(timeout) {
            return Err(self.failed("commit_transaction", e, links, Some((chain.seq, ranges))));
        }
        self.chain.seen_committed(chain.seq, &ranges);
        // A record that covered input is confirmed by the next, even if nothing more is read.
        self.announce = ranges.iter().any(|r| !r.is_empty());
        for (p, start) in self.positions.iter().zip(&mut self.starts) {
            if p.next >= 0 {
                *start = RangeStart { offset: p.next, first: false };
            }
        }
        links.stats.committed.fetch_add(1, Ordering::Relaxed);
        links.stats.delta_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.uncommitted = 0;
        self.producer.begin_transaction().map_err(|e| Failure::Rejoin(format!("begin_transaction: {e}")))
    }

    /// Reads back the group's offsets of the last commit that covered input, before anything
    /// builds on it. A broker restarting after a crash can skip a committed transaction's
    /// markers: its records show, and its offsets never apply, so its input is read again from
    /// where it started. Such a commit is then never named as committed (a merge member leaves
    /// its record out), and what was read since is read again from the group's offsets. Offsets
    /// still pending after [`SETTLE_AT_MOST`] (the broker skipped the markers to the group's
    /// partition, and only this producer's next commit marker applies them) leave the commit
    /// `unsure`, and the worker reads on: the merge member decides it from the ranges.
    fn settle_last_commit(&mut self, links: &MemberLinks) -> Result<(), Failure> {
        let Some((seq, ranges)) = self.chain.unsettled.clone() else { return Ok(()) };
        let (outcome, committed) = read_back(self.consumer.consumer(), &ranges, &self.config, self.id);
        self.chain.settle(|_| outcome);
        if outcome != Settled::Aborted {
            return Ok(());
        }
        tracing::error!(worker = self.id, seq, ?ranges, ?committed, "a committed transaction's offsets did not apply (the broker skipped its markers?): its record is not named, and its input is read again");
        let why = "the last commit's offsets did not apply".to_string();
        if self.abort(None, links) {
            Err(Failure::Rewind(why))
        } else {
            Err(Failure::Rejoin(why))
        }
    }

    /// A step of the transaction failed: aborts it, and says whether the worker can rewind
    /// (librdkafka calls the error abortable and the abort went through) or must join again
    /// (fenced, fatal, or a commit whose outcome is unknown: librdkafka lacks KIP-890, so a
    /// producer whose commit timed out is replaced). `committing`: the transaction whose commit
    /// was asked for, and its ranges; unless its abort went through, it may have committed, and
    /// it is settled when the worker joins again.
    fn failed(
        &mut self,
        step: &str,
        error: KafkaError,
        links: &MemberLinks,
        committing: Option<(u64, Vec<InputRange>)>,
    ) -> Failure {
        let abortable = matches!(&error, KafkaError::Transaction(e) if e.txn_requires_abort() && !e.is_fatal());
        let aborted = self.abort(Some(&error), links);
        if let Some(unsettled) = committing.filter(|_| !aborted) {
            self.chain.unsettled = Some(unsettled);
            return Failure::Rejoin(format!("{step}: {error} (outcome unknown)"));
        }
        let why = format!("{step}: {error}");
        tracing::debug!(worker = self.id, abortable, aborted, "transaction failed");
        if abortable && aborted {
            Failure::Rewind(why)
        } else {
            Failure::Rejoin(why)
        }
    }

    /// Aborts the open transaction if the producer still can; whether it did. The records still
    /// queued are purged and their delivery reports served first: librdkafka's abort waits for
    /// them, and nothing else polls this producer.
    fn abort(&self, cause: Option<&KafkaError>, links: &MemberLinks) -> bool {
        links.stats.aborted.fetch_add(1, Ordering::Relaxed);
        self.producer.purge(PurgeConfig::default().queue());
        if let Err(e) = self.producer.flush(self.config.scale.transaction_timeout) {
            tracing::debug!(worker = self.id, error = %e, "flush before abort");
        }
        match self.producer.abort_transaction(self.config.scale.transaction_timeout) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(worker = self.id, error = %e, cause = ?cause, "abort_transaction failed");
                false
            }
        }
    }

    /// Hands the assignment back without committing and closes both clients (consumer first:
    /// its close may still rebalance, which the context now handles the default way).
    fn leave(self, links: &MemberLinks) -> RecordChain {
        let consumer = self.consumer.consumer();
        consumer.context().cooperative.store(self.cooperative(), Ordering::Relaxed);
        consumer.context().leaving.store(true, Ordering::Relaxed);
        if let Ok(assigned) = consumer.assignment() {
            let result =
                if self.cooperative() { consumer.incremental_unassign(&assigned) } else { consumer.unassign() };
            if let Err(e) = result {
                tracing::debug!(worker = self.id, error = %e, "unassign on leaving");
            }
        }
        links.stats.partitions.fetch_sub(self.positions.len() as u64, Ordering::Relaxed);
        drop(self.consumer);
        drop(self.producer);
        self.chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed offsets settle a commit whose outcome was not seen: at the end of a range,
    /// it committed; at its start, it did not; moved on (or unknown), nobody can tell here. An
    /// empty range says nothing.
    #[test]
    fn committed_offsets_settle_an_unseen_commit() {
        let ranges = [InputRange::events(0, 10, 20), InputRange::events(3, 7, 9), InputRange::events(4, 5, 5)];
        let at = |offsets: &[(i32, i64)]| {
            let committed: Vec<_> = offsets.iter().map(|&(p, o)| ("events".to_string(), p, o)).collect();
            settled_by(&ranges, &committed)
        };
        assert_eq!(at(&[(0, 20), (3, 9)]), Settled::Committed);
        assert_eq!(at(&[(0, 31), (3, 9)]), Settled::Committed, "one partition is enough");
        assert_eq!(at(&[(0, 10), (3, 7)]), Settled::Aborted);
        assert_eq!(at(&[(0, 10), (3, 12)]), Settled::Aborted);
        assert_eq!(at(&[(0, 25), (3, 12), (4, 5)]), Settled::Unknown);
        assert_eq!(at(&[]), Settled::Unknown);
    }

    /// What the chain names next: a settled commit as `prev`; an aborted one not at all; one
    /// nobody could settle as `unsure` (the first such), until a later commit goes through.
    #[test]
    fn the_chain_names_what_was_settled() {
        let mut chain = RecordChain::new();
        let first = chain.begin();
        chain.committed(first.seq);
        let unseen = chain.begin();
        chain.unsettled = Some((unseen.seq, vec![InputRange::events(0, 10, 20)]));
        chain.settle(|_| Settled::Committed);
        assert_eq!((chain.begin().prev, chain.unsettled.is_none()), (unseen.seq, true));

        let mut chain = RecordChain::new();
        let first = chain.begin();
        chain.committed(first.seq);
        let unseen = chain.begin();
        chain.unsettled = Some((unseen.seq, Vec::new()));
        chain.settle(|_| Settled::Aborted);
        let next = chain.begin();
        assert_eq!((next.prev, next.unsure), (1, 0));

        let mut chain = RecordChain::new();
        let unseen = chain.begin();
        chain.unsettled = Some((unseen.seq, Vec::new()));
        chain.settle(|_| Settled::Unknown);
        let again = chain.begin();
        chain.unsettled = Some((again.seq, Vec::new()));
        chain.settle(|_| Settled::Unknown);
        let next = chain.begin();
        assert_eq!((next.prev, next.unsure), (0, unseen.seq));
        chain.committed(next.seq);
        assert_eq!((chain.begin().prev, chain.begin().unsure), (next.seq, 0));
    }

    /// A commit seen to succeed is named once the group's offsets are read back: as `prev` if
    /// they applied, not at all if they did not (the next record leaves it out). One that
    /// covered no input moved no offsets, and is named at once.
    #[test]
    fn a_seen_commit_is_named_once_its_offsets_are_read_back() {
        let mut chain = RecordChain::new();
        let first = chain.begin();
        chain.seen_committed(first.seq, &[InputRange::events(0, 10, 20), InputRange::events(1, 4, 4)]);
        assert_eq!(chain.unsettled.as_ref().map(|(seq, r)| (*seq, r.len())), Some((first.seq, 1)));
        chain.settle(|_| Settled::Committed);
        let skipped = chain.begin();
        assert_eq!(skipped.prev, first.seq);
        chain.seen_committed(skipped.seq, &[InputRange::events(0, 20, 30)]);
        chain.settle(|_| Settled::Aborted);
        let idle = chain.begin();
        assert_eq!((idle.prev, idle.unsure), (first.seq, 0), "the skipped commit is not named");
        chain.seen_committed(idle.seq, &[InputRange::events(0, 20, 20)]);
        assert!(chain.unsettled.is_none());
        assert_eq!(chain.begin().prev, idle.seq);
    }

    /// The watchdog sees a commit only while it is in progress, and the longest one.
    #[test]
    fn a_commit_is_watched_while_in_progress() {
        let stats = MemberStats::new(3);
        assert_eq!(stats.longest_commit(), None);
        let first = stats.committing(2);
        std::thread::sleep(Duration::from_millis(30));
        let second = stats.committing(0);
        let (worker, for_how_long) = stats.longest_commit().expect("a commit in progress");
        assert_eq!(worker, 2);
        // Whole milliseconds on both ends: at least 29 of the 30.
        assert!(for_how_long >= Duration::from_millis(29), "{for_how_long:?}");
        drop(first);
        assert_eq!(stats.longest_commit().map(|(w, _)| w), Some(0));
        drop(second);
        assert_eq!(stats.longest_commit(), None);
    }
}
