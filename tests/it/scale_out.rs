//! Scale-out: a two-stage deployment (`--role ingest` members committing deltas, dead letters
//! and input offsets in one Kafka transaction each flush; `--role merge` replicas folding the
//! committed deltas) counts every event exactly once, in both replicas, whatever happens to its
//! members while they read a live stream. Every expectation comes from the messages the test
//! itself produced ([`harness::stream`](crate::harness::stream)).
//!
//! The deployment is the one the design's test plan names: a 12-partition input, 3 ingest
//! members of 1 worker each, 2 merge replicas, a 200 ms flush, a 5 s transaction timeout and a
//! 6 s session timeout (the broker's minimum), a paced producer at ~20k events/s.
//!
//! - An ingest member killed at random 5× (restarted under its own name half the time, a new
//!   one otherwise): exact counts in both replicas, each reject once in the dead-letter topic.
//! - Ingest members scaled 3→4→1→3 with SIGTERM and starts: exact.
//! - An ingest member frozen (SIGSTOP) past its session timeout: the others take its partitions
//!   over; once thawed, its late commit is fenced: exact, dead letters once.
//! - A merge replica killed and restarted on its state directory: it agrees with its twin, and
//!   exactly one of them holds alert leadership.
//! - An ingest member stopped (SIGSTOP) past its 5 s transaction timeout but within a 15 s
//!   session: the broker aborts its open transaction, it rewinds or rejoins once thawed: exact.
//! - The broker (one of the test's own) killed -9 while the members commit, restarted: exact in
//!   both replicas, dead letters once.
//! - KIP-848 (`group.protocol: consumer`): ingest members scaled 3→4→2, then killed 3× and
//!   restarted (under the same name or a new one): exact.
//! - With a real Alertmanager, the burning stream's alerts are pushed by the leader only; the
//!   leader killed while they fire, the other replica pushes them again at once: firing in
//!   Alertmanager, each notified once, leadership summing to 1, counts exact.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::producer::Producer;
use slostream::names;

use crate::harness::alertmanager::{parse_rfc3339_ms, rule_set, Alertmanager};
use crate::harness::broker::send_paced;
use crate::harness::dead_letters::{assert_dead_letter_topic, assert_dead_letter_topic_at_least_once, items_by_offset};
use crate::harness::stream::{deployment, records, stream, Expected, Item, Kind, BULK_AGES, FRESH_AGES};
use crate::harness::{now_ms, scratch_dir, unique, Broker, Deployment, Metrics, Record, Role, Served, Slostream};

/// Partitions of the input topic.
const PARTITIONS: i32 = 12;
/// The producer's pace: a chunk of this many records every [`EVERY`], ~20k events/s.
const CHUNK: usize = 1000;
const EVERY: Duration = Duration::from_millis(50);
/// How long a merge replica may take to catch up with the whole stream once it has been
/// produced (a member killed without a restart holds its partitions for up to a session
/// timeout plus a transaction timeout, ~13 s, before they move).
const CATCH_UP: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// The deployment: members, stream, checks.
// ---------------------------------------------------------------------------------------------

/// A running member, by the name it was started under.
struct Member {
    name: String,
    app: Slostream,
}

/// A two-stage deployment and its live members.
struct Cluster {
    d: Deployment,
    dlq: String,
    ingest: Vec<Member>,
    merge: Vec<Member>,
    /// Ingest member names handed out so far (a new name is `ingest-<n+1>`).
    named: usize,
    started: Instant,
}

impl Cluster {
    /// Creates the topics and starts 3 ingest members and 2 merge replicas at once (so the
    /// creation of `<group>.deltas` races, as when a deployment rolls out), each ready.
    fn start(name: &str) -> Cluster {
        Cluster::start_with(name, |d| d.kafka_property("session.timeout.ms", "6000"))
    }

    /// Like [`Cluster::start`], the deployment changed by `configure` first (another broker,
    /// another group protocol or session timeout, an Alertmanager); `configure` sets the
    /// session timeout, if any ([`Cluster::start`]: 6 s).
    fn start_with(name: &str, configure: impl FnOnce(Deployment) -> Deployment) -> Cluster {
        let started = Instant::now();
        let dlq = unique(&format!("{name}-dlq"));
        let d = configure(deployment(name).workers(1).scale("200ms", "5s").dead_letter_topic(&dlq));
        d.broker().create_topic(&dlq, 2);
        d.create_topic(PARTITIONS);
        let mut c = Cluster { d, dlq, ingest: Vec::new(), merge: Vec::new(), named: 0, started };
        for m in ["merge-a", "merge-b"] {
            let app = c.d.start_member(Role::Merge, m);
            c.merge.push(Member { name: m.to_string(), app });
        }
        for _ in 0..3 {
            let name = c.new_name();
            let app = c.d.start_member(Role::Ingest, &name);
            c.ingest.push(Member { name, app });
        }
        for m in c.ingest.iter_mut().chain(c.merge.iter_mut()) {
            m.app.wait_ready(Duration::from_secs(60));
        }
        // A broker starting on a busy machine took 36 s, and the members joined its group 33 s
        // after they started.
        c.wait_assigned(Duration::from_secs(60));
        eprintln!(
            "[it] {name}: 3 ingest members and 2 merge replicas ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        c
    }

    fn new_name(&mut self) -> String {
        self.named += 1;
        format!("ingest-{}", self.named)
    }

    /// Starts ingest member `name` (a name seen before: that member restarted) and waits for it
    /// to be ready.
    fn start_ingest(&mut self, name: String) {
        let mut app = self.d.start_member(Role::Ingest, &name);
        app.wait_ready(Duration::from_secs(60));
        self.ingest.push(Member { name, app });
    }

    /// Waits until the live ingest members hold every input partition between them, once each
    /// (the sum of their assigned gauges is [`PARTITIONS`]), and each holds some (a member that
    /// just joined has been given its share); returns how long that took.
    fn wait_assigned(&mut self, timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let held: Vec<(String, f64)> = self
                .ingest
                .iter_mut()
                .map(|m| (m.name.clone(), sum(&m.app.scrape(), names::INGEST_ASSIGNED_PARTITIONS.name, "")))
                .collect();
            if held.iter().map(|(_, n)| n).sum::<f64>() == f64::from(PARTITIONS) && held.iter().all(|(_, n)| *n > 0.0) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < timeout,
                "the ingest members did not share the {PARTITIONS} partitions within {timeout:?}: {held:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kill number `k`: after a pause drawn from `pause_ms`, kill -9 a random ingest member and
    /// start it again at once, under the same name (its transactional.id fences the dead one's
    /// open transaction at once) when `k` is even, under a new one otherwise (the dead one's
    /// transaction times out). Returns whether the name was the same.
    fn kill_and_restart_ingest(&mut self, rng: &mut StdRng, k: usize, pause_ms: Range<u64>, load: &Load) -> bool {
        std::thread::sleep(Duration::from_millis(rng.random_range(pause_ms)));
        let i = rng.random_range(0..self.ingest.len());
        let mut victim = self.ingest.remove(i);
        victim.app.kill();
        assert_no_panic(&victim, &format!("kill {k}"));
        self.assert_not_ahead(&format!("kill {k}"));
        let same = k.is_multiple_of(2);
        let name = if same { victim.name.clone() } else { self.new_name() };
        let t = Instant::now();
        self.start_ingest(name.clone());
        eprintln!(
            "[it] kill -9 #{k} of {} ({:.1} s into the run, producing: {}); restarted as {name} in {:.1} s",
            victim.name,
            self.started.elapsed().as_secs_f64(),
            load.producing(),
            t.elapsed().as_secs_f64()
        );
        same
    }

    /// Asserts that no merge replica has counted more than the input topic holds now.
    fn assert_not_ahead(&mut self, when: &str) {
        let high = self.d.broker().produced(self.d.topic(), PARTITIONS);
        for m in &mut self.merge {
            if let Some(c) = m.app.consumed() {
                assert!(c <= high as f64, "{when}: {} consumed {c} > {high} in the topic: counted twice", m.name);
            }
        }
    }

    /// Both merge replicas: consumed exactly `expected` within [`CATCH_UP`], every count exact,
    /// still exact 2 s later (a late duplicate would show then), and agreeing on every series.
    fn assert_exact(&mut self, expected: &Expected, what: &str) {
        let caught_up = Instant::now();
        for i in 0..self.merge.len() {
            let (scrape, t_scrape) = match self.merge[i].app.try_wait_consumed(expected.consumed, CATCH_UP) {
                Ok(done) => done,
                Err(last) => panic!(
                    "{what}: {} stayed at {last:?} events consumed, expected {} within {CATCH_UP:?}; what every member logged:\n{}",
                    self.merge[i].name,
                    expected.consumed,
                    self.warnings()
                ),
            };
            expected.assert_scrape(&format!("{what}: {}", self.merge[i].name), &scrape, t_scrape);
        }
        let left_out: Vec<String> = self
            .merge
            .iter_mut()
            .map(|m| {
                let scrape = m.app.scrape();
                let n = |reason| scrape.get(names::DELTA_RECORDS_REFUSED.name, &[("reason", reason)]).unwrap_or(0.0);
                format!("{} {}/{}", m.name, n("aborted_by_writer"), n("already_counted"))
            })
            .collect();
        eprintln!(
            "[it] {what}: both replicas exact {:.1} s after the last event (records left out, aborted by their writer/already counted: {})",
            caught_up.elapsed().as_secs_f64(),
            left_out.join(", ")
        );
        std::thread::sleep(Duration::from_secs(2));
        for m in &mut self.merge {
            assert_eq!(m.app.consumed(), Some(expected.consumed as f64), "{what}: {} 2 s later", m.name);
        }
        self.assert_replicas_agree(what);
    }

    /// Each member's warnings and errors, with how often each repeated; librdkafka's, the
    /// unreachable broker's and the minutely reject summaries left out (many, and the same in
    /// every run).
    fn warnings(&self) -> String {
        let mut out = String::new();
        for m in self.ingest.iter().chain(&self.merge) {
            let mut seen: Vec<(String, usize)> = Vec::new();
            for line in m.app.log_text().lines() {
                let Some(at) = line.find(" WARN ").or_else(|| line.find(" ERROR ")) else { continue };
                let line = &line[at..];
                if ["librdkafka", "all_brokers_down", "\"transport\"", "events rejected"]
                    .iter()
                    .any(|noise| line.contains(noise))
                {
                    continue;
                }
                let line: String = line.chars().take(300).collect();
                match seen.iter_mut().find(|(l, _)| *l == line) {
                    Some((_, n)) => *n += 1,
                    None => seen.push((line, 1)),
                }
            }
            out += &format!("-- {}\n", m.name);
            for (line, n) in seen.iter().rev().take(20).rev() {
                out += &format!("{n:>4}x{line}\n");
            }
        }
        out
    }

    /// Both replicas export the same value for every SLO and SLI series (ratios, burn rates,
    /// budgets, alert states, latency quantiles: everything that follows from the counts), not
    /// only for the counts [`Expected`] checks. The period bounds are left out: they follow the
    /// clock of each scrape.
    fn assert_replicas_agree(&mut self, what: &str) {
        let scrapes: Vec<(String, Metrics)> = self.merge.iter_mut().map(|m| (m.name.clone(), m.app.scrape())).collect();
        let [(a, ma), (b, mb)] = &scrapes[..] else { panic!("{what}: {} merge replicas, not 2", scrapes.len()) };
        let skip = [names::SLO_PERIOD_START.name, names::SLO_PERIOD_END.name];
        let mut differ = Vec::new();
        let mut compared = 0;
        for family in names::SLO_SERIES.iter().filter(|f| !skip.contains(&f.name)) {
            let (fa, fb) = (ma.family(family.name), mb.family(family.name));
            let keys: std::collections::BTreeSet<&String> = fa.iter().chain(&fb).map(|(k, _)| *k).collect();
            for key in keys {
                let va = fa.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
                let vb = fb.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
                let same = match (va, vb) {
                    (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
                    _ => false,
                };
                compared += 1;
                if !same {
                    differ.push(format!("{key}: {a} {va:?}, {b} {vb:?}"));
                }
            }
        }
        assert!(
            differ.is_empty(),
            "{what}: the replicas differ on {} of {compared} series:\n  {}",
            differ.len(),
            differ.join("\n  ")
        );
        eprintln!("[it] {what}: {a} and {b} agree on all {compared} SLO and SLI series");
    }

    /// Waits until exactly one merge replica says it is the alert leader; returns who.
    fn wait_one_leader(&mut self, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            let flags: Vec<(String, Option<f64>)> = self
                .merge
                .iter_mut()
                .map(|m| (m.name.clone(), m.app.scrape().get(names::ALERT_LEADER.name, &[])))
                .collect();
            let leaders: Vec<&String> = flags.iter().filter(|(_, f)| *f == Some(1.0)).map(|(n, _)| n).collect();
            if leaders.len() == 1 && flags.iter().all(|(_, f)| matches!(f, Some(v) if *v == 0.0 || *v == 1.0)) {
                return leaders[0].clone();
            }
            assert!(
                started.elapsed() < timeout,
                "{} not 1 on exactly one replica within {timeout:?}: {flags:?}",
                names::ALERT_LEADER.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Each live ingest member's transactions and partitions, for the test's log.
    fn ingest_summary(&mut self) -> String {
        self.ingest
            .iter_mut()
            .map(|m| {
                let s = m.app.scrape();
                format!("{} {}", m.name, transactions(&s))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Every member stopped with SIGTERM: each exits cleanly. No ingest member, of all that
    /// ever ran, wrote to its state directory: stage 1 keeps nothing that outlives a commit.
    fn stop(mut self) {
        for m in self.ingest.iter_mut().chain(self.merge.iter_mut()) {
            let (status, took) = m.app.terminate(Duration::from_secs(15));
            assert!(status.success(), "{}: exit status {status} after {took:?}; log:\n{}", m.name, m.app.log_tail(40));
        }
        for n in 1..=self.named {
            let dir = self.d.member_state_dir(&format!("ingest-{n}"));
            let files: Vec<_> =
                std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
            assert!(files.is_empty(), "ingest member state dir {} holds {files:?}", dir.display());
        }
        eprintln!("[it] {}: done in {:.1} s", self.d.topic(), self.started.elapsed().as_secs_f64());
    }
}

/// The sum of every series of `name` whose labels include `label` (`name="value"`; `""`: all),
/// whatever other labels (a worker, a topic) the member breaks it down by.
fn sum(m: &Metrics, name: &str, label: &str) -> f64 {
    m.family(name).iter().filter(|(k, _)| k.contains(label)).map(|(_, v)| v).sum()
}

/// `committed=… aborted=… rewinds=… rejoins=… assigned=… delta_bytes=…` of an ingest member's scrape.
fn transactions(m: &Metrics) -> String {
    format!(
        "committed={} aborted={} rewinds={} rejoins={} assigned={} delta_bytes={}",
        sum(m, names::INGEST_TRANSACTIONS.name, r#"outcome="committed""#),
        sum(m, names::INGEST_TRANSACTIONS.name, r#"outcome="aborted""#),
        sum(m, names::INGEST_REWINDS.name, ""),
        sum(m, names::INGEST_REJOINS.name, ""),
        sum(m, names::INGEST_ASSIGNED_PARTITIONS.name, ""),
        sum(m, names::INGEST_DELTA_BYTES.name, "")
    )
}

/// Waits (20 s at most) until an ingest member just thawed has dropped the counts it had not
/// committed, rewinding or joining again (its rewinds or rejoins > 0), and checks it did not
/// panic.
fn wait_dropped(m: &mut Member) {
    let thawed = Instant::now();
    let dropped = |s: &Metrics| sum(s, names::INGEST_REJOINS.name, "") + sum(s, names::INGEST_REWINDS.name, "");
    while dropped(&m.app.scrape()) < 1.0 {
        assert!(
            thawed.elapsed() < Duration::from_secs(20),
            "{} neither rewound nor rejoined within 20 s of the thaw ({}); log:\n{}",
            m.name,
            transactions(&m.app.scrape()),
            m.app.log_tail(60)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "[it] {} dropped its uncommitted counts {:.1} s after the thaw ({})",
        m.name,
        thawed.elapsed().as_secs_f64(),
        transactions(&m.app.scrape())
    );
    assert_no_panic(m, "after the thaw");
}

/// Asserts that a member's log shows no panic.
fn assert_no_panic(m: &Member, when: &str) {
    let log = m.app.log_text();
    assert!(!log.contains("panicked"), "{when}: {} panicked:\n{}", m.name, m.app.log_tail(60));
}

/// The stream of one test: `n` seeded messages, produced at ~20k/s by a thread while the test
/// disturbs the members, then fresh events for the 5m window.
struct Load {
    items: Vec<Item>,
    recs: Vec<Record>,
    expected: Expected,
    producer: Option<JoinHandle<()>>,
    rng: StdRng,
}

impl Load {
    /// Starts producing `n` messages of seed `seed` to the cluster's topic.
    fn start(c: &Cluster, seed: u64, n: usize) -> Load {
        let mut rng = StdRng::seed_from_u64(seed);
        let items = stream(&mut rng, n, now_ms(), &BULK_AGES, 0.02);
        let expected = Expected::of(&items);
        let recs = records(&items, PARTITIONS);
        let producer = c.d.broker().producer();
        let (topic, paced) = (c.d.topic().to_string(), recs.clone());
        let producer = std::thread::spawn(move || {
            send_paced(&producer, &topic, &paced, CHUNK, EVERY, |_| {});
            producer.flush(Duration::from_secs(60)).expect("flush producer");
        });
        Load { items, recs, expected, producer: Some(producer), rng }
    }

    fn producing(&self) -> bool {
        self.producer.as_ref().is_some_and(|p| !p.is_finished())
    }

    /// Waits for the paced stream to be sent, checks the topic got all of it, then produces
    /// 3000 fresh events (for the 5m window); returns what the counts must now be.
    fn finish(&mut self, c: &Cluster) -> &Expected {
        self.producer.take().expect("producer thread").join().expect("producer thread");
        let b = c.d.broker();
        assert_eq!(
            b.produced(c.d.topic(), PARTITIONS),
            self.items.len() as u64,
            "the producer delivered a different number of records"
        );
        let fresh = stream(&mut self.rng, 3000, now_ms(), &FRESH_AGES, 0.03);
        let fresh_recs = records(&fresh, PARTITIONS);
        b.produce_records(c.d.topic(), PARTITIONS, &fresh_recs);
        self.expected.add(&fresh);
        self.items.extend(fresh);
        self.recs.extend(fresh_recs);
        &self.expected
    }

    /// The dead-letter topic, read committed, holds each reject exactly once.
    /// The end every scenario shares: the stream finished, both replicas exact, the members'
    /// counts logged, and (when `dead_letters`) each reject once in the dead-letter topic.
    fn assert_exact_at_end(&mut self, c: &mut Cluster, what: &str, dead_letters: bool) {
        let expected = self.finish(c);
        c.assert_exact(expected, what);
        eprintln!("[it] ingest: {}", c.ingest_summary());
        if dead_letters {
            self.assert_dead_letters(c);
        }
    }

    fn assert_dead_letters(&self, c: &Cluster) {
        let b = c.d.broker();
        let at = items_by_offset(b, c.d.topic(), &self.items, &self.recs, PARTITIONS);
        assert_dead_letter_topic(b, &c.dlq, c.d.topic(), &at, self.rejects());
        eprintln!("[it] dead-letter topic: each of {} rejects exactly once", self.rejects());
    }

    fn rejects(&self) -> u64 {
        self.items.iter().filter(|it| matches!(it.kind, Kind::Reject(_))).count() as u64
    }
}

// ---------------------------------------------------------------------------------------------
// kill -9 of ingest members.
// ---------------------------------------------------------------------------------------------

#[test]
fn ingest_members_killed_at_random_lose_and_double_count_nothing() {
    const KILLS: usize = 5;
    let mut c = Cluster::start("scale-kill");
    let mut load = Load::start(&c, 0x5CA1E0, 400_000);
    let mut rng = StdRng::seed_from_u64(0x0CA5_CADE);
    let mut restarts: BTreeMap<&str, usize> = BTreeMap::new();
    for k in 0..KILLS {
        let same = c.kill_and_restart_ingest(&mut rng, k, 1500..4000, &load);
        *restarts.entry(if same { "same name" } else { "new name" }).or_default() += 1;
    }
    let took = c.wait_assigned(Duration::from_secs(40));
    eprintln!(
        "[it] every partition held again {:.1} s after the last restart; restarts {restarts:?}",
        took.as_secs_f64()
    );
    load.assert_exact_at_end(&mut c, "after 5 ingest kills", true);
    c.wait_one_leader(Duration::from_secs(20));
    c.stop();
}

// ---------------------------------------------------------------------------------------------
// Scaling ingest in and out.
// ---------------------------------------------------------------------------------------------

#[test]
fn scaling_ingest_members_3_4_1_3_under_load_is_exact() {
    let mut c = Cluster::start("scale-3413");
    let mut load = Load::start(&c, 0x3413, 550_000);
    std::thread::sleep(Duration::from_secs(2));

    let name = c.new_name();
    c.start_ingest(name);
    let took = c.wait_assigned(Duration::from_secs(30));
    eprintln!("[it] 3→4: partitions spread over 4 members in {:.1} s", took.as_secs_f64());
    std::thread::sleep(Duration::from_secs(2));

    // 4→1: three SIGTERMs in a row, each a revoke commit and a cooperative rebalance.
    for _ in 0..3 {
        let mut m = c.ingest.remove(0);
        let (status, took) = m.app.terminate(Duration::from_secs(15));
        assert!(status.success(), "{}: exit status {status}; log:\n{}", m.name, m.app.log_tail(40));
        assert!(took <= Duration::from_secs(5), "{}: SIGTERM exit took {took:?} (> shutdown_grace 5s)", m.name);
        eprintln!("[it] 4→1: {} stopped in {:.1} s", m.name, took.as_secs_f64());
    }
    let took = c.wait_assigned(Duration::from_secs(30));
    eprintln!("[it] 4→1: one member holds all {PARTITIONS} partitions {:.1} s after the last stop", took.as_secs_f64());
    c.assert_not_ahead("at 1 member");
    std::thread::sleep(Duration::from_secs(2));

    for _ in 0..2 {
        let name = c.new_name();
        c.start_ingest(name);
    }
    let took = c.wait_assigned(Duration::from_secs(30));
    eprintln!("[it] 1→3: partitions spread in {:.1} s (producing: {})", took.as_secs_f64(), load.producing());

    load.assert_exact_at_end(&mut c, "after 3→4→1→3", false);
    c.wait_one_leader(Duration::from_secs(20));
    c.stop();
}

// ---------------------------------------------------------------------------------------------
// A zombie ingest member.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_zombie_ingest_member_is_fenced() {
    const FROZEN: Duration = Duration::from_secs(10);
    let mut c = Cluster::start("scale-zombie");
    let mut load = Load::start(&c, 0x2031E, 400_000);
    std::thread::sleep(Duration::from_secs(3));

    // Frozen past its 6 s session timeout (and its 5 s transaction timeout), most likely with a
    // transaction open: it commits one every 200 ms.
    let mut zombie = c.ingest.remove(1);
    let before = transactions(&zombie.app.scrape());
    zombie.app.pause();
    let frozen = Instant::now();
    let took = c.wait_assigned(FROZEN + Duration::from_secs(10));
    eprintln!(
        "[it] {} frozen ({before}); the other two took its partitions over in {:.1} s",
        zombie.name,
        took.as_secs_f64()
    );
    if let Some(rest) = FROZEN.checked_sub(frozen.elapsed()) {
        std::thread::sleep(rest);
    }
    zombie.app.resume();
    eprintln!("[it] {} thawed after {:.1} s", zombie.name, frozen.elapsed().as_secs_f64());

    // It must notice it was fenced (its session and its transaction both expired while it
    // slept) and drop the counts it had not committed, rewinding or joining again, not commit
    // them late.
    wait_dropped(&mut zombie);
    c.ingest.push(zombie);
    let took = c.wait_assigned(Duration::from_secs(40));
    eprintln!("[it] partitions shared by all three again {:.1} s later", took.as_secs_f64());

    load.assert_exact_at_end(&mut c, "after a zombie", true);
    c.stop();
}

// ---------------------------------------------------------------------------------------------
// A merge replica crash.
// ---------------------------------------------------------------------------------------------

#[test]
fn merge_member_killed_and_restarted_agrees_with_its_replica() {
    let mut c = Cluster::start("scale-merge");
    let leader = c.wait_one_leader(Duration::from_secs(20));
    let mut load = Load::start(&c, 0x3E26E, 300_000);
    std::thread::sleep(Duration::from_secs(4));

    // The leader dies, so alert leadership must move as well.
    let i = c.merge.iter().position(|m| m.name == leader).expect("the leader is a merge member");
    let mut victim = c.merge.remove(i);
    let consumed = victim.app.consumed();
    victim.app.kill();
    assert_no_panic(&victim, "merge kill");
    let checkpoints = std::fs::read_dir(c.d.member_state_dir(&victim.name)).map(|d| d.count()).unwrap_or(0);
    eprintln!(
        "[it] merge leader {} killed at consumed {consumed:?} ({checkpoints} files in its state dir)",
        victim.name
    );
    let killed = Instant::now();
    let now_leader = c.wait_one_leader(Duration::from_secs(20));
    eprintln!("[it] alert leadership moved to {now_leader} {:.1} s after the kill", killed.elapsed().as_secs_f64());
    std::thread::sleep(Duration::from_secs(2));

    let mut app = c.d.start_member(Role::Merge, &victim.name);
    app.wait_ready(Duration::from_secs(60));
    // It resumes from its own checkpoint, not from the start of `<group>.deltas`.
    let log = app.log_text();
    let restored = log.lines().find(|l| l.contains("restored checkpoint"));
    assert!(restored.is_some(), "{} restarted without restoring a checkpoint; log:\n{}", victim.name, app.log_tail(40));
    eprintln!("[it] {} restarted (producing: {}): {}", victim.name, load.producing(), restored.unwrap_or_default());
    c.merge.push(Member { name: victim.name.clone(), app });

    let expected = load.finish(&c);
    c.assert_exact(expected, "after a merge replica crash");
    let leader = c.wait_one_leader(Duration::from_secs(20));
    eprintln!("[it] alert leader at the end: {leader}; ingest: {}", c.ingest_summary());
    c.stop();
}

// ---------------------------------------------------------------------------------------------
// A member stopped past its transaction timeout, within its session.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_member_stopped_past_its_transaction_timeout_is_aborted_and_rejoins() {
    const STOPPED: Duration = Duration::from_secs(8);
    const ATTEMPTS: usize = 3;
    // A 15 s session: the member stays in the group while its 5 s transaction times out.
    let mut c = Cluster::start_with("scale-txn-timeout", |d| d.kafka_property("session.timeout.ms", "15000"));
    let mut load = Load::start(&c, 0x7_1E0, 400_000);
    std::thread::sleep(Duration::from_secs(3));

    let dropped_by = |m: &mut Member| {
        let s = m.app.scrape();
        sum(&s, names::INGEST_REJOINS.name, "") + sum(&s, names::INGEST_REWINDS.name, "")
    };
    let mut stopped = c.ingest.remove(1);
    let name = stopped.name.clone();
    // A stop that lands while its commit is in flight finds no transaction open (the broker
    // completes the commit): stop it again, up to ATTEMPTS times, until one lands in an open
    // transaction, which the broker must abort (1 s sweeps past the 5 s timeout).
    let mut attempts = Vec::new();
    for attempt in 1..=ATTEMPTS {
        let before = stopped.app.scrape();
        let held = sum(&before, names::INGEST_ASSIGNED_PARTITIONS.name, "");
        stopped.app.pause();
        let paused = Instant::now();
        std::thread::sleep(STOPPED);
        // Its session outlives the pause: nobody took its partitions over.
        let others: f64 =
            c.ingest.iter_mut().map(|m| sum(&m.app.scrape(), names::INGEST_ASSIGNED_PARTITIONS.name, "")).sum();
        stopped.app.resume();
        let stop_took = paused.elapsed();
        assert_eq!(
            others + held,
            f64::from(PARTITIONS),
            "the others took partitions of {name} over within its session"
        );
        let thawed = Instant::now();
        while dropped_by(&mut stopped) < 1.0 && thawed.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(200));
        }
        let after = transactions(&stopped.app.scrape());
        eprintln!(
            "[it] stop #{attempt} of {name} for {:.1} s (before: {}); {:.1} s after the thaw: {after}",
            stop_took.as_secs_f64(),
            transactions(&before),
            thawed.elapsed().as_secs_f64()
        );
        attempts.push(after);
        if dropped_by(&mut stopped) >= 1.0 {
            break;
        }
    }
    assert_no_panic(&stopped, "after the thaw");
    c.ingest.push(stopped);
    let took = c.wait_assigned(Duration::from_secs(40));
    eprintln!("[it] partitions shared by all three {:.1} s later", took.as_secs_f64());

    load.assert_exact_at_end(&mut c, "after a transaction timeout", true);
    // It dropped what the aborted transaction held and read it again (rewind or rejoin),
    // never committed it late. (Checked after the counts, which say more when it did not.)
    let m = c.ingest.iter_mut().find(|m| m.name == name).expect("the stopped member");
    assert!(
        dropped_by(m) >= 1.0,
        "{name} neither rewound nor rejoined after {ATTEMPTS} stops of {STOPPED:?}: {attempts:?}; log:\n{}",
        m.app.log_tail(60)
    );
    c.wait_one_leader(Duration::from_secs(20));
    c.stop();
}

// ---------------------------------------------------------------------------------------------
// The broker crashes while the members commit.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_broker_killed_mid_transaction_loses_and_double_counts_nothing() {
    const DOWN: Duration = Duration::from_secs(4);
    let own = Broker::start_own("scale-crash");
    // A transaction timeout longer than the outage and the restart: the broker (4.4.0) that
    // restarts aborts the transactions that timed out while it was down before it knows its
    // partitions' leaders, and then skips their abort markers ("Couldn't find leader endpoint
    // ... likely deleted already and hence can be skipped"): a hanging transaction that pins
    // `<group>.deltas` and the group's offsets for good. With 60 s the members' own
    // `init_transactions` aborts them once the broker is up.
    let mut c = Cluster::start_with("scale-crash", |d| {
        d.on(&own).scale("200ms", "60s").kafka_property("session.timeout.ms", "6000")
    });
    let mut load = Load::start(&c, 0xB20_CE2, 300_000);
    std::thread::sleep(Duration::from_secs(3));

    // Members commit every 200 ms under load: the crash lands in open transactions.
    let before = c.ingest_summary();
    own.kill();
    let killed = Instant::now();
    std::thread::sleep(DOWN);
    for m in c.ingest.iter_mut().chain(c.merge.iter_mut()) {
        m.app.assert_running();
    }
    let took = own.start();
    eprintln!(
        "[it] broker killed ({before}), restarted after {:.1} s (start took {:.1} s; producing: {})",
        killed.elapsed().as_secs_f64(),
        took.as_secs_f64(),
        load.producing()
    );
    let took = c.wait_assigned(Duration::from_secs(60));
    eprintln!("[it] every partition held again {:.1} s after the restart", took.as_secs_f64());
    for m in &c.ingest {
        assert_no_panic(m, "after the broker crash");
    }

    // The counts are exact whatever the broker did. The dead-letter topic is exact too, unless
    // the restarted broker skipped the markers of a transaction it was completing: that one's
    // dead letters became visible while its offsets never applied, so the events were read, and
    // their rejects dead-lettered, again. Nothing can take a record back from a topic others
    // read; every reject must still be there.
    let skipped = own.skipped_markers();
    let dead_letters_skipped = skipped.iter().any(|l| l.contains(&c.dlq));
    load.assert_exact_at_end(&mut c, "after a broker crash", !dead_letters_skipped);
    if dead_letters_skipped {
        let b = c.d.broker();
        let at = items_by_offset(b, c.d.topic(), &load.items, &load.recs, PARTITIONS);
        let extra = assert_dead_letter_topic_at_least_once(b, &c.dlq, c.d.topic(), &at, load.rejects());
        eprintln!(
            "[it] dead-letter topic: each of {} rejects at least once, {extra} twice: the broker skipped markers:\n{}",
            load.rejects(),
            skipped.join("\n")
        );
    }
    c.wait_one_leader(Duration::from_secs(30));
    c.stop();
}

// ---------------------------------------------------------------------------------------------
// A record its writer aborted, shown by the broker anyway.
// ---------------------------------------------------------------------------------------------

/// What a broker that skipped transaction markers shows a merge member, written by hand into one
/// deltas partition:
/// - writer 77: an aborted transaction's record, visible with the writer's next commit (the
///   partition never closed the aborted transaction, so the next commit marker closes both):
///   seq 2, named by neither seq 3 (which names 1 as the last that committed);
/// - writer 78: an attempt whose commit it could not see (seq 2), and its retry reading the
///   same input again (seq 3 names 2 `unsure` and starts where 2 started);
/// - writer 79: the same, but the attempt did commit (seq 3 starts where 2 ended);
/// - writer 80: a commit whose records became visible but whose offsets never applied (what
///   Kafka 4.4 did in the broker-kill test): writer 81 read the same input again, from where
///   80's seq 2 started, and went on from there.
///
/// Only what each input offset's one effective transaction counted may count.
#[test]
fn records_of_transactions_that_did_not_take_effect_are_not_folded() {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord};
    use slostream::state::delta_record::{Chain, DeltaRecord, InputRange};

    let d = deployment("scale-ghost").workers(1).scale("200ms", "5s");
    d.create_topic(PARTITIONS);
    let deltas = format!("{}.deltas", d.group());
    d.broker().create_topic(&deltas, 1);
    let config = slostream::config::Config::from_yaml(&d.render(0), "ghost.yaml").expect("the deployment's config");
    let mut merge = d.start_member(Role::Merge, "merge-a");
    merge.wait_ready(Duration::from_secs(60));

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &d.broker().bootstrap)
        .set("transactional.id", unique("ghost-writer"))
        .create()
        .expect("transactional producer");
    producer.init_transactions(Duration::from_secs(30)).expect("init_transactions");
    // Writer `writer`'s transaction `seq`, covering input partition `input` from `from` to `to`.
    let record = |writer, (seq, prev, unsure), consumed, input, from, to| {
        let mut r = DeltaRecord::empty(&config);
        r.counters.consumed = consumed;
        r.chain = Some(Chain { writer, seq, prev, unsure });
        r.ranges.push(InputRange { topic: d.topic().to_string(), partition: input, from, to, first: false });
        r.encode(&config)
    };
    let commit = |records: &[Vec<u8>]| {
        producer.begin_transaction().expect("begin");
        for r in records {
            producer.send(BaseRecord::<str, [u8]>::to(&deltas).key("w").payload(r)).expect("send");
        }
        producer.commit_transaction(Duration::from_secs(30)).expect("commit");
    };
    commit(&[record(77, (1, 0, 0), 1, 0, 0, 10)]);
    commit(&[record(77, (2, 1, 0), 2, 0, 10, 20), record(77, (3, 1, 0), 4, 0, 10, 20)]);
    commit(&[record(77, (4, 3, 0), 0, 0, 20, 20)]);

    commit(&[record(78, (1, 0, 0), 10, 1, 0, 10)]);
    commit(&[record(78, (2, 1, 0), 20, 1, 10, 20), record(78, (3, 1, 2), 40, 1, 10, 15)]);
    commit(&[record(78, (4, 3, 0), 0, 1, 15, 15)]);

    commit(&[record(79, (1, 0, 0), 100, 2, 0, 10)]);
    commit(&[record(79, (2, 1, 0), 200, 2, 10, 20)]);
    commit(&[record(79, (3, 1, 2), 400, 2, 20, 25)]);
    commit(&[record(79, (4, 3, 0), 0, 2, 25, 25)]);

    commit(&[record(80, (1, 0, 0), 1_000, 3, 0, 10)]);
    commit(&[record(80, (2, 1, 0), 2_000, 3, 10, 20)]);
    commit(&[record(81, (1, 0, 0), 4_000, 3, 10, 40)]);
    commit(&[record(81, (2, 1, 0), 0, 3, 40, 40), record(80, (3, 2, 0), 0, 4, 0, 0)]);

    let want = (1 + 4) + (10 + 40) + (100 + 200 + 400) + (1_000 + 4_000);
    let (m, _) = merge.wait_consumed(want, Duration::from_secs(60));
    let refused = |reason| m.get(names::DELTA_RECORDS_REFUSED.name, &[("reason", reason)]);
    assert_eq!(
        (refused("aborted_by_writer"), refused("already_counted")),
        (Some(1.0), Some(2.0)),
        "{}",
        merge.log_tail(30)
    );
    // Still the same a while later: the others were left out, not merely late.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(merge.scrape().get(names::EVENTS_CONSUMED.name, &[]), Some(want as f64));
    merge.stop();
}

// ---------------------------------------------------------------------------------------------
// Offsets a transaction left pending.
// ---------------------------------------------------------------------------------------------

/// The group's offsets of an input partition left pending by a transaction that never ends
/// within the members' transaction timeout: what a restarted broker leaves when it skips the
/// markers to the group's offsets partition (they apply only with that producer's next commit,
/// and a worker waiting for its own waits for good). Here another producer's transaction stays
/// open. The ingest member reads on from the offsets applied (none: the partition's start)
/// instead of waiting for stable ones and joining again, and every event counts once.
#[test]
fn offsets_left_pending_by_a_transaction_hold_no_partition_up() {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::BaseProducer;
    use rdkafka::{Offset, TopicPartitionList};

    let d = deployment("scale-pending").workers(1).scale("200ms", "20s");
    d.create_topic(PARTITIONS);
    let b = d.broker();
    let mut rng = StdRng::seed_from_u64(0x9E_4D01);
    let items = stream(&mut rng, 20_000, now_ms(), &BULK_AGES, 0.03);
    b.produce_records(d.topic(), PARTITIONS, &records(&items, PARTITIONS));
    let expected = Expected::of(&items);

    // Offsets for partition 0, pending in a transaction open for ten minutes.
    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("group.id", d.group())
        .create()
        .expect("consumer");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("transactional.id", unique("pending-writer"))
        .set("transaction.timeout.ms", "600000")
        .create()
        .expect("transactional producer");
    producer.init_transactions(Duration::from_secs(30)).expect("init_transactions");
    producer.begin_transaction().expect("begin");
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset(d.topic(), 0, Offset::Offset(5)).expect("offset");
    let metadata = group.group_metadata().expect("the group's metadata");
    producer.send_offsets_to_transaction(&offsets, &metadata, Duration::from_secs(30)).expect("send_offsets");

    let mut merge = d.start_member(Role::Merge, "merge-a");
    let mut ingest = d.start_member(Role::Ingest, "ingest-1");
    let started = Instant::now();
    merge.wait_ready(Duration::from_secs(60));
    let (m, t) = merge.wait_consumed(expected.consumed, Duration::from_secs(60));
    expected.assert_scrape("offsets left pending", &m, t);
    eprintln!(
        "[it] offsets left pending: every event counted {:.1} s after the start",
        started.elapsed().as_secs_f64()
    );
    assert!(
        ingest.log_text().contains("reading on from the offsets applied"),
        "the member read past the pending offsets without saying so; log:\n{}",
        ingest.log_tail(30)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(merge.scrape().get(names::EVENTS_CONSUMED.name, &[]), Some(expected.consumed as f64));
    producer.abort_transaction(Duration::from_secs(30)).expect("abort");
    ingest.stop();
    merge.stop();
}

// ---------------------------------------------------------------------------------------------
// The same under KIP-848.
// ---------------------------------------------------------------------------------------------

#[test]
fn kip_848_members_killed_and_scaled_are_exact() {
    const KILLS: usize = 3;
    // The broker times KIP-848 sessions out (group.consumer.session.timeout.ms=6000 in
    // tests/kafka/broker.sh); the members set none.
    let mut c = Cluster::start_with("scale-kip848", |d| d.kafka_property("group.protocol", "consumer"));
    let mut load = Load::start(&c, 0x848, 500_000);
    std::thread::sleep(Duration::from_secs(2));

    // 3→4→2 first (cooperative under KIP-848: the broker assigns), then the kills.
    let name = c.new_name();
    c.start_ingest(name);
    let took = c.wait_assigned(Duration::from_secs(30));
    eprintln!("[it] 3→4: partitions spread over 4 members in {:.1} s", took.as_secs_f64());
    for _ in 0..2 {
        let mut m = c.ingest.remove(0);
        let (status, took) = m.app.terminate(Duration::from_secs(15));
        assert!(status.success(), "{}: exit status {status}; log:\n{}", m.name, m.app.log_tail(40));
        eprintln!("[it] 4→2: {} stopped in {:.1} s", m.name, took.as_secs_f64());
    }
    let took = c.wait_assigned(Duration::from_secs(30));
    eprintln!("[it] 4→2: partitions on 2 members {:.1} s after the last stop", took.as_secs_f64());
    c.assert_not_ahead("at 2 members");

    // kill -9, restarted under the same name (its static group.instance.id) or a new one.
    let mut rng = StdRng::seed_from_u64(0x848_848);
    for k in 0..KILLS {
        c.kill_and_restart_ingest(&mut rng, k, 1500..3000, &load);
    }
    let took = c.wait_assigned(Duration::from_secs(40));
    eprintln!("[it] every partition held again {:.1} s after the last restart", took.as_secs_f64());

    load.assert_exact_at_end(&mut c, "KIP-848, after 3→4→2 and 3 kills", true);
    c.wait_one_leader(Duration::from_secs(20));
    c.stop();
}

// ---------------------------------------------------------------------------------------------
// Alerts from two merge replicas.
// ---------------------------------------------------------------------------------------------

/// What a merge member logs when it takes alert leadership over.
const PUSHES: &str = "this member pushes alerts now";
/// What a merge member logs when another member takes the pushing of alerts over.
const HANDED_OVER: &str = "another member pushes alerts now";

/// The labels of an alert, as one sortable text.
fn alert_key(a: &serde_json::Value) -> String {
    let labels: BTreeMap<String, String> = a["labels"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    format!("{labels:?}")
}

#[test]
fn exactly_one_merge_member_pushes_each_alert() {
    let mut am = Alertmanager::start(&scratch_dir("scale-alertmanager"));
    let run = unique("run");
    let url = am.url.clone();
    let mut c = Cluster::start_with("scale-alerts", |d| {
        d.kafka_property("session.timeout.ms", "6000")
            .alertmanager(&url)
            .slo_labels("book-a-ride", &[("run", &run)])
            .slo_labels("search-a-ride", &[("run", &run)])
    });
    c.wait_one_leader(Duration::from_secs(20));
    // The stream's bookings fail about one in six: book-a-ride burns far past every factor.
    let mut load = Load::start(&c, 0xA1E27, 200_000);
    let t0 = Instant::now();
    let firing = loop {
        let alerts = am.run_alerts(&run);
        if !alerts.is_empty() {
            break alerts;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "no alert of run {run} in Alertmanager 40 s into the stream; slostream alert series: {:?}",
            c.merge[0].app.scrape().family(names::SLO_ALERT.name)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "[it] {} alerts firing in Alertmanager {:.1} s into the stream: {:?}",
        firing.len(),
        t0.elapsed().as_secs_f64(),
        rule_set(&firing)
    );
    // Only the leader pushes now. Leadership may have moved while the group formed (a rebalance
    // of the leader group a few seconds in): the leader is whoever holds it now, and the other
    // member, if it ever pushed, has handed over since.
    let leader = c.wait_one_leader(Duration::from_secs(20));
    for m in c.merge.iter().filter(|m| m.name != leader) {
        let log = m.app.log_text();
        let (took, handed) = (log.rfind(PUSHES), log.rfind(HANDED_OVER));
        assert!(
            took.is_none_or(|t| handed.is_some_and(|h| h > t)),
            "{} still pushes alerts while {leader} leads",
            m.name
        );
    }

    // The leader dies while they fire: the other replica must take over and push them.
    let i = c.merge.iter().position(|m| m.name == leader).expect("the leader is a merge member");
    let mut victim = c.merge.remove(i);
    victim.app.kill();
    let killed_ms = now_ms();
    let killed = Instant::now();
    assert_no_panic(&victim, "leader kill");
    let now_leader = c.wait_one_leader(Duration::from_secs(20));
    assert_ne!(now_leader, victim.name);
    let survivor = c.merge.iter_mut().find(|m| m.name == now_leader).expect("the new leader");
    survivor.app.wait_log(PUSHES, Duration::from_secs(20));
    eprintln!("[it] leadership moved to {now_leader} {:.1} s after the kill", killed.elapsed().as_secs_f64());
    // Every alert firing before the kill is pushed again, by the new leader (the dead one
    // cannot), and still fires in Alertmanager.
    let want: BTreeSet<String> = firing.iter().map(alert_key).collect();
    loop {
        let alerts = am.run_alerts(&run);
        let got: BTreeSet<String> = alerts
            .iter()
            .filter(|a| a["status"]["state"] == "active")
            .filter(|a| a["updatedAt"].as_str().is_some_and(|u| parse_rfc3339_ms(u) > killed_ms))
            .map(alert_key)
            .collect();
        if want.is_subset(&got) {
            eprintln!(
                "[it] {} alerts pushed again by {now_leader} {:.1} s after the kill, all firing",
                got.len(),
                killed.elapsed().as_secs_f64()
            );
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "30 s after the leader's death, Alertmanager has {got:?} updated, want at least {want:?}: {alerts:#?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The killed replica comes back on its state directory; the counts are exact in both.
    let mut app = c.d.start_member(Role::Merge, &victim.name);
    app.wait_ready(Duration::from_secs(60));
    c.merge.push(Member { name: victim.name.clone(), app });
    let expected = load.finish(&c);
    c.assert_exact(expected, "alerts with a leader crash");
    c.wait_one_leader(Duration::from_secs(20));
    let leaders: f64 =
        c.merge.iter_mut().map(|m| m.app.scrape().get(names::ALERT_LEADER.name, &[]).unwrap_or(0.0)).sum();
    assert_eq!(leaders, 1.0, "{} summed over the replicas", names::ALERT_LEADER.name);

    // The receiver: each alert notified firing once, then again only after a resolution
    // (Alertmanager deduplicates repeated pushes of one firing alert, whoever posts them).
    std::thread::sleep(Duration::from_secs(2));
    let mut history: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, a) in am.hook.alerts().iter().filter(|(_, a)| a["labels"]["run"] == run.as_str()) {
        history.entry(alert_key(a)).or_default().push(a["status"].as_str().unwrap_or_default().to_string());
    }
    assert!(!history.is_empty(), "the receiver was notified of no alert of run {run}");
    for (alert, statuses) in &history {
        let twice = statuses.windows(2).any(|w| w[0] == "firing" && w[1] == "firing");
        assert!(!twice, "{alert}: notified {statuses:?}");
    }
    eprintln!("[it] receiver: {} alerts, each notified firing once per episode", history.len());
    c.stop();
}
