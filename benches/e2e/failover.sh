#!/usr/bin/env bash
# How long a two-stage deployment's failures pause counting, on the real broker.
#
#   benches/e2e/failover.sh            (FAIL_RATE=20000 events/s of live load, FAIL_ROUNDS=3)
#
# Two ingest members (one worker each) and two merge members on 8 partitions under live load,
# with the defaults (`session.timeout.ms` 10 s, `scale.flush_interval` 500 ms,
# `scale.transaction_timeout` 10 s). Per round, measured by polling /metrics every 100 ms:
#   takeover   kill -9 of ingest member b, not restarted: until member a owns all 8 partitions
#              and has committed a transaction since
#   restart    kill -9 of member b, restarted at once with the same --instance: until b owns
#              partitions again and has committed a transaction
#   leader     kill -9 of the merge member with slostream_alert_leader 1: until the other
#              reports 1 (then the killed one is restarted on its state directory)
set -euo pipefail

RATE="${FAIL_RATE:-20000}"
ROUNDS="${FAIL_ROUNDS:-3}"
PARTITIONS=8
TOPIC=failover-requests
. "$(dirname "$0")/common.sh"
log() { echo "failover: $*" >&2; }
start_members_bench failover "$TOPIC" "$PARTITIONS"

declare -A PORT PID
config() { # NAME
  PORT[$1]=$(free_port)
  example_config "$WORK/$1.yaml" "$BOOTSTRAP" "$TOPIC" failover "${PORT[$1]}" "$WORK/state-$1"
  printf 'ingest:\n  workers: 1\n' >>"$WORK/$1.yaml"
}
start() { # NAME ROLE
  RUST_LOG=warn "$BIN" run --config "$WORK/$1.yaml" --role "$2" --instance "$1" >>"$WORK/$1.log" 2>&1 &
  PID[$1]=$!

}
metric() { # NAME SERIES
  curl -s --max-time 1 "http://127.0.0.1:${PORT[$1]}/metrics" 2>/dev/null | awk -v n="$2" '$1 == n { printf "%d", $2 }'
}
committed() { metric "$1" 'slostream_ingest_transactions_total{outcome="committed"}'; }
until_true() { # TIMEOUT_S COMMAND... -> seconds waited
  local t0=$EPOCHREALTIME
  while ! "${@:2}"; do
    if (($(echo "$EPOCHREALTIME - $t0 > $1" | bc))); then echo "timeout"; return; fi
    sleep 0.1
  done
  echo "scale=1; ($EPOCHREALTIME - $t0) / 1" | bc
}
owns() { [[ "$(metric "$1" slostream_ingest_assigned_partitions)" == "$2" ]]; }
committed_since() { [[ "$(committed "$1")" -gt "$2" ]]; }
takeover_done() { owns a "$PARTITIONS" && committed_since a "$1"; }
restart_done() { [[ "$(metric b slostream_ingest_assigned_partitions)" -gt 0 ]] && committed_since b 0; }
leads() { [[ "$(metric "$1" slostream_alert_leader)" == 1 ]]; }

for n in a b m1 m2; do config "$n"; done
start m1 merge; start m2 merge; start a ingest; start b ingest
"$BIN" loadgen --brokers "$BOOTSTRAP" --topic "$TOPIC" --rate "$RATE" --incident-every 0 2>"$WORK/loadgen.log" &

sleep 15

ROWS=()
for ((round = 1; round <= ROUNDS; round++)); do
  until_true 60 owns b 4 >/dev/null
  base=$(committed a)
  kill -9 "${PID[b]}"
  takeover=$(until_true 120 takeover_done "$base")
  log "round $round: takeover after kill -9 (not restarted): $takeover s"
  start b ingest
  until_true 120 owns b 4 >/dev/null
  sleep 5
  kill -9 "${PID[b]}"
  start b ingest
  restart=$(until_true 120 restart_done)
  log "round $round: back after kill -9 and restart with the same name: $restart s"
  if leads m1; then leader=m1 other=m2; else leader=m2 other=m1; fi
  kill -9 "${PID[$leader]}"
  moved=$(until_true 120 leads "$other")
  log "round $round: alert leadership moved after kill -9 of $leader: $moved s"
  start "$leader" merge
  ROWS+=("| $round | $takeover | $restart | $moved |")
  sleep 10
done
printf '\n%s events/s live, %s partitions, 2 ingest members + 2 merge members, session.timeout.ms 10 s\n\n' "$RATE" "$PARTITIONS"
echo "| round | takeover, not restarted (s) | restarted, same name (s) | alert leadership moved (s) |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
