//! The report figures by hand, the CSV's quoting, the query's decoding, and the route over HTTP:
//! JSON and CSV, 503 before the first tick, 404 for an unknown SLO, 400 for an unknown format.

use axum::http::header;
use serde_json::Value;

use super::super::tests::config_of;
use super::*;
use crate::config::Combine;
use crate::export::page::{routes, Publisher};
use crate::report::{Reports, RowComponent, Slices};
use crate::window::WindowStore;

/// 2026-10-01T00:00:00Z.
const OCT: i64 = 1_790_812_800_000;
const DAY: i64 = 86_400_000;
const NOV: i64 = OCT + 31 * DAY;

fn row(combine: Combine, objective: f64, counts: &[(&str, u64, u64)]) -> Row {
    Row {
        start_ms: OCT,
        end_ms: NOV,
        objective,
        combine,
        components: counts
            .iter()
            .map(|&(sli, good, total)| RowComponent { sli: sli.into(), weight: 1.0, counts: Counts { good, total } })
            .collect(),
        slices: None,
    }
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn figures_by_hand() {
    // Pooled: 7 bad of 1000 against a 1% budget: ratio 0.993, met, 70% of the budget; geo
    // caused 5 of the 7 bad events.
    let f = Figures::of(&row(Combine::Pooled, 0.99, &[("search", 598, 600), ("geo", 395, 400), ("quiet", 0, 0)]));
    assert_eq!((f.events, f.good, f.met), (1000, 993, true));
    assert!(near(f.ratio, 0.993) && near(f.budget_consumed, 0.7), "{f:?}");
    assert_eq!(f.top.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["geo", "search"]);
    assert!(near(f.top[0].1, 5.0 / 7.0) && near(f.top[1].1, 2.0 / 7.0), "{f:?}");
    // Min: the worst component's ratio, all of the error to it; missed.
    let f = Figures::of(&row(Combine::Min, 0.99, &[("a", 90, 100), ("b", 99, 100)]));
    assert!(near(f.ratio, 0.9) && !f.met && near(f.budget_consumed, 10.0), "{f:?}");
    assert_eq!(f.top, [("a".to_string(), 1.0)]);
    // Exactly at the objective is met; no events at all is ratio 1, nothing consumed.
    assert!(Figures::of(&row(Combine::Pooled, 0.99, &[("a", 99, 100)])).met);
    let f = Figures::of(&row(Combine::Product, 0.999, &[("a", 0, 0)]));
    assert_eq!((f.ratio, f.met, f.budget_consumed, f.top.len()), (1.0, true, 0.0, 0));
    // A time-slice SLO's period is judged by its slices.
    let mut sliced = row(Combine::Pooled, 0.99, &[("a", 50, 100)]);
    sliced.slices = Some(Slices { good: 999.0, total: 1000 });
    let f = Figures::of(&sliced);
    assert!(near(f.ratio, 0.999) && f.met && near(f.budget_consumed, 0.1), "{f:?}");
}

#[test]
fn csv_quotes_as_rfc_4180() {
    let name = "a \"quoted\", multi\nline slo";
    let mut r = row(Combine::Pooled, 0.99, &[("x,y", 9, 10), ("z", 10, 10)]);
    r.end_ms = OCT + 1500;
    let views = vec![SloRows {
        slo: name.into(),
        period: "month",
        time_zone: "UTC".into(),
        rows: vec![RowView::new(&r, false), RowView::new(&row(Combine::Pooled, 0.99, &[]), true)],
    }];
    let text = csv::render(&views);
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "slo,period_start,period_end,period_start_epoch,period_end_epoch,partial,objective,events,good,slices,good_slices,ratio,met,budget_consumed,top_contributors");
    assert_eq!(
        lines[1],
        "\"a \"\"quoted\"\", multi\nline slo\",2026-10-01T00:00:00.000Z,2026-10-01T00:00:01.500Z,1790812800,1790812801,false,0.99,20,19,,,0.95,false,4.999999999999996,\"x,y=1\""
    );
    assert!(lines[2].starts_with("\"a \"\"quoted") && lines[2].contains(",true,0.99,0,0,,,1,true,0,"), "{}", lines[2]);
    assert_eq!((lines.len(), lines[3]), (4, ""), "CRLF after every record");
    for (text, quoted) in [
        ("plain", "plain"),
        ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ("two\nlines", "\"two\nlines\""),
        ("cr\rhere", "\"cr\rhere\""),
        ("a,b", "\"a,b\""),
        ("", ""),
    ] {
        let mut out = String::new();
        csv::field(&mut out, text);
        assert_eq!(out, quoted);
    }
}

#[test]
fn query_values_are_percent_decoded() {
    let q = "format=csv&slo=book%2Fa+ride%20%C3%BC&slo=second";
    assert_eq!(query::value(q, "slo").as_deref(), Some("book/a ride ü"), "the first wins");
    assert_eq!(query::value(q, "format").as_deref(), Some("csv"));
    assert_eq!(query::value(q, "missing"), None);
    assert_eq!(query::value("slo=%zz", "slo"), None);
}

/// Over HTTP: 503 before the first ready tick; then every SLO (JSON), one SLO's closed rows
/// oldest first with its current period last, the same as CSV, 404 for an unknown SLO and 400
/// for an unknown format; the SLO's page shows the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_route_answers_json_csv_404_and_400() {
    let config = config_of(
        &["a", "b"],
        "  rolling: { objective: 99, period: 30d, slis: [a, b] }\n  \"x,\\\"y\": { objective: 90, period: 7d, slis: [b] }\n",
    );
    let publisher = Publisher::new(&config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = routes(publisher.page());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str| {
        let (http, url) = (http.clone(), format!("{base}{path}"));
        async move {
            let r = http.get(url).send().await.unwrap();
            let kind = r.headers()[header::CONTENT_TYPE].to_str().unwrap().to_string();
            (r.status().as_u16(), kind, r.text().await.unwrap())
        }
    };
    assert_eq!(get("/api/v1/reports").await.0, 503);

    // October: a 9 good of 10, b 20 of 20; then 1 bad of b in November so far.
    let mut store = WindowStore::new(2, 30 * DAY, 60_000);
    let mut reports = Reports::new(&config);
    reports.close_due(&config, &store, &crate::window::slices::Slices::default(), OCT + DAY);
    for i in 0..10 {
        store.record(0, OCT + 10 * DAY + i, i != 0);
    }
    for i in 0..20 {
        store.record(1, OCT + 20 * DAY + i, true);
    }
    store.record(1, NOV + DAY, false);
    reports.close_due(&config, &store, &crate::window::slices::Slices::default(), NOV + 2 * DAY);
    let mut partials = Vec::new();
    reports.partials(&config, &store, &crate::window::slices::Slices::default(), 0, &mut partials);
    let closed = reports.slos.iter().map(|r| r.closed.iter().cloned().collect()).collect();
    let snapshot = crate::count::Snapshot::new(&config);
    let statuses: Vec<_> = config.slos.iter().map(|s| crate::slo::evaluate(s, |_, _| Counts::default())).collect();
    publisher.publish(&config, &snapshot, &statuses, NOV + 2 * DAY);
    publisher.publish_reports(Some(closed), &partials);

    let (status, kind, body) = get("/api/v1/reports?slo=rolling").await;
    assert_eq!((status, kind.as_str()), (200, "application/json"), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let rolling = &v["reports"][0];
    assert_eq!(
        (rolling["slo"].as_str(), rolling["period"].as_str(), rolling["time_zone"].as_str()),
        (Some("rolling"), Some("month"), Some("UTC"))
    );
    let rows = rolling["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["period_start"], "2026-10-01T00:00:00.000Z");
    assert_eq!(rows[0]["period_end"], "2026-11-01T00:00:00.000Z");
    assert_eq!(
        (rows[0]["partial"].as_bool(), rows[0]["events"].as_u64(), rows[0]["good"].as_u64()),
        (Some(false), Some(30), Some(29))
    );
    assert_eq!((rows[0]["slices"].clone(), rows[0]["met"].as_bool()), (Value::Null, Some(false)));
    assert_eq!(rows[0]["top_contributors"][0]["sli"], "a");
    assert_eq!(
        (rows[1]["partial"].as_bool(), rows[1]["events"].as_u64(), rows[1]["good"].as_u64()),
        (Some(true), Some(1), Some(0))
    );
    assert_eq!(rows[1]["period_start"], "2026-11-01T00:00:00.000Z");

    let (status, _, body) = get("/api/v1/reports").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, v["reports"].as_array().unwrap().len()), (200, 2));
    assert_eq!(v["reports"][1]["slo"], "x,\"y");
    assert_eq!(v["reports"][1]["period"], "month");

    let (status, kind, body) = get("/api/v1/reports?slo=x%2C%22y&format=csv").await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"), "{body}");
    let lines: Vec<&str> = body.split("\r\n").collect();
    assert!(lines[0].starts_with("slo,period_start,"));
    assert!(
        lines[1].starts_with(
            "\"x,\"\"y\",2026-10-01T00:00:00.000Z,2026-11-01T00:00:00.000Z,1790812800,1793491200,false,0.9,20,20,"
        ),
        "{body}"
    );
    assert!(
        lines[2].starts_with(
            "\"x,\"\"y\",2026-11-01T00:00:00.000Z,2026-12-01T00:00:00.000Z,1793491200,1796083200,true,0.9,1,0,"
        ),
        "{body}"
    );
    assert_eq!(lines.len(), 4);

    let (status, kind, body) = get("/api/v1/reports?slo=nope").await;
    assert_eq!(
        (status, kind.as_str(), body.as_str()),
        (404, "application/json", "{\"error\":\"no SLO named \\\"nope\\\"\"}\n")
    );
    let (status, kind, body) = get("/api/v1/reports?format=xml").await;
    assert_eq!((status, kind.as_str()), (400, "application/json"));
    assert_eq!(body, "{\"error\":\"unknown format \\\"xml\\\" (expected json or csv)\"}\n");

    let (status, _, page) = get("/slo/rolling").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<h2>History</h2>")
            && page.contains(r#"<tr data-period-start="1790812800000" data-partial="false">"#),
        "{page}"
    );
    assert!(
        page.contains(r#"data-field="events" data-value="30""#)
            && page.contains(r#"data-field="top_contributor" data-value="a""#)
    );
    server.abort();
}
