//! [`Deployment`]: the one way a test describes a slostream deployment.
//!
//! A deployment is a scratch directory (config, logs, `state/`, `check.out`), a topic and a
//! consumer group of its own, a broker, and a config built structurally as YAML
//! ([`serde_yaml_ng::Value`]): either the tests' base ([`Deployment::new`]: this harness's
//! kafka/events/ingest/state sections plus [`EXAMPLE_SLIS_AND_SLOS`], the definitions the
//! ground truth restates) or `config/example.yaml` itself ([`Deployment::from_example`], for
//! tests that check the shipped example works with Alertmanager and Grafana). Keys a base must
//! already hold (brokers, topics, group, listen address, an SLO being labelled) are replaced,
//! never added, so a changed example file fails here loudly instead of testing something else.
//!
//! [`Deployment::start`] writes `slostream.yaml` with a fresh HTTP port, has `slostream check`
//! validate it (its output in `check.out`), and spawns `slostream run`. A deployment can be
//! started again (a restart on the same state directory) or twice at once (a second instance).
//! Checkpoints go to `<dir>/state`, never to the default `/var/lib/slostream`, so tests neither
//! need root nor share restored state.
//!
//! A two-stage deployment (`--role ingest` and `--role merge` members) starts each member with
//! [`Deployment::start_member`]: members start and restart concurrently, so each has a config
//! file of its own (`slostream-<member>.yaml`, its own port) and a state directory of its own
//! (`state-<member>`), as members on separate machines would.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_yaml_ng::{Mapping, Value};

use super::truth::{Maintenance, EXAMPLE_SLIS_AND_SLOS};
use super::{broker, free_port, repo_path, scratch_dir, unique, Broker, Slostream};

/// The tests' base config; the empty values are set by the deployment.
const BASE: &str = r#"
kafka:
  brokers: ""
  topics: []
  group_id: ""
  properties:
    client.id: "slostream-e2e"
events:
  timestamp_field: "timestamp"
  latency_field: "latency_ms"
  max_future: "1m"
exporter:
  listen: ""
ingest:
  workers: 2
  shutdown_grace: "10s"
state:
  dir: ""
"#;

/// A slostream deployment under test: build it with the setters, then [`Deployment::start`].
#[derive(Clone)]
pub struct Deployment {
    /// The scratch directory: `slostream.yaml`, `check.out`, the logs and `state/`.
    pub dir: PathBuf,
    topic: String,
    group: String,
    /// `None`: the shared [`broker()`], resolved only when needed.
    broker: Option<Broker>,
    /// `kafka.brokers` when it is not the broker's plaintext listener (a SASL listener).
    brokers: Option<String>,
    /// Where the base config came from, for error messages.
    source: &'static str,
    yaml: Value,
    env: Vec<(String, String)>,
}

impl Deployment {
    /// The tests' base config, reading topic `<name>-…` as group `<name>-group-…` on the shared
    /// broker, with 2 workers and a 10 s shutdown grace.
    pub fn new(name: &str) -> Deployment {
        let yaml = serde_yaml_ng::from_str(&format!("{BASE}{EXAMPLE_SLIS_AND_SLOS}")).expect("the tests' base config");
        Deployment::with_base(name, yaml, "the tests' base config")
    }

    /// `config/example.yaml` as shipped, with this deployment's broker, topic, group, port and
    /// state directory (everything else as the example has it).
    pub fn from_example(name: &str) -> Deployment {
        let path = repo_path("config/example.yaml");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut yaml: Value = serde_yaml_ng::from_str(&text).expect("config/example.yaml is YAML");
        let root = yaml.as_mapping_mut().expect("config/example.yaml is a mapping");
        assert!(!root.contains_key("state"), "config/example.yaml now has a state section: merge, do not replace");
        root.insert("state".into(), Value::Mapping(Mapping::from_iter([("dir".into(), "".into())])));
        Deployment::with_base(name, yaml, "config/example.yaml")
    }

    fn with_base(name: &str, yaml: Value, source: &'static str) -> Deployment {
        let mut d = Deployment {
            dir: scratch_dir(name),
            topic: unique(name),
            group: unique(&format!("{name}-group")),
            broker: None,
            brokers: None,
            source,
            yaml,
            env: Vec::new(),
        };
        let state = d.dir.join("state").display().to_string();
        d.replace(&["state", "dir"], state.into());
        d.replace(&["kafka", "topics"], Value::Sequence(vec![d.topic.clone().into()]));
        d.replace(&["kafka", "group_id"], d.group.clone().into());
        d
    }

    // ---- where it reads ----

    /// Reads from `b` (an own broker) instead of the shared one.
    pub fn on(mut self, b: &Broker) -> Self {
        self.broker = Some(b.clone());
        self
    }

    /// `kafka.brokers`, when it is not the broker's plaintext listener (its SASL listener).
    pub fn brokers(mut self, bootstrap: &str) -> Self {
        self.brokers = Some(bootstrap.to_string());
        self
    }

    /// Reads `topic` (made by someone else) instead of its own.
    pub fn on_topic(mut self, topic: &str) -> Self {
        self.topic = topic.to_string();
        self.replace(&["kafka", "topics"], Value::Sequence(vec![topic.into()]));
        self
    }

    /// Reads its own topic and these as well (`kafka.topics`), or only its own with `&[]`.
    pub fn also_topics(mut self, others: &[&str]) -> Self {
        let mut topics = vec![Value::from(self.topic.clone())];
        topics.extend(others.iter().map(|t| Value::from(*t)));
        self.replace(&["kafka", "topics"], Value::Sequence(topics));
        self
    }

    /// Replaces every SLI and SLO with those of `yaml` (a mapping with `slis:` and `slos:`).
    pub fn slis_and_slos(mut self, yaml: &str) -> Self {
        let value: Value = serde_yaml_ng::from_str(yaml).expect("YAML SLIs and SLOs");
        for key in ["slis", "slos"] {
            let section = value.get(key).unwrap_or_else(|| panic!("no {key}: in the SLIs and SLOs given")).clone();
            self.replace(&[key], section);
        }
        self
    }

    /// Replaces an SLI's `good:` condition (YAML text): another definition of the same SLI.
    pub fn sli_good(mut self, sli: &str, good: &str) -> Self {
        let value = serde_yaml_ng::from_str(good).expect("a YAML condition");
        self.replace(&["slis", sli, "good"], value);
        self
    }

    /// Breaks an SLI down by `fields`, tracking `max_values` combinations.
    pub fn sli_breakdown(mut self, sli: &str, fields: &[&str], max_values: u64) -> Self {
        let fields = Value::Sequence(fields.iter().map(|f| Value::from(*f)).collect());
        self.insert(&["slis", sli, "breakdown"], fields);
        self.insert(&["slis", sli, "max_values"], Value::from(max_values));
        self
    }

    /// `maintenance:`, these windows in this order.
    pub fn maintenance(mut self, windows: &[Maintenance]) -> Self {
        let list =
            windows.iter().map(|w| serde_yaml_ng::from_str(&w.yaml()).expect("a YAML maintenance entry")).collect();
        self.insert(&["maintenance"], Value::Sequence(list));
        self
    }

    /// A `kafka.properties` entry (handed to librdkafka).
    pub fn kafka_property(mut self, key: &str, value: &str) -> Self {
        self.insert(&["kafka", "properties", key], value.into());
        self
    }

    /// An environment variable of `slostream check` and `slostream run` (for `${VAR}` in the
    /// config).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    // ---- how it runs ----

    /// `ingest.workers`.
    pub fn workers(mut self, n: usize) -> Self {
        self.insert(&["ingest", "workers"], n.into());
        self
    }

    /// `ingest.shutdown_grace`.
    pub fn shutdown_grace(mut self, grace: &str) -> Self {
        self.insert(&["ingest", "shutdown_grace"], grace.into());
        self
    }

    /// `state.checkpoint_interval`.
    pub fn checkpoint_interval(mut self, every: &str) -> Self {
        self.insert(&["state", "checkpoint_interval"], every.into());
        self
    }

    /// `events.max_message_bytes`.
    pub fn max_message_bytes(mut self, n: usize) -> Self {
        self.insert(&["events", "max_message_bytes"], n.into());
        self
    }

    /// `scale.flush_interval` and `scale.transaction_timeout` of a two-stage deployment.
    pub fn scale(mut self, flush_interval: &str, transaction_timeout: &str) -> Self {
        self.insert(&["scale", "flush_interval"], flush_interval.into());
        self.insert(&["scale", "transaction_timeout"], transaction_timeout.into());
        self
    }

    /// `events.dead_letter_topic`.
    pub fn dead_letter_topic(mut self, topic: &str) -> Self {
        self.insert(&["events", "dead_letter_topic"], topic.into());
        self
    }

    // ---- what it exports ----

    /// `alertmanager.url`.
    pub fn alertmanager(mut self, url: &str) -> Self {
        self.insert(&["alertmanager", "url"], url.into());
        self
    }

    /// `alertmanager.timeout`.
    pub fn alertmanager_timeout(mut self, timeout: &str) -> Self {
        self.insert(&["alertmanager", "timeout"], timeout.into());
        self
    }

    /// `exporter.compat: sloth`.
    pub fn sloth_compat(mut self) -> Self {
        self.insert(&["exporter", "compat"], "sloth".into());
        self
    }

    /// `exporter.tls`: serve HTTPS with these PEM files.
    pub fn exporter_tls(mut self, cert_file: &str, key_file: &str) -> Self {
        let tls = Mapping::from_iter([("cert_file".into(), cert_file.into()), ("key_file".into(), key_file.into())]);
        self.insert(&["exporter", "tls"], Value::Mapping(tls));
        self
    }

    /// `exporter.basic_auth`: `password_hash` as written (a bcrypt hash, or `${VAR}`).
    pub fn basic_auth(mut self, username: &str, password_hash: &str) -> Self {
        let auth =
            Mapping::from_iter([("username".into(), username.into()), ("password_hash".into(), password_hash.into())]);
        self.insert(&["exporter", "basic_auth"], Value::Mapping(auth));
        self
    }

    /// Adds an SLO named `name` (any text the config accepts) defined by `definition` (YAML:
    /// objective, period, combine, slis).
    pub fn add_slo(mut self, name: &str, definition: &str) -> Self {
        let value = serde_yaml_ng::from_str(definition).expect("a YAML SLO definition");
        self.insert(&["slos", name], value);
        self
    }

    /// `labels` of the SLO `slo` (which must exist).
    pub fn slo_labels(self, slo: &str, labels: &[(&str, &str)]) -> Self {
        let map = Mapping::from_iter(labels.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        self.slo_key(slo, "labels", Value::Mapping(map))
    }

    /// `runbook_url` of the SLO `slo` (which must exist).
    pub fn slo_runbook_url(self, slo: &str, url: &str) -> Self {
        self.slo_key(slo, "runbook_url", url.into())
    }

    fn slo_key(mut self, slo: &str, key: &str, value: Value) -> Self {
        let source = self.source;
        let slos = self.yaml.get_mut("slos").and_then(Value::as_mapping_mut);
        let slo_map = slos
            .and_then(|s| s.get_mut(slo))
            .and_then(Value::as_mapping_mut)
            .unwrap_or_else(|| panic!("{source}: no SLO {slo:?} to set {key} on"));
        slo_map.insert(key.into(), value);
        self
    }

    // ---- what a test reads back ----

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// Its `state.dir`.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The `state.dir` of member `member` (see [`Deployment::start_member`]).
    pub fn member_state_dir(&self, member: &str) -> PathBuf {
        self.dir.join(format!("state-{member}"))
    }

    /// The checkpoint files in its state directory, newest generation first.
    pub fn checkpoints(&self) -> Vec<(u64, PathBuf)> {
        let mut out: Vec<(u64, PathBuf)> = fs::read_dir(self.state_dir())
            .map(|d| {
                d.filter_map(|e| {
                    let path = e.ok()?.path();
                    let name = path.file_name()?.to_str()?.to_string();
                    let g = name.strip_prefix("checkpoint-")?.strip_suffix(".bin")?.parse().ok()?;
                    Some((g, path))
                })
                .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|c| std::cmp::Reverse(c.0));
        out
    }

    /// What the last `slostream check` printed (stdout, then stderr).
    pub fn check_output(&self) -> Vec<u8> {
        fs::read(self.dir.join("check.out")).unwrap_or_default()
    }

    /// The names of the SLOs it defines, sorted.
    pub fn slo_names(&self) -> Vec<String> {
        let slos = self.yaml["slos"].as_mapping().expect("slos");
        let mut names: Vec<String> = slos.keys().map(|k| k.as_str().expect("SLO name").to_string()).collect();
        names.sort();
        names
    }

    /// The broker it reads from (the shared one unless [`Deployment::on`] named another).
    pub fn broker(&self) -> &Broker {
        self.broker.as_ref().unwrap_or_else(|| broker())
    }

    /// Creates its topic on its broker, with `partitions` partitions.
    pub fn create_topic(&self, partitions: i32) {
        self.broker().create_topic(&self.topic, partitions);
    }

    // ---- running it ----

    /// `slostream rules` for the config [`Deployment::start`] last wrote, with job `slostream`.
    pub fn rules(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_slostream"))
            .args(["rules", "--job", "slostream", "--config"])
            .arg(self.dir.join("slostream.yaml"))
            .stdin(Stdio::null())
            .output()
            .expect("run slostream rules");
        assert!(out.status.success(), "slostream rules: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("rules are UTF-8")
    }

    /// Writes the config with a fresh HTTP port, validates it with `slostream check` and starts
    /// `slostream run`.
    pub fn start(&self) -> Slostream {
        let port = free_port();
        let config = self.write_config(port);
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Slostream::spawn(&self.dir, &config, port, &env)
    }

    /// Starts member `member` of a two-stage deployment: `slostream run --role <role>`, an
    /// ingest member with `--instance <member>` (its stable name: the same name is the same
    /// member restarted, a new one a new member). Each member has a state directory of its own
    /// ([`Deployment::member_state_dir`]; an ingest member should leave it empty), so that no
    /// two members can share or lock one another's, and its own config file
    /// (`slostream-<member>.yaml`, checked into `check-<member>.out`) with a fresh port, so
    /// members starting at once never read one another's.
    pub fn start_member(&self, role: Role, member: &str) -> Slostream {
        let port = free_port();
        let mut own = self.clone();
        own.replace(&["state", "dir"], self.member_state_dir(member).display().to_string().into());
        let config = own.write_config_to(port, &format!("slostream-{member}.yaml"), &format!("check-{member}.out"));
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut args = vec!["--role", role.arg()];
        if role == Role::Ingest {
            args.extend(["--instance", member]);
        }
        Slostream::spawn_with(&self.dir, member, &config, port, &env, &args)
    }

    /// The config as YAML text, serving HTTP on `port`.
    pub fn render(&self, port: u16) -> String {
        let mut yaml = self.clone();
        let brokers = match &self.brokers {
            Some(b) => b.clone(),
            None => self.broker().bootstrap.clone(),
        };
        yaml.replace(&["kafka", "brokers"], brokers.into());
        yaml.replace(&["exporter", "listen"], format!("127.0.0.1:{port}").into());
        serde_yaml_ng::to_string(&yaml.yaml).expect("render the config")
    }

    /// `dir/slostream.yaml` with HTTP on `port`, checked by `slostream check` (its output in
    /// `dir/check.out`).
    fn write_config(&self, port: u16) -> PathBuf {
        self.write_config_to(port, "slostream.yaml", "check.out")
    }

    /// `dir/<file>` with HTTP on `port`, checked by `slostream check` (its output in
    /// `dir/<check_out>`).
    fn write_config_to(&self, port: u16, file: &str, check_out: &str) -> PathBuf {
        let text = self.render(port);
        let path = self.dir.join(file);
        fs::write(&path, &text).expect("write config");
        let out = Command::new(env!("CARGO_BIN_EXE_slostream"))
            .args(["check", "--config"])
            .arg(&path)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .expect("run slostream check");
        let mut shown = out.stdout.clone();
        shown.extend_from_slice(&out.stderr);
        fs::write(self.dir.join(check_out), &shown).expect("write the check output");
        assert!(
            out.status.success(),
            "slostream check refused the test config:\n{}\n---- config ----\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }

    /// Sets a key the base must already have.
    fn replace(&mut self, path: &[&str], value: Value) {
        let (last, parents) = path.split_last().expect("a key path");
        let source = self.source;
        let mut at = &mut self.yaml;
        for key in parents {
            at = at.get_mut(*key).unwrap_or_else(|| panic!("{source} has no {}", path.join(".")));
        }
        let slot = at.get_mut(*last).unwrap_or_else(|| panic!("{source} has no {}", path.join(".")));
        *slot = value;
    }

    /// Sets a key, adding it (and the sections above it) when the base does not have it.
    fn insert(&mut self, path: &[&str], value: Value) {
        let (last, parents) = path.split_last().expect("a key path");
        let mut at = &mut self.yaml;
        for key in parents {
            let map = at.as_mapping_mut().unwrap_or_else(|| panic!("{}: {key} is not a mapping", path.join(".")));
            at = map.entry((*key).into()).or_insert_with(|| Value::Mapping(Mapping::new()));
        }
        let map = at.as_mapping_mut().unwrap_or_else(|| panic!("{}: not under a mapping", path.join(".")));
        map.insert((*last).into(), value);
    }
}

/// `slostream run --role`: which stage a process of a two-stage deployment runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Both stages in one process (what `slostream run` does without `--role`).
    All,
    /// Stage 1: reads the input topics, commits deltas, dead letters and offsets in
    /// transactions.
    Ingest,
    /// Stage 2: folds the committed deltas into windows, checkpoints, exports, alerts.
    Merge,
}

impl Role {
    pub fn arg(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Ingest => "ingest",
            Role::Merge => "merge",
        }
    }
}
