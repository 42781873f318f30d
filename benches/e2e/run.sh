#!/usr/bin/env bash
# End-to-end throughput from a real broker, against the raw consumer in the same run.
#
#   benches/e2e/run.sh [EVENTS]      default 5000000 (or $E2E_EVENTS); e.g. 200000 for a smoke run
#
#   E2E_EVENT_BYTES=N   pad each event to about N bytes (`slostream loadgen --event-bytes N`: a
#                       query list, ~20 request headers, a long user agent; the fields SLIs read
#                       unchanged); unset or 0: the loadgen's own ~250-byte events
#   E2E_COMPRESSION=C   the topic's batches compressed with C (`slostream loadgen --compression`:
#                       none, gzip, snappy, lz4, zstd); default lz4
#   E2E_COMPARE="before=/path/to/slostream ..."   also runs these builds of slostream, one row
#                                                 each, in the same run (same topic and config)
#
# Starts the test broker (tests/kafka/broker.sh: Java + Maven, no Docker), creates a topic of 8
# partitions, preloads it with EVENTS loadgen events (`slostream loadgen --rate 0`), then reads
# the whole topic from the beginning with:
#   raw        examples/raw_consume.rs: slostream's librdkafka settings (ingest::client_config
#              on the same config file) and threads (ingest.workers), touching payloads only,
#              reading batches from the consumer queue as slostream does (ingest::batch)
#   raw-per-message  the same, one message per rust-rdkafka `BaseConsumer::poll` call
#              (a reference: the usual way to read with rust-rdkafka)
#   slostream  `slostream run` on a fresh state dir, until slostream_events_consumed_total on
#              /metrics reaches EVENTS (exported every 0.5 s: up to ~1 s late)
#   kcat       `kcat -C -e -q -o beginning | wc -l`: an outside reference (librdkafka defaults)
# and the raw consumer once more at the end, to bracket how much the machine moved during the run.
# E2E_ROUNDS=R repeats raw, slostream (and E2E_COMPARE) R times, alternating. Prints one table:
# events/s and CPU seconds per million events (medians over the runs of each kind), peak RSS,
# and the ratio of the median rate to the raw consumer's. Times run from process start (connecting and metadata included). Everything
# it started is stopped and its temporary directory removed on exit, also on failure.
set -euo pipefail

EVENTS="${1:-${E2E_EVENTS:-5000000}}"
EVENT_BYTES="${E2E_EVENT_BYTES:-0}"
COMPRESSION="${E2E_COMPRESSION:-lz4}"
PARTITIONS=8
TOPIC=bench-requests
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
WORK="$(mktemp -d /tmp/slostream-e2e-bench.XXXXXX)"

log() { echo "e2e: $*" >&2; }

cleanup() {
  local rc=$?
  stop_all
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ "$EVENTS" =~ ^[0-9]+$ && "$EVENTS" -gt 0 ]] || { echo "usage: $0 [EVENTS]" >&2; exit 2; }
[[ "$EVENT_BYTES" =~ ^[0-9]+$ ]] || { echo "E2E_EVENT_BYTES must be a number of bytes" >&2; exit 2; }
PAD=()
if [[ "$EVENT_BYTES" -gt 0 ]]; then PAD=(--event-bytes "$EVENT_BYTES"); fi

log "building slostream and examples/raw_consume (release)"
(cd "$ROOT" && cargo build --release --quiet --bin slostream --example raw_consume)
BIN="$TARGET/release/slostream"
RAW="$TARGET/release/examples/raw_consume"

install_kcat || log "kcat could not be installed; its row is left out"

log "starting the broker"
BOOTSTRAP="$("$BROKER" start "$WORK/kafka")"
"$BROKER" topic "$WORK/kafka" "$TOPIC" "$PARTITIONS" >/dev/null

log "preloading $EVENTS events into $TOPIC ($PARTITIONS partitions)"
start=$(date +%s.%N)
"$BIN" loadgen --brokers "$BOOTSTRAP" --topic "$TOPIC" --rate 0 --count "$EVENTS" --incident-every 0 --compression "$COMPRESSION" "${PAD[@]}" 2>"$WORK/loadgen.log" ||
  { cat "$WORK/loadgen.log" >&2; exit 1; }
log "$(tail -n1 "$WORK/loadgen.log") in $(echo "$(date +%s.%N) - $start" | bc) s"
# The average payload size the loadgen reports ("..., N bytes each on average").
SIZE="$(tail -n1 "$WORK/loadgen.log" | awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "bytes") print $i }')"

PORT="$(free_port)"
# The example config (its SLIs and SLOs), pointed at the bench topic, with its own state dir.
example_config "$WORK/slostream.yaml" "$BOOTSTRAP" "$TOPIC" "bench-$$" "$PORT" "$WORK/state"
"$BIN" check --config "$WORK/slostream.yaml" >/dev/null

ROWS=()
# row NAME SECONDS CPU_SECONDS PEAK_RSS_KB
row() { ROWS+=("$1|$2|$3|$4"); log "$1: $EVENTS events of ${SIZE} bytes in $2 s, $3 CPU s, peak RSS $4 KB"; }

# A command that exits by itself, under /usr/bin/time (wall, user + sys of it and its children,
# largest RSS among them).
timed() {
  local name=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
    { cat "$WORK/$name.err" >&2; exit 1; }
  read -r wall user sys rss <"$WORK/time"
  row "$name" "$wall" "$(echo "$user + $sys" | bc)" "$rss"
}

metric() {
  curl -s --max-time 1 "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
    awk '$1 == "slostream_events_consumed_total" { printf "%d", $2 }'
}

# run_raw NAME [RAW_CONSUME_ARGS...]
run_raw() {
  local name=$1; shift
  timed "$name" "$RAW" --config "$WORK/slostream.yaml" --count "$EVENTS" "$@"
  log "$(cat "$WORK/$name.out")"
}

# run_slostream NAME BINARY
run_slostream() {
  local name=$1 bin=$2
  log "$name run"
  local start now seen=0 first_t="" first_n=0 stat
  rm -rf "$WORK/state"
  start=$(date +%s.%N)
  RUST_LOG=warn "$bin" run --config "$WORK/slostream.yaml" >"$WORK/slostream.log" 2>&1 &
  SLOSTREAM_PID=$!
  while :; do
    kill -0 "$SLOSTREAM_PID" 2>/dev/null || { cat "$WORK/slostream.log" >&2; log "slostream exited"; exit 1; }
    seen="$(metric || true)"; seen="${seen:-0}"
    now=$(date +%s.%N)
    if [[ "$seen" -gt 0 && -z "$first_t" ]]; then first_t=$now; first_n=$seen; fi
    [[ "$seen" -ge "$EVENTS" ]] && break
    if [[ "$(echo "$now - $start > 600" | bc)" == 1 ]]; then log "slostream: only $seen of $EVENTS after 600 s"; exit 1; fi
    sleep 0.1
  done
  read -ra stat <"/proc/$SLOSTREAM_PID/stat"
  # utime and stime are fields 14 and 15; the command name (field 2) has no spaces here.
  local cpu rss
  cpu=$(echo "scale=2; (${stat[13]} + ${stat[14]}) / $TICK" | bc)
  rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SLOSTREAM_PID/status")
  row "$name" "$(echo "scale=2; ($now - $start) / 1" | bc)" "$cpu" "$rss"
  if [[ -n "$first_t" && "$(echo "$now > $first_t" | bc)" == 1 ]]; then
    STEADY+="$name $(echo "scale=0; ($seen - $first_n) / ($now - $first_t)" | bc) events/s; "
  fi
  stop_slostream
}

STEADY=""
ROUNDS="${E2E_ROUNDS:-1}"
for ((round = 1; round <= ROUNDS; round++)); do
  run_raw raw
  run_raw raw-per-message --per-message
  run_slostream slostream "$BIN"
  for spec in ${E2E_COMPARE:-}; do
    run_slostream "${spec%%=*}" "${spec#*=}"
  done
done
if command -v kcat >/dev/null; then
  timed kcat bash -c "kcat -C -b '$BOOTSTRAP' -t '$TOPIC' -e -q -o beginning | wc -l"
  got=$(tr -d ' ' <"$WORK/kcat.out")
  [[ "$got" == "$EVENTS" ]] || log "kcat read $got messages, expected $EVENTS"
fi
run_raw raw

# Per run kind, in order of appearance: the median of its runs (events/s, CPU), the largest RSS.
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.6f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
NAMES=()
for r in "${ROWS[@]}"; do
  name=${r%%|*}
  [[ " ${NAMES[*]} " == *" $name "* ]] || NAMES+=("$name")
done
declare -A RATE CPU RSS RUNS
for name in "${NAMES[@]}"; do
  lines=$(for r in "${ROWS[@]}"; do if [[ "${r%%|*}" == "$name" ]]; then echo "$r"; fi; done)
  RUNS[$name]=$(wc -l <<<"$lines")
  RATE[$name]=$(awk -F'|' -v n="$EVENTS" '{ print n / $2 }' <<<"$lines" | median)
  CPU[$name]=$(awk -F'|' -v n="$EVENTS" '{ print $3 * 1000000 / n }' <<<"$lines" | median)
  RSS[$name]=$(awk -F'|' '$4 > m { m = $4 } END { print m / 1024 }' <<<"$lines")
done

echo
echo "slostream e2e: $EVENTS events of ${SIZE} bytes on average, $PARTITIONS partitions, $(nproc) CPUs, $ROUNDS round(s), $(date -u +%Y-%m-%dT%H:%MZ)"
echo
printf '| %-16s | %4s | %12s | %16s | %14s | %12s |\n' run runs events/s "CPU s / M events" "peak RSS (MB)" "ratio to raw"
printf '|%s|%s|%s|%s|%s|%s|\n' ------------------ ------ -------------- ------------------ ---------------- --------------
for name in "${NAMES[@]}"; do
  printf '| %-16s | %4d | %12.0f | %16.2f | %14.1f | %12.2f |\n' "$name" "${RUNS[$name]}" "${RATE[$name]}" \
    "${CPU[$name]}" "${RSS[$name]}" "$(echo "${RATE[$name]} / ${RATE[raw]}" | bc -l)"
done
echo
echo "Medians over the runs of each kind (raw also once after kcat, to bracket the machine's drift)."
echo "Start-up excluded, from the first to the last /metrics reading: $STEADY"
