#!/usr/bin/env bash
# History rebuild from a real broker: how fast a changed SLI's windows are rebuilt from the
# topic's retained history, against catch-up and the live rate, and how fresh live counting stays
# meanwhile.
#
#   benches/e2e/rebuild.sh
#
#   REBUILD_EVENTS=10000000  history produced before the first start (`slostream loadgen --count`)
#   REBUILD_LIVE_RATE=20000  live load from the steady phase on, events/s (`loadgen --rate`)
#   STEADY_SECS=15           freshness probe under live load before the restart (0: skip it)
#   WARMUP_SECS=5            live load before the steady probe starts
#   REBUILD_MAX_SECS=900     give up the catch-up or the rebuild after this long
#   REBUILD_KEEP=DIR         keep the raw /metrics samples, logs and configs there
#   REBUILD_ROLES=all        `two-stage`: an ingest member and a merge member instead of one
#                            process. /metrics is the merge member's; at the rebuild the merge
#                            member restarts first under the changed config, then the ingest
#                            member (the rollout order the README asks for), and the merge member
#                            reads the history up to where the ingest member's first records
#                            under the changed config start
#
# Starts the test broker (tests/kafka/broker.sh: Java + Maven, no Docker), creates a topic of 8
# partitions, produces REBUILD_EVENTS events into it with `slostream loadgen --rate 0 --count`,
# and points config/example.yaml at it with one more SLI, `freshness-probe` (as freshness.sh):
#   catch-up   `slostream run` on a fresh state dir reads the whole history; time from its start
#              (start-up included) until slostream_events_consumed_total reaches Σ end offsets;
#              catch-up rate = events / that time. Nothing else is produced meanwhile.
#   steady     `slostream loadgen --rate REBUILD_LIVE_RATE` starts and runs to the end; after
#              WARMUP_SECS, examples/freshness_probe.rs sends a probe every 50 ms for STEADY_SECS
#              (send → visible in slostream_sli_events_total{sli="freshness-probe"}).
#   rebuild    SIGTERM slostream, tighten search-latency's `good:` (latency_ms le 300 → le 250) in
#              the config, start slostream again on the same state dir under the live load, and
#              poll /metrics every 0.1 s plus a scrape's own time until every
#              slostream_slo_rebuilding reads 0 and slostream_sli_rebuild_progress_ratio
#              {sli="search-latency"} reads 1, after having seen the rebuild under way (both
#              read "not rebuilding" before the first publication). Rebuild time runs from the
#              restart (start-up, restore and connecting included); rebuild rate = the history
#              it re-reads (the consumed count the checkpoint restored: every message before
#              where live reading resumes) / that time. The freshness probe runs from the restart
#              (once /metrics answers) until the rebuild is seen done (`--stop-file`).
# Live rates are loadgen's achieved ones, from the topic's end offsets (kcat -Q) over the phase.
# Also printed: Σ slostream_consumer_lag median and max in the steady phase and during the
# rebuild, the consumed rate of live reading during the rebuild, the slowest second of the
# changed SLI's progress, and as a sanity check the longest window's slostream_slo_events and
# slostream_slo_good_events of search-a-ride (the SLO holding search-latency) just before the stop
# and just after the rebuild: about the same events plus the live ones, fewer good ones (the
# tighter threshold). The freshness probe's `--stop-file` ends its probes when the rebuild is seen
# done. The machine is noisy: quote the ratios of one run (rebuild / catch-up, rebuild / live),
# not the absolute rates. Everything it started is stopped and its temporary directory removed
# on exit, also on failure.
set -euo pipefail

EVENTS="${REBUILD_EVENTS:-10000000}"
RATE="${REBUILD_LIVE_RATE:-20000}"
STEADY_SECS="${STEADY_SECS:-15}"
WARMUP_SECS="${WARMUP_SECS:-5}"
MAX_SECS="${REBUILD_MAX_SECS:-900}"
PARTITIONS=8
TOPIC=rebuild-requests
CHANGED_SLI=search-latency
CHANGED_SLO=search-a-ride   # an SLO holding CHANGED_SLI
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
WORK="$(mktemp -d /tmp/slostream-rebuild-bench.XXXXXX)"
LOADGEN_PID=""
PROBE_PID=""
ROLES="${REBUILD_ROLES:-all}"
[[ "$ROLES" == all || "$ROLES" == two-stage ]] || { echo "$0: REBUILD_ROLES is all or two-stage" >&2; exit 2; }

log() { echo "rebuild: $*" >&2; }
now() { echo "$EPOCHREALTIME"; }
calc() { echo "scale=6; $*" | bc -l; }

cleanup() {
  local rc=$?
  if [[ -n "$PROBE_PID" ]]; then kill "$PROBE_PID" 2>/dev/null || true; wait "$PROBE_PID" 2>/dev/null || true; fi
  if [[ -n "$LOADGEN_PID" ]]; then kill "$LOADGEN_PID" 2>/dev/null || true; wait "$LOADGEN_PID" 2>/dev/null || true; fi
  stop_ingest_member
  if [[ -n "${REBUILD_KEEP:-}" && -d "$WORK" ]]; then
    mkdir -p "$REBUILD_KEEP"
    cp "$WORK"/*.samples "$WORK"/*.log "$WORK"/*.out "$WORK"/*.yaml "$WORK"/*.prom "$REBUILD_KEEP"/ 2>/dev/null || true
  fi
  stop_all
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for v in EVENTS RATE WARMUP_SECS MAX_SECS; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || { echo "$0: $v must be a positive integer, not '${!v}'" >&2; exit 2; }
done
[[ "$STEADY_SECS" =~ ^[0-9]+$ ]] || { echo "$0: STEADY_SECS must be a whole number" >&2; exit 2; }

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
probe_config "$WORK/slostream.yaml" "$BOOTSTRAP" "$TOPIC" "rebuild-$$" "$PORT" "$WORK/state" "benches/e2e/rebuild.sh" || exit 1
# The same config with one SLI's `good:` tightened: the only change at the restart.
awk -v sli="$CHANGED_SLI" '$0 ~ "^  " sli ":" { in_sli = 1 }
       in_sli && /^  [a-z]/ && $0 !~ "^  " sli ":" { in_sli = 0 }
       in_sli && /latency_ms: \{ le: 300 \}/ { sub(/le: 300/, "le: 250"); changed = 1 }
       { print }
       END { if (!changed) exit 1 }' "$WORK/slostream.yaml" >"$WORK/changed.yaml" ||
  { log "config/example.yaml has no '$CHANGED_SLI' SLI with latency_ms: { le: 300 } to tighten"; exit 1; }
"$BIN" check --config "$WORK/changed.yaml" >"$WORK/changed.yaml.check" 2>&1 ||
  { cat "$WORK/changed.yaml.check" >&2; exit 1; }

end_offsets() { end_offsets_of "$BOOTSTRAP" "$TOPIC" "$PARTITIONS"; }

# One line "epoch_s consumed lag_sum max_slo_rebuilding changed_sli_progress" from /metrics, or
# nothing (rebuilding and progress read "-" while not exported).
sample() {
  local t
  t=$(now)
  metrics_text "$METRICS" |
    awk -v t="$t" -v sli="sli=\"$CHANGED_SLI\"" '
      $1 == "slostream_events_consumed_total" { c = $2 }
      $1 ~ /^slostream_consumer_lag\{/ { l += $2 }
      $1 ~ /^slostream_slo_rebuilding\{/ { if (r == "" || $2 > r) r = $2 }
      $1 ~ /^slostream_sli_rebuild_progress_ratio\{/ && index($1, sli) { p = $2 }
      END { if (c != "") printf "%s %.0f %.0f %s %s\n", t, c, l, (r == "" ? "-" : r), (p == "" ? "-" : p) }'
}

# slostream under config $1: one process, or a merge member and then (once it answers) an
# ingest member.
start_slostream() {
  if [[ "$ROLES" == all ]]; then
    RUST_LOG=info,librdkafka=warn "$BIN" run --config "$WORK/$1.yaml" >>"$WORK/slostream.log" 2>&1 &
    SLOSTREAM_PID=$!
    return
  fi
  RUST_LOG=info,librdkafka=warn "$BIN" run --config "$WORK/$1.yaml" --role merge >>"$WORK/slostream.log" 2>&1 &
  SLOSTREAM_PID=$!
  for _ in $(seq 300); do
    [[ -n "$(metrics_text "$METRICS")" ]] && break
    sleep 0.1
  done
  start_ingest_member "$1" rebuild-ingest
}

alive() {
  kill -0 "$SLOSTREAM_PID" 2>/dev/null || { tail -n 30 "$WORK/slostream.log" >&2; log "slostream exited"; exit 1; }
  [[ -z "$INGEST_PID" ]] || kill -0 "$INGEST_PID" 2>/dev/null ||
    { tail -n 30 "$WORK/ingest.log" >&2; log "the ingest member exited"; exit 1; }
  [[ -z "$LOADGEN_PID" ]] || kill -0 "$LOADGEN_PID" 2>/dev/null ||
    { cat "$WORK/loadgen.log" >&2; log "loadgen exited"; exit 1; }
}

timed_out() {
  if [[ "$(calc "$(now) - $1 > $MAX_SECS")" == 1 ]]; then
    log "$2 not done after $MAX_SECS s: last sample $(tail -n1 "$3")"
    exit 1
  fi
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

probe_field() { tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# ---- history ----
log "producing $EVENTS events of history (loadgen --rate 0)"
t_p0=$(now)
"$BIN" loadgen --brokers "$BOOTSTRAP" --topic "$TOPIC" --rate 0 --count "$EVENTS" --incident-every 0 2>"$WORK/loadgen-history.log" ||
  { cat "$WORK/loadgen-history.log" >&2; log "loadgen (history) failed"; exit 1; }
t_p1=$(now)
HISTORY=$(end_offsets)
log "history: $HISTORY events in $(printf '%.1f' "$(calc "$t_p1 - $t_p0")") s"

# ---- catch-up ----
log "catch-up: slostream on a fresh state dir until it consumed $HISTORY"
: >"$WORK/catchup.samples"
t_c0=$(now)
start_slostream slostream
while :; do
  alive
  s=$(sample || true)
  if [[ -n "$s" ]]; then
    echo "$s" >>"$WORK/catchup.samples"
    read -r t c _ <<<"$s"
    if ((c >= HISTORY)); then t_c1=$t; break; fi
  fi
  timed_out "$t_c0" catch-up "$WORK/catchup.samples"
  sleep 0.1
done
CATCHUP_SECS=$(calc "$t_c1 - $t_c0")
CATCHUP_RATE=$(calc "$HISTORY / $CATCHUP_SECS")
log "caught up in $(printf '%.2f' "$CATCHUP_SECS") s: $(printf '%.0f' "$CATCHUP_RATE") events/s"

# ---- steady ----
log "starting loadgen at $RATE events/s"
"$BIN" loadgen --brokers "$BOOTSTRAP" --topic "$TOPIC" --rate "$RATE" --incident-every 0 2>"$WORK/loadgen.log" &
LOADGEN_PID=$!
sleep "$WARMUP_SECS"
alive
STEADY_LINE=""
if ((STEADY_SECS > 0)); then
  log "steady: a probe every 50 ms for $STEADY_SECS s"
  ( while :; do sample >>"$WORK/steady.samples" || true; sleep 0.5; done ) &
  SAMPLER=$!
  t_s0=$(now); e_s0=$(end_offsets)
  "$PROBE" --brokers "$BOOTSTRAP" --topic "$TOPIC" --metrics "$METRICS" --secs "$STEADY_SECS" \
    >"$WORK/probe-steady.out" 2>"$WORK/probe-steady.err" ||
    { cat "$WORK/probe-steady.out" "$WORK/probe-steady.err" >&2; log "freshness_probe failed"; exit 1; }
  t_s1=$(now); e_s1=$(end_offsets)
  kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true
  STEADY_LIVE=$(calc "($e_s1 - $e_s0) / ($t_s1 - $t_s0)")
  log "$(cat "$WORK/probe-steady.out")"
  alive
fi

# ---- rebuild ----
log "rebuild: SIGTERM slostream, restart it with $CHANGED_SLI's good: latency_ms le 300 → le 250"
curl -s --max-time 2 "$METRICS" >"$WORK/before-stop.prom" || true
stop_slostream
e_r0=$(end_offsets); t_r0=$(now)
start_slostream changed
rm -f "$WORK/rebuilt"
"$PROBE" --brokers "$BOOTSTRAP" --topic "$TOPIC" --metrics "$METRICS" --secs "$MAX_SECS" --stop-file "$WORK/rebuilt" \
  >"$WORK/probe-rebuild.out" 2>"$WORK/probe-rebuild.err" &
PROBE_PID=$!
: >"$WORK/rebuild.samples"
seen=""
t_r1=""
t_seen=""
while :; do
  alive
  s=$(sample || true)
  if [[ -n "$s" ]]; then
    echo "$s" >>"$WORK/rebuild.samples"
    read -r t c l r p <<<"$s"
    if [[ -z "$seen" && "$r" != - && "$p" != - ]] && [[ "$(calc "$r > 0 || $p < 1")" == 1 ]]; then
      seen=1; t_seen=$t
    fi
    if [[ -n "$seen" && "$(calc "$r == 0 && $p >= 1")" == 1 ]]; then t_r1=$t; break; fi
  fi
  if [[ -z "$seen" ]] && grep -q 'rebuilding history' "$WORK/slostream.log" &&
     sed 's/\x1b\[[0-9;]*m//g' "$WORK/slostream.log" | grep -q -e 'history reader stopped.*done=true' -e 'done=true.*history reader stopped'; then
    log "the rebuild finished before /metrics showed it under way: raise REBUILD_EVENTS"; exit 1
  fi
  timed_out "$t_r0" rebuild "$WORK/rebuild.samples"
  sleep 0.1
done
touch "$WORK/rebuilt"
curl -s --max-time 2 "$METRICS" >"$WORK/after-rebuild.prom" || true
e_r1=$(end_offsets)
wait "$PROBE_PID" || { cat "$WORK/probe-rebuild.out" "$WORK/probe-rebuild.err" >&2; log "freshness_probe (rebuild) failed"; }
PROBE_PID=""
log "rebuild probe: $(cat "$WORK/probe-rebuild.out")"
alive
kill "$LOADGEN_PID" 2>/dev/null || true; wait "$LOADGEN_PID" 2>/dev/null || true; LOADGEN_PID=""
stop_slostream

restored=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/slostream.log" | grep 'restored checkpoint' | tail -n1 |
  grep -o 'consumed=[0-9]*' | cut -d= -f2 || true)
[[ -n "$restored" ]] || { log "no 'restored checkpoint ... consumed=' line in the log"; exit 1; }
sed 's/\x1b\[[0-9;]*m//g' "$WORK/slostream.log" | grep -q "SLI definition changed.*$CHANGED_SLI\|sli=$CHANGED_SLI.*definition changed\|$CHANGED_SLI.*definition changed" ||
  log "warning: the log does not say $CHANGED_SLI's definition changed"
REBUILD_SECS=$(calc "$t_r1 - $t_r0")
REBUILD_RATE=$(calc "$restored / $REBUILD_SECS")
SEEN_AFTER=$(calc "$t_seen - $t_r0")
REBUILD_LIVE=$(calc "($e_r1 - $e_r0) / ($t_r1 - $t_r0)")
# Live reading during the rebuild: consumed between the first sample at or above the restored
# count and the last one, and Σ lag median / max over the rebuild's samples.
read -r LIVE_CONSUMED_RATE REBUILD_LAG_MED REBUILD_LAG_MAX < <(
  awk -v r0="$restored" '$2 >= r0 && $2 > 0 { if (!n++) { t0 = $1; c0 = $2 } t1 = $1; c1 = $2; lag[n] = $3 }
    END { for (i = 2; i <= n; i++) { v = lag[i]; for (j = i - 1; j >= 1 && lag[j] > v; j--) lag[j + 1] = lag[j]; lag[j + 1] = v }
          printf "%.0f %.0f %.0f\n", (t1 > t0 ? (c1 - c0) / (t1 - t0) : 0), lag[int((n + 1) / 2)], lag[n] }' "$WORK/rebuild.samples")
# Progress of the changed SLI over the rebuild: the slowest 1 s (between samples ≥ 1 s apart).
SLOWEST_PROGRESS=$(awk '$5 != "-" && $4 != "-" && ($4 > 0 || $5 < 1) {
    if (n++ && $1 - pt >= 1) { r = ($5 - pp) / ($1 - pt); if (!m++ || r < min) min = r; pt = $1; pp = $5 }
    else if (n == 1) { pt = $1; pp = $5 } }
  END { printf "%.4f", (m ? min : -1) }' "$WORK/rebuild.samples")

# The largest slostream_slo_events / slostream_slo_good_events of an SLO (its longest window) in a
# saved scrape: the windows before the stop and right after the rebuild, as a sanity check (the
# events should be about the same plus the live ones, the good ones fewer: a tighter threshold).
slo_window() {
  awk -v m="$1" -v slo="slo=\"$2\"" '$1 ~ "^" m "\\{" && index($1, slo) { if ($2 > v) v = $2 } END { printf "%.0f", v }' "$3" 2>/dev/null
}
fmt() { printf '%.0f' "$1"; }
ratio() { printf '%.2f' "$(calc "$1 / $2")"; }
echo
echo "slostream history rebuild ($ROLES): $PARTITIONS partitions, $(nproc) CPUs, $(fmt "$HISTORY") events of history, loadgen asked $(fmt "$RATE") events/s live, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
printf '| %-44s | %20s |\n' measure value
printf '|%s|%s|\n' ---------------------------------------------- ----------------------
row() { printf '| %-44s | %20s |\n' "$1" "$2"; }
row "history (events)" "$(fmt "$HISTORY")"
row "catch-up time (s)" "$(printf '%.2f' "$CATCHUP_SECS")"
row "catch-up rate (events/s)" "$(fmt "$CATCHUP_RATE")"
if ((STEADY_SECS > 0)); then
  row "steady: live rate (events/s)" "$(fmt "$STEADY_LIVE")"
  row "steady: freshness p50 / p99 / max (ms)" "$(probe_field "$WORK/probe-steady.out" p50_ms) / $(probe_field "$WORK/probe-steady.out" p99_ms) / $(probe_field "$WORK/probe-steady.out" max_ms)"
  row "steady: lag sum median / max" "$(awk '{ print $3 }' "$WORK/steady.samples" | sort -g |
    awk '{ v[NR] = $1 } END { printf "%.0f / %.0f", v[int((NR + 1) / 2)], v[NR] }')"
  row "steady: probes seen / lost" "$(probe_field "$WORK/probe-steady.out" count) / $(probe_field "$WORK/probe-steady.out" lost)"
fi
row "rebuilt history (restored consumed, events)" "$(fmt "$restored")"
row "rebuild time (s)" "$(printf '%.2f' "$REBUILD_SECS")"
row "  of which before /metrics showed it (s)" "$(printf '%.2f' "$SEEN_AFTER")"
row "rebuild rate (events/s)" "$(fmt "$REBUILD_RATE")"
row "rebuild rate / catch-up rate" "$(ratio "$REBUILD_RATE" "$CATCHUP_RATE")"
row "live rate during rebuild (events/s)" "$(fmt "$REBUILD_LIVE")"
row "rebuild rate / live rate" "$(ratio "$REBUILD_RATE" "$REBUILD_LIVE")"
row "live consumed rate during rebuild (events/s)" "$(fmt "$LIVE_CONSUMED_RATE")"
row "lag sum median / max during rebuild" "$(fmt "$REBUILD_LAG_MED") / $(fmt "$REBUILD_LAG_MAX")"
row "slowest 1 s of $CHANGED_SLI progress (/s)" "$SLOWEST_PROGRESS"
row "$CHANGED_SLO window events before / after" "$(slo_window slostream_slo_events "$CHANGED_SLO" "$WORK/before-stop.prom") / $(slo_window slostream_slo_events "$CHANGED_SLO" "$WORK/after-rebuild.prom")"
row "$CHANGED_SLO window good before / after" "$(slo_window slostream_slo_good_events "$CHANGED_SLO" "$WORK/before-stop.prom") / $(slo_window slostream_slo_good_events "$CHANGED_SLO" "$WORK/after-rebuild.prom")"
row "rebuild: freshness p50 (ms)" "$(probe_field "$WORK/probe-rebuild.out" p50_ms)"
row "rebuild: freshness p99 (ms)" "$(probe_field "$WORK/probe-rebuild.out" p99_ms)"
row "rebuild: freshness max (ms)" "$(probe_field "$WORK/probe-rebuild.out" max_ms)"
row "rebuild: probes seen / lost" "$(probe_field "$WORK/probe-rebuild.out" count) / $(probe_field "$WORK/probe-rebuild.out" lost)"
echo
echo "Catch-up: fresh state dir, time from start until slostream_events_consumed_total = Σ end offsets,"
echo "no live load. Rebuild: restart on the same state dir with $CHANGED_SLI's good: tightened, under live"
echo "load; time from restart until every slostream_slo_rebuilding is 0 and $CHANGED_SLI's progress is 1;"
echo "rate = restored consumed count (the history re-read) / that time. Freshness: send → first"
echo "/metrics scrape (every 20 ms) counting the probe, one probe every 50 ms, during the rebuild from"
echo "when /metrics answers. Live rates are loadgen's achieved ones (Σ end offsets / time)."
