//! The fast tier: the whole pipeline in-process, `slostream::pipeline::run(config, shutdown)` on
//! a tokio runtime of its own, against librdkafka's in-process mock cluster
//! ([`rdkafka::mocking::MockCluster`], as `slostream demo` uses it). No Java, no broker start-up,
//! no process to spawn: a test gets exact answers from the real decode → classify → window →
//! slo → export code, served on `/metrics` as in production.
//!
//! The mock cluster consumes slowly (about 1,500 messages/s), so event counts stay modest.
//! What only a real broker shows (retention, SASL, crashes, consumer lag, the binary's own
//! start-up and signals) stays in the broker tests.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use slostream::config::Config;

use super::served::get_local;
use super::{free_port, http_client, Deployment, KafkaClient, Served};

/// An in-process mock Kafka cluster (one broker), and a [`KafkaClient`] of it (which it derefs
/// to). Dropping it shuts the cluster down.
pub struct MockKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
    client: KafkaClient,
}

impl MockKafka {
    pub fn start() -> MockKafka {
        let cluster = MockCluster::new(1).expect("librdkafka mock cluster");
        let client = KafkaClient { bootstrap: cluster.bootstrap_servers() };
        MockKafka { cluster, client }
    }

    /// The broker answers the next produce request with a permanent error, whoever sends it.
    pub fn refuse_next_produce(&self) {
        use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
        self.cluster
            .request_errors(RDKafkaApiKey::Produce, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED]);
    }

    /// Creates `topic` with `partitions` partitions (replication factor 1).
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        self.cluster.create_topic(topic, partitions, 1).unwrap_or_else(|e| panic!("mock topic {topic}: {e}"));
    }
}

impl std::ops::Deref for MockKafka {
    type Target = KafkaClient;

    fn deref(&self) -> &KafkaClient {
        &self.client
    }
}

/// `slostream::pipeline::run` of a [`Deployment`]'s config, on a thread with its own tokio
/// runtime, serving HTTP on a free port. [`InProcess::stop`] resolves its shutdown future and
/// expects a clean return; a drop (a failing test) stops it without checking. Started again
/// from the same deployment, it runs on the same state directory: a restart. It is [`Served`]:
/// the waits and scrapes shared with the `slostream run` process.
pub struct InProcess {
    /// When it was started.
    pub started: Instant,
    port: u16,
    http: reqwest::blocking::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl InProcess {
    /// Validates `d`'s config with the library (as `slostream check` would) and runs it.
    pub fn start(d: &Deployment) -> InProcess {
        InProcess::start_with_clock(d, slostream::time::Clock::default())
    }

    /// [`InProcess::start`] on `clock` (a shifted clock the test moves) instead of the wall clock.
    pub fn start_with_clock(d: &Deployment, clock: slostream::time::Clock) -> InProcess {
        let port = free_port();
        let text = d.render(port);
        let mut config = Config::from_yaml(&text, "in-process.yaml")
            .unwrap_or_else(|e| panic!("the test config is invalid: {e}\n---- config ----\n{text}"));
        config.clock = clock;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            let stopped = async {
                let _ = stopped.await;
            };
            runtime.block_on(slostream::pipeline::run(config, stopped)).map_err(|e| e.to_string())
        });
        InProcess { started: Instant::now(), port, http: http_client(), shutdown: Some(shutdown), thread: Some(thread) }
    }

    /// Resolves the shutdown future and expects `run` to return `Ok` within 15 s.
    pub fn stop(mut self) {
        let _ = self.shutdown.take().expect("shutdown sender").send(());
        let thread = self.thread.take().expect("pipeline thread");
        let started = Instant::now();
        while !thread.is_finished() {
            assert!(started.elapsed() < Duration::from_secs(15), "the pipeline did not return within 15 s of shutdown");
            std::thread::sleep(Duration::from_millis(50));
        }
        let result = thread.join().expect("pipeline thread panicked");
        assert_eq!(result, Ok(()), "the pipeline's result after shutdown");
    }
}

impl Served for InProcess {
    fn get(&self, path: &str) -> Option<(u16, String)> {
        get_local(&self.http, self.port, path)
    }

    fn assert_running(&mut self) {
        if self.thread.as_ref().is_some_and(JoinHandle::is_finished) {
            let result = self.thread.take().expect("pipeline thread").join();
            panic!("the pipeline returned early: {result:?}");
        }
    }

    fn context(&self) -> String {
        String::new()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
