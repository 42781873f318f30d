//! The status page in a real headless Chromium, against a slostream fed through the real broker.
//!
//! Six hours of events in which geo-availability fails one request in five burn book-a-ride
//! and search-a-ride; a third SLO, named with markup, quotes, a slash and a non-ASCII letter,
//! is only at risk. Then, in the browser: the page loads without a console error and runs no
//! script, lists the SLOs worst first, shows exactly the numbers of `/metrics` (read from the
//! DOM's `data-value`s), draws each burn-down chart (a path with a point per hour, ending at the
//! budget remaining), ranks geo-availability first in "what to fix first", and its links lead to
//! each SLO's page, whose numbers match too. The JSON API equals `/metrics` as well. A
//! screenshot of every page is kept under `target/it-artifacts/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use slostream::names::{self, label};

use crate::harness::browser::{Browser, Element};
use crate::harness::events::{booking, geo, search};
use crate::harness::{http_client, now_ms, scratch_dir, Deployment, Metrics, Served};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// An SLO name the page must escape, and a link must keep in one path segment.
const TRICKY: &str = r#"<script>alert("pwned")</script> & co/ü"#;
const BOOK: &str = "book-a-ride";
const SEARCH: &str = "search-a-ride";
const GEO: &str = "geo-availability";

/// The events: for each of the last six hours (20 minutes past, away from every window's
/// edge), 50 trip searches, 20 geocodes and 40 bookings. Geo fails 12 of its 20 in the two most
/// recent hours (24 of 120), bookings fail once, three searches are slow (search-latency).
fn events(now: i64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for h in 0..6 {
        let ts = now - h * HOUR - 20 * MIN;
        for i in 0..50 {
            out.push(search("/v2/trips", 200, ts + i, if h == 2 && i < 3 { 450 } else { 120 }));
        }
        for i in 0..20 {
            out.push(geo(if h < 2 && i < 12 { 503 } else { 200 }, ts + i, 40));
        }
        for i in 0..40 {
            out.push(booking(if h == 3 && i == 0 { 500 } else { 201 }, ts + i, 90));
        }
    }
    out
}

/// Each SLO's period, as the test configures it.
fn period(slo: &str) -> &'static str {
    match slo {
        BOOK => "30d",
        SEARCH => "28d",
        _ => "7d",
    }
}

/// Where test artifacts go: `target/it-artifacts/`.
fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory").join("it-artifacts").join(name)
}

/// `value` as a CSS string (for attribute selectors).
fn css(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One path segment, percent-encoded as the page's links are.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What `/metrics` says about one SLO.
struct Expected<'m> {
    m: &'m Metrics,
    slo: String,
    period: String,
}

impl Expected<'_> {
    fn get(&self, metric: names::Metric, extra: &[(&str, &str)]) -> f64 {
        let mut labels = vec![(label::SLO, self.slo.as_str())];
        labels.extend_from_slice(extra);
        self.m.get(metric.name, &labels).unwrap_or_else(|| panic!("{} {labels:?} not in /metrics", metric.name))
    }

    fn state(&self) -> &'static str {
        ["healthy", "at_risk", "exhausted", "no_data"]
            .into_iter()
            .find(|s| self.get(names::SLO_BUDGET_STATE, &[(label::STATE, s)]) == 1.0)
            .expect("one budget state is 1")
    }

    fn budget(&self) -> f64 {
        self.get(names::SLO_BUDGET_REMAINING, &[])
    }
}

/// The SLO names in worst-first order by `/metrics` alone.
fn worst_first(m: &Metrics, slos: &[String]) -> Vec<String> {
    let rank = |s: &str| ["exhausted", "at_risk", "healthy", "no_data"].iter().position(|x| *x == s).unwrap();
    let mut order: Vec<(usize, f64, String)> = slos
        .iter()
        .map(|slo| {
            let e = Expected { m, slo: slo.clone(), period: String::new() };
            (rank(e.state()), e.budget(), slo.clone())
        })
        .collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    order.into_iter().map(|(_, _, s)| s).collect()
}

/// Fails on any console entry at WARNING or above.
fn assert_quiet_console(browser: &Browser, page: &str) {
    let loud: Vec<(String, String)> =
        browser.console().into_iter().filter(|(level, _)| level == "SEVERE" || level == "WARNING").collect();
    assert!(loud.is_empty(), "{page}: the browser console reported {loud:#?}");
    assert!(browser.find_all("script").is_empty(), "{page}: the page holds a script element");
}

/// Saves a screenshot of the current page and prints where.
fn keep_screenshot(browser: &Browser, name: &str) {
    let path = artifact(name);
    browser.screenshot(&path);
    eprintln!("[it] status page screenshot: {}", path.display());
}

#[test]
fn status_page_in_chromium_shows_what_metrics_says() {
    let d = Deployment::new("status-page")
        .sli_breakdown(GEO, &["route"], 50)
        .add_slo(TRICKY, r#"{ objective: 98.8, period: "7d", combine: min, slis: [search-latency] }"#);
    d.create_topic(2);
    let mut s = d.start();
    s.wait_ready(Duration::from_secs(60));
    let base = format!("http://127.0.0.1:{}", s.port);

    let events = events(now_ms());
    d.broker().produce(d.topic(), 2, &events);
    s.wait_consumed(events.len() as u64, Duration::from_secs(60));
    let api = wait_for_burn_downs(&mut s);
    let m = s.scrape();
    let slos = d.slo_names();
    let expected = |slo: &str| Expected { m: &m, slo: slo.to_string(), period: period(slo).to_string() };

    // The API equals /metrics, and each SLO's own answer equals its entry in the list.
    api_matches_metrics(&api, &slos, &expected, &base);

    let browser = Browser::start(&scratch_dir("chromium"));
    browser.goto(&format!("{base}/"));
    assert_quiet_console(&browser, "/");
    let rows = browser.find_all("table.slos tbody tr");
    let shown: Vec<String> = rows.iter().map(|r| browser.attr(r, "data-slo").expect("data-slo")).collect();
    assert_eq!(shown, worst_first(&m, &slos), "worst first, as /metrics ranks them");
    assert_eq!(shown, [BOOK, SEARCH, TRICKY], "the test's burn: book-a-ride, then search-a-ride, then the at-risk one");
    for (row, slo) in rows.iter().zip(&shown) {
        overview_row_matches(&browser, row, &expected(slo));
    }
    for slo in &shown {
        let e = expected(slo);
        for cell in browser.find_all(&format!("table.burn tr[data-slo={}] td[data-field=burn_rate]", css(slo))) {
            let window = browser.attr(&cell, "data-window").unwrap();
            assert_eq!(
                browser.number(&cell, "data-value"),
                e.get(names::SLO_BURN_RATE, &[(label::WINDOW, &window)]),
                "{slo} {window}"
            );
        }
    }
    keep_screenshot(&browser, "status-page.png");

    // Every SLO's link leads to its page, which shows the same numbers.
    for (i, slo) in shown.iter().enumerate() {
        browser.goto(&format!("{base}/"));
        let link = browser.find(&format!("table.slos tr[data-slo={}] a[data-link=detail]", css(slo)));
        assert_eq!(browser.text(&link), *slo, "the link shows the name as configured");
        browser.click(&link);
        assert_eq!(browser.url(), format!("{base}/slo/{}", segment(slo)));
        assert_quiet_console(&browser, slo);
        assert_eq!(browser.text(&browser.find("h1[data-field=name]")), *slo);
        detail_matches(&browser, &expected(slo));
        history_matches(&browser, &base, slo);
        keep_screenshot(&browser, &format!("status-page-slo-{}.png", i + 1));
    }

    // Unknown names: 404 on the page and the API.
    let http = http_client();
    for path in ["/slo/no-such-slo", "/api/v1/slos/no-such-slo"] {
        let status = http.get(format!("{base}{path}")).send().unwrap().status().as_u16();
        assert_eq!(status, 404, "{path}");
    }
    drop(browser);
    s.stop();
}

/// The page's History table shows the rows of `/api/v1/reports`: no period has closed since the
/// start, so one row, the current period so far, with the API's exact figures.
fn history_matches(browser: &Browser, base: &str, slo: &str) {
    let url = format!("{base}/api/v1/reports?slo={}", segment(slo));
    let api: Value = serde_json::from_str(&http_client().get(url).send().unwrap().text().unwrap()).unwrap();
    let rows = api["reports"][0]["rows"].as_array().expect("rows");
    let shown = browser.find_all("table.history tbody tr[data-period-start]");
    assert_eq!((shown.len(), rows.len()), (1, 1), "{slo}: the current period only");
    assert_eq!(browser.attr(&shown[0], "data-partial").as_deref(), Some("true"), "{slo}");
    assert!(rows[0]["events"].as_u64().unwrap() > 0, "{slo}: the test's events are this month's");
    for field in ["events", "good", "ratio", "budget_consumed"] {
        let cell = &browser.find_in(&shown[0], &format!("[data-field={field}]"))[0];
        assert_eq!(browser.number(cell, "data-value"), rows[0][field].as_f64().unwrap(), "{slo} {field}");
    }
}

/// Polls the API until every SLO's burn-down has been computed since its last events were
/// counted (its last point equals its budget remaining); returns that answer.
fn wait_for_burn_downs(s: &mut impl Served) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = s.get("/api/v1/slos").expect("the API answers");
        assert_eq!(status, 200, "{body}");
        let api: Value = serde_json::from_str(&body).expect("JSON");
        let settled = api["slos"].as_array().unwrap().iter().all(|slo| {
            slo["burn_down"]["budget_remaining"].as_array().and_then(|p| p.last()).and_then(Value::as_f64)
                == slo["budget_remaining"].as_f64()
        });
        if settled {
            return api;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "burn-downs never caught up with the budgets: {api:#}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn api_matches_metrics<'m>(api: &Value, slos: &[String], expected: &dyn Fn(&str) -> Expected<'m>, base: &str) {
    let listed = api["slos"].as_array().unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, slos, "every SLO once");
    let http = http_client();
    for slo in listed {
        let name = slo["name"].as_str().unwrap();
        let e = expected(name);
        assert_eq!(slo["budget_state"], e.state(), "{name}");
        assert_eq!(slo["budget_remaining"].as_f64(), Some(e.budget()), "{name}");
        assert_eq!(slo["objective"].as_f64(), Some(e.get(names::SLO_OBJECTIVE, &[])), "{name}");
        assert_eq!(slo["period"], e.period.as_str(), "{name}");
        assert_eq!(slo["ratio"].as_f64(), Some(e.get(names::SLO_SLI_RATIO, &[(label::WINDOW, &e.period)])), "{name}");
        for (sev, key) in [("page", "page"), ("ticket", "ticket")] {
            let firing = e.get(names::SLO_ALERT, &[(label::SEVERITY, sev)]) == 1.0;
            assert_eq!(slo["alerts"][key].as_bool(), Some(firing), "{name} {sev}");
        }
        for w in slo["windows"].as_array().unwrap() {
            let window = w["window"].as_str().unwrap();
            let at = [(label::WINDOW, window)];
            assert_eq!(w["ratio"].as_f64(), Some(e.get(names::SLO_SLI_RATIO, &at)), "{name} {window}");
            assert_eq!(w["events"].as_f64(), Some(e.get(names::SLO_EVENTS, &at)), "{name} {window}");
            assert_eq!(w["good_events"].as_f64(), Some(e.get(names::SLO_GOOD_EVENTS, &at)), "{name} {window}");
            assert_eq!(w["burn_rate"].as_f64(), Some(e.get(names::SLO_BURN_RATE, &at)), "{name} {window}");
        }
        for c in slo["components"].as_array().unwrap() {
            let sli = c["sli"].as_str().unwrap();
            for w in c["windows"].as_array().unwrap() {
                let window = w["window"].as_str().unwrap();
                let want = e.get(names::SLO_BURN_CONTRIBUTION, &[(label::SLI, sli), (label::WINDOW, window)]);
                assert_eq!(w["contribution"].as_f64(), Some(want), "{name} {sli} {window}");
            }
        }
        let one: Value = http.get(format!("{base}/api/v1/slos/{}", segment(name))).send().unwrap().json().unwrap();
        assert_eq!(&one["slo"], slo, "/api/v1/slos/{name} equals its entry in the list");
    }
    let book = listed.iter().find(|s| s["name"] == BOOK).unwrap();
    let windows: Vec<&str> =
        book["what_to_fix_first"].as_array().unwrap().iter().map(|r| r["window"].as_str().unwrap()).collect();
    assert_eq!(windows, ["30d", "1d"]);
}

/// One row of the overview: state, objective, ratio, budget, alerts, chart and ranking.
fn overview_row_matches(browser: &Browser, row: &Element, e: &Expected) {
    let slo = &e.slo;
    let field = |name: &str| {
        let mut found = browser.find_in(row, &format!("[data-field={name}]"));
        assert_eq!(found.len(), 1, "{slo}: one {name}");
        found.remove(0)
    };
    assert_eq!(browser.attr(&field("budget_state"), "data-value").as_deref(), Some(e.state()), "{slo}");
    assert_eq!(browser.number(&field("budget_remaining"), "data-value"), e.budget(), "{slo}");
    assert_eq!(browser.number(&field("objective"), "data-value"), e.get(names::SLO_OBJECTIVE, &[]), "{slo}");
    let ratio = e.get(names::SLO_SLI_RATIO, &[(label::WINDOW, &e.period)]);
    assert_eq!(browser.number(&field("ratio"), "data-value"), ratio, "{slo}");
    let alerts = field("alerts");
    for sev in ["page", "ticket"] {
        let firing = e.get(names::SLO_ALERT, &[(label::SEVERITY, sev)]) == 1.0;
        assert_eq!(browser.attr(&alerts, &format!("data-{sev}")), Some(firing.to_string()), "{slo} {sev}");
    }
    // The chart: a path with the period's start and one point per hour, ending at the budget.
    let chart = field("burn_down");
    let points = browser.number(&chart, "data-points") as usize;
    assert!(points >= 24 * 7, "{slo}: {points} hourly points for its period");
    assert_eq!(browser.number(&chart, "data-last"), e.budget(), "{slo}: the chart ends at the budget remaining");
    let path = browser.find_in(&chart, "path.budget");
    assert_eq!(path.len(), 1, "{slo}: one line");
    let d = browser.attr(&path[0], "d").expect("d");
    assert_eq!(d.matches(['M', 'L']).count(), points + 1, "{slo}: the start and every hour are drawn");
    // What to fix first: geo-availability burned most of the SLOs it is part of.
    for ranking in browser.find_in(row, "[data-field=fix_first]") {
        let window = browser.attr(&ranking, "data-window").unwrap();
        let entries = browser.find_in(&ranking, "li[data-sli]");
        assert!(!entries.is_empty(), "{slo} {window}: something burned");
        for entry in &entries {
            let sli = browser.attr(entry, "data-sli").unwrap();
            let want = e.get(names::SLO_BURN_CONTRIBUTION, &[(label::SLI, &sli), (label::WINDOW, &window)]);
            assert_eq!(browser.number(entry, "data-contribution"), want, "{slo} {sli} {window}");
        }
        let first = browser.attr(&entries[0], "data-sli").unwrap();
        if slo != TRICKY {
            assert_eq!(first, GEO, "{slo} {window}: the component the test made burn comes first");
        }
    }
}

/// One SLO's page: summary, windows, components and ranking equal `/metrics`.
fn detail_matches(browser: &Browser, e: &Expected) {
    let slo = &e.slo;
    let one = |selector: &str| browser.number(&browser.find(selector), "data-value");
    assert_eq!(one("dd[data-field=budget_remaining]"), e.budget(), "{slo}");
    assert_eq!(one("dd[data-field=ratio]"), e.get(names::SLO_SLI_RATIO, &[(label::WINDOW, &e.period)]), "{slo}");
    assert_eq!(
        browser.attr(&browser.find("header [data-field=budget_state]"), "data-value").as_deref(),
        Some(e.state())
    );
    for row in browser.find_all("table.windows tbody tr") {
        let window = browser.attr(&row, "data-window").unwrap();
        let cell = |f: &str| browser.number(&browser.find_in(&row, &format!("[data-field={f}]"))[0], "data-value");
        let at = [(label::WINDOW, window.as_str())];
        assert_eq!(cell("burn_rate"), e.get(names::SLO_BURN_RATE, &at), "{slo} {window}");
        assert_eq!(cell("events"), e.get(names::SLO_EVENTS, &at), "{slo} {window}");
    }
    let groups = browser.find_all("table.components tbody");
    assert!(!groups.is_empty(), "{slo}: a component table per window");
    for group in groups {
        let window = browser.attr(&group, "data-window").unwrap();
        for row in browser.find_in(&group, "tr[data-sli]") {
            let sli = browser.attr(&row, "data-sli").unwrap();
            let cell = browser.find_in(&row, "[data-field=contribution]");
            let want = e.get(names::SLO_BURN_CONTRIBUTION, &[(label::SLI, &sli), (label::WINDOW, &window)]);
            assert_eq!(browser.number(&cell[0], "data-value"), want, "{slo} {sli} {window}");
        }
    }
    // geo-availability is broken down by route: each value's part equals /metrics.
    let tables = browser.find_all(&format!("table.breakdown[data-sli={}]", css(GEO)));
    let has_geo = e.m.family(names::SLO_SLI_INFO.name).iter().any(|(k, _)| {
        k.contains(&format!("{}=\"{slo}\"", label::SLO)) && k.contains(&format!("{}=\"{GEO}\"", label::SLI))
    });
    assert_eq!(!tables.is_empty(), has_geo, "{slo}: a breakdown table when geo-availability is a component");
    for table in tables {
        let window = browser.attr(&table, "data-window").unwrap();
        let rows = browser.find_in(&table, "tbody tr[data-values]");
        assert!(!rows.is_empty(), "{slo} {window}: breakdown rows");
        for row in rows {
            let values: Vec<String> = serde_json::from_str(&browser.attr(&row, "data-values").unwrap()).unwrap();
            let at = [(label::SLI, GEO), (label::WINDOW, window.as_str()), ("route", values[0].as_str())];
            let want = e.get(names::SLO_BURN_CONTRIBUTION_BREAKDOWN, &at);
            let cell = browser.find_in(&row, "[data-field=contribution]");
            assert_eq!(browser.number(&cell[0], "data-value"), want, "{slo} {window} {values:?}");
        }
    }
    let chart = browser.find("figure [data-field=burn_down]");
    assert_eq!(browser.number(&chart, "data-last"), e.budget(), "{slo}: the large chart ends at the budget");
    if slo != TRICKY {
        let top = browser.find_all("table.fix-first tbody tr[data-sli]");
        assert_eq!(browser.attr(&top[0], "data-sli").as_deref(), Some(GEO), "{slo}");
    }
}
