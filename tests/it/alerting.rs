//! Burn alerts in the Alertmanager people already run (Debian's `prometheus-alertmanager`),
//! from events produced to the real broker:
//!
//! - a burning SLO's alerts reach Alertmanager with exactly their labels and annotations, every
//!   multiwindow rule fires, the (webhook) receiver is notified, and after a recovery only the
//!   rule whose burn fell below its factor resolves, with `endsAt`; the time from the first bad
//!   event produced to the alert visible in `GET /api/v2/alerts` is printed (never asserted);
//! - an Alertmanager that is down or hangs never holds up ingest, and its failures are counted.
//!
//! The deployments run `config/example.yaml` as shipped, with labels on book-a-ride.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, Producer};
use serde_json::Value;
use slostream::names::{self, label};

use crate::harness::alertmanager::{parse_rfc3339_ms, rule, rule_set, Alertmanager};
use crate::harness::broker::send_record;
use crate::harness::events::{booking, geo, search};
use crate::harness::prometheus::Prometheus;
use crate::harness::{free_port, now_ms, scratch_dir, unique, Deployment, Metrics, Record, Served, Slostream};

const RUNBOOK: &str = "https://runbooks.example/book";
const ALERT_RUNS: usize = 5;
/// The warm-up events of a run, one per partition.
const WARMUP: u64 = 2;
/// Failed bookings that set book-a-ride burning.
const BAD: usize = 10;
/// Good bookings of the recovery: 99 per bad one.
const GOOD: usize = 99 * BAD;

fn median(xs: &[Duration]) -> Duration {
    let mut v = xs.to_vec();
    v.sort();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn book(w: &'static str) -> [(&'static str, &'static str); 2] {
    [(label::SLO, "book-a-ride"), (label::WINDOW, w)]
}

/// The labels of an SLO's alert state series of one severity.
fn alert_state(slo: &'static str, severity: &'static str) -> [(&'static str, &'static str); 2] {
    [(label::SLO, slo), (label::SEVERITY, severity)]
}

fn is_fast_page(a: &Value) -> bool {
    let l = &a["labels"];
    l[label::SEVERITY] == "page" && l[label::LONG_WINDOW] == "1h" && l[label::SHORT_WINDOW] == "5m"
}

// ---------------------------------------------------------------------------------------------
// Burn alerts reach Alertmanager.
// ---------------------------------------------------------------------------------------------

#[test]
fn burn_alert_reaches_alertmanager_with_its_labels() {
    let test_started = Instant::now();
    let mut am = Alertmanager::start(&scratch_dir("alertmanager"));
    let mut visible = Vec::new();
    let mut resolved = Vec::new();
    for run in 1..=ALERT_RUNS {
        let (v, r) = alert_run(&mut am, run);
        visible.push(v);
        resolved.push(r);
    }
    let list = |xs: &[Duration]| xs.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ");
    eprintln!(
        "[it] ALERT LATENCY first bad event produced -> SLOBurnRateHigh visible in Alertmanager: runs [{}], median {}",
        list(&visible),
        ms(median(&visible))
    );
    eprintln!(
        "[it] RESOLVE LATENCY good events produced (acked) -> 1h/5m page gone from Alertmanager: runs [{}], median {}",
        list(&resolved),
        ms(median(&resolved))
    );
    eprintln!(
        "[it] burn_alert_reaches_alertmanager_with_its_labels took {:.1} s",
        test_started.elapsed().as_secs_f64()
    );
}

/// One burn, one alert: with Prometheus evaluating `slostream rules` for the same config and
/// slostream pushing its own alerts, one Alertmanager holds exactly one alert per firing rule.
/// (The rule's alert used to keep the scrape's `job` and `instance`, so every burn showed twice.)
#[test]
fn prometheus_rules_and_pushed_alerts_are_one_alert_per_rule() {
    let dir = scratch_dir("one-alert");
    let mut am = Alertmanager::start(&dir);
    let run = unique("run");
    let d = Deployment::from_example("one-alert").slo_labels("book-a-ride", &[("run", &run)]).alertmanager(&am.url);
    d.create_topic(2);
    let mut s = d.start();
    s.wait_ready(Duration::from_secs(60));
    let mut prom = Prometheus::start_alerting(&dir, s.port, &d.rules(), &am.url);

    // Every booking fails: book-a-ride burns at 1000 over every window, all four rules fire.
    let producer = d.broker().producer();
    for i in 0..BAD {
        let r = Record { partition: (i % 2) as i32, key: None, payload: Some(booking(500, now_ms(), 120)) };
        send_record(&producer, d.topic(), &r);
    }
    producer.flush(Duration::from_secs(10)).expect("flush bad events");
    s.wait_consumed(BAD as u64, Duration::from_secs(30));

    let firing = format!("ALERTS{{alertname=\"{}\",alertstate=\"firing\",run=\"{run}\"}}", names::ALERT_NAME);
    let started = Instant::now();
    while prom.query(&firing).len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Prometheus's rules did not all fire: {:?}",
            prom.query(&firing)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Both senders have sent: slostream at once, Prometheus at its next evaluations. Give
    // Alertmanager a few of them to hold whatever either sent.
    std::thread::sleep(Duration::from_secs(5));
    let alerts = am.run_alerts(&run);
    let label_sets: BTreeSet<BTreeMap<String, String>> = alerts
        .iter()
        .map(|a| {
            let labels = a["labels"].as_object().expect("labels");
            labels.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
        })
        .collect();
    assert_eq!(alerts.len(), 4, "one alert per firing rule, not one per sender: {label_sets:#?}");
    for labels in &label_sets {
        let keys: BTreeSet<&str> = labels.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> =
            [label::ALERTNAME, label::SLO, label::SEVERITY, label::LONG_WINDOW, label::SHORT_WINDOW, "run"].into();
        assert_eq!(keys, want, "the labels of the pushed alert exactly: {labels:?}");
    }
    assert_eq!(s.scrape().get(names::ALERTMANAGER_ERRORS.name, &[]), Some(0.0), "slostream's pushes all went through");
    let (status, _) = s.terminate(Duration::from_secs(30));
    assert!(status.success(), "slostream exited with {status}");
}

/// One run against the shared Alertmanager: a fresh topic, group, state and slostream, and a
/// `run` label of its own so alerts of earlier runs, still open there, are told apart.
struct AlertRun {
    run: usize,
    label: String,
    d: Deployment,
    s: Slostream,
    producer: BaseProducer,
}

/// One independent run. Returns (first bad event produced → page alert visible, last good event
/// produced → page alert gone).
fn alert_run(am: &mut Alertmanager, run: usize) -> (Duration, Duration) {
    let mut r = AlertRun::start(am, run);
    let (t0, t0_ms) = r.burn_the_budget();
    let (alert, seen) = r.page_alert_fires(am, t0, t0_ms);
    r.every_rule_fires_and_the_receiver_is_notified(am, &alert, t0_ms);
    r.counts_show_the_burn();
    let resolve = r.recovery_resolves_only_the_fast_page(am, &alert);
    let (status, took) = r.s.terminate(Duration::from_secs(30));
    assert!(status.success(), "run {run}: slostream exited with {status}");
    eprintln!("[it] run {run}: slostream stopped in {}", ms(took));
    (seen, resolve)
}

impl AlertRun {
    /// Starts slostream (ready, SLO series registered, no alert yet) with a warmed-up producer.
    fn start(am: &mut Alertmanager, run: usize) -> AlertRun {
        let label = unique("run");
        let d = Deployment::from_example("alert-run")
            .slo_labels("book-a-ride", &[("team", "booking"), ("run", &label)])
            .slo_runbook_url("book-a-ride", RUNBOOK)
            .alertmanager(&am.url);
        d.create_topic(2);
        let mut s = d.start();
        s.wait_ready(Duration::from_secs(60));
        // The first ready tick registers the SLO series: from then on every tick is evaluated.
        let started = Instant::now();
        while s.scrape().get(names::SLO_ALERT.name, &alert_state("book-a-ride", "page")).is_none() {
            assert!(started.elapsed() < Duration::from_secs(10), "no SLO series 10 s after /ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(am.run_alerts(&label).is_empty(), "run {run}: alerts before any event");

        // A producer connected and initialised (idempotent producer id, partition leaders)
        // before the clock starts, with one event of no SLI per partition (counted as unmatched,
        // nothing else), so the figure is the pipeline's latency, not a client's start-up.
        let producer = d.broker().producer();
        let warmup = format!(r#"{{"timestamp":{},"service":"warm-up"}}"#, now_ms()).into_bytes();
        for p in 0..2 {
            send_record(&producer, d.topic(), &Record { partition: p, key: None, payload: Some(warmup.clone()) });
        }
        producer.flush(Duration::from_secs(10)).expect("flush warm-up");
        let (m, _) = s.wait_consumed(WARMUP, Duration::from_secs(30));
        assert_eq!(m.get(names::EVENTS_UNMATCHED.name, &[]), Some(2.0));
        AlertRun { run, label, d, s, producer }
    }

    /// 10 failed bookings: booking-availability 0/10, geo-availability has no events and is left
    /// out of the weighted combine, so book-a-ride's ratio is 0 and its burn rate
    /// 1 / (1 - 0.999) = 1000 over every window: all four multiwindow rules fire. Returns when
    /// the first was produced.
    fn burn_the_budget(&mut self) -> (Instant, i64) {
        // Each run starts at another phase of slostream's 500 ms publish and export ticks (the
        // warm-up would otherwise align every run the same way), so the runs sample the
        // latency's whole range.
        std::thread::sleep(Duration::from_millis((self.run as u64 * 211) % 1000));
        let t0 = Instant::now();
        let t0_ms = now_ms();
        for i in 0..BAD {
            let r = Record { partition: (i % 2) as i32, key: None, payload: Some(booking(500, now_ms(), 120)) };
            send_record(&self.producer, self.d.topic(), &r);
        }
        self.producer.flush(Duration::from_secs(10)).expect("flush bad events");
        eprintln!("[it] run {}: bad events produced (acked) in {}", self.run, ms(t0.elapsed()));
        (t0, t0_ms)
    }

    /// The 1h/5m page appears in Alertmanager (60 s at most) with exactly its labels and
    /// annotations, `startsAt` between the first bad event and now, and `endsAt` in the future.
    /// Returns it and how long after the first bad event it was seen.
    fn page_alert_fires(&mut self, am: &mut Alertmanager, t0: Instant, t0_ms: i64) -> (Value, Duration) {
        let run = self.run;
        let mut polls = 0u32;
        let alert = loop {
            polls += 1;
            if let Some(a) = am.run_alerts(&self.label).into_iter().find(is_fast_page) {
                break a;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "run {run}: no SLOBurnRateHigh page alert in Alertmanager 60 s after the bad events; Alertmanager holds {:#?}; slostream alert series: {:?}",
                am.alerts(),
                self.s.scrape().family(names::SLO_ALERT.name)
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let seen = t0.elapsed();
        let seen_ms = now_ms();

        // Labels: exactly these.
        let labels: BTreeMap<String, String> = alert["labels"]
            .as_object()
            .expect("labels")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("label value").to_string()))
            .collect();
        let want: BTreeMap<String, String> = [
            ("alertname", "SLOBurnRateHigh"),
            ("slo", "book-a-ride"),
            ("severity", "page"),
            ("long_window", "1h"),
            ("short_window", "5m"),
            ("team", "booking"),
            ("run", self.label.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(labels, want, "run {run}: labels of the alert");

        // Annotations: burn rate 1000 on both windows, budget 1 - 1000 = -999 (-99900 %).
        let ann = &alert["annotations"];
        assert_eq!(
            ann["summary"], "book-a-ride is burning its error budget 1000.0x too fast (page)",
            "run {run}: {ann}"
        );
        assert_eq!(
            ann["description"],
            "Burn rate 1000.00 over 1h and 1000.00 over 5m (threshold 14.40). Error budget remaining: -99900.0% of the 30d budget. Objective: 99.9%.",
            "run {run}: {ann}"
        );
        assert!(ann["summary"].as_str().unwrap().contains("book-a-ride"));
        assert!(ann["description"].as_str().unwrap().contains("99.9"));
        assert_eq!(ann["runbook_url"], RUNBOOK, "run {run}: {ann}");
        assert!(ann.get("dashboard_url").is_none(), "run {run}: no dashboard_url is configured: {ann}");
        // Only booking-availability had events, all bad: it burned all of the budget.
        assert_eq!(ann["top_contributors"], "booking-availability 100% (1h)", "run {run}: {ann}");
        assert_eq!(
            ann.as_object().unwrap().len(),
            4,
            "run {run}: summary, description, top_contributors, runbook_url only: {ann}"
        );
        // startsAt: when slostream saw it fire, between the first bad event and now.
        let starts = parse_rfc3339_ms(alert["startsAt"].as_str().expect("startsAt"));
        assert!(
            t0_ms <= starts && starts <= seen_ms,
            "run {run}: startsAt {} outside [{t0_ms}, {seen_ms}]",
            alert["startsAt"]
        );
        // Firing: Alertmanager holds it open for its resolve timeout (5m) from the last post.
        let ends = parse_rfc3339_ms(alert["endsAt"].as_str().expect("endsAt"));
        assert!(ends > seen_ms + 60_000, "run {run}: a firing alert ends in the future: endsAt {}", alert["endsAt"]);
        eprintln!(
            "[it] run {run}: fired in slostream at +{} ms (startsAt), visible in Alertmanager at +{} ({polls} polls)",
            starts - t0_ms,
            ms(seen)
        );
        (alert, seen)
    }

    /// Every rule of book-a-ride fires (burn 1000 > 14.4, 6, 3, 1 on every window), no other
    /// SLO's; Alertmanager notifies its receiver of the page (after group_wait, 1 s here) with
    /// the same labels and annotations.
    fn every_rule_fires_and_the_receiver_is_notified(&mut self, am: &mut Alertmanager, alert: &Value, t0_ms: i64) {
        let run = self.run;
        let everything = BTreeSet::from([
            rule("page", "1h", "5m"),
            rule("page", "6h", "30m"),
            rule("ticket", "1d", "2h"),
            rule("ticket", "3d", "6h"),
        ]);
        let started = Instant::now();
        loop {
            let got = am.run_alerts(&self.label);
            if rule_set(&got) == everything && got.len() == 4 {
                assert!(got
                    .iter()
                    .all(|a| a["labels"][label::SLO] == "book-a-ride" && a["labels"]["team"] == "booking"));
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "run {run}: expected the 4 rules {everything:?}, Alertmanager has {:?}",
                rule_set(&got)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let started = Instant::now();
        let hooked = loop {
            let got = am.hook.alerts();
            if let Some((at, a)) = got.iter().find(|(_, a)| a["labels"]["run"] == self.label && is_fast_page(a)) {
                assert_eq!(a["status"], "firing", "run {run}: first notification of the page alert");
                assert_eq!(a["labels"], alert["labels"]);
                assert_eq!(a["annotations"], alert["annotations"]);
                break at - t0_ms;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "run {run}: the webhook got no notification of the page alert in 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        eprintln!("[it] run {run}: firing notification at the webhook receiver at +{hooked} ms (group_wait 1s)");
    }

    /// slostream's own series agree: 10 events, none good; book-a-ride pages and tickets,
    /// search-a-ride does not page; no failed post to a healthy Alertmanager.
    fn counts_show_the_burn(&mut self) {
        let (m, _) = self.s.wait_consumed(WARMUP + BAD as u64, Duration::from_secs(30));
        assert_eq!(m.get(names::SLO_EVENTS.name, &book("5m")), Some(BAD as f64));
        assert_eq!(m.get(names::SLO_GOOD_EVENTS.name, &book("5m")), Some(0.0));
        assert_eq!(m.get(names::SLO_ALERT.name, &alert_state("book-a-ride", "page")), Some(1.0));
        assert_eq!(m.get(names::SLO_ALERT.name, &alert_state("book-a-ride", "ticket")), Some(1.0));
        assert_eq!(m.get(names::SLO_ALERT.name, &alert_state("search-a-ride", "page")), Some(0.0));
        assert_eq!(
            m.get(names::ALERTMANAGER_ERRORS.name, &[]),
            Some(0.0),
            "run {}: posts to a healthy Alertmanager failed",
            self.run
        );
    }

    /// Recovery: 99 good bookings per bad one. Every window then holds 10 bad of 1000, ratio
    /// 0.99, burn rate (1 - 0.99) / 0.001 = 10: below 14.4 (the 1h/5m page clears) but above 6,
    /// 3 and 1 (the 6h/30m page and both tickets keep firing). The receiver is told the page
    /// resolved, with `endsAt` between the recovery and the notification. Returns the time from
    /// the good events to the page gone from Alertmanager.
    fn recovery_resolves_only_the_fast_page(&mut self, am: &mut Alertmanager, alert: &Value) -> Duration {
        let run = self.run;
        let goods: Vec<Vec<u8>> = (0..GOOD).map(|i| booking(201, now_ms(), 80 + (i % 50) as u64)).collect();
        let t1_ms = now_ms();
        self.d.broker().produce(self.d.topic(), 2, &goods);
        let t1 = Instant::now();
        let (m, _) = self.s.wait_consumed(WARMUP + (BAD + GOOD) as u64, Duration::from_secs(30));
        assert_burn_is_ten_in_every_window(&m, run);
        let gone = loop {
            let got = am.run_alerts(&self.label);
            if !got.iter().any(is_fast_page) {
                break got;
            }
            assert!(
                t1.elapsed() < Duration::from_secs(30),
                "run {run}: the 1h/5m page alert is still active 30 s after burn fell to 10: {:#?}",
                got.iter().find(|a| is_fast_page(a))
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let resolve = t1.elapsed();
        assert_eq!(
            rule_set(&gone),
            BTreeSet::from([rule("page", "6h", "30m"), rule("ticket", "1d", "2h"), rule("ticket", "3d", "6h")]),
            "run {run}: after recovery to burn 10 only the 1h/5m page may have resolved"
        );
        self.receiver_is_told_it_resolved(am, alert, t1_ms);

        let m = self.s.scrape();
        assert_eq!(m.get(names::SLO_ALERT.name, &alert_state("book-a-ride", "page")), Some(1.0), "6h/30m still pages");
        assert_eq!(m.get(names::SLO_ALERT.name, &alert_state("book-a-ride", "ticket")), Some(1.0));
        assert_eq!(m.get(names::ALERTMANAGER_ERRORS.name, &[]), Some(0.0));
        eprintln!(
            "[it] run {run}: 1h/5m page resolved in Alertmanager {} after the good events were produced",
            ms(resolve)
        );
        resolve
    }

    /// The receiver gets a resolved notification of the page, with `endsAt` in the past (when
    /// slostream saw it clear, after `t1_ms`) and the original `startsAt`; only that rule
    /// resolved.
    fn receiver_is_told_it_resolved(&self, am: &Alertmanager, alert: &Value, t1_ms: i64) {
        let run = self.run;
        let starts = parse_rfc3339_ms(alert["startsAt"].as_str().expect("startsAt"));
        let started = Instant::now();
        let (at, resolved) = loop {
            let got = am.hook.alerts();
            if let Some((at, a)) = got
                .into_iter()
                .find(|(_, a)| a["labels"]["run"] == self.label && is_fast_page(a) && a["status"] == "resolved")
            {
                break (at, a);
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "run {run}: the webhook got no resolved notification of the page alert in 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let ends = parse_rfc3339_ms(resolved["endsAt"].as_str().expect("endsAt"));
        assert!(
            t1_ms <= ends && ends <= at,
            "run {run}: endsAt {} not between the recovery ({t1_ms}) and the notification ({at})",
            resolved["endsAt"]
        );
        assert_eq!(parse_rfc3339_ms(resolved["startsAt"].as_str().unwrap()), starts, "run {run}: startsAt kept");
        let resolved_rules: Vec<Value> = am
            .hook
            .alerts()
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| a["labels"]["run"] == self.label && a["status"] == "resolved")
            .collect();
        assert_eq!(
            rule_set(&resolved_rules),
            BTreeSet::from([rule("page", "1h", "5m")]),
            "run {run}: only the 1h/5m page resolved"
        );
        eprintln!(
            "[it] run {run}: resolved notification at the webhook {} ms after the first good event was produced",
            at - t1_ms
        );
    }
}

/// 10 bad of 1000 in every window of book-a-ride: burn rate exactly 10.
fn assert_burn_is_ten_in_every_window(m: &Metrics, run: usize) {
    for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"] {
        assert_eq!(m.get(names::SLO_EVENTS.name, &book(w)), Some((BAD + GOOD) as f64), "run {run}: events over {w}");
        assert_eq!(m.get(names::SLO_GOOD_EVENTS.name, &book(w)), Some(GOOD as f64), "run {run}: good events over {w}");
        let burn = m.get(names::SLO_BURN_RATE.name, &book(w)).expect("burn rate");
        assert!((burn - 10.0).abs() < 1e-9, "run {run}: burn rate over {w} is {burn}, expected 10");
    }
}

// ---------------------------------------------------------------------------------------------
// An Alertmanager that is down or hangs never blocks ingest.
// ---------------------------------------------------------------------------------------------

#[test]
fn alertmanager_down_never_blocks_ingest() {
    // A port nothing listens on: every post is refused at once.
    let closed = free_port();
    ingest_despite_alertmanager(&format!("http://127.0.0.1:{closed}"), "5s", "Alertmanager down (connection refused)");
}

#[test]
fn alertmanager_hanging_never_blocks_ingest() {
    // A listener that is never accepted from: connections complete in the kernel's backlog,
    // requests are never answered, every post runs into the client timeout.
    let hole = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = hole.local_addr().unwrap().port();
    ingest_despite_alertmanager(&format!("http://127.0.0.1:{port}"), "1s", "Alertmanager hanging (no answer)");
    drop(hole);
}

/// slostream pointed at `url` (which never accepts a post): a burning incident and more traffic
/// after it are consumed in full, the failures are counted and retried.
fn ingest_despite_alertmanager(url: &str, timeout: &str, what: &str) {
    let started_test = Instant::now();
    let d = Deployment::from_example("am-down")
        .slo_labels("book-a-ride", &[("team", "booking")])
        .alertmanager(url)
        .alertmanager_timeout(timeout);
    d.create_topic(2);
    let mut s = d.start();
    s.wait_ready(Duration::from_secs(60));

    // An incident: 300 bookings, 100 of them failed (burn 333 on every window), and traffic on
    // the other SLIs.
    let now = now_ms();
    let mut first: Vec<Vec<u8>> = (0..300).map(|i| booking(if i % 3 == 0 { 500 } else { 201 }, now, 100)).collect();
    first.extend((0..200).map(|i| search("/v2/trips", 200, now, 50 + i % 100)));
    d.broker().produce(d.topic(), 2, &first);
    let (m, _) = s.wait_consumed(first.len() as u64, Duration::from_secs(30));
    assert_eq!(m.get(names::SLO_EVENTS.name, &book("5m")), Some(300.0));
    assert_eq!(m.get(names::SLO_GOOD_EVENTS.name, &book("5m")), Some(200.0));

    // The alert fires in slostream, the posts fail and are retried (500 ms, 1 s, 2 s ... backoff).
    let t = Instant::now();
    let errors = loop {
        let m = s.scrape();
        let errors = m.get(names::ALERTMANAGER_ERRORS.name, &[]).unwrap_or(0.0);
        if errors >= 3.0 {
            assert_eq!(m.get(names::SLO_ALERT.name, &alert_state("book-a-ride", "page")), Some(1.0));
            break errors;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{what}: slostream_alertmanager_errors_total is {errors} after 60 s, expected 3 or more"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("[it] {what}: {errors} failed posts counted {} after the incident was consumed", ms(t.elapsed()));

    // Ingest keeps going while the client backs off: a second batch, all consumed.
    let now = now_ms();
    let second: Vec<Vec<u8>> = (0..500)
        .map(|i| match i % 3 {
            0 => booking(if i % 2 == 0 { 500 } else { 201 }, now, 90),
            1 => geo(200, now, 30),
            _ => search("/v2/trips/{id}", 200, now, 60),
        })
        .collect();
    d.broker().produce(d.topic(), 2, &second);
    let t = Instant::now();
    let total = (first.len() + second.len()) as u64;
    let (m, _) = s.wait_consumed(total, Duration::from_secs(30));
    eprintln!("[it] {what}: second batch of {} consumed in {} while Alertmanager fails", second.len(), ms(t.elapsed()));
    assert_eq!(m.get(names::EVENTS_CONSUMED.name, &[]), Some(total as f64));
    assert!(m.get(names::ALERTMANAGER_ERRORS.name, &[]).unwrap() >= errors);
    assert_eq!(s.get("/health").map(|(c, _)| c), Some(200));
    assert!(s.log_text().contains("cannot post alerts to Alertmanager"), "{what}: the failure is logged");

    let (status, took) = s.terminate(Duration::from_secs(30));
    assert!(status.success(), "{what}: slostream exited with {status}");
    eprintln!(
        "[it] {what}: slostream stopped in {} (test took {:.1} s)",
        ms(took),
        started_test.elapsed().as_secs_f64()
    );
}
