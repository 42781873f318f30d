//! The status page and its API, on the same listener as `/metrics`: for product teams, who will
//! not write PromQL.
//!
//! - `GET /`: every SLO worst first, with its budget, burn-down chart, burn rates, alerts and
//!   what to fix first; `GET /slo/{name}`: one SLO with every window, component and rule.
//! - `GET /api/v1/slos` and `GET /api/v1/slos/{name}`: the same data as JSON.
//! - `GET /api/v1/reports?slo=NAME&format=json|csv`: the period reports ([`reports`]), also the
//!   SLO page's history table ([`history`]).
//!
//! Until the first ready tick both answer 503 (the page says it is not ready), as `/metrics`
//! shows no SLO value before then; an unknown SLO name is a 404.
//!
//! - [`board`]: what the tick publishes and a request copies out.
//! - [`burn_down`]: the hourly burn-down series, recomputed on the tick once a minute.
//! - [`model`]: the data both renderings share, worst first; [`api`]: it as JSON;
//!   [`html`]: it as HTML, with [`chart`] (inline SVG) and [`format`] (escaping, numbers).
//!
//! The routes come as one [`Router`] that `http` merges, so whatever protects `/metrics`
//! protects these too.

mod api;
mod board;
mod burn_down;
mod chart;
mod format;
mod history;
mod html;
mod model;
mod reports;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::config::Config;
use crate::count::{Snapshot, Tally};
use crate::slo::SloStatus;
use board::{Board, Published};
use burn_down::Refresher;
use model::{Detail, Overview};
use reports::ReportBoard;

/// The page's answers run no script and load nothing from anywhere: the policy says so, so a
/// name that slipped past escaping still could not run.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What the HTTP handlers read: the board and the config the names come from.
#[derive(Clone)]
pub struct StatusPage {
    config: Arc<Config>,
    board: Board,
    reports: ReportBoard,
}

/// The tick's side: publishes every ready evaluation and refreshes the burn-down series.
pub struct Publisher {
    page: StatusPage,
    refresher: Refresher,
}

impl Publisher {
    /// Nothing published yet: the page answers 503.
    pub fn new(config: &Config) -> Publisher {
        let page =
            StatusPage { config: Arc::new(config.clone()), board: Board::new(config), reports: ReportBoard::default() };
        Publisher { page, refresher: Refresher::new(config) }
    }

    /// What the HTTP handlers serve from.
    pub fn page(&self) -> StatusPage {
        self.page.clone()
    }

    /// Records one ready tick's evaluation at `now_ms`.
    pub fn publish(&self, config: &Config, snapshot: &Snapshot, statuses: &[SloStatus], now_ms: i64) {
        self.page.board.publish(config, snapshot, statuses, now_ms);
    }

    /// Records one ready tick's period reports: every SLO's current period so far (in the order
    /// of [`Config::slos`]) and, when some closed since the last call, every SLO's closed rows.
    pub fn publish_reports(
        &self,
        closed: Option<Vec<Vec<crate::report::Row>>>,
        partials: &[Option<crate::report::Row>],
    ) {
        self.page.reports.publish(closed, partials);
    }

    /// Recomputes the burn-down series that are due after a tick that evaluated `statuses`,
    /// reading the tally's hourly buckets.
    pub fn refresh_burn_downs(&mut self, config: &Config, tally: &Mutex<Tally>, statuses: &[SloStatus], now_ms: i64) {
        self.refresher.tick(config, tally, statuses, &self.page.board, now_ms);
    }
}

/// The page's routes: `/`, `/slo/{name}`, `/api/v1/slos`, `/api/v1/slos/{name}`.
pub fn routes(page: StatusPage) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/slo/{name}", get(detail))
        .route("/api/v1/slos", get(api_list))
        .route("/api/v1/slos/{name}", get(api_detail))
        .route("/api/v1/reports", get(api_reports))
        .with_state(page)
}

/// How an answer is rendered.
#[derive(Clone, Copy)]
enum Format {
    Html,
    Json,
}

/// What a request found.
enum Outcome {
    /// The page or JSON document.
    Body(String),
    /// Nothing published yet.
    NotReady,
    /// No SLO has the name asked for.
    NotFound,
    /// Rendering panicked.
    Failed,
}

/// `render(config, published)` on the blocking pool (thousands of SLOs take a while), or the
/// not-ready answer; `render` returns `None` for an unknown name, `missing`.
async fn answer(
    page: StatusPage,
    format: Format,
    missing: String,
    render: impl FnOnce(&Config, &Published) -> Option<String> + Send + 'static,
) -> Response {
    let outcome = tokio::task::spawn_blocking(move || match page.board.copy() {
        None => Outcome::NotReady,
        Some(published) => render(&page.config, &published).map_or(Outcome::NotFound, Outcome::Body),
    })
    .await
    .unwrap_or(Outcome::Failed);
    let (status, body) = match (outcome, format) {
        (Outcome::Body(body), _) => (StatusCode::OK, body),
        (Outcome::NotReady, Format::Html) => (StatusCode::SERVICE_UNAVAILABLE, html::not_ready()),
        (Outcome::NotReady, Format::Json) => {
            (StatusCode::SERVICE_UNAVAILABLE, api::error("not ready: no evaluation yet"))
        }
        (Outcome::NotFound, Format::Html) => (StatusCode::NOT_FOUND, html::not_found(&missing)),
        (Outcome::NotFound, Format::Json) => (StatusCode::NOT_FOUND, api::error(&format!("no SLO named {missing:?}"))),
        (Outcome::Failed, Format::Html) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n".to_string()),
        (Outcome::Failed, Format::Json) => (StatusCode::INTERNAL_SERVER_ERROR, api::error("internal error")),
    };
    let kind = match format {
        Format::Html => "text/html; charset=utf-8",
        Format::Json => "application/json",
    };
    respond(status, body, kind)
}

/// An answer with the page's headers.
fn respond(status: StatusCode, body: String, kind: &'static str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn index(State(page): State<StatusPage>) -> Response {
    answer(page, Format::Html, String::new(), |c, p| Some(html::index(&Overview::new(c, p), c.status.at_risk_below)))
        .await
}

async fn detail(State(page): State<StatusPage>, Path(name): Path<String>) -> Response {
    let n = name.clone();
    let history = page.reports.copy();
    answer(page, Format::Html, name, move |c, p| {
        Detail::new(c, p, &n).map(|mut d| {
            d.history = history.and_then(|rows| reports::select(c, &rows, Some(&n))).and_then(|mut s| s.pop());
            html::detail(&d, c.status.at_risk_below)
        })
    })
    .await
}

/// `/api/v1/reports?slo=NAME&format=json|csv`: every SLO's report (or `slo`'s), closed rows
/// oldest first and the current period as a partial row.
async fn api_reports(State(page): State<StatusPage>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let slo = reports::query::value(&query, "slo");
    let csv = match reports::query::value(&query, "format").as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            let message = format!("unknown format {other:?} (expected json or csv)");
            return respond(StatusCode::BAD_REQUEST, api::error(&message), "application/json");
        }
    };
    let rows = page.reports.copy();
    let name = slo.clone().unwrap_or_default();
    let mut response = answer(page, Format::Json, name, move |c, _| {
        let selected = reports::select(c, &rows.unwrap_or_default(), slo.as_deref())?;
        Some(if csv { reports::csv::render(&selected) } else { api::body(&serde_json::json!({ "reports": selected })) })
    })
    .await;
    if csv && response.status() == StatusCode::OK {
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    }
    response
}

async fn api_list(State(page): State<StatusPage>) -> Response {
    answer(page, Format::Json, String::new(), |c, p| Some(api::body(&Overview::new(c, p)))).await
}

async fn api_detail(State(page): State<StatusPage>, Path(name): Path<String>) -> Response {
    let n = name.clone();
    answer(page, Format::Json, name, move |c, p| Detail::new(c, p, &n).map(|d| api::body(&d))).await
}

#[cfg(test)]
mod tests;
