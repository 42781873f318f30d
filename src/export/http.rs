//! The HTTP endpoints: `/metrics` (Prometheus text), `/ready`, `/health`, and the status page's
//! routes (`super::page`), over HTTP or, with `exporter.tls`, HTTPS; with `exporter.basic_auth`,
//! every path but the probes needs credentials (see `auth.rs`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use super::auth::{self, HEALTH, READY};
use super::tls::TlsListener;
use super::MetricsHandle;
use crate::config::ExporterConfig;

#[derive(Clone)]
struct Endpoints {
    metrics: MetricsHandle,
    ready: Arc<AtomicBool>,
}

/// Binds the listener now, so a taken port fails start-up rather than a background task.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until `shutdown` completes, as `exporter` says: TLS or not, credentials or not.
pub async fn serve(
    listener: TcpListener,
    exporter: ExporterConfig,
    metrics: MetricsHandle,
    ready: Arc<AtomicBool>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = auth::protect(routes(Endpoints { metrics, ready }), exporter.basic_auth.as_ref());
    match exporter.tls {
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
        Some(tls) => axum::serve(TlsListener::new(listener, tls.server)?, app).with_graceful_shutdown(shutdown).await,
    }
}

/// Every endpoint. A route added here is behind `exporter.basic_auth` with nothing more to do:
/// [`serve`] protects the whole router, and only the probes stay open.
fn routes(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route(READY, get(ready_check))
        .route(HEALTH, get(|| async { "ok\n" }))
        .with_state(endpoints.clone())
        .merge(endpoints.metrics.page_routes())
}

/// Rendering is O(series) and can take a while with thousands of SLOs: it runs on the blocking
/// pool so that `/ready` and `/health` keep answering meanwhile.
async fn scrape(State(e): State<Endpoints>) -> impl IntoResponse {
    let body = tokio::task::spawn_blocking(move || e.metrics.render()).await.unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

async fn ready_check(State(e): State<Endpoints>) -> impl IntoResponse {
    if e.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
