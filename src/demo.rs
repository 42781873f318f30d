//! `slostream demo`: the whole pipeline with no external service. Part of the binary, not the
//! library: like `main`, it only calls [`pipeline::run`].
//!
//! librdkafka's in-process mock cluster stands in for Kafka, the built-in traffic generator
//! feeds it with an incident every few minutes, and the real pipeline consumes it with the
//! example config. The mock broker consumes slowly (about 1,500 messages/s), so traffic is
//! modest: enough for burn rates to climb and the page alert to fire during each incident.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::mocking::MockCluster;

use slostream::config::{Config, ConfigError};
use slostream::loadgen::{self, Incidents};
use slostream::pipeline::{self, RunError};

/// The example config, with which the demo runs.
pub const EXAMPLE_CONFIG: &str = include_str!("../config/example.yaml");

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("mock cluster: {0}")]
    Mock(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// What the demo runs with.
pub struct DemoOptions {
    pub listen: SocketAddr,
    pub rate: u64,
    pub incidents: Incidents,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            listen: "127.0.0.1:9464".parse().expect("literal address"),
            rate: 200,
            incidents: Incidents { every: Duration::from_secs(180), lasts: Duration::from_secs(60) },
        }
    }
}

/// Runs the demo until `shutdown` completes.
pub async fn run(options: DemoOptions, shutdown: impl std::future::Future<Output = ()>) -> Result<(), DemoError> {
    let cluster = MockCluster::new(1)?;
    let topic = "requests";
    cluster.create_topic(topic, 4, 1)?;
    let brokers = cluster.bootstrap_servers();
    let mut config = Config::from_yaml(EXAMPLE_CONFIG, "config/example.yaml (embedded)")?;
    config.kafka.brokers = brokers.clone();
    config.kafka.group_id = "slostream-demo".into();
    config.exporter.listen = options.listen;
    // Each demo has a fresh in-process cluster, so its checkpoints must not outlive it.
    let state_dir = std::env::temp_dir().join(format!("slostream-demo-{}", std::process::id()));
    config.state.dir = state_dir.clone();

    let stop = Arc::new(AtomicBool::new(false));
    let generator = {
        let (stop, brokers) = (stop.clone(), brokers.clone());
        std::thread::spawn(move || {
            let traffic = loadgen::Traffic::new(rand::random(), options.incidents);
            loadgen::produce(&brokers, topic, (options.rate, None, loadgen::DEFAULT_COMPRESSION), traffic, &stop)
                .map(|p| p.events)
        })
    };
    println!(
        "slostream demo: {} events/s into an in-process Kafka, an incident every {}s lasting {}s",
        options.rate,
        options.incidents.every.as_secs(),
        options.incidents.lasts.as_secs()
    );
    println!("metrics: http://{}/metrics   (Ctrl-C to stop)", options.listen);
    let result = pipeline::run(config, shutdown).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = generator.join();
    drop(cluster);
    let _ = std::fs::remove_dir_all(&state_dir);
    Ok(result?)
}
