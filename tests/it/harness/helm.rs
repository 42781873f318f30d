//! The Helm chart (`deploy/helm/slostream`) rendered by the real `helm`, and its manifests
//! checked by `tests/manifests`: a Go program that decodes each object strictly into the
//! Kubernetes and Prometheus Operator API types (no cluster needed).
//!
//! `tests/run.sh` installs helm (`go install helm.sh/helm/v3/cmd/helm@HELM_VERSION`) into
//! `$(go env GOPATH)/bin`; the validator is built here, once per test process, into cargo's
//! scratch directory. A missing `helm` or `go` fails the test, saying how to get it.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde::Deserialize as _;
use serde_yaml_ng::Value;

use super::repo_path;

/// The chart, relative to the repository.
pub const CHART: &str = "deploy/helm/slostream";

/// `go env GOPATH`/bin, where `go install` puts helm.
fn go_bin() -> PathBuf {
    let out = Command::new("go").args(["env", "GOPATH"]).output().expect("go must be installed (it builds helm)");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("bin")
}

/// The `helm` on PATH, else the one tests/run.sh installed.
fn helm_binary() -> &'static PathBuf {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        let on_path = Command::new("helm").arg("version").output().is_ok_and(|o| o.status.success());
        let helm = if on_path { PathBuf::from("helm") } else { go_bin().join("helm") };
        let version = Command::new(&helm).args(["version", "--short"]).output().unwrap_or_else(|e| {
            panic!("helm not found ({e}): tests/run.sh installs it, or go install helm.sh/helm/v3/cmd/helm@v3.22.0")
        });
        assert!(String::from_utf8_lossy(&version.stdout).starts_with("v3."), "{helm:?} is not Helm 3");
        helm
    })
}

/// Runs helm with `args` in the repository.
pub fn helm(args: &[&str]) -> Output {
    Command::new(helm_binary()).args(args).current_dir(repo_path("")).output().unwrap()
}

/// `helm template` of the chart as release `slo` with extra `args` (`--set`, `--set-file`):
/// the rendered text, or helm's error.
pub fn try_render(args: &[&str]) -> Result<String, String> {
    let mut all = vec!["template", "slo", CHART];
    all.extend_from_slice(args);
    let out = helm(&all);
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The chart's objects with extra `args`, each validated against its API type.
pub fn render(args: &[&str]) -> Vec<Value> {
    let text = try_render(args).unwrap_or_else(|e| panic!("helm template {args:?}: {e}"));
    validate(&text).unwrap_or_else(|e| panic!("helm template {args:?} renders invalid objects:\n{e}"));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// The one object of `kind`; several of it fail the test.
pub fn object<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let mut of_kind = objects.iter().filter(|o| o["kind"].as_str() == Some(kind));
    let first = of_kind.next().unwrap_or_else(|| panic!("no {kind} rendered"));
    assert!(of_kind.next().is_none(), "several {kind}s rendered");
    first
}

/// The strict validator, built once.
fn validator() -> &'static PathBuf {
    static VALIDATOR: OnceLock<PathBuf> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("validate-manifests");
        let out = Command::new("go")
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(repo_path("tests/manifests"))
            .output()
            .expect("go must be installed to build tests/manifests");
        assert!(out.status.success(), "building tests/manifests: {}", String::from_utf8_lossy(&out.stderr));
        bin
    })
}

/// Every object of a multi-document YAML text decoded strictly into its API type: `Ok` with
/// what was checked (`apiVersion/kind name` a line), or every problem.
pub fn validate(manifests: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new(validator())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(manifests.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
