#!/usr/bin/env bash
# Freshness and catch-up from a real broker under steady live load.
#
#   benches/e2e/freshness.sh
#
#   FRESH_RATE=100000   live load, events/s (`slostream loadgen --rate`)
#   FRESH_SECS=60       how long the freshness probe runs
#   DOWN_SECS=60        how long slostream is down before the catch-up
#   WARMUP_SECS=10      live load before the probe starts (slostream reaches steady state)
#   CAUGHT_UP_SECS=0.5  caught up = lag under this many seconds of live traffic (see below)
#   CATCHUP_MAX_SECS=600  give up the catch-up after this long
#   FRESH_KEEP=DIR      keep the raw /metrics samples, logs and config there
#   FRESH_ROLES=all     `two-stage`: an ingest member and a merge member instead of one process
#                       (the probe reads the merge member; the catch-up stops and restarts the
#                       merge member while the ingest member keeps committing)
#
# Starts the test broker (tests/kafka/broker.sh: Java + Maven, no Docker), creates a topic of 8
# partitions, points config/example.yaml at it with one more SLI, `freshness-probe` (service
# "freshness-probe", good when status < 500), starts `slostream run` on a fresh state dir and
# `slostream loadgen --rate FRESH_RATE` in the background for the whole run, then:
#   freshness  after WARMUP_SECS, examples/freshness_probe.rs sends a probe event every 50 ms for
#              FRESH_SECS and scrapes /metrics every 20 ms until each is counted: p50, p90, p99
#              and max of send → visible in slostream_sli_events_total{sli="freshness-probe"}.
#   catch-up   SIGTERM slostream, DOWN_SECS later start it again on the same state dir, and poll
#              /metrics every 0.1 s plus a scrape's own time (slostream_events_consumed_total,
#              Σ slostream_consumer_lag) until caught up: Σ lag < CAUGHT_UP_SECS × the live rate
#              and the backlog at restart consumed. Lag alone would end it at once: a partition's
#              lag reads 0 until its first fetch, and the count reads 0 until the restored one is
#              published. Half a second of live traffic: the steady-state Σ lag at 100k events/s
#              is a few thousand events at most (printed), far below it.
# The live rate is what loadgen achieved, from the topic's end offsets (kcat -Q) over the phase,
# not FRESH_RATE: on 2 shared cores loadgen may fall short (and it keeps one core busy at any
# rate). Backlog at restart = end offsets at restart − the consumed count restored from the
# checkpoint (both count every message since offset 0 of an initially empty topic). Catch-up
# time runs from the restart (start-up, restore and connecting included); catch-up rate =
# events consumed in it / that time.
# Stall check: the consumed count moves only when slostream publishes (every 0.5 s, with each
# worker's hand-over on its own 0.5 s clock), so a fixed 0.5 s sampling grid shows 0, 1 or 2
# publications per interval. Instead the intervals run between successive changes of the count
# (≈ one 0.5 s publication each, located to within a poll); the slowest of them while Σ lag was
# still above the threshold, after the first change since the restart (start-up is shown
# apart), alone and over two consecutive intervals (≈ 1 s, which evens out the hand-overs'
# phase), and the longest gap between changes: a fetch backoff stall (fetch.queue.backoff.ms)
# shows as a long gap or an interval with almost no progress. Prints one table. Everything it
# started is stopped and its temporary directory removed on exit, also on failure.
set -euo pipefail

RATE="${FRESH_RATE:-100000}"
FRESH_SECS="${FRESH_SECS:-60}"
DOWN_SECS="${DOWN_SECS:-60}"
WARMUP_SECS="${WARMUP_SECS:-10}"
CAUGHT_UP_SECS="${CAUGHT_UP_SECS:-0.5}"
CATCHUP_MAX_SECS="${CATCHUP_MAX_SECS:-600}"
PARTITIONS=8
TOPIC=fresh-requests
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
WORK="$(mktemp -d /tmp/slostream-fresh-bench.XXXXXX)"
LOADGEN_PID=""
SAMPLER_PID=""
ROLES="${FRESH_ROLES:-all}"
[[ "$ROLES" == all || "$ROLES" == two-stage ]] || { echo "$0: FRESH_ROLES is all or two-stage" >&2; exit 2; }

log() { echo "fresh: $*" >&2; }
now() { echo "$EPOCHREALTIME"; }
calc() { echo "scale=6; $*" | bc -l; }

cleanup() {
  local rc=$?
  if [[ -n "$SAMPLER_PID" ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
  if [[ -n "$LOADGEN_PID" ]]; then kill "$LOADGEN_PID" 2>/dev/null || true; wait "$LOADGEN_PID" 2>/dev/null || true; fi
  stop_ingest_member
  stop_all
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for v in RATE FRESH_SECS DOWN_SECS WARMUP_SECS CATCHUP_MAX_SECS; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || { echo "$0: $v must be a positive integer, not '${!v}'" >&2; exit 2; }
done
[[ "$CAUGHT_UP_SECS" =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "$0: CAUGHT_UP_SECS must be a number" >&2; exit 2; }

log "building slostream and examples/freshness_probe (release, target dir $TARGET)"
(cd "$ROOT" && cargo build --release --quiet --bin slostream --example freshness_probe)
BIN="$TARGET/release/slostream"
PROBE="$TARGET/release/examples/freshness_probe"

install_kcat || { log "kcat could not be installed (needed for the topic's end offsets)"; exit 1; }

log "starting the broker"
BOOTSTRAP="$("$BROKER" start "$WORK/kafka")"
"$BROKER" topic "$WORK/kafka" "$TOPIC" "$PARTITIONS" >/dev/null

PORT="$(free_port)"
INGEST_PORT="$(free_port)"
METRICS="http://127.0.0.1:$PORT/metrics"
probe_config "$WORK/slostream.yaml" "$BOOTSTRAP" "$TOPIC" "fresh-$$" "$PORT" "$WORK/state" "benches/e2e/freshness.sh" || exit 1

end_offsets() { end_offsets_of "$BOOTSTRAP" "$TOPIC" "$PARTITIONS"; }

# One line "epoch_s consumed lag_sum" from /metrics, or nothing.
sample() {
  local t
  t=$(now)
  metrics_text "$METRICS" |
    awk -v t="$t" '$1 == "slostream_events_consumed_total" { c = $2 }
                   $1 ~ /^slostream_consumer_lag\{/ { l += $2 }
                   END { if (c != "") printf "%s %.0f %.0f\n", t, c, l }'
}

start_slostream() {
  if [[ "$ROLES" == all ]]; then
    RUST_LOG=info,librdkafka=warn "$BIN" run --config "$WORK/slostream.yaml" >>"$WORK/slostream.log" 2>&1 &
    SLOSTREAM_PID=$!
    return
  fi
  # The ingest member keeps committing while the merge member is down (the catch-up).
  [[ -n "$INGEST_PID" ]] || start_ingest_member slostream fresh-ingest
  RUST_LOG=info,librdkafka=warn "$BIN" run --config "$WORK/slostream.yaml" --role merge >>"$WORK/slostream.log" 2>&1 &
  SLOSTREAM_PID=$!
}

alive() {
  kill -0 "$SLOSTREAM_PID" 2>/dev/null || { tail -n 30 "$WORK/slostream.log" >&2; log "slostream exited"; exit 1; }
  kill -0 "$LOADGEN_PID" 2>/dev/null || { cat "$WORK/loadgen.log" >&2; log "loadgen exited"; exit 1; }
}

wait_ready() {
  for _ in $(seq 300); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/ready" || true)" == 200 ]] && return 0
    kill -0 "$SLOSTREAM_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 30 "$WORK/slostream.log" >&2
  log "slostream not ready after 30 s"
  exit 1
}

log "starting slostream on $METRICS"
start_slostream
wait_ready
log "starting loadgen at $RATE events/s"
"$BIN" loadgen --brokers "$BOOTSTRAP" --topic "$TOPIC" --rate "$RATE" --incident-every 0 2>"$WORK/loadgen.log" &
LOADGEN_PID=$!
sleep "$WARMUP_SECS"
alive

# ---- freshness ----
log "freshness: a probe every 50 ms for $FRESH_SECS s under live load"
( while :; do sample >>"$WORK/steady.samples"; sleep 0.5; done ) &
SAMPLER_PID=$!
t0=$(now); e0=$(end_offsets)
"$PROBE" --brokers "$BOOTSTRAP" --topic "$TOPIC" --metrics "$METRICS" --secs "$FRESH_SECS" >"$WORK/probe.out" 2>"$WORK/probe.err" ||
  { cat "$WORK/probe.out" "$WORK/probe.err" >&2; log "freshness_probe failed"; exit 1; }
t1=$(now); e1=$(end_offsets)
kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
alive
PROBE_LINE="$(cat "$WORK/probe.out")"
log "$PROBE_LINE"
# The probe's phase includes its settling time after the last probe; loadgen ran throughout.
FRESH_LIVE=$(calc "($e1 - $e0) / ($t1 - $t0)")
read -r STEADY_LAG_MED STEADY_LAG_MAX < <(awk '{ print $3 }' "$WORK/steady.samples" | sort -g |
  awk '{ v[NR] = $1 } END { printf "%.0f %.0f\n", v[int((NR + 1) / 2)], v[NR] }')
log "live rate during freshness $(printf '%.0f' "$FRESH_LIVE") events/s; Σ lag median $STEADY_LAG_MED, max $STEADY_LAG_MAX"
probe() { tr ' ' '\n' <<<"$PROBE_LINE" | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# ---- catch-up ----
THRESHOLD=$(printf '%.0f' "$(calc "$CAUGHT_UP_SECS * $FRESH_LIVE")")
log "catch-up: SIGTERM slostream, down for $DOWN_SECS s, caught up at Σ lag < $THRESHOLD"
t_stop=$(now); e_stop=$(end_offsets)
stop_slostream
t_exit=$(now)
sleep "$DOWN_SECS"
kill -0 "$LOADGEN_PID" 2>/dev/null || { cat "$WORK/loadgen.log" >&2; log "loadgen exited"; exit 1; }
e_restart=$(end_offsets); t_restart=$(now)
start_slostream
restored=""
: >"$WORK/catchup.samples"
t_end=""
while :; do
  alive
  s=$(sample)
  if [[ -n "$s" ]]; then
    echo "$s" >>"$WORK/catchup.samples"
    read -r t c l <<<"$s"
    if [[ -z "$restored" ]]; then
      # The consumed count the checkpoint restored (log fields may carry ANSI colours).
      restored=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/slostream.log" | grep 'restored checkpoint' | tail -n1 |
        grep -o 'consumed=[0-9]*' | cut -d= -f2 || true)
      if [[ -n "$restored" ]]; then
        BACKLOG=$((e_restart - restored))
        log "restored $restored consumed; backlog at restart $BACKLOG events"
      fi
    fi
    if [[ -n "$restored" ]] && ((l < THRESHOLD && c - restored >= BACKLOG - THRESHOLD)); then t_end=$t; break; fi
  fi
  if [[ "$(calc "$(now) - $t_restart > $CATCHUP_MAX_SECS")" == 1 ]]; then
    log "not caught up after $CATCHUP_MAX_SECS s: last sample $(tail -n1 "$WORK/catchup.samples")"
    exit 1
  fi
  sleep 0.1
done
e_end=$(end_offsets)
read -r _ c_end l_end <<<"$(tail -n1 "$WORK/catchup.samples")"
STALLS=$(curl -s --max-time 1 "$METRICS" | awk '$1 == "slostream_consumer_stalls_total" { printf "%.0f", $2 }')
log "caught up: consumed $c_end, Σ lag $l_end; stopping loadgen and slostream"
kill "$LOADGEN_PID" 2>/dev/null || true; wait "$LOADGEN_PID" 2>/dev/null || true; LOADGEN_PID=""
stop_slostream

CATCHUP_SECS=$(calc "$t_end - $t_restart")
CATCHUP_RATE=$(calc "($c_end - $restored) / $CATCHUP_SECS")
# Live rate over the whole catch-up phase: from SIGTERM to caught up.
CATCHUP_LIVE=$(calc "($e_end - $e_stop) / ($t_end - $t_stop)")
DOWN_REAL=$(calc "$t_restart - $t_exit")
# Intervals between successive changes of the consumed count, from its first change since the
# restart; the slowest counts only while Σ lag at the interval's end was still at or above the
# threshold, alone and as two consecutive intervals. Prints: start-up (s), slowest rate, its length (s), slowest pair's rate,
# its length, longest gap (s), median rate, number of intervals.
read -r FIRST_CHANGE SLOWEST SLOWEST_SECS SLOWEST2 SLOWEST2_SECS LONGEST_GAP MEDIAN_RATE INTERVALS < <(
  awk -v r0="$restored" -v thr="$THRESHOLD" -v t0="$t_restart" '
    $2 < r0 { next }    # before the restored counts are published, /metrics reads 0
    NR > 1 && $2 == c { next }
    started {
      dt = $1 - pt; rate = ($2 - c) / dt
      if (dt > gap) gap = dt
      if ($3 >= thr) {
        n++; rates[n] = rate; if (n == 1 || rate < min) { min = rate; min_dt = dt }
        if (prev_ok) {
          r2 = ($2 - c2) / ($1 - pt2)
          if (n2++ == 0 || r2 < min2) { min2 = r2; min2_dt = $1 - pt2 }
        }
      }
      prev_ok = ($3 >= thr)
    }
    !started && $2 > r0 { started = 1; first = $1 - t0 }
    { pt2 = pt; c2 = c; pt = $1; c = $2 }
    END {
      for (i = 2; i <= n; i++) { v = rates[i]; for (j = i - 1; j >= 1 && rates[j] > v; j--) rates[j + 1] = rates[j]; rates[j + 1] = v }
      printf "%.2f %.0f %.2f %.0f %.2f %.2f %.0f %d\n", first, min, min_dt, min2, min2_dt, gap, (n ? rates[int((n + 1) / 2)] : 0), n
    }' "$WORK/catchup.samples")
if [[ -n "${FRESH_KEEP:-}" ]]; then
  mkdir -p "$FRESH_KEEP"
  cp "$WORK"/*.samples "$WORK"/*.log "$WORK/probe.out" "$WORK/slostream.yaml" "$FRESH_KEEP"/
  log "samples, logs and config copied to $FRESH_KEEP"
fi

fmt() { printf '%.0f' "$1"; }
echo
echo "slostream freshness and catch-up ($ROLES): $PARTITIONS partitions, $(nproc) CPUs, loadgen asked $(fmt "$RATE") events/s, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
printf '| %-38s | %18s |\n' measure value
printf '|%s|%s|\n' ---------------------------------------- --------------------
row() { printf '| %-38s | %18s |\n' "$1" "$2"; }
row "live rate during freshness (events/s)" "$(fmt "$FRESH_LIVE")"
row "freshness p50 (ms)" "$(probe p50_ms)"
row "freshness p90 (ms)" "$(probe p90_ms)"
row "freshness p99 (ms)" "$(probe p99_ms)"
row "freshness max (ms)" "$(probe max_ms)"
row "probes seen / lost" "$(probe count) / $(probe lost)"
row "produce to broker ack p99 (ms)" "$(probe ack_p99_ms)"
row "steady lag sum median / max (events)" "$(fmt "$STEADY_LAG_MED") / $(fmt "$STEADY_LAG_MAX")"
row "live rate during catch-up (events/s)" "$(fmt "$CATCHUP_LIVE")"
row "downtime (s)" "$(printf '%.1f' "$DOWN_REAL")"
row "backlog at restart (events)" "$(fmt "$BACKLOG")"
row "caught up at lag sum < (events)" "$(fmt "$THRESHOLD")"
row "catch-up time (s)" "$(printf '%.1f' "$CATCHUP_SECS")"
row "  of which start-up (s)" "$FIRST_CHANGE"
row "catch-up rate (events/s)" "$(fmt "$CATCHUP_RATE")"
row "catch-up rate / live rate" "$(printf '%.2f' "$(calc "$CATCHUP_RATE / $CATCHUP_LIVE")")"
row "median interval rate (events/s)" "$(fmt "$MEDIAN_RATE")"
row "slowest interval rate (events/s)" "$(fmt "$SLOWEST") in $SLOWEST_SECS s"
row "slowest interval / live rate" "$(printf '%.2f' "$(calc "$SLOWEST / $CATCHUP_LIVE")")"
row "slowest 2 intervals (events/s)" "$(fmt "$SLOWEST2") in $SLOWEST2_SECS s"
row "slowest 2 intervals / live rate" "$(printf '%.2f' "$(calc "$SLOWEST2 / $CATCHUP_LIVE")")"
row "longest gap between updates (s)" "$LONGEST_GAP"
row "consumer stalls recreated" "${STALLS:-?}"
echo
echo "Freshness: send → first /metrics scrape (every 20 ms) counting the probe, one probe every 50 ms for"
echo "${FRESH_SECS} s under live load. Catch-up: after ${DOWN_SECS} s down under live load; time from restart until"
echo "Σ slostream_consumer_lag < ${CAUGHT_UP_SECS} s of live traffic; rate = events consumed / that time;"
echo "interval rates between successive changes of slostream_events_consumed_total ($INTERVALS intervals"
echo "while Σ lag ≥ the threshold). Live rates are loadgen's achieved ones (Σ end offsets / time)."
