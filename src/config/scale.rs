//! `scale`: how the members of a two-stage deployment work together on Kafka.
//!
//! `slostream run --role all` (the default) is one process that reads, counts and exports.
//! `--role ingest` members read the input topics as one consumer group and commit what they
//! counted as delta records, in Kafka transactions together with their input offsets;
//! `--role merge` members fold those records into the windows and export. The topics they share
//! are named after the consumer group, so two deployments on one cluster never mix.

use std::time::Duration;

/// Which part of the pipeline a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Everything in one process: read, count, window, export.
    #[default]
    All,
    /// Read and classify; commit counts as delta records (no windows, no state directory).
    Ingest,
    /// Fold delta records into the windows; export, checkpoint and alert.
    Merge,
}

impl Role {
    /// The `--role` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Ingest => "ingest",
            Role::Merge => "merge",
        }
    }
}

/// The `scale` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleConfig {
    /// This member's stable name (`--instance` or `$HOSTNAME` when the file has none): its
    /// transactional ids and static group membership derive from it, so a restarted member
    /// fences its predecessor at once instead of waiting out a timeout.
    pub instance: Option<String>,
    /// How often an ingest worker commits its counts (and at most how stale a merge member is).
    pub flush_interval: Duration,
    /// The broker aborts an ingest worker's transaction left open this long (a member stopped
    /// mid-commit), so its partitions move on without it.
    pub transaction_timeout: Duration,
    /// Partitions of `<group_id>.deltas` when slostream creates it.
    pub deltas_partitions: i32,
    /// Ingest workers join with `group.instance.id` (static membership): a restart within the
    /// session timeout keeps its partitions without a rebalance, but a member that stops for
    /// good (scale-in) holds its partitions until the session times out.
    pub static_membership: bool,
    /// A merge member's `<group_id>.merge-leader` (set by [`super::Config::as_merge_member`]):
    /// the group whose one partition's owner pushes alerts. `None`: this process always does.
    pub leader_topic: Option<String>,
    /// A merge member's input topics (set by [`super::Config::as_merge_member`]): where a history
    /// rebuild reads the events its ingest members counted.
    pub input_topics: Vec<String>,
}

impl Default for ScaleConfig {
    fn default() -> Self {
        ScaleConfig {
            instance: None,
            flush_interval: Duration::from_millis(500),
            transaction_timeout: Duration::from_secs(10),
            deltas_partitions: 16,
            static_membership: true,
            leader_topic: None,
            input_topics: Vec::new(),
        }
    }
}

/// Topic of the delta records ingest members commit and merge members fold.
pub fn deltas_topic(group_id: &str) -> String {
    format!("{group_id}.deltas")
}

/// One-partition topic whose owner in the group of the same name pushes alerts.
pub fn leader_topic(group_id: &str) -> String {
    format!("{group_id}.merge-leader")
}

/// Consumer group of the merge members (manual assignment: they only commit offsets for lag
/// tools, never coordinate through it).
pub fn merge_group(group_id: &str) -> String {
    format!("{group_id}.merge")
}

/// Whether `name` may be an instance name: it goes into `transactional.id` and
/// `group.instance.id`, so it is kept to what every tool prints without quoting.
pub fn valid_instance(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 200 {
        return Err(format!("{name:?} is not a member name (expected 1 to 200 characters)"));
    }
    match name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        Some(c) => Err(format!("{name:?} has {c:?} (expected ASCII letters, digits, '-', '_' and '.')")),
        None => Ok(()),
    }
}

impl super::Config {
    /// This config as a merge member runs it: it reads `<group_id>.deltas` as the consumer group
    /// `<group_id>.merge` with one worker (delta records are few, and folding them is cheap),
    /// and writes no dead letters (ingest members do, in their transactions). Its checkpoints
    /// record the merge group, so a state directory of `--role all` is never mistaken for one
    /// of merge offsets.
    pub fn as_merge_member(&self) -> super::Config {
        let mut c = self.clone();
        c.role = Role::Merge;
        c.kafka.topics = vec![deltas_topic(&self.kafka.group_id)];
        c.kafka.group_id = merge_group(&self.kafka.group_id);
        c.events.dead_letter_topic = None;
        c.ingest.workers = 1;
        c.scale.leader_topic = Some(leader_topic(&self.kafka.group_id));
        c.scale.input_topics = self.kafka.topics.clone();
        c
    }
}
