//! The HTTP endpoints: `/metrics` (Prometheus text), `/ready`, `/health`, and the status page's
//! routes (`super::page`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use super::MetricsHandle;

#[derive(Clone)]
struct Endpoints {
    metrics: MetricsHandle,
    ready: Arc<AtomicBool>,
}

/// Binds the listener now, so a taken port fails start-up rather than a background task.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: MetricsHandle,
    ready: Arc<AtomicBool>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/ready", get(ready_check))
        .route("/health", get(|| async { "ok\n" }))
        .with_state(Endpoints { metrics: metrics.clone(), ready })
        .merge(metrics.page_routes());
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
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
