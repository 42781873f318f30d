//! The page and the API built from a real tally, snapshot and evaluation: worst-first order,
//! rankings, escaping of hostile names, the JSON schema, and the routes' status codes over HTTP.

use std::sync::Mutex;

use serde_json::Value;

use super::*;
use crate::count::lock_tally;
use crate::slo;
use crate::window::breakdown::BreakdownEvent;

/// 2026-11-26T12:00:00Z.
const NOW: i64 = 1_795_694_400_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// Names the config accepts (any text), written to break out of HTML, attributes and URLs.
const SCRIPT_SLO: &str = r#"<script>alert("slo")</script> & 'co'/ü"#;
const IMG_SLI: &str = r#""><img src=x onerror=alert(1)>"#;

/// A config with SLIs named `slis` (the `i`-th counts service `s<i>`, good below status 500) and
/// the SLOs of `slos` (YAML, indented under `slos:`).
pub(super) fn config_of(slis: &[&str], slos: &str) -> Config {
    let mut yaml = String::from(
        "kafka: { brokers: \"b:9092\", topics: [\"t\"], group_id: \"g\" }\nevents: { timestamp_field: \"ts\" }\nexporter: { listen: \"127.0.0.1:9464\" }\nslis:\n",
    );
    for (i, name) in slis.iter().enumerate() {
        yaml.push_str(&format!(
            "  {name:?}: {{ match: {{ service: \"s{i}\" }}, good: {{ status: {{ lt: 500 }} }} }}\n"
        ));
    }
    yaml.push_str("slos:\n");
    yaml.push_str(slos);
    Config::from_yaml(&yaml, "page.yaml").expect("the config accepts any text as a name")
}

fn config() -> Config {
    let slos = format!(
        r#"
  book-a-ride:
    description: "A member can <book> a ride"
    objective: 99
    period: "30d"
    combine: weighted
    slis: [{{ sli: booking, weight: 3 }}, {{ sli: geo, weight: 1 }}]
  {script:?}:
    objective: 90
    period: "7d"
    combine: pooled
    slis: [{img:?}, geo]
  fine:
    objective: 90
    period: "28d"
    combine: min
    slis: [booking]
  nothing:
    objective: 99.9
    period: "1d"
    combine: product
    slis: [quiet]
"#,
        img = IMG_SLI,
        script = SCRIPT_SLO,
    );
    config_of(&[IMG_SLI, "booking", "geo", "quiet"], &slos)
}

/// [`publish`] on a publisher of its own.
fn published(config: &Config) -> Published {
    publish(config, &mut Publisher::new(config))
}

/// A tally with: booking 200 events (2 bad, two hours ago), geo 100 (20 bad, 30 minutes ago),
/// the `<img>` SLI 100 (8 bad, 3 h ago); evaluated and published at `NOW`, burn-downs computed.
fn publish(config: &Config, publisher: &mut Publisher) -> Published {
    let tally = Mutex::new(crate::count::Tally::new(config, 1, None, Vec::new()));
    {
        let mut t = lock_tally(&tally);
        let id = |name: &str| config.slis.iter().position(|s| s.name == name).unwrap();
        for i in 0..200 {
            t.store.record(id("booking"), NOW - 2 * HOUR + i, i >= 2);
        }
        for i in 0..100 {
            t.store.record(id("geo"), NOW - 30 * MIN + i, i >= 20);
            t.store.record(id(IMG_SLI), NOW - 3 * HOUR + i, i >= 8);
        }
    }
    let mut snapshot = Snapshot::new(config);
    snapshot.read_tally(&lock_tally(&tally), NOW);
    let mut statuses = Vec::new();
    slo::evaluate_all(config, &snapshot, &mut statuses);
    publisher.publish(config, &snapshot, &statuses, NOW);
    for tick in 0..config.slos.len() as i64 {
        publisher.refresh_burn_downs(config, &tally, &statuses, NOW + tick);
    }
    publisher.page.board.copy().expect("published")
}

#[test]
fn worst_first_with_rankings_and_every_number_from_the_evaluation() {
    let config = config();
    let p = published(&config);
    let o = Overview::new(&config, &p);
    let names: Vec<&str> = o.slos.iter().map(|s| s.name.as_str()).collect();
    let states: Vec<&str> = o.slos.iter().map(|s| s.budget_state.as_str()).collect();
    // book-a-ride: weighted error (3 × 2/200 + 20/100) / 4 = 0.0575 → burn 5.75, budget −4.75;
    // the script SLO: 28 bad of 200 = 0.14 → burn 1.4, budget −0.4; fine: 0.01 of a 0.1 budget.
    assert_eq!(names, ["book-a-ride", SCRIPT_SLO, "fine", "nothing"]);
    assert_eq!(states, ["exhausted", "exhausted", "healthy", "no_data"]);
    let book = &o.slos[0];
    let i = config.slos.iter().position(|s| s.name == "book-a-ride").unwrap();
    assert_eq!(book.budget_remaining, p.statuses[i].budget_remaining);
    assert!((book.budget_remaining - (1.0 - 0.0575 / 0.01)).abs() < 1e-9, "{}", book.budget_remaining);
    assert_eq!(book.windows.len(), config.slos[i].windows.len());
    assert_eq!(book.windows.last().unwrap().window, "30d");
    // What to fix first: geo burned 0.05 / 0.0575 of it, over the period and over the last day.
    let windows: Vec<&str> = book.what_to_fix_first.iter().map(|r| r.window.as_str()).collect();
    assert_eq!(windows, ["30d", "1d"]);
    for r in &book.what_to_fix_first {
        let order: Vec<&str> = r.ranked.iter().map(|c| c.sli.as_str()).collect();
        assert_eq!(order, ["geo", "booking"], "{}", r.window);
        assert!((r.ranked[0].share - 0.05 / 0.0575).abs() < 1e-9);
    }
    // Over 1h only geo burned: booking's events are two hours old.
    let one_hour = book.windows.iter().position(|w| w.window == "1h").unwrap();
    let booking = &book.components[0].windows[one_hour];
    assert_eq!((booking.events, booking.ratio, booking.contribution, booking.share), (0, None, 0.0, Some(0.0)));
    let geo = &book.components[1].windows[one_hour];
    assert_eq!((geo.events, geo.good_events, geo.ratio), (100, 80, Some(0.8)));
    // No events: no burn, no ranking entries, a flat burn-down.
    let nothing = &o.slos[3];
    assert!(nothing.what_to_fix_first.iter().all(|r| r.ranked.is_empty()));
    assert!(nothing.burn_down.as_ref().unwrap().budget_remaining.iter().all(|v| *v == 1.0));
    assert_eq!(*book.burn_down.as_ref().unwrap().budget_remaining.last().unwrap(), book.budget_remaining);
}

#[test]
fn config_names_are_escaped_everywhere() {
    let config = config();
    let p = published(&config);
    let index = html::index(&Overview::new(&config, &p), 0.25);
    let detail = html::detail(&Detail::new(&config, &p, SCRIPT_SLO).unwrap(), 0.25);
    for (page, text) in [("index", &index), ("detail", &detail)] {
        assert!(!text.contains("<script") && !text.contains("<img") && !text.contains("<book>"), "{page}: {text}");
        assert!(text.contains("&lt;script&gt;alert(&quot;slo&quot;)&lt;/script&gt; &amp; &#39;co&#39;/ü"), "{page}");
        assert!(text.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"), "{page}");
    }
    // The link keeps the name in one path segment.
    assert!(index.contains(r#"href="/slo/%3Cscript%3Ealert%28%22slo%22%29%3C%2Fscript%3E%20%26%20%27co%27%2F%C3%BC""#));
    assert!(index.contains("A member can &lt;book&gt; a ride"));
    let missing = html::not_found(r#"<script>x</script>"#);
    assert!(!missing.contains("<script>") && missing.contains("&lt;script&gt;x&lt;/script&gt;"));
}

#[test]
fn the_pages_carry_exact_values_and_draw_the_chart() {
    let config = config();
    let p = published(&config);
    let o = Overview::new(&config, &p);
    let index = html::index(&o, 0.25);
    let book = &o.slos[0];
    for needle in [
        format!(r#"data-field="budget_remaining" data-value="{}">{}"#, book.budget_remaining, format::percent(book.budget_remaining, 1)),
        format!(r#"data-field="burn_rate" data-window="5m" data-value="{}""#, book.windows[0].burn_rate),
        r#"<tr data-slo="book-a-ride"><td><span class="state exhausted" data-field="budget_state" data-value="exhausted">"#.into(),
        r#"data-field="alerts" data-page="false" data-ticket="true""#.into(),
        r#"<li data-sli="geo""#.into(),
        r#"<svg class="burn-down" data-field="burn_down" data-points="721""#.into(),
    ] {
        assert!(index.contains(&needle), "{needle} not in the page");
    }
    assert!(!index.contains("<script"));
    let detail = html::detail(&Detail::new(&config, &p, "book-a-ride").unwrap(), 0.25);
    assert!(detail.contains(r#"<h1 data-field="name">book-a-ride</h1>"#));
    assert!(detail.contains(r#"<tbody class="window" data-window="30d">"#));
    assert!(detail.contains(r#"<table class="fix-first" data-field="fix_first" data-window="1d">"#));
    assert!(
        detail.contains(r#"<svg class="burn-down" data-field="burn_down" data-points="721""#)
            && detail.contains(r#"width="720" height="220""#)
    );
}

/// The schema the README documents: every field, its JSON type; a component is an object (a
/// `breakdown` list can be added to it later without breaking clients).
#[test]
fn the_json_schema() {
    let config = config();
    let p = published(&config);
    let json: Value = serde_json::from_str(&api::body(&Overview::new(&config, &p))).unwrap();
    assert_eq!(json["evaluated_at"], "2026-11-26T12:00:00.000Z");
    let slo = &json["slos"][0];
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>().join(",");
    assert_eq!(
        keys(slo),
        "alert_rules,alerts,budget_remaining,budget_state,budgeting,burn_down,combine,components,description,events,good_events,history_since,name,objective,period,period_seconds,ratio,rebuild_progress,what_to_fix_first,windows"
    );
    assert_eq!(slo["budgeting"], "occurrences");
    assert_eq!(slo["name"], "book-a-ride");
    assert_eq!(slo["objective"], 0.99);
    assert_eq!((slo["period"].as_str(), slo["period_seconds"].as_i64()), (Some("30d"), Some(2_592_000)));
    assert_eq!((slo["combine"].as_str(), slo["budget_state"].as_str()), (Some("weighted"), Some("exhausted")));
    assert_eq!((slo["events"].as_u64(), slo["good_events"].as_u64()), (Some(300), Some(278)));
    // Burn 5.75 over 6h, under the 6h/30m page's 6; 20 over 30m, 5.75 over 1d and 2h: a ticket.
    assert_eq!(slo["alerts"], serde_json::json!({"page": false, "ticket": true}));
    assert_eq!(keys(&slo["alert_rules"][0]), "factor,firing,long_window,severity,short_window");
    assert_eq!(keys(&slo["windows"][0]), "burn_rate,events,good_events,good_slices,ratio,seconds,slices,window");
    assert_eq!((&slo["windows"][0]["slices"], &slo["windows"][0]["good_slices"]), (&Value::Null, &Value::Null));
    assert_eq!(keys(&slo["components"][0]), "breakdown,breakdown_fields,sli,weight,windows");
    assert_eq!(slo["components"][0]["breakdown"], serde_json::json!([]), "no breakdown: an empty list");
    assert_eq!(keys(&slo["components"][0]["windows"][0]), "contribution,events,good_events,ratio,share,window");
    assert_eq!(slo["components"][0]["windows"][0]["ratio"], Value::Null, "no events in 5m: null, not NaN");
    assert_eq!(keys(&slo["what_to_fix_first"][0]), "ranked,window");
    assert_eq!(keys(&slo["what_to_fix_first"][0]["ranked"][0]), "breakdown,contribution,share,sli");
    let burn_down = &slo["burn_down"];
    assert_eq!(keys(burn_down), "budget_remaining,computed_at,start,step_seconds");
    assert_eq!(burn_down["start"], "2026-10-27T12:00:00.000Z");
    assert_eq!(burn_down["step_seconds"], 3600);
    assert_eq!(burn_down["budget_remaining"].as_array().unwrap().len(), 721);
    // The hostile name comes back as it was configured.
    assert_eq!(json["slos"][1]["name"], SCRIPT_SLO);
    assert_eq!(json["slos"][1]["components"][0]["sli"], IMG_SLI);
    let one: Value = serde_json::from_str(&api::body(&Detail::new(&config, &p, SCRIPT_SLO).unwrap())).unwrap();
    assert_eq!(one["slo"], json["slos"][1]);
}

/// Over HTTP: 503 before the first ready tick (the page says so), 200 after, 404 for an unknown
/// name, names in the path percent-decoded, no script allowed by the policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_503_until_ready_then_404_for_unknown_names() {
    let config = config();
    let mut publisher = Publisher::new(&config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = routes(publisher.page());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: String| {
        let (http, url) = (http.clone(), format!("{base}{path}"));
        async move {
            let r = http.get(url).send().await.unwrap();
            let kind = r.headers()[header::CONTENT_TYPE].to_str().unwrap().to_string();
            let csp = r.headers().get(header::CONTENT_SECURITY_POLICY).map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), kind, csp, r.text().await.unwrap())
        }
    };
    let (status, kind, _, body) = get("/".into()).await;
    assert_eq!((status, kind.as_str()), (503, "text/html; charset=utf-8"));
    assert!(body.contains("Not ready yet"), "{body}");
    let (status, kind, _, body) = get("/api/v1/slos".into()).await;
    assert_eq!((status, kind.as_str()), (503, "application/json"));
    assert_eq!(body, "{\"error\":\"not ready: no evaluation yet\"}\n");

    publish(&config, &mut publisher);
    let (status, _, csp, body) = get("/".into()).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("<!doctype html>") && body.contains("book-a-ride"));
    assert_eq!(csp.as_deref(), Some(CSP), "no script may run, whatever the page holds");
    let encoded = format::path_segment(SCRIPT_SLO);
    let (status, _, _, body) = get(format!("/slo/{encoded}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"<h1 data-field="name">&lt;script&gt;"#));
    let (status, _, _, body) = get(format!("/api/v1/slos/{encoded}")).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["slo"]["name"], SCRIPT_SLO);
    let (status, kind, _, body) = get("/slo/no-such-slo".into()).await;
    assert_eq!((status, kind.as_str()), (404, "text/html; charset=utf-8"));
    assert!(body.contains("No SLO is named <code>no-such-slo</code>"));
    let (status, _, _, body) = get("/api/v1/slos/no-such-slo".into()).await;
    assert_eq!((status, body.as_str()), (404, "{\"error\":\"no SLO named \\\"no-such-slo\\\"\"}\n"));
    server.abort();
}

/// A component with a breakdown: its value combinations ranked under it (their shares add up to
/// the component's), a table per window on the SLO's page, hostile values escaped.
#[test]
fn breakdown_values_are_ranked_under_their_component() {
    let yaml = "kafka: { brokers: \"b:9092\", topics: [\"t\"], group_id: \"g\" }\nevents: { timestamp_field: \"ts\" }\n\
        slis:\n  geo: { match: { service: \"geo\" }, good: { status: { lt: 500 } }, breakdown: [route], max_values: 2 }\n\
        slos:\n  find: { objective: 99, period: \"30d\", slis: [geo] }\n";
    let config = Config::from_yaml(yaml, "page.yaml").unwrap();
    let tally = Mutex::new(crate::count::Tally::new(&config, 1, None, Vec::new()));
    {
        let mut t = lock_tally(&tally);
        // /a: 10 bad of 40; <b>: 30 bad of 40; /c (beyond max_values, so __other__): 0 bad of 20.
        let mut events = Vec::new();
        for (hash, bad, n) in [(1u64, 10, 40), (2, 30, 40), (3, 0, 20)] {
            for i in 0..n {
                t.store.record(0, NOW - 30 * MIN + i, i >= bad);
                events.push(BreakdownEvent { hash, ts_ms: NOW - 30 * MIN + i, bd: 0, good: i >= bad });
            }
        }
        let texts = [(0, 1, ["/a"]), (0, 2, ["<b>"]), (0, 3, ["/c"])];
        t.breakdowns.add(texts.iter().map(|(bd, h, v)| (*bd, *h, &v[..])), &events, NOW, 30 * 24 * HOUR);
    }
    let mut snapshot = Snapshot::new(&config);
    snapshot.read_tally(&lock_tally(&tally), NOW);
    let mut statuses = Vec::new();
    slo::evaluate_all(&config, &snapshot, &mut statuses);
    let publisher = Publisher::new(&config);
    publisher.publish(&config, &snapshot, &statuses, NOW);
    let p = publisher.page.board.copy().expect("published");

    let o = Overview::new(&config, &p);
    let ranked = &o.slos[0].what_to_fix_first[0].ranked[0];
    assert_eq!(ranked.sli, "geo");
    let values: Vec<(Vec<String>, f64)> =
        ranked.breakdown.iter().map(|v| (v.values.clone(), v.share.unwrap())).collect();
    assert_eq!(values, [(vec!["<b>".to_string()], 0.75), (vec!["/a".to_string()], 0.25)], "__other__ burned nothing");
    let component = &o.slos[0].components[0];
    assert_eq!(component.breakdown_fields, ["route"]);
    let period = component.breakdown.iter().find(|b| b.window == "30d").expect("the period's table");
    let rows: Vec<(&str, u64, u64)> =
        period.values.iter().map(|v| (v.values[0].as_str(), v.events, v.good_events)).collect();
    assert_eq!(rows, [("<b>", 40, 10), ("/a", 40, 30), ("__other__", 20, 20)]);

    let html = html::index(&o, config.status.at_risk_below);
    assert!(html.contains("&lt;b&gt; 75%") && !html.contains("<b> 75%"), "values escaped");
    let detail = html::detail(&Detail::new(&config, &p, "find").unwrap(), config.status.at_risk_below);
    assert!(detail.contains("geo by route") && detail.contains(r#"data-values="[&quot;&lt;b&gt;&quot;]""#), "{detail}");
}

/// An SLO whose SLI is being rebuilt says so with its progress ("alerts held"), one whose
/// rebuilt SLI's history starts inside its period says from when; the others say neither.
#[test]
fn rebuilding_and_short_history_are_shown() {
    use crate::state::rebuild::{Rebuild, RebuildPartition};
    let config = config();
    let mut p = published(&config);
    let part = RebuildPartition { topic: "t".into(), partition: 0, start: 0, next: 25, end: 100 };
    p.rebuild = Some(Rebuild { slis: vec!["booking".into()], partitions: vec![part] });
    // geo's history starts two days ago: inside book-a-ride's 30 days and the <script> SLO's 7,
    // before `nothing`'s one day (which does not use geo anyway).
    p.history = vec![("geo".into(), NOW - 2 * 24 * HOUR)];
    let o = Overview::new(&config, &p);
    let view = |name: &str| o.slos.iter().find(|s| s.name == name).unwrap();
    assert_eq!(view("book-a-ride").rebuild_progress, Some(0.25));
    assert_eq!(view("fine").rebuild_progress, Some(0.25));
    assert_eq!(view(SCRIPT_SLO).rebuild_progress, None);
    assert_eq!(view("book-a-ride").history_since, Some(NOW - 2 * 24 * HOUR));
    assert_eq!(view(SCRIPT_SLO).history_since, Some(NOW - 2 * 24 * HOUR));
    assert_eq!(view("fine").history_since, None);
    let html = html::index(&o, config.status.at_risk_below);
    assert_eq!(
        html.matches(r#"data-field="rebuild_progress" data-value="0.25">rebuilding, 25 % (alerts held)"#).count(),
        2
    );
    assert_eq!(html.matches(r#"data-field="history_since""#).count(), 2);
    let json = serde_json::to_value(&o).unwrap();
    let book = json["slos"].as_array().unwrap().iter().find(|s| s["name"] == "book-a-ride").unwrap();
    assert_eq!(
        (book["rebuild_progress"].as_f64(), book["history_since"].as_str()),
        (Some(0.25), Some("2026-11-24T12:00:00.000Z"))
    );
    // Done: no longer rebuilding, the history start stays.
    p.rebuild.as_mut().unwrap().partitions[0].next = 100;
    let o = Overview::new(&config, &p);
    assert!(o.slos.iter().all(|s| s.rebuild_progress.is_none()));
    assert_eq!(o.slos.iter().filter(|s| s.history_since.is_some()).count(), 2);
}
