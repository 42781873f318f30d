//! The Helm chart (`deploy/helm/slostream`), without a cluster: `helm lint` and `helm template`
//! with every switch off and on, each object decoded strictly into its Kubernetes or Prometheus
//! Operator API type, and the rendered pod checked against what slostream and its image need:
//! the config it runs, its state on the volume, credentials from the Secret, probes, the
//! image's user, and a `PrometheusRule` that is exactly `slostream rules` for that config.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_yaml_ng::Value;
use slostream::config::Config;

use crate::harness::helm::{helm, object, render, try_render, validate, CHART};
use crate::harness::scratch_dir;
use crate::image::runtime_user;
use crate::rules::{generate, promtool_accepts};

/// Every optional part switched on (the Secret's name is needed once its keys are used).
const ALL_ON: &[&str] = &[
    "--set",
    "serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboards.enabled=true",
    "--set",
    "kafkaSecret.name=kafka,kafkaSecret.env.KAFKA_PASSWORD=password",
];

fn kinds(objects: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = objects.iter().map(|o| o["kind"].as_str().unwrap().to_string()).collect();
    kinds.sort();
    kinds
}

fn named_containing<'a>(objects: &'a [Value], kind: &str, part: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str().unwrap().contains(part))
        .collect()
}

/// The config file the pod runs, as the ConfigMap holds it.
fn pod_config_text(objects: &[Value]) -> String {
    let configmap = objects.iter().find(|o| o["kind"] == "ConfigMap" && o["data"]["slostream.yaml"].is_string());
    configmap.expect("the config ConfigMap")["data"]["slostream.yaml"].as_str().unwrap().to_string()
}

/// The config the pod runs, parsed by slostream itself (its secrets resolved).
fn pod_config(objects: &[Value]) -> (String, Config) {
    let text = pod_config_text(objects);
    let config = Config::from_yaml(&text, "slostream.yaml").unwrap_or_else(|e| panic!("the chart's config: {e}"));
    (text, config)
}

fn container(objects: &[Value]) -> &Value {
    &object(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
}

/// The mount path of the pod volume `volume`.
fn mount<'a>(objects: &'a [Value], volume: &str) -> &'a str {
    let mounts = container(objects)["volumeMounts"].as_sequence().unwrap();
    let m = mounts.iter().find(|m| m["name"].as_str() == Some(volume)).unwrap_or_else(|| panic!("no {volume} mount"));
    m["mountPath"].as_str().unwrap()
}

#[test]
fn chart_lints_and_renders_valid_objects_with_every_switch_off_and_on() {
    for args in [&[][..], ALL_ON] {
        let mut lint = vec!["lint", "--strict", CHART];
        lint.extend_from_slice(args);
        let out = helm(&lint);
        assert!(out.status.success(), "helm lint {args:?}: {}", String::from_utf8_lossy(&out.stdout));
    }
    let off = render(&[]);
    assert_eq!(
        kinds(&off),
        ["ConfigMap", "PodDisruptionBudget", "Service", "StatefulSet"],
        "optional parts are off by default"
    );
    let on = render(ALL_ON);
    let dashboards = std::fs::read_dir("config/grafana/dashboards").unwrap().count();
    let mut expected =
        vec!["ConfigMap", "PodDisruptionBudget", "PrometheusRule", "Service", "ServiceMonitor", "StatefulSet"];
    expected.extend(std::iter::repeat_n("ConfigMap", dashboards));
    expected.sort();
    assert_eq!(kinds(&on), expected);
    // Each switch alone brings its part only.
    for (switch, kind, count) in [
        ("serviceMonitor.enabled", "ServiceMonitor", 1),
        ("prometheusRule.enabled", "PrometheusRule", 1),
        ("grafanaDashboards.enabled", "ConfigMap", dashboards),
    ] {
        let mut added = kinds(&render(&["--set", &format!("{switch}=true")]));
        for k in kinds(&off) {
            added.remove(added.iter().position(|a| *a == k).unwrap());
        }
        assert_eq!(added, vec![kind; count], "{switch}=true");
    }
}

/// The validator is strict: an unknown field or a bad quantity fails, so a pass means something.
#[test]
fn the_manifest_check_rejects_unknown_fields_and_bad_values() {
    let text = try_render(&[]).unwrap();
    assert!(validate(&text).is_ok());
    for (from, to) in [
        ("maxUnavailable:", "maxUnavailabel:"),
        ("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: yes-please"),
        ("storage: 1Gi", "storage: one-gigabyte"),
        ("kind: Service\n", "kind: Servic\n"),
    ] {
        assert!(text.contains(from), "{from}");
        let broken = text.replacen(from, to, 1);
        assert!(validate(&broken).is_err(), "{to} passed the check");
    }
}

#[test]
fn pod_runs_the_images_user_read_only_with_its_state_on_the_volume() {
    let objects = render(&[]);
    let set = object(&objects, "StatefulSet");
    let pod = &set["spec"]["template"]["spec"];
    let c = container(&objects);
    let (_, config) = pod_config(&objects);

    assert_eq!(set["spec"]["replicas"].as_u64(), Some(1), "one instance per consumer group and state directory");
    // The state directory of the config is the persistent volume's mount.
    let claims = set["spec"]["volumeClaimTemplates"].as_sequence().unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["metadata"]["name"].as_str(), Some("state"));
    assert_eq!(claims[0]["spec"]["resources"]["requests"]["storage"].as_str(), Some("1Gi"));
    assert_eq!(Path::new(mount(&objects, "state")), config.state.dir, "checkpoints must land on the volume");
    // The container reads the ConfigMap's file.
    let args: Vec<&str> = c["args"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args, ["run", "--config", &format!("{}/slostream.yaml", mount(&objects, "config"))]);
    // It listens where the probes, the Service and the ServiceMonitor look.
    let port = c["ports"][0]["containerPort"].as_u64().unwrap();
    assert_eq!(config.exporter.listen.to_string(), format!("0.0.0.0:{port}"));
    assert_eq!(c["ports"][0]["name"].as_str(), Some("http"));
    assert_eq!(object(&objects, "Service")["spec"]["ports"][0]["targetPort"].as_str(), Some("http"));
    for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/health")] {
        assert_eq!(c[probe]["httpGet"]["path"].as_str(), Some(path), "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"].as_str(), Some("http"), "{probe}");
    }
    // The image's user, no privilege, a read-only root filesystem.
    let (uid, gid) = runtime_user();
    assert_eq!(pod["securityContext"]["runAsUser"].as_u64(), Some(uid.into()), "the Dockerfile's USER");
    assert_eq!(pod["securityContext"]["runAsGroup"].as_u64(), Some(gid.into()));
    assert_eq!(pod["securityContext"]["fsGroup"].as_u64(), Some(gid.into()), "the volume must be writable for it");
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0].as_str(), Some("ALL"));
    assert!(c["resources"]["requests"]["memory"].is_string() && c["resources"]["limits"]["memory"].is_string());
    // SIGTERM's final checkpoint finishes before the kubelet kills the pod.
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > config.ingest.shutdown_grace.as_secs(),
        "grace {grace}s <= shutdown_grace {:?}",
        config.ingest.shutdown_grace
    );
    // The disruption budget and the Service select this pod.
    let labels = set["spec"]["template"]["metadata"]["labels"].as_mapping().unwrap();
    for selector in [
        &object(&objects, "Service")["spec"]["selector"],
        &object(&objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        &set["spec"]["selector"]["matchLabels"],
    ] {
        for (k, v) in selector.as_mapping().unwrap() {
            assert_eq!(labels.get(k), Some(v), "selector {k:?} does not select the pod");
        }
    }
}

#[test]
fn a_config_change_rolls_the_pod_and_nothing_else_does() {
    let checksum = |args: &[&str]| {
        let objects = render(args);
        object(&objects, "StatefulSet")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let base = checksum(&[]);
    assert_eq!(base.len(), 64, "a sha256");
    assert_ne!(checksum(&["--set-file", "config=config/docker.yaml"]), base, "another config");
    assert_ne!(checksum(&["--set", "config.kafka.group_id=other"]), base, "one key changed");
    assert_eq!(checksum(&["--set", "resources.limits.memory=1Gi"]), base, "resources do not change the config");
}

/// The chart's own config keys win over the user's: listen address and state directory.
#[test]
fn user_config_is_used_with_the_charts_listen_address_and_state_directory() {
    let objects = render(&["--set-file", "config=config/docker.yaml", "--set", "service.port=9500"]);
    let (_, config) = pod_config(&objects);
    let docker = Config::load(Path::new("config/docker.yaml")).unwrap();
    assert_eq!(config.kafka.brokers, docker.kafka.brokers);
    assert_eq!(config.slos.len(), docker.slos.len());
    assert_eq!(config.exporter.listen.to_string(), "0.0.0.0:9500");
    assert_eq!(container(&objects)["ports"][0]["containerPort"].as_u64(), Some(9500));
    assert_eq!(Path::new(mount(&objects, "state")), config.state.dir);
    assert!(try_render(&["--set", "role=ingest"]).unwrap_err().contains("role"), "unknown roles fail");
}

/// Credentials: a `${file:...}` path into the mounted Secret and a `${NAME}` from its keys,
/// resolved as the pod would (the mount replaced by a directory of the same files).
#[test]
fn kafka_credentials_come_from_the_secret_in_both_forms_slostream_reads() {
    let dir = scratch_dir("chart-secret");
    let config = std::fs::read_to_string("config/example.yaml").unwrap().replacen(
        "    client.id: \"slostream\"\n",
        "    client.id: \"slostream\"\n    security.protocol: SASL_SSL\n    sasl.mechanism: SCRAM-SHA-512\n    \
         sasl.username: \"${KAFKA_USER}\"\n    sasl.password: \"${file:/etc/slostream/kafka-secret/password}\"\n",
        1,
    );
    assert!(config.contains("sasl.password"), "the example's client.id line moved");
    std::fs::write(dir.join("values-config.yaml"), &config).unwrap();
    let config_file = dir.join("values-config.yaml");
    let objects = render(&[
        "--set-file",
        &format!("config={}", config_file.display()),
        "--set",
        "kafkaSecret.name=kafka-credentials,kafkaSecret.env.KAFKA_USER=username",
    ]);
    let pod = &object(&objects, "StatefulSet")["spec"]["template"]["spec"];
    let volume = pod["volumes"].as_sequence().unwrap().iter().find(|v| v["name"] == "kafka-secret").unwrap();
    assert_eq!(volume["secret"]["secretName"].as_str(), Some("kafka-credentials"));
    let env = &container(&objects)["env"][0];
    assert_eq!(env["name"].as_str(), Some("KAFKA_USER"));
    assert_eq!(env["valueFrom"]["secretKeyRef"]["name"].as_str(), Some("kafka-credentials"));
    assert_eq!(env["valueFrom"]["secretKeyRef"]["key"].as_str(), Some("username"));

    // The pod's view: the Secret's keys as files where the mount is, its key as the variable.
    let text = pod_config_text(&objects);
    let mounted = dir.join("kafka-secret");
    std::fs::create_dir_all(&mounted).unwrap();
    std::fs::write(mounted.join("password"), "s3cret-pw\n").unwrap();
    let text = text.replace(mount(&objects, "kafka-secret"), mounted.to_str().unwrap());
    let state = dir.join("state");
    let text = text.replace(mount(&objects, "state"), state.to_str().unwrap());
    std::fs::write(dir.join("pod.yaml"), &text).unwrap();
    let check = |user: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_slostream"));
        cmd.arg("check").arg("--config").arg(dir.join("pod.yaml")).env_remove("KAFKA_USER");
        if let Some(user) = user {
            cmd.env("KAFKA_USER", user);
        }
        cmd.output().unwrap()
    };
    let ok = check(Some("slo-reader"));
    let printed = format!("{}{}", String::from_utf8_lossy(&ok.stdout), String::from_utf8_lossy(&ok.stderr));
    assert!(ok.status.success(), "the pod's config with its secrets: {printed}");
    assert!(!printed.contains("s3cret-pw"), "the password was printed: {printed}");
    let unset = check(None);
    assert!(!unset.status.success() && String::from_utf8_lossy(&unset.stderr).contains("KAFKA_USER"));
    // Naming keys without the Secret is an error, not a pod that cannot start.
    assert!(try_render(&["--set", "kafkaSecret.env.X=y"]).unwrap_err().contains("kafkaSecret.name"));
}

/// The groups of a `PrometheusRule` or rule file.
fn groups(text: &str) -> Value {
    let v: Value = serde_yaml_ng::from_str(text).unwrap();
    if v["spec"].is_null() {
        v["groups"].clone()
    } else {
        v["spec"]["groups"].clone()
    }
}

#[test]
fn prometheus_rule_is_what_slostream_rules_prints_for_the_pods_config() {
    let generated = generate("config/example.yaml", &["--format", "prometheus-operator"]);
    assert_eq!(
        std::fs::read_to_string(format!("{CHART}/files/prometheus-rule.yaml")).unwrap(),
        generated,
        "{CHART}/files/prometheus-rule.yaml is stale: regenerate it with \
         `slostream rules --format prometheus-operator --config config/example.yaml`"
    );
    let objects = render(&["--set", "prometheusRule.enabled=true,serviceMonitor.enabled=true"]);
    let rule = object(&objects, "PrometheusRule");
    let monitor = object(&objects, "ServiceMonitor");
    let job = monitor["spec"]["endpoints"][0]["relabelings"][0]["replacement"].as_str().unwrap();
    assert_eq!(monitor["spec"]["endpoints"][0]["relabelings"][0]["targetLabel"].as_str(), Some("job"));
    // The rules slostream prints for the config in the pod, with the job the ServiceMonitor sets.
    let dir = scratch_dir("chart-rules");
    let (text, _) = pod_config(&objects);
    std::fs::write(dir.join("pod.yaml"), text).unwrap();
    let pod = dir.join("pod.yaml");
    let expected = generate(pod.to_str().unwrap(), &["--job", job, "--format", "prometheus-operator"]);
    assert_eq!(rule["spec"]["groups"], groups(&expected));
    assert_eq!(rule["spec"]["groups"], groups(&generate(pod.to_str().unwrap(), &["--job", job])));
    promtool_accepts(&rule["spec"]["groups"]);
    // The ServiceMonitor scrapes the Service's port.
    let service = object(&objects, "Service");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(monitor["spec"]["endpoints"][0]["path"].as_str(), Some("/metrics"));
    for (k, v) in monitor["spec"]["selector"]["matchLabels"].as_mapping().unwrap() {
        assert_eq!(service["metadata"]["labels"].get(k), Some(v), "the ServiceMonitor does not select the Service");
    }
}

#[test]
fn own_config_needs_its_own_rules_for_the_same_job() {
    let on = "prometheusRule.enabled=true,serviceMonitor.enabled=true";
    let err = try_render(&["--set-file", "config=config/docker.yaml", "--set", on]).unwrap_err();
    assert!(err.contains("prometheusRule.rules"), "the example's rules for another config: {err}");
    let dir = scratch_dir("chart-own-rules");
    for (job, renders) in [("slostream", true), ("another-job", false)] {
        let rules = dir.join(format!("{job}.yaml"));
        std::fs::write(&rules, generate("config/docker.yaml", &["--job", job, "--format", "prometheus-operator"]))
            .unwrap();
        let args = [
            "--set-file",
            "config=config/docker.yaml",
            "--set-file",
            &format!("prometheusRule.rules={}", rules.display()),
            "--set",
            on,
        ];
        match try_render(&args) {
            Ok(_) => {
                assert!(renders, "rules for job {job} rendered with serviceMonitor.job=slostream");
                let objects = render(&args);
                let expected = generate("config/docker.yaml", &["--format", "prometheus-operator"]);
                assert_eq!(object(&objects, "PrometheusRule")["spec"]["groups"], groups(&expected));
            }
            Err(e) => assert!(!renders && e.contains("serviceMonitor.job"), "{job}: {e}"),
        }
    }
    let not_rules = try_render(&["--set-file", "prometheusRule.rules=config/example.yaml", "--set", on]).unwrap_err();
    assert!(not_rules.contains("prometheus-operator"), "{not_rules}");
}

#[test]
fn grafana_dashboards_are_the_repositorys_for_the_sidecar() {
    let objects = render(&["--set", "grafanaDashboards.enabled=true,grafanaDashboards.datasourceUid=kube-prom"]);
    let maps = named_containing(&objects, "ConfigMap", "-dashboard-");
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir("config/grafana/dashboards").unwrap() {
        files.insert(entry.unwrap().file_name().into_string().unwrap());
    }
    assert_eq!(maps.len(), files.len());
    for map in maps {
        assert_eq!(map["metadata"]["labels"]["grafana_dashboard"].as_str(), Some("1"));
        let data = map["data"].as_mapping().unwrap();
        assert_eq!(data.len(), 1);
        let (name, json) = data.iter().next().unwrap();
        let name = name.as_str().unwrap();
        assert!(files.contains(name), "{name}");
        let rendered: serde_json::Value = serde_json::from_str(json.as_str().unwrap()).unwrap();
        let source = std::fs::read_to_string(format!("config/grafana/dashboards/{name}")).unwrap();
        assert!(source.contains("\"uid\": \"slostream-prometheus\""), "{name}: the datasource uid changed");
        let source: serde_json::Value =
            serde_json::from_str(&source.replace("\"uid\": \"slostream-prometheus\"", "\"uid\": \"kube-prom\""))
                .unwrap();
        assert_eq!(rendered, source, "{name}: only the datasource uid may differ");
        assert!(!json.as_str().unwrap().contains("slostream-prometheus"));
    }
}
