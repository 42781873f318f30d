//! Every panel query of every Grafana dashboard in `config/grafana/dashboards/` returns data
//! from a real Prometheus (Debian's `prometheus`) scraping a real slostream (the example config
//! with Sloth compatibility) fed realistic traffic through the broker, and the JSON holds what
//! Grafana's provisioning needs (uids, datasource, unique panel ids and refIds, the `slo`
//! variable). Sloth's dashboards' series come through the same Prometheus.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::producer::Producer;
use serde_json::Value;
use slostream::names::{self, label};

use crate::harness::broker::send_record;
use crate::harness::events::realistic;
use crate::harness::prometheus::{sample_value, Prometheus};
use crate::harness::{now_ms, repo_path, series_key, Deployment, Record, Served, Slostream};

const DASHBOARDS: &[&str] = &["overview.json", "feature.json", "slostream.json"];

/// (dashboard file, panel id, title, refId, expr) of a panel target.
type Target = (String, i64, String, String, String);

/// A dashboard: its file, its JSON and its panel targets.
type Dashboard = (String, Value, Vec<Target>);

fn grafana_dir() -> PathBuf {
    repo_path("config/grafana")
}

/// Every panel, rows' nested panels included.
fn all_panels(panels: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in panels.as_array().map(Vec::as_slice).unwrap_or_default() {
        out.push(p);
        out.extend(all_panels(&p["panels"]));
    }
    out
}

/// `expr` with the dashboard variable `slo` substituted in every form Grafana accepts; panics
/// if any other variable is left (Prometheus would get the literal text).
fn substitute(expr: &str, slo: &str) -> String {
    let out = expr.replace("${slo}", slo).replace("[[slo]]", slo).replace("$slo", slo);
    let b = out.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'$' && b.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic() || *n == b'_' || *n == b'{') {
            panic!("{expr:?} uses a variable other than $slo (at {:?})", &out[i..]);
        }
    }
    assert!(!out.contains("[["), "{expr:?} uses a [[variable]] other than slo");
    out
}

/// The JSON checks Grafana's provisioning needs; returns (dashboard file, panel id, title,
/// refId, expr) of every target.
fn check_dashboard(file: &str, dash: &Value, ds_uid: &str) -> Vec<Target> {
    for key in ["uid", "title"] {
        assert!(dash[key].as_str().is_some_and(|s| !s.is_empty()), "{file}: no {key}");
    }
    assert!(dash["uid"].as_str().unwrap().len() <= 40, "{file}: Grafana uids are at most 40 characters");
    assert!(
        dash["schemaVersion"].as_u64().is_some_and(|v| v > 0),
        "{file}: schemaVersion missing or not a positive integer"
    );
    let panels = all_panels(&dash["panels"]);
    assert!(!panels.is_empty(), "{file}: no panels");
    let mut ids = BTreeSet::new();
    let mut targets = Vec::new();
    for p in panels {
        let id = p["id"].as_i64().unwrap_or_else(|| panic!("{file}: panel {:?} has no numeric id", p["title"]));
        assert!(ids.insert(id), "{file}: panel id {id} is used twice");
        let title = p["title"].as_str().unwrap_or_default().to_string();
        if p["type"] == "row" && p["targets"].is_null() {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], ds_uid, "{file}: panel {id} ({title}) datasource");
        assert_eq!(p["datasource"]["type"], "prometheus", "{file}: panel {id} ({title}) datasource type");
        let ts = p["targets"].as_array().unwrap_or_else(|| panic!("{file}: panel {id} ({title}) has no targets"));
        assert!(!ts.is_empty(), "{file}: panel {id} ({title}) has no targets");
        let mut ref_ids = BTreeSet::new();
        for t in ts {
            let ref_id =
                t["refId"].as_str().unwrap_or_else(|| panic!("{file}: panel {id}: a target without refId")).to_string();
            assert!(ref_ids.insert(ref_id.clone()), "{file}: panel {id}: refId {ref_id} used twice");
            assert_eq!(t["datasource"]["uid"], ds_uid, "{file}: panel {id} target {ref_id} datasource");
            let expr = t["expr"].as_str().filter(|e| !e.trim().is_empty());
            let expr = expr.unwrap_or_else(|| panic!("{file}: panel {id} target {ref_id} has no expr"));
            targets.push((file.to_string(), id, title.clone(), ref_id, expr.to_string()));
        }
    }
    for v in dash["templating"]["list"].as_array().map(Vec::as_slice).unwrap_or_default() {
        if v["type"] == "query" {
            assert_eq!(v["datasource"]["uid"], ds_uid, "{file}: variable {} datasource", v["name"]);
        }
    }
    targets
}

/// The query text of a query variable (a string, or `{ query: ... }`).
fn variable_query(v: &Value) -> String {
    match &v["query"] {
        Value::String(s) => s.clone(),
        q => q["query"].as_str().unwrap_or_else(|| panic!("variable {} has no query: {v}", v["name"])).to_string(),
    }
}

#[test]
fn every_dashboard_panel_query_returns_data() {
    let test_started = Instant::now();
    let ds_uid = provisioned_datasource_uid();
    let dashboards = load_dashboards(&ds_uid);
    assert_feature_dashboard_has_the_slo_variable(&dashboards);

    // slostream with Sloth compatibility and geo-availability (in both SLOs) broken down by
    // region (as config/docker.yaml has), fed realistic traffic through the broker.
    let d = Deployment::from_example("dashboards").sloth_compat().sli_breakdown("geo-availability", &["region"], 50);
    d.create_topic(3);
    let slos = d.slo_names();
    assert_eq!(slos, ["book-a-ride", "search-a-ride"]);
    let mut s = d.start();
    s.wait_ready(Duration::from_secs(60));
    let mut prom = Prometheus::start(&d.dir, s.port);
    let traffic = Traffic::start(&d);
    wait_for_samples(&mut prom, &mut s);

    // The variable's values, as Grafana asks for them.
    let values = prom.api(&format!("/api/v1/label/{}/values", label::SLO), &[("match[]", names::SLO_OBJECTIVE.name)]);
    let values: Vec<String> =
        values.as_array().expect("label values").iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(values, slos, "values of the feature dashboard's slo variable");

    let checked = every_panel_target_returns_data(&mut prom, &dashboards, &slos);
    let sloth_checked = sloth_series_are_there(&mut prom);

    let total = traffic.stop();
    let (m, _) = s.wait_consumed(total, Duration::from_secs(60));
    let rejected: f64 = m.family(names::EVENTS_REJECTED.name).iter().map(|(_, v)| v).sum();
    let expected_rejects = (0..total).filter(|i| i % 50 == 49).count() as f64;
    assert_eq!(rejected, expected_rejects, "rejected events");
    eprintln!(
        "[it] DASHBOARD QUERIES: {checked} panel queries checked ({} targets in {} dashboards, $slo = {slos:?}), plus {sloth_checked} Sloth series; {total} events produced and consumed ({rejected} rejected); test took {:.1} s",
        dashboards.iter().map(|d| d.2.len()).sum::<usize>(),
        dashboards.len(),
        test_started.elapsed().as_secs_f64()
    );
    let (status, _) = s.terminate(Duration::from_secs(30));
    assert!(status.success());
    drop(prom);
}

/// The provisioned datasource's uid, which every panel must name.
fn provisioned_datasource_uid() -> String {
    let ds: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &fs::read_to_string(grafana_dir().join("provisioning/datasources/prometheus.yaml")).expect("datasource yaml"),
    )
    .expect("datasource YAML");
    let sources = ds["datasources"].as_sequence().expect("datasources list");
    assert_eq!(sources.len(), 1, "one provisioned datasource");
    assert_eq!(sources[0]["type"].as_str(), Some("prometheus"));
    let ds_uid = sources[0]["uid"].as_str().expect("datasource uid").to_string();
    assert_eq!(ds_uid, "slostream-prometheus");
    ds_uid
}

/// Every dashboard, checked as Grafana's provisioning needs it, each with its own uid.
fn load_dashboards(ds_uid: &str) -> Vec<Dashboard> {
    let mut dashboards = Vec::new();
    let mut uids = BTreeSet::new();
    for file in DASHBOARDS {
        let text =
            fs::read_to_string(grafana_dir().join("dashboards").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let dash: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: invalid JSON: {e}"));
        let targets = check_dashboard(file, &dash, ds_uid);
        assert!(uids.insert(dash["uid"].as_str().unwrap().to_string()), "{file}: uid shared with another dashboard");
        dashboards.push((file.to_string(), dash, targets));
    }
    dashboards
}

/// The feature dashboard picks its SLO with a query variable `slo` over the objectives.
fn assert_feature_dashboard_has_the_slo_variable(dashboards: &[Dashboard]) {
    let feature = &dashboards.iter().find(|d| d.0 == "feature.json").expect("feature.json").1;
    let vars = feature["templating"]["list"].as_array().expect("feature.json templating.list");
    let slo_var = vars.iter().find(|v| v["name"] == "slo").expect("feature.json: variable slo");
    assert_eq!(slo_var["type"], "query");
    let var_query = variable_query(slo_var);
    assert_eq!(var_query, "label_values(slostream_slo_objective_ratio, slo)");
}

/// ~200 events/s with timestamps = now, over 3 partitions, until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl Traffic {
    fn start(d: &Deployment) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let (stopping, topic, producer) = (stop.clone(), d.topic().to_string(), d.broker().producer());
        let thread = std::thread::spawn(move || {
            let mut i = 0u64;
            while !stopping.load(Ordering::Relaxed) {
                for _ in 0..20 {
                    let r = Record { partition: (i % 3) as i32, key: None, payload: Some(realistic(i, now_ms())) };
                    send_record(&producer, &topic, &r);
                    i += 1;
                }
                producer.poll(Duration::ZERO);
                std::thread::sleep(Duration::from_millis(100));
            }
            producer.flush(Duration::from_secs(30)).expect("flush loadgen");
            i
        });
        Traffic { stop, thread }
    }

    /// Stops and flushes; returns how many events were produced.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("loadgen thread")
    }
}

/// Prometheus must hold 20+ samples of the SLO series (rate(...[1m]) needs two), within 120 s.
fn wait_for_samples(prom: &mut Prometheus, s: &mut Slostream) {
    let t = Instant::now();
    let burn = series_key(names::SLO_BURN_RATE.name, &[(label::SLO, "book-a-ride"), (label::WINDOW, "5m")]);
    let samples = format!("count_over_time({burn}[5m])");
    loop {
        let up = prom.value("up{job=\"slostream\"}");
        let n = prom.value(&samples);
        if up == 1.0 && n >= 20.0 {
            eprintln!("[it] Prometheus holds {n} samples after {:.1} s", t.elapsed().as_secs_f64());
            break;
        }
        s.assert_running();
        assert!(t.elapsed() < Duration::from_secs(120), "Prometheus: up {up}, {n} samples after 120 s");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Tables that join their targets on the `slo` label (the overview: every SLO in one table).
fn tables_joined_by_slo(dashboards: &[Dashboard]) -> BTreeSet<(String, i64)> {
    let joins_by_slo: BTreeSet<(String, i64)> = dashboards
        .iter()
        .flat_map(|(file, dash, _)| {
            all_panels(&dash["panels"])
                .into_iter()
                .filter(|p| {
                    p["transformations"].as_array().is_some_and(|ts| {
                        ts.iter().any(|t| t["id"] == "joinByField" && t["options"]["byField"] == label::SLO)
                    })
                })
                .map(|p| (file.clone(), p["id"].as_i64().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        joins_by_slo.contains(&("overview.json".to_string(), 1)),
        "the overview's table joins on slo: {joins_by_slo:?}"
    );
    joins_by_slo
}

/// Every panel target, with $slo = each SLO when it uses it: data, only of that SLO, one series
/// per SLO in tables joined on `slo`, every value finite. Returns how many queries ran.
fn every_panel_target_returns_data(prom: &mut Prometheus, dashboards: &[Dashboard], slos: &[String]) -> usize {
    let joins_by_slo = tables_joined_by_slo(dashboards);
    let mut checked = 0;
    for (file, _, targets) in dashboards {
        for (_, id, title, ref_id, expr) in targets {
            let uses_slo = expr.contains("$slo") || expr.contains("${slo}") || expr.contains("[[slo]]");
            let slo_values: Vec<&str> = if uses_slo { slos.iter().map(String::as_str).collect() } else { vec![""] };
            for slo in slo_values {
                let q = substitute(expr, slo);
                let result = prom.query(&q);
                let with_slo = if slo.is_empty() { String::new() } else { format!(" [slo={slo}]") };
                assert!(!result.is_empty(), "{file} panel {id} \"{title}\" target {ref_id}{with_slo}: no data for {q}");
                let slo_labels: Vec<&str> = result.iter().filter_map(|r| r["metric"][label::SLO].as_str()).collect();
                if !slo.is_empty() {
                    assert!(
                        slo_labels.iter().all(|l| *l == slo),
                        "{file} panel {id} target {ref_id}: $slo={slo} but {q} returned slo={slo_labels:?}"
                    );
                }
                if joins_by_slo.contains(&(file.clone(), *id)) {
                    // A table joined on `slo`: exactly one row per SLO from every target.
                    let mut got: Vec<&str> = slo_labels.clone();
                    got.sort();
                    assert_eq!(got, slos, "{file} panel {id} target {ref_id}: {q} must give one series per SLO");
                }
                for r in &result {
                    let v = sample_value(r);
                    assert!(
                        v.is_finite(),
                        "{file} panel {id} \"{title}\" target {ref_id}{with_slo}: {q} gave {v} for {}",
                        r["metric"]
                    );
                }
                eprintln!("[it] {file} #{id} {ref_id}{with_slo}: {} series  {q}", result.len());
                checked += 1;
            }
        }
    }
    checked
}

/// Sloth's dashboards' series, through the same Prometheus (names with colons): one series of
/// each per SLO. Returns how many were checked.
fn sloth_series_are_there(prom: &mut Prometheus) -> usize {
    let mut sloth_checked = 0;
    // Sloth names windows as Prometheus prints durations: the 28d period is `4w`.
    for (slo, period) in [("book-a-ride", "30d"), ("search-a-ride", "4w")] {
        let error_ratios = ["5m", period].map(|w| format!("{}{w}", names::SLOTH_ERROR_RATIO_PREFIX));
        for name in error_ratios.into_iter().chain(names::SLOTH.iter().map(|m| m.name.to_string())) {
            let q = format!("{name}{{sloth_slo=\"{slo}\"}}");
            assert_eq!(prom.query(&q).len(), 1, "Sloth series {q}");
            sloth_checked += 1;
        }
    }
    sloth_checked
}
