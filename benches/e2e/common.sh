# shellcheck shell=bash disable=SC2034
# Shared by the end-to-end benches (run.sh, scale.sh, freshness.sh, rebuild.sh, roles.sh,
# failover.sh); source it, do not run it.
#
# Sets ROOT (the crate), BROKER (tests/kafka/broker.sh), TARGET (cargo's target dir, honouring
# CARGO_TARGET_DIR) and TICK (clock ticks per second, for /proc CPU times), and defines:
#   install_kcat            installs Debian's kcat if missing; fails if it cannot
#   free_port               prints a free local TCP port
#   example_config OUT BOOTSTRAP TOPIC GROUP PORT STATE_DIR
#                           writes config/example.yaml pointed at a broker, topic and port
#   kafka_properties        prints $KAFKA_PROPERTIES ("key=value ..." librdkafka settings, for
#                           trying them in every run of a script) as `kafka.properties` entries;
#                           example_config adds them
#   stop_slostream          SIGTERM $SLOSTREAM_PID, SIGKILL if still running 30 s later
#   stop_all                stops slostream and the broker of $WORK/kafka, removes $WORK
#   start_members_bench NAME TOPIC PARTITIONS
#                           for benches that run several slostream processes as background jobs:
#                           a scratch $WORK, an exit trap that kills this shell's jobs still
#                           running and calls stop_all, the release build ($BIN), and a broker
#                           ($BOOTSTRAP) with TOPIC of PARTITIONS partitions

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BROKER="$ROOT/tests/kafka/broker.sh"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ "$TARGET" == /* ]] || TARGET="$ROOT/$TARGET"
TICK="$(getconf CLK_TCK)"
SLOSTREAM_PID=""

install_kcat() {
  command -v kcat >/dev/null && return 0
  apt-get install -y -qq kcat >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq kcat >/dev/null 2>&1; }
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

kafka_properties() {
  local kv
  for kv in ${KAFKA_PROPERTIES:-}; do printf '    "%s": "%s"\n' "${kv%%=*}" "${kv#*=}"; done
}

example_config() {
  local out=$1 bootstrap=$2 topic=$3 group=$4 port=$5 state=$6
  sed -e "s|^  brokers: .*|  brokers: \"$bootstrap\"|" \
      -e "s|^  topics: .*|  topics: [\"$topic\"]|" \
      -e "s|^  group_id: .*|  group_id: \"$group\"|" \
      -e "s|^  listen: .*|  listen: \"127.0.0.1:$port\"|" \
      "$ROOT/config/example.yaml" |
    awk -v props="$(kafka_properties)" '{ print } /^  properties:/ && props != "" { print props }' >"$out"
  printf 'state:\n  dir: "%s"\n' "$state" >>"$out"
}

# The example config (its SLIs and SLOs), pointed at the bench topic, with its own state dir and
# the freshness probe's SLI (service "freshness-probe", good when status < 500) added at the end
# of `slis:`; checked with `slostream check`, which must list the probe's SLI (output in OUT.check).
probe_config() {
  local out=$1 bootstrap=$2 topic=$3 group=$4 port=$5 state=$6 bench=$7
  example_config "$out.example" "$bootstrap" "$topic" "$group" "$port" "$state"
  awk -v bench="$bench" '/^slos:/ && !done {
           print "  freshness-probe:"
           print "    description: \"probe events of " bench "\""
           print "    match: { service: \"freshness-probe\" }"
           print "    good: { status: { lt: 500 } }"
           print ""
           done = 1
         }
         { print }' "$out.example" >"$out"
  "$BIN" check --config "$out" >"$out.check" 2>&1 || { cat "$out.check" >&2; return 1; }
  grep -q '^  freshness-probe' "$out.check" ||
    { cat "$out.check" >&2; echo "slostream check does not list the freshness-probe SLI" >&2; return 1; }
}

# Σ of TOPIC's end offsets (high watermarks) over its PARTITIONS partitions: every message
# produced so far; fails unless every partition answered.
end_offsets_of() {
  local bootstrap=$1 topic=$2 partitions=$3 p args=()
  for ((p = 0; p < partitions; p++)); do args+=(-t "$topic:$p:-1"); done
  kcat -Q -b "$bootstrap" "${args[@]}" 2>/dev/null |
    awk -v n="$partitions" '/offset/ { s += $NF; k++ } END { if (k == n) printf "%.0f", s; else exit 1 }'
}

# The /metrics text at URL, or nothing while nothing answers (slostream restarting): curl's
# failure must not end a script under pipefail.
metrics_text() {
  curl -s --max-time 1 "$1" 2>/dev/null || true
}

stop_slostream() {
  [[ -n "$SLOSTREAM_PID" ]] || return 0
  kill "$SLOSTREAM_PID" 2>/dev/null || true
  for _ in $(seq 300); do
    kill -0 "$SLOSTREAM_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SLOSTREAM_PID" 2>/dev/null; then
    echo "slostream did not exit within 30 s of SIGTERM; killing it" >&2
    kill -9 "$SLOSTREAM_PID" 2>/dev/null || true
  fi
  wait "$SLOSTREAM_PID" 2>/dev/null || true
  SLOSTREAM_PID=""
}

stop_all() {
  stop_slostream
  if [[ -f "$WORK/kafka/env" ]]; then "$BROKER" stop "$WORK/kafka" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}

# Two-stage benches: an ingest member (`--role ingest --instance $2`) of the config $WORK/$1.yaml,
# replacing the one running, with its /metrics on INGEST_PORT instead of the merge member's PORT;
# its pid in INGEST_PID, its log appended to $WORK/ingest.log.
INGEST_PID=""
start_ingest_member() {
  stop_ingest_member
  sed "s|127.0.0.1:$PORT|127.0.0.1:$INGEST_PORT|" "$WORK/$1.yaml" >"$WORK/ingest-$1.yaml"
  RUST_LOG=info,librdkafka=warn "$BIN" run --config "$WORK/ingest-$1.yaml" --role ingest --instance "$2" \
    >>"$WORK/ingest.log" 2>&1 &
  INGEST_PID=$!
}

stop_ingest_member() {
  [[ -n "$INGEST_PID" ]] || return 0
  kill "$INGEST_PID" 2>/dev/null || true
  wait "$INGEST_PID" 2>/dev/null || true
  INGEST_PID=""
}

start_members_bench() {
  local name=$1 topic=$2 partitions=$3
  WORK="$(mktemp -d "/tmp/slostream-$name-bench.XXXXXX")"
  trap members_bench_cleanup EXIT
  trap 'exit 130' INT TERM
  (cd "$ROOT" && cargo build --release --quiet --bin slostream)
  BIN="$TARGET/release/slostream"
  BOOTSTRAP="$("$BROKER" start "$WORK/kafka")"
  "$BROKER" topic "$WORK/kafka" "$topic" "$partitions" >/dev/null
}

members_bench_cleanup() {
  local rc=$?
  # Only this shell's jobs still running: a pid killed earlier may belong to another process now.
  for pid in $(jobs -p); do kill -9 "$pid" 2>/dev/null || true; done
  stop_all
  exit "$rc"
}
