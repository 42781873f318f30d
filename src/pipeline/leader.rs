//! Alert leadership among merge members: exactly one pushes alerts, chosen by Kafka.
//!
//! Every merge member folds the same committed deltas and evaluates the same alerts, so any of
//! them could push; only the one that owns the single partition of `<group_id>.merge-leader` in
//! the consumer group of that name does. Kafka's group protocol gives the partition to one
//! member at a time and moves it within a session timeout when that member dies (at once when
//! it stops cleanly, since it leaves the group). Nothing is ever written to the topic. With
//! `--role all` the process always leads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::config::Config;
use crate::ingest::{client_config, IngestContext, KafkaErrors};

/// Wait between attempts to join the leader group while Kafka is unreachable.
const RETRY: Duration = Duration::from_secs(2);

/// Whether this process pushes alerts, kept current by a thread of its own.
pub(crate) struct Leadership {
    /// True while this process leads.
    pub(crate) leading: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Leadership {
    /// Leads always (`--role all`), or joins the leader group `topic` names (a merge member).
    pub(crate) fn start(config: &Config, errors: Arc<KafkaErrors>) -> Leadership {
        let Some(topic) = config.scale.leader_topic.clone() else {
            return Leadership { leading: Arc::new(AtomicBool::new(true)), stop: Default::default(), thread: None };
        };
        let leading = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let mut c = client_config(config);
        c.set("group.id", &topic);
        if c.get("group.protocol") != Some("consumer") {
            c.set("partition.assignment.strategy", "range");
        }
        let (flag, stopping) = (leading.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("alert-leader".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    let consumer: BaseConsumer<IngestContext> =
                        match c.create_with_context(IngestContext::new("alert leader", errors.clone())) {
                            Ok(consumer) => consumer,
                            Err(e) => {
                                tracing::error!(error = %e, "cannot create the alert leader client; this member never pushes alerts");
                                return;
                            }
                        };
                    if let Err(e) = consumer.subscribe(&[&topic]) {
                        tracing::warn!(error = %e, "cannot join the alert leader group yet");
                        std::thread::sleep(RETRY);
                        continue;
                    }
                    while !stopping.load(Ordering::Relaxed) {
                        // Serves the group's rebalances (the partition is never written to).
                        let _ = consumer.poll(Duration::from_millis(200));
                        let owns = consumer.assignment().is_ok_and(|a| a.elements().iter().any(|e| e.partition() == 0));
                        flag.store(owns, Ordering::Release);
                    }
                    flag.store(false, Ordering::Release);
                    // Dropping the consumer leaves the group, so another member leads at once.
                }
            })
            .expect("spawn the alert leader thread");
        Leadership { leading, stop, thread: Some(thread) }
    }

    /// Leaves the leader group (another member takes over at once) and waits for the thread.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
