//! Alert: SLO evaluations in, Alertmanager v2 alerts out, in real time.
//!
//! The exporter hands every evaluation (twice a second) to this task through a watch channel,
//! so ingest and export never wait for Alertmanager. The task posts what `state::AlertBook`
//! says is due to `POST {url}/api/v2/alerts`; a failed or slow post is retried with backoff and
//! counted in `slostream_alertmanager_errors_total`.
//!
//! Merge members of a two-stage deployment all evaluate the same counts; only the one holding
//! `leader` posts. The others keep the same book without posting ("delivered" in their heads),
//! so the one that takes over knows which alerts fire and which resolve, and posts every firing
//! alert at once.

pub(crate) mod state;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;
use tokio::sync::watch;

use crate::config::{AlertmanagerConfig, Config};
use crate::slo::SloStatus;
use crate::time::wall_ms;
use state::AlertBook;

/// Runs until `evaluations` closes.
pub(crate) async fn run(
    config: Arc<Config>,
    am: AlertmanagerConfig,
    mut evaluations: watch::Receiver<Vec<SloStatus>>,
    errors: Counter,
    leader: Arc<AtomicBool>,
) {
    let client = match reqwest::Client::builder().timeout(am.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the Alertmanager client; alerts are not pushed");
            return;
        }
    };
    let url = format!("{}/api/v2/alerts", am.url);
    let mut book = AlertBook::new(&config, am.resend_interval.as_millis() as i64);
    let mut backoff = Duration::ZERO;
    let mut leading = false;
    loop {
        if evaluations.changed().await.is_err() {
            return;
        }
        if !backoff.is_zero() {
            tokio::time::sleep(backoff).await;
        }
        let statuses = evaluations.borrow_and_update().clone();
        if statuses.len() != config.slos.len() {
            continue; // not ready yet: nothing is evaluated
        }
        let now = wall_ms();
        match (leading, leader.load(Ordering::Acquire)) {
            (false, true) => {
                tracing::info!("this member pushes alerts now");
                book.taken_over();
            }
            (true, false) => tracing::info!("another member pushes alerts now"),
            _ => {}
        }
        leading = leader.load(Ordering::Acquire);
        let due = book.due(&config, &statuses, now);
        if due.is_empty() {
            continue;
        }
        if !leading {
            book.delivered(now);
            backoff = Duration::ZERO;
            continue;
        }
        match client.post(&url).json(&due).send().await.and_then(|r| r.error_for_status()) {
            Ok(_) => {
                book.delivered(now);
                backoff = Duration::ZERO;
            }
            Err(e) => {
                errors.increment(1);
                backoff = (backoff * 2).clamp(Duration::from_millis(500), Duration::from_secs(30));
                tracing::warn!(%url, error = %e, retry_in = ?backoff, alerts = due.len(), "cannot post alerts to Alertmanager");
            }
        }
    }
}
