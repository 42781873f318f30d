#!/usr/bin/env bash
# slostream at scale: memory, /metrics render time and throughput with thousands of SLIs and SLOs,
# against a real broker, and whether scrapes slow ingest.
#
#   benches/e2e/scale.sh [SLIS] [EVENTS] [SLOS]     defaults 10000, 2000000 and SLIS
#   LIVE_RATE=50000 LIVE_SECS=60                     the live phase (below)
#   KAFKA_PROPERTIES="fetch.max.bytes=8388608 ..."   extra librdkafka settings (both configs)
#
# Generates a config of SLIS SLIs (five per service, services svc-00000 ..) and SLOS SLOs (one
# per SLI, each combining it with the next SLI of its service, up to SLOS), preloads an 8-partition topic
# with EVENTS `slostream loadgen --services SLIS/5` events, and reads it three times from the
# beginning on a fresh state dir:
#   example   config/example.yaml (3 SLOs) on the same topic: the baseline rate
#   scale     the generated config, no scrapes while consuming
#   scraped   the generated config, /metrics scraped back to back while consuming (a scrape
#             every ~0.1 s: well over Prometheus' usual 15 s interval)
# After `scale` has consumed everything: RSS now and at peak (VmRSS, VmHWM), and 10 timed scrapes
# of /metrics (median and max, body size, series count). Then the live phase: the generated
# config on a second, empty topic, started with no backlog (librdkafka's prefetch queues, up to
# 16 MB per worker, stay nearly empty), RSS once ready and after LIVE_SECS of loadgen at
# LIVE_RATE events/s over all services with a scrape every 15 s. Prints one table.
set -euo pipefail

SLIS="${1:-10000}"
EVENTS="${2:-2000000}"
SLOS="${3:-$SLIS}"
LIVE_RATE="${LIVE_RATE:-50000}"
LIVE_SECS="${LIVE_SECS:-60}"
PARTITIONS=8
TOPIC=scale-requests
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
WORK="$(mktemp -d /tmp/slostream-scale-bench.XXXXXX)"
SCRAPER=""

log() { echo "scale: $*" >&2; }

cleanup() {
  local rc=$?
  if [[ -n "$SCRAPER" ]]; then kill "$SCRAPER" 2>/dev/null || true; fi
  stop_all
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ "$SLIS" =~ ^[0-9]+$ && $((SLIS % 5)) -eq 0 && "$SLIS" -gt 0 ]] || { echo "usage: $0 [SLIS (a multiple of 5)] [EVENTS]" >&2; exit 2; }
SERVICES=$((SLIS / 5))

log "building slostream (release)"
(cd "$ROOT" && cargo build --release --quiet --bin slostream)
BIN="$TARGET/release/slostream"

log "starting the broker"
BOOTSTRAP="$("$BROKER" start "$WORK/kafka")"
"$BROKER" topic "$WORK/kafka" "$TOPIC" "$PARTITIONS" >/dev/null
log "preloading $EVENTS events over $SERVICES services"
"$BIN" loadgen --brokers "$BOOTSTRAP" --topic "$TOPIC" --rate 0 --count "$EVENTS" --incident-every 0 \
  --services "$SERVICES" 2>"$WORK/loadgen.log" || { cat "$WORK/loadgen.log" >&2; exit 1; }

PORT="$(free_port)"
header() {
  printf 'kafka:\n  brokers: "%s"\n  topics: ["%s"]\n  group_id: "scale-%s"\n' "$BOOTSTRAP" "$TOPIC" "$$"
  if [[ -n "${KAFKA_PROPERTIES:-}" ]]; then printf '  properties:\n'; kafka_properties; fi
  printf 'exporter:\n  listen: "127.0.0.1:%s"\nstate:\n  dir: "%s"\n' "$PORT" "$WORK/state"
}
{
  header
  printf 'events:\n  timestamp_field: "timestamp"\n  latency_field: "latency_ms"\n'
  python3 - "$SERVICES" "$SLOS" <<'PY'
import sys
services, slos = int(sys.argv[1]), int(sys.argv[2])
kinds = [
    ("availability", '{ service: "%s", route: ["/v2/trips", "/v2/trips/{id}", "/v1/geocode", "/v1/bookings"] }', "{ status: { lt: 500 } }"),
    ("latency", '{ service: "%s" }', "{ latency_ms: { le: 300 } }"),
    ("writes", '{ service: "%s", method: ["POST"] }', "{ all: [ { status: { lt: 500 } }, { status: { not_in: [429] } } ] }"),
    ("search", '{ service: "%s", route: { prefix: "/v2/trips" } }', "{ status: { lt: 500 }, latency_ms: { le: 1000 } }"),
    ("health", '{ service: "%s", route: "/v2/health" }', "{ status: { eq: 200 } }"),
]
out = ["slis:"]
for s in range(services):
    svc = "svc-%05d" % s
    for name, match, good in kinds:
        out.append("  %s-%s:\n    match: %s\n    good: %s" % (svc, name, match % svc, good))
out.append("slos:")
for s in range(services):
    svc = "svc-%05d" % s
    for i, (name, _, _) in enumerate(kinds):
        if slos == 0:
            break
        slos -= 1
        other = kinds[(i + 1) % len(kinds)][0]
        objective, period = (99.9, "30d") if i % 2 else (99.5, "28d")
        out.append("  %s-%s: { objective: %s, period: \"%s\", slis: [%s-%s, %s-%s] }" % (svc, name, objective, period, svc, name, svc, other))
print("\n".join(out))
PY
} >"$WORK/scale.yaml"
example_config "$WORK/example.yaml" "$BOOTSTRAP" "$TOPIC" "scale-example-$$" "$PORT" "$WORK/state"
"$BIN" check --config "$WORK/scale.yaml" >/dev/null
"$BIN" check --config "$WORK/example.yaml" >/dev/null
log "config: $SLIS SLIs, $SLOS SLOs ($(wc -c <"$WORK/scale.yaml") bytes)"

consumed() {
  curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
    awk '$1 == "slostream_events_consumed_total" { printf "%d", $2 }'
}

ROWS=()
# consume NAME CONFIG [scraped]: reads the topic from the beginning; leaves slostream running.
consume() {
  local name=$1 config=$2 scraped=${3:-} start now seen stat cpu
  rm -rf "$WORK/state"
  start=$(date +%s.%N)
  RUST_LOG=warn "$BIN" run --config "$config" >"$WORK/$name.log" 2>&1 &
  SLOSTREAM_PID=$!
  if [[ -n "$scraped" ]]; then
    (while :; do curl -s --max-time 10 -o /dev/null "http://127.0.0.1:$PORT/metrics" || sleep 0.1; done) &
    SCRAPER=$!
  fi
  while :; do
    kill -0 "$SLOSTREAM_PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; log "slostream exited"; exit 1; }
    seen="$(consumed || true)"
    [[ "${seen:-0}" -ge "$EVENTS" ]] && break
    now=$(date +%s.%N)
    if [[ "$(echo "$now - $start > 900" | bc)" == 1 ]]; then log "$name: only ${seen:-0} of $EVENTS after 900 s"; exit 1; fi
    sleep 0.1
  done
  now=$(date +%s.%N)
  if [[ -n "$SCRAPER" ]]; then kill "$SCRAPER" 2>/dev/null || true; wait "$SCRAPER" 2>/dev/null || true; SCRAPER=""; fi
  read -ra stat <"/proc/$SLOSTREAM_PID/stat"
  cpu=$(echo "scale=2; (${stat[13]} + ${stat[14]}) / $TICK" | bc)
  ROWS+=("$name|$(echo "scale=2; ($now - $start) / 1" | bc)|$cpu|$(awk '/^VmHWM:/ { print $2 }' "/proc/$SLOSTREAM_PID/status")")
  log "$name: ${ROWS[-1]}"
}

consume example "$WORK/example.yaml"; stop_slostream
consume scale "$WORK/scale.yaml"
sleep 2
RSS_NOW=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SLOSTREAM_PID/status")
RSS_PEAK=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SLOSTREAM_PID/status")
TIMES=()
for _ in $(seq 10); do
  TIMES+=("$(curl -s -o "$WORK/metrics.txt" -w '%{time_total}' "http://127.0.0.1:$PORT/metrics")")
done
BODY=$(wc -c <"$WORK/metrics.txt")
SERIES=$(grep -vc '^#' "$WORK/metrics.txt")
SLO_SERIES=$(grep -c '^slostream_slo_burn_rate{' "$WORK/metrics.txt" || true)
SCRAPE_MEDIAN=$(printf '%s\n' "${TIMES[@]}" | sort -g | awk '{ v[NR] = $1 } END { print (v[5] + v[6]) / 2 * 1000 }')
SCRAPE_MAX=$(printf '%s\n' "${TIMES[@]}" | sort -g | tail -n1 | awk '{ print $1 * 1000 }')
stop_slostream
consume scraped "$WORK/scale.yaml" scraped; stop_slostream

LIVE_TOPIC=scale-live
log "live: $LIVE_RATE events/s for $LIVE_SECS s on an empty topic"
"$BROKER" topic "$WORK/kafka" "$LIVE_TOPIC" "$PARTITIONS" >/dev/null
sed "s|^  topics: .*|  topics: [\"$LIVE_TOPIC\"]|" "$WORK/scale.yaml" >"$WORK/live.yaml"
rm -rf "$WORK/state"
RUST_LOG=warn "$BIN" run --config "$WORK/live.yaml" >"$WORK/live.log" 2>&1 &
SLOSTREAM_PID=$!
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ready")" == 200 ]]; do
  kill -0 "$SLOSTREAM_PID" 2>/dev/null || { cat "$WORK/live.log" >&2; exit 1; }
  sleep 0.2
done
curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics"
RSS_READY=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SLOSTREAM_PID/status")
"$BIN" loadgen --brokers "$BOOTSTRAP" --topic "$LIVE_TOPIC" --rate "$LIVE_RATE" --incident-every 0 \
  --services "$SERVICES" 2>"$WORK/live-loadgen.log" &
LOADGEN=$!
for ((t = 0; t < LIVE_SECS; t += 15)); do
  sleep 15
  curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics"
done
RSS_LIVE=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SLOSTREAM_PID/status")
RSS_LIVE_PEAK=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SLOSTREAM_PID/status")
LIVE_CONSUMED=$(consumed)
kill "$LOADGEN" 2>/dev/null || true
wait "$LOADGEN" 2>/dev/null || true
stop_slostream

rate() { awk -F'|' -v n="$EVENTS" -v k="$1" '$1 == k { printf "%.0f", n / $2 }' <<<"$(printf '%s\n' "${ROWS[@]}")"; }
echo
echo "slostream at scale: $SLIS SLIs, $SLOS SLOs, $EVENTS events, $PARTITIONS partitions, $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
printf '| %-8s | %12s | %16s | %14s | %16s |\n' run events/s "CPU s / M events" "peak RSS (MB)" "ratio to example"
printf '|%s|%s|%s|%s|%s|\n' ---------- -------------- ------------------ ---------------- ------------------
for r in "${ROWS[@]}"; do
  IFS="|" read -r name _ cpu rss <<<"$r"
  printf '| %-8s | %12.0f | %16.2f | %14.1f | %16.2f |\n' "$name" "$(rate "$name")" \
    "$(echo "$cpu * 1000000 / $EVENTS" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$(echo "$(rate "$name") / $(rate example)" | bc -l)"
done
echo
echo "scale, after consuming everything: RSS $((RSS_NOW / 1024)) MB now, $((RSS_PEAK / 1024)) MB peak"
echo "/metrics: $SERIES series ($SLO_SERIES burn-rate series), $((BODY / 1024)) KB; 10 scrapes: median ${SCRAPE_MEDIAN} ms, max ${SCRAPE_MAX} ms"
echo "scraped vs scale: $(echo "$(rate scraped) / $(rate scale)" | bc -l | cut -c1-4)x the rate with /metrics scraped back to back"
echo "live, no backlog: RSS $((RSS_READY / 1024)) MB when ready; after ${LIVE_SECS} s at $LIVE_RATE events/s (${LIVE_CONSUMED:-?} consumed): $((RSS_LIVE / 1024)) MB now, $((RSS_LIVE_PEAK / 1024)) MB peak"
