#!/usr/bin/env bash
# The whole test suite, from a fresh clone: fetches what it needs, then runs every test.
# Unit, property and config tests need nothing; the end-to-end tests start a real Apache Kafka
# broker through tests/kafka/broker.sh (Java 17 and Maven fetch it; no Docker).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v java >/dev/null || { echo "tests/run.sh: java (17+) is required for the test broker" >&2; exit 1; }
command -v mvn >/dev/null || { echo "tests/run.sh: maven is required to fetch the test broker" >&2; exit 1; }
command -v cargo >/dev/null || { echo "tests/run.sh: cargo is required" >&2; exit 1; }
command -v go >/dev/null || { echo "tests/run.sh: go is required to build helm and the manifest validator" >&2; exit 1; }

# Prometheus, promtool and Alertmanager for the rules, alerting and dashboard tests; Chromium and
# its WebDriver for the status page test. libssl-dev and pkg-config: librdkafka's SASL/SCRAM and
# SSL support.
missing=""
command -v promtool >/dev/null || missing="$missing prometheus"
command -v prometheus-alertmanager >/dev/null || missing="$missing prometheus-alertmanager"
command -v chromium >/dev/null || missing="$missing chromium"
command -v chromedriver >/dev/null || missing="$missing chromium-driver"
command -v pkg-config >/dev/null || missing="$missing pkg-config"
dpkg -s libssl-dev >/dev/null 2>&1 || missing="$missing libssl-dev"
if [ -n "$missing" ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The Debian packages start their services; the tests run their own instances on free ports.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
  (command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null) || true
done

# Helm for the chart tests, built from the Go module proxy once and kept in $(go env GOPATH)/bin;
# then the manifest validator's modules, compiled into Go's build cache so the tests only link it.
# Both: 5 minutes on a fresh 2-core machine, 1 s once cached.
HELM_VERSION=v3.22.0
gobin="$(go env GOPATH)/bin"
if ! go version -m "$gobin/helm" 2>/dev/null | grep -qP "^\tmod\thelm.sh/helm/v3\t$HELM_VERSION\t"; then
  go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
export PATH="$gobin:$PATH"
(cd tests/manifests && go build -o /dev/null .)

tests/kafka/broker.sh fetch
# Every package the lock file names, for every platform: the image test checks the Dockerfile's
# build stage with `cargo fetch --offline`, which needs them all, not only this host's.
cargo fetch --locked
# Benches are compiled here and run with `cargo bench` (timings never live in tests).
cargo build --locked --all-targets
cargo test --locked --lib --bins --tests
