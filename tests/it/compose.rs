//! docker-compose.yml checked by reading it (no Docker engine runs here): every mounted file
//! exists, every port is bound to 127.0.0.1, every image is pinned, healthchecks are there, and
//! the names Prometheus, Grafana and slostream use to reach each other are services and ports
//! the file defines. The scaled variant (`docker-compose.scaled.yml` over it, merged as Compose
//! merges, `!override` replacing) passes the same checks and runs two ingest and two merge
//! members.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml_ng::Value;

fn load(path: &str) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn services() -> BTreeMap<String, Value> {
    services_of(&load("docker-compose.yml"))
}

fn services_of(compose: &Value) -> BTreeMap<String, Value> {
    compose["services"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone()))
        .collect()
}

/// `overlay` over `base` as Compose merges files: mappings key by key, a value tagged
/// `!override` replacing, anything else replacing too (close enough for what the overlay sets).
fn merged(base: &Value, overlay: &Value) -> Value {
    match (base, overlay) {
        (_, Value::Tagged(t)) if t.tag == "override" => t.value.clone(),
        (Value::Mapping(b), Value::Mapping(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let m = match b.get(k) {
                    Some(old) => merged(old, v),
                    None => merged(&Value::Null, v),
                };
                out.insert(k.clone(), m);
            }
            Value::Mapping(out)
        }
        (_, v) => v.clone(),
    }
}

/// The scaled variant's services, without those its profiles leave out.
fn scaled_services() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string("docker-compose.scaled.yml").unwrap();
    let overlay: Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut s = services_of(&merged(&load("docker-compose.yml"), &overlay));
    s.retain(|_, svc| svc["profiles"].is_null());
    s
}

/// The container ports each service listens on, from its published ports and known defaults.
fn listens(name: &str, service: &Value) -> Vec<u16> {
    let mut ports: Vec<u16> = service["ports"]
        .as_sequence()
        .map(|p| p.iter().filter_map(|p| p.as_str()?.rsplit(':').next()?.parse().ok()).collect())
        .unwrap_or_default();
    if name == "kafka" {
        ports.push(9092);
    }
    // slostream's members listen on config/docker.yaml's exporter port, published or not.
    if service["command"][0].as_str() == Some("run") {
        ports.push(9464);
    }
    ports
}

#[test]
fn stack_has_every_part_with_pinned_images_and_healthchecks() {
    let s = services();
    for name in ["kafka", "slostream", "loadgen", "prometheus", "alertmanager", "grafana"] {
        assert!(s.contains_key(name), "service {name} missing");
    }
    check_services(&s);
}

/// Every image pinned or built here, a healthcheck on every long-running service, every port
/// bound to 127.0.0.1.
fn check_services(s: &BTreeMap<String, Value>) {
    for (name, svc) in s {
        if let Some(image) = svc["image"].as_str() {
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(!tag.is_empty() && tag != "latest", "{name}: image {image} is not pinned");
        } else {
            assert_eq!(svc["build"].as_str(), Some("."), "{name}: neither a pinned image nor built from the repo");
        }
        if name != "loadgen" {
            assert!(svc["healthcheck"]["test"].is_sequence(), "{name}: no healthcheck");
        }
        for port in svc["ports"].as_sequence().into_iter().flatten() {
            let p = port.as_str().unwrap();
            assert!(p.starts_with("127.0.0.1:"), "{name}: port {p} not bound to 127.0.0.1");
        }
    }
    let command: Vec<&str> =
        s["loadgen"]["command"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(command[0], "loadgen");
    assert!(command.contains(&"--incident-every"), "loadgen runs incidents on a schedule");
}

/// The scaled variant: the single process left out, two ingest members with their own stable
/// names, two merge members with their own state volumes and host ports, Prometheus scraping
/// exactly those four from the file it mounts, and every check of the plain stack.
#[test]
fn the_scaled_variant_runs_two_ingest_and_two_merge_members() {
    let s = scaled_services();
    assert!(!s.contains_key("slostream"), "the single process is left out of the scaled variant");
    check_services(&s);
    let role = |name: &str| -> (String, Option<String>) {
        let args: Vec<&str> = s[name]["command"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let after = |flag: &str| args.iter().position(|a| *a == flag).map(|i| args[i + 1].to_string());
        (after("--role").unwrap_or_else(|| "all".into()), after("--instance"))
    };
    let members: Vec<(&str, (String, Option<String>))> = s
        .keys()
        .filter(|n| n.starts_with("ingest-") || n.starts_with("merge-"))
        .map(|n| (n.as_str(), role(n)))
        .collect();
    let ingest: Vec<_> = members.iter().filter(|(_, (r, _))| r == "ingest").collect();
    let merge: Vec<_> = members.iter().filter(|(_, (r, _))| r == "merge").collect();
    assert_eq!((ingest.len(), merge.len()), (2, 2), "{members:?}");
    let names: std::collections::BTreeSet<_> =
        ingest.iter().map(|(_, (_, i))| i.clone().expect("an --instance")).collect();
    assert_eq!(names.len(), 2, "each ingest member has a name of its own: {names:?}");
    let state = |n: &str| {
        s[n]["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .find(|v| v.ends_with(":/var/lib/slostream"))
    };
    assert_ne!(
        state(merge[0].0).expect("a state volume"),
        state(merge[1].0).expect("a state volume"),
        "merge members share no state"
    );
    assert!(ingest.iter().all(|(n, _)| state(n).is_none()), "ingest members keep no state");

    // Prometheus mounts the scaled scrape config and it names exactly the four members.
    let mounted: Vec<&str> =
        s["prometheus"]["volumes"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(
        mounted.contains(&"./config/prometheus/prometheus-scaled.yml:/etc/prometheus/prometheus.yml:ro"),
        "{mounted:?}"
    );
    let prom = load("config/prometheus/prometheus-scaled.yml");
    let mut targets = Vec::new();
    for job in prom["scrape_configs"].as_sequence().unwrap() {
        for sc in job["static_configs"].as_sequence().unwrap() {
            for t in sc["targets"].as_sequence().unwrap() {
                let t = t.as_str().unwrap();
                let (host, port) = t.rsplit_once(':').unwrap();
                assert!(listens(host, &s[host]).contains(&port.parse().unwrap()), "{t} is not a member's port");
                targets.push(format!("{}/{host}", job["job_name"].as_str().unwrap()));
            }
        }
    }
    targets.sort();
    assert_eq!(
        targets,
        ["slostream-ingest/ingest-0", "slostream-ingest/ingest-1", "slostream/merge-0", "slostream/merge-1"],
        "SLOStreamDown selects job slostream: the merge members"
    );
    for dep in s["prometheus"]["depends_on"].as_sequence().unwrap() {
        assert!(s.contains_key(dep.as_str().unwrap()), "prometheus depends on {dep:?}, which does not run");
    }
}

#[test]
fn every_mounted_file_exists() {
    for (name, svc) in services().into_iter().chain(scaled_services()) {
        for volume in svc["volumes"].as_sequence().into_iter().flatten() {
            let v = volume.as_str().unwrap();
            let host = v.split(':').next().unwrap();
            if host.starts_with("./") {
                assert!(Path::new(host).exists(), "{name}: mounted {host} does not exist");
            }
        }
    }
}

#[test]
fn cross_references_match_services_and_ports() {
    let s = services();
    let reaches = |target: &str, what: &str| {
        let (host, port) = target.rsplit_once(':').unwrap_or_else(|| panic!("{what}: {target} has no port"));
        let host = host.trim_start_matches("http://");
        let svc = s.get(host).unwrap_or_else(|| panic!("{what}: {host} is not a service"));
        let port: u16 = port.trim_end_matches('/').parse().unwrap();
        assert!(listens(host, svc).contains(&port), "{what}: {host} does not listen on {port}");
    };
    // Prometheus scrapes slostream and alerts to Alertmanager.
    let prom = load("config/prometheus/prometheus.yml");
    for job in prom["scrape_configs"].as_sequence().unwrap() {
        for sc in job["static_configs"].as_sequence().unwrap() {
            for t in sc["targets"].as_sequence().unwrap() {
                reaches(t.as_str().unwrap(), "prometheus scrape");
            }
        }
    }
    for am in prom["alerting"]["alertmanagers"].as_sequence().unwrap() {
        for sc in am["static_configs"].as_sequence().unwrap() {
            for t in sc["targets"].as_sequence().unwrap() {
                reaches(t.as_str().unwrap(), "prometheus alerting");
            }
        }
    }
    // The rule file Prometheus loads is the one mounted, and it is current.
    let mounted: Vec<String> =
        s["prometheus"]["volumes"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    for rule_file in prom["rule_files"].as_sequence().unwrap() {
        let inside = rule_file.as_str().unwrap();
        assert!(mounted.iter().any(|m| m.split(':').nth(1) == Some(inside)), "rule file {inside} is not mounted");
    }
    let generated = std::process::Command::new(env!("CARGO_BIN_EXE_slostream"))
        .args(["rules", "--config", "config/docker.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&generated.stdout),
        std::fs::read_to_string("config/prometheus/slostream-rules.yml").unwrap(),
        "config/prometheus/slostream-rules.yml is stale: regenerate it with `slostream rules --config config/docker.yaml`"
    );
    // Grafana's datasource points at Prometheus; slostream's config at Kafka and Alertmanager.
    let ds = load("config/grafana/provisioning/datasources/prometheus.yaml");
    reaches(ds["datasources"][0]["url"].as_str().unwrap(), "grafana datasource");
    let cfg = slostream::config::Config::load(Path::new("config/docker.yaml")).unwrap();
    reaches(&cfg.kafka.brokers, "slostream kafka.brokers");
    reaches(&cfg.alertmanager.as_ref().unwrap().url, "slostream alertmanager.url");
    assert_eq!(
        cfg.exporter.listen.ip().to_string(),
        "0.0.0.0",
        "inside its container slostream must listen on all interfaces"
    );
    assert!(listens("slostream", &s["slostream"]).contains(&cfg.exporter.listen.port()));
    // Grafana's dashboard provider reads where the dashboards are mounted.
    let provider = load("config/grafana/provisioning/dashboards/slostream.yaml");
    let path = provider["providers"][0]["options"]["path"].as_str().unwrap();
    assert!(
        s["grafana"]["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|v| v.as_str().unwrap().contains(&format!(":{path}"))),
        "grafana dashboards are not mounted at {path}"
    );
    // The state directory is a volume, so windows survive container restarts.
    assert!(s["slostream"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|v| v.as_str().unwrap().ends_with(&format!(":{}", cfg.state.dir.display()))));
}
