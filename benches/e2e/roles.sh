#!/usr/bin/env bash
# The two-stage deployment's cost against one process, on the real broker, in one run.
#
#   benches/e2e/roles.sh [EVENTS]      (default 2,000,000; E2E_ROUNDS=3 alternates 3 rounds)
#
# Preloads EVENTS loadgen events into 8 partitions, then per round reads them all twice, each
# time with a fresh consumer group: once with `--role all` (2 workers), once with one
# `--role ingest` member (2 workers) and one `--role merge` member, until the merge member has
# folded every event. Prints, per round and as medians: the CPU seconds per million events of
# `all`, of the ingest member and of the merge member (ratios to `all` in the same round), and
# the delta bytes committed per input event and per input byte, and how much the ingest member
# read twice (an aborted transaction, e.g. a commit meeting the rebalance of the workers
# joining, rewinds up to a flush interval of reading). A backlog is the worst case for delta
# bytes: each 500 ms commit then spans the most buckets.
set -euo pipefail

EVENTS="${1:-2000000}"
PARTITIONS=8
TOPIC=bench-roles
. "$(dirname "$0")/common.sh"
log() { echo "roles: $*" >&2; }
start_members_bench roles "$TOPIC" "$PARTITIONS"
"$BIN" loadgen --brokers "$BOOTSTRAP" --topic "$TOPIC" --rate 0 --count "$EVENTS" --incident-every 0 2>"$WORK/loadgen.log"
SIZE="$(tail -n1 "$WORK/loadgen.log" | awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "bytes") print $i }')"
log "$(tail -n1 "$WORK/loadgen.log")"

metric() { # PORT NAME
  curl -s --max-time 1 "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v n="$2" '$1 == n { printf "%d", $2 }'
}
cpu() { # PID -> CPU seconds
  local stat
  read -ra stat <"/proc/$1/stat"
  echo "scale=3; (${stat[13]} + ${stat[14]}) / $TICK" | bc
}
start() { # NAME ROLE CONFIG -> PID in $STARTED
  RUST_LOG=warn "$BIN" run --config "$3" --role "$2" --instance "$1" >"$WORK/$1.log" 2>&1 &
  STARTED=$!

}
wait_for() { # PORT METRIC COUNT PID
  local t0=$SECONDS v
  while :; do
    kill -0 "$4" 2>/dev/null || { log "process $4 exited"; exit 1; }
    v="$(metric "$1" "$2" || true)"
    [[ "${v:-0}" -ge "$3" ]] && return 0
    (( SECONDS - t0 > 900 )) && { log "only ${v:-0} of $3 after 900 s"; exit 1; }
    sleep 0.1
  done
}
config() { # GROUP PORT STATE
  example_config "$WORK/$1-$2.yaml" "$BOOTSTRAP" "$TOPIC" "$1" "$2" "$3"
  echo "$WORK/$1-$2.yaml"
}

ROWS=()
for ((round = 1; round <= ${E2E_ROUNDS:-1}; round++)); do
  port=$(free_port); c=$(config "all-$round" "$port" "$WORK/state-all-$round")
  start "all-$round" all "$c"; pid=$STARTED
  wait_for "$port" slostream_events_consumed_total "$EVENTS" "$pid"
  all_cpu=$(cpu "$pid"); kill -9 "$pid"

  group="two-$round"
  mport=$(free_port); mc=$(config "$group" "$mport" "$WORK/state-merge-$round")
  iport=$(free_port); ic=$(config "$group" "$iport" "$WORK/unused")
  start "merge-$round" merge "$mc"; mpid=$STARTED
  start "ingest-$round" ingest "$ic"; ipid=$STARTED
  wait_for "$mport" slostream_events_consumed_total "$EVENTS" "$mpid"
  ingest_cpu=$(cpu "$ipid"); merge_cpu=$(cpu "$mpid")
  delta=$(metric "$iport" slostream_ingest_delta_bytes_total)
  txns=$(metric "$iport" 'slostream_ingest_transactions_total{outcome="committed"}')
  redone=$(( $(metric "$iport" slostream_ingest_rewinds_total) + $(metric "$iport" slostream_ingest_rejoins_total) ))
  reread=$(( $(metric "$iport" slostream_ingest_messages_total) - EVENTS ))
  kill -9 "$ipid" "$mpid"
  row="$round $all_cpu $ingest_cpu $merge_cpu $delta $txns $redone $reread"
  ROWS+=("$row")
  log "round $round: all $all_cpu CPU s; ingest $ingest_cpu; merge $merge_cpu; $delta delta bytes in $txns transactions; $redone rewinds or rejoins, $reread messages read twice"
done

printf '\n%s events of %s bytes, %s partitions, CPU s per million events (ratio to --role all in the same round)\n\n' "$EVENTS" "$SIZE" "$PARTITIONS"
printf '| round | all | ingest | merge | delta bytes per event | delta bytes per input byte | transactions | rewinds + rejoins | messages read twice |\n|---|---|---|---|---|---|---|---|---|\n'
for r in "${ROWS[@]}"; do
  read -r round a i m d t x y <<<"$r"
  per() { echo "scale=3; $1 * 1000000 / $EVENTS" | bc; }
  printf '| %s | %s | %s (%.2fx) | %s (%.3fx) | %.2f | %.5f | %s | %s | %s |\n' "$round" "$(per "$a")" "$(per "$i")" \
    "$(echo "$i / $a" | bc -l)" "$(per "$m")" "$(echo "$m / $a" | bc -l)" \
    "$(echo "$d / $EVENTS" | bc -l)" "$(echo "$d / ($EVENTS * $SIZE)" | bc -l)" "$t" "$x" "$y"
done
