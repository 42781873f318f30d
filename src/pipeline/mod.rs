//! The only place that knows every stage: Kafka → ingest workers (decode → classify → window,
//! one [`shard::Shard`] each) → exporter tick (merge → slo → gauges) → HTTP.
//!
//! Shutdown order: stop fetching, count what was read, commit offsets, publish a last time,
//! stop HTTP last; bounded by `ingest.shutdown_grace`, logged when it runs out.

pub mod shard;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Config;
use crate::export::{http, Merged, Telemetry};
use crate::ingest;
use shard::ShardView;

/// How often SLOs are evaluated and gauges refreshed.
pub const EXPORT_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("ingest worker {worker} failed: {source}")]
    Worker { worker: usize, source: rdkafka::error::KafkaError },
    #[error("http server failed: {0}")]
    Http(std::io::Error),
}

/// Runs slostream until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let config = Arc::new(config);
    let mut telemetry = Telemetry::new(&config);
    let addr = config.exporter.listen;
    let listener = http::bind(addr).await.map_err(|source| RunError::Bind { addr, source })?;
    tracing::info!(url = %format!("http://{}/metrics", listener.local_addr().unwrap_or(addr)), "serving metrics");
    let ready = Arc::new(AtomicBool::new(false));
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, telemetry.handle(), ready.clone(), async {
        let _ = http_stopped.await;
    }));

    let stop = Arc::new(AtomicBool::new(false));
    let views: Vec<Arc<Mutex<ShardView>>> =
        (0..config.ingest.workers).map(|_| Arc::new(Mutex::new(ShardView::default()))).collect();
    let workers: Vec<_> = views
        .iter()
        .enumerate()
        .map(|(id, view)| {
            let (config, view, stop) = (config.clone(), view.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("ingest-{id}"))
                .spawn(move || ingest::run_worker(id, config, view, stop))
                .expect("spawn ingest thread")
        })
        .collect();

    let mut merged = Merged::new(&config);
    let mut tick = tokio::time::interval(EXPORT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut failed = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                export(&config, &views, &mut merged, &mut telemetry, &ready);
                if let Some(i) = workers.iter().position(|w| w.is_finished()) {
                    failed = Some(i);
                    break;
                }
            }
            _ = &mut shutdown => break,
        }
    }

    tracing::info!("stopping: no more fetching, committing counted offsets");
    stop.store(true, Ordering::Relaxed);
    let grace = config.ingest.shutdown_grace;
    let join = tokio::task::spawn_blocking(move || workers.into_iter().map(|w| w.join()).collect::<Vec<_>>());
    let mut result = Ok(());
    match tokio::time::timeout(grace, join).await {
        Ok(Ok(results)) => {
            for (worker, r) in results.into_iter().enumerate() {
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(source)) => result = Err(RunError::Worker { worker, source }),
                    Err(_) => tracing::error!(worker, "ingest worker panicked"),
                }
            }
        }
        _ => tracing::error!(?grace, "shutdown grace period ran out before every worker stopped"),
    }
    if let (Some(worker), Ok(())) = (failed, &result) {
        tracing::error!(worker, "ingest worker stopped unexpectedly");
    }
    export(&config, &views, &mut merged, &mut telemetry, &ready);
    let _ = http_stop.send(());
    match server.await {
        Ok(Err(e)) => result = result.and(Err(RunError::Http(e))),
        Err(e) => tracing::error!(error = %e, "http server task failed"),
        Ok(Ok(())) => {}
    }
    result
}

/// One exporter tick: merge every shard's view, evaluate, set gauges, update readiness.
fn export(config: &Config, views: &[Arc<Mutex<ShardView>>], merged: &mut Merged, telemetry: &mut Telemetry, ready: &AtomicBool) {
    merged.clear();
    let mut published = true;
    for view in views {
        let v = view.lock().unwrap_or_else(|e| e.into_inner());
        published &= v.at_ms > 0;
        merged.add(&v);
    }
    let is_ready = published && merged.assigned && !merged.partitions.is_empty();
    ready.store(is_ready, Ordering::Release);
    telemetry.update(config, merged, is_ready);
}
