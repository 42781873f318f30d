#!/usr/bin/env bash
# The whole test suite, from a fresh clone: fetches what it needs, then runs every test.
# Unit, property and config tests need nothing; the end-to-end tests start a real Apache Kafka
# broker through tests/kafka/broker.sh (Java 17 and Maven fetch it; no Docker).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v java >/dev/null || { echo "tests/run.sh: java (17+) is required for the test broker" >&2; exit 1; }
command -v mvn >/dev/null || { echo "tests/run.sh: maven is required to fetch the test broker" >&2; exit 1; }
command -v cargo >/dev/null || { echo "tests/run.sh: cargo is required" >&2; exit 1; }

tests/kafka/broker.sh fetch
cargo build --locked --all-targets
cargo test --locked --all-targets -- --test-threads=2
