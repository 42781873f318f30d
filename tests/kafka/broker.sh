#!/usr/bin/env bash
# A real single-node Apache Kafka broker for slostream's tests, without Docker.
#
# Only Java 17 and Maven are assumed (that is all CI has), so the broker is
# assembled from Maven Central jars and run with plain `java -cp`.
#
#   broker.sh fetch                     download Kafka + deps into the cache
#   broker.sh start [DIR]               start a broker; prints 127.0.0.1:PORT
#   broker.sh stop DIR                  stop the broker started in DIR (SIGTERM)
#   broker.sh kill DIR                  SIGKILL the broker started in DIR (a crash)
#   broker.sh reserve DIR               pick the ports for DIR without starting
#                                       a broker; prints 127.0.0.1:PORT
#   broker.sh topic DIR NAME PARTITIONS create a topic (no-op if it exists)
#   broker.sh delete-records DIR TOPIC PARTITION:OFFSET...
#                                       delete every record below OFFSET
#                                       (what retention does)
#
# `start` also writes DIR/env (KAFKA_BOOTSTRAP, KAFKA_SASL_BOOTSTRAP,
# KAFKA_CONTROLLER_PORT, KAFKA_DATA_DIR, KAFKA_PID, ...) for tests to source.
# Ports are chosen once per DIR: a DIR started again after `stop` or `kill`
# (or started after `reserve`) listens on the ports recorded in DIR/env, so
# clients configured with its address find it again. The SASL_PLAINTEXT
# listener accepts SCRAM-SHA-256 user `slostream` / `slostream-secret`.
# Stdout carries only the bootstrap address; every log line goes to stderr.
set -euo pipefail

CACHE_ROOT="${SLOSTREAM_KAFKA_CACHE:-$HOME/.cache/slostream-kafka}"
# Newest first; SLOSTREAM_KAFKA_VERSION pins one (then no fallback).
read -ra VERSIONS <<<"${SLOSTREAM_KAFKA_VERSION:-4.4.0 4.3.1 4.1.1}"
# Kafka's poms declare slf4j-api 1.7.x and log4j-core 2.x but no binding, so
# without log4j-slf4j-impl the broker would log nothing at all. Pinning one
# log4j version keeps api/core/binding consistent whatever Kafka brings.
LOG4J_VERSION=2.25.5
SCRAM_USER=slostream
SCRAM_PASSWORD=slostream-secret
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

log() { echo "broker.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Sets KAFKA_VERSION, KAFKA_LIB and TOOL to the first fully fetched version.
cached() {
  local v
  for v in "${VERSIONS[@]}"; do
    # The marker is written last, so an interrupted download is redone.
    if [[ -f "$CACHE_ROOT/$v/lib/.complete" ]]; then
      use_lib "$v" "$CACHE_ROOT/$v/lib"; return 0
    fi
  done
  return 1
}

# Downloads the first version Maven can resolve, unless one is cached.
fetch() {
  cached && return 0
  command -v mvn >/dev/null || die "mvn not found (needed to download Kafka)"
  # Parallel test jobs may fetch at once: serialise them on a lock file (fd 9
  # is closed again below so the broker JVM does not inherit the lock).
  mkdir -p "$CACHE_ROOT"
  exec 9>"$CACHE_ROOT/.lock"
  if command -v flock >/dev/null; then flock 9; fi
  if cached; then exec 9>&-; return 0; fi
  local v lib
  for v in "${VERSIONS[@]}"; do
    lib="$CACHE_ROOT/$v/lib"
    log "fetching Kafka $v into $lib (Maven Central)"
    mkdir -p "$CACHE_ROOT/$v" && rm -rf "$lib"
    write_pom "$v" >"$CACHE_ROOT/$v/pom.xml"
    # dependency:copy-dependencies flattens the whole runtime tree into lib;
    # the plugin version is pinned so an empty ~/.m2 resolves the same one.
    if mvn -B -q -Dstyle.color=never -f "$CACHE_ROOT/$v/pom.xml" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$lib" >&2 &&
       [[ -f "$lib/kafka_2.13-$v.jar" ]]; then
      touch "$lib/.complete"
      exec 9>&-
      use_lib "$v" "$lib"; return 0
    fi
    log "Kafka $v could not be fetched; trying the next version"
  done
  die "no Kafka version of ${VERSIONS[*]} could be fetched"
}

# TOOL runs a Kafka main class with these jars and a log4j2 config that only
# lets warnings through, to stderr, so tool chatter never pollutes stdout.
use_lib() {
  KAFKA_VERSION=$1 KAFKA_LIB=$2
  local conf="$KAFKA_LIB/../tools-log4j2.properties"
  if [[ ! -f $conf ]]; then
    cat >"$conf.$$" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
    mv "$conf.$$" "$conf"
  fi
  TOOL=("$JAVA" -Xmx256m -Dlog4j2.configurationFile="$conf" -cp "$KAFKA_LIB/*")
}

dep() {
  printf '    <dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version>%s</dependency>\n' "$@"
}

write_pom() {
  cat <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>slostream.test</groupId><artifactId>kafka-broker</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
EOF
  dep org.apache.kafka kafka_2.13 "$1" ''
  # kafka-tools holds TopicCommand and the console clients (for `topic` and
  # for tests). Its connect-runtime dependency (Jetty, Jersey, ...) is needed
  # by none of them; excluding it drops ~45 jars.
  dep org.apache.kafka kafka-tools "$1" \
    '<exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions>'
  local a; for a in log4j-api log4j-core log4j-slf4j-impl; do
    dep org.apache.logging.log4j "$a" "$LOG4J_VERSION" ''
  done
  printf '  </dependencies>\n</project>\n'
}

# A free port on 127.0.0.1: random in 15000-32767 (below Linux's ephemeral
# range, so outgoing connections cannot grab it before Kafka binds it),
# rejected if something answers there or it was already handed out here
# (callers add what they got to TAKEN: $(free_port) runs in a subshell, so it
# could not remember it itself).
TAKEN=" "
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((15000 + RANDOM % 17768))
    [[ $TAKEN == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  die "no free port found"
}

alive() { [[ -f "$1/kafka.pid" ]] && kill -0 "$(cat "$1/kafka.pid")" 2>/dev/null; }

# Sets PORT, SASL_PORT and CTL_PORT: those recorded in DIR/env when there are
# any (a restart, or a start after `reserve`), otherwise fresh ones. An env
# written before KAFKA_CONTROLLER_PORT existed has the controller port in
# server.properties.
ports() {
  local dir=$1 key value line
  PORT='' SASL_PORT='' CTL_PORT=''
  if [[ -f "$dir/env" ]]; then
    while IFS='=' read -r key value; do
      case $key in
        KAFKA_BOOTSTRAP) PORT=${value##*:} ;;
        KAFKA_SASL_BOOTSTRAP) SASL_PORT=${value##*:} ;;
        KAFKA_CONTROLLER_PORT) CTL_PORT=$value ;;
      esac
    done <"$dir/env"
    if [[ -z $CTL_PORT && -f "$dir/server.properties" ]]; then
      line=$(grep '^controller.quorum.voters=' "$dir/server.properties" || true)
      CTL_PORT=${line##*:}
    fi
  fi
  if [[ -n $PORT && -n $SASL_PORT && -n $CTL_PORT ]]; then
    log "reusing the ports recorded in $dir/env ($PORT, SASL $SASL_PORT, controller $CTL_PORT)"
  else
    PORT=$(free_port); TAKEN+="$PORT "
    SASL_PORT=$(free_port); TAKEN+="$SASL_PORT "
    CTL_PORT=$(free_port); TAKEN+="$CTL_PORT "
  fi
}

# DIR/env, replaced atomically (tests may read it at any time).
write_env() {
  local dir=$1 pid=$2
  cat >"$dir/env.$$" <<EOF
KAFKA_BOOTSTRAP=127.0.0.1:$PORT
KAFKA_SASL_BOOTSTRAP=127.0.0.1:$SASL_PORT
KAFKA_CONTROLLER_PORT=$CTL_PORT
KAFKA_DATA_DIR=$dir
KAFKA_PID=$pid
KAFKA_SASL_MECHANISM=SCRAM-SHA-256
KAFKA_SASL_USERNAME=$SCRAM_USER
KAFKA_SASL_PASSWORD=$SCRAM_PASSWORD
KAFKA_VERSION=$KAFKA_VERSION
KAFKA_LIB=$KAFKA_LIB
EOF
  mv "$dir/env.$$" "$dir/env"
}

# Fixes DIR's ports now, so a client can be configured with the address of a
# broker that is started later (`start DIR` uses them).
reserve() {
  local dir=${1:?usage: broker.sh reserve DIR}
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  if alive "$dir"; then die "a broker is already running in $dir"; fi
  fetch
  ports "$dir"
  write_env "$dir" ''
  echo "127.0.0.1:$PORT"
}

start() {
  local dir=${1:-}
  if [[ -z $dir ]]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/slostream-kafka.XXXXXX")
  fi
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  # Starting twice in one DIR reuses the running broker instead of failing,
  # so a test harness can call `start` unconditionally.
  if alive "$dir" && [[ -f "$dir/env" ]]; then
    log "broker already running in $dir"
    # shellcheck disable=SC1091
    (source "$dir/env" && echo "$KAFKA_BOOTSTRAP"); return 0
  fi
  fetch
  ports "$dir"
  local port=$PORT sasl_port=$SASL_PORT ctl_port=$CTL_PORT

  # Broker log (INFO) goes to a file in DIR, never to the caller's stdout.
  cat >"$dir/log4j2.properties" <<EOF
status = error
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $dir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
EOF

  # Single combined broker+controller KRaft node; every replication factor
  # is 1 and the rebalance delay is 0 so consumer groups form immediately.
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctl_port
listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl_port,CONTROLLER://127.0.0.1:$ctl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl_port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256
# The server side of SCRAM needs no credentials here: users live in the
# cluster metadata, seeded by 'format --add-scram' below.
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$dir/kraft-logs
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Two-stage (scale-out) tests: a transaction left open by a killed member is
# aborted within a second of its timeout, and KIP-848 groups accept the
# 6 s session timeout the tests use instead of 45 s.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
group.consumer.session.timeout.ms=6000
group.consumer.min.session.timeout.ms=6000
EOF

  # In Kafka 4.x the storage tool is still the Scala kafka.tools.StorageTool
  # in kafka_2.13; the SCRAM user is written into the bootstrap metadata.
  # A DIR restarted after `stop` keeps its storage (and its cluster id, which
  # a second format with a new id would reject), so format only once.
  if [[ -f "$dir/kraft-logs/meta.properties" ]]; then
    log "reusing formatted storage in $dir/kraft-logs"
  else
    local cluster_id
    cluster_id=$("${TOOL[@]}" kafka.tools.StorageTool random-uuid)
    "${TOOL[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$dir/server.properties" \
      --add-scram "SCRAM-SHA-256=[name=$SCRAM_USER,password=$SCRAM_PASSWORD]" >&2
  fi

  # stdin/stdout/stderr are all redirected so that `$(broker.sh start)`
  # returns instead of waiting on the broker's inherited stdout.
  nohup "$JAVA" -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -Dkafka.logs.dir="$dir" -cp "$KAFKA_LIB/*" \
    kafka.Kafka "$dir/server.properties" \
    </dev/null >"$dir/broker.out" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/kafka.pid"
  log "Kafka $KAFKA_VERSION starting (pid $pid, data dir $dir)"

  # Ready = TCP port open AND a metadata round trip (topic list) succeeds;
  # an open port alone can precede the broker being unfenced.
  local deadline=$((SECONDS + 90))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
        timeout 30 "${TOOL[@]}" org.apache.kafka.tools.TopicCommand \
          --bootstrap-server "127.0.0.1:$port" --list >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      log "broker did not come up; last lines of its logs:"
      tail -n 40 "$dir/broker.out" "$dir/server.log" >&2 2>/dev/null || true
      kill -9 "$pid" 2>/dev/null || true
      die "Kafka failed to start in $dir"
    fi
    sleep 1
  done

  write_env "$dir" "$pid"
  log "broker ready at 127.0.0.1:$port (SASL 127.0.0.1:$sasl_port)"
  echo "127.0.0.1:$port"
}

stop() {
  local dir=${1:?usage: broker.sh stop DIR} pid
  [[ -f "$dir/kafka.pid" ]] || { log "no broker pid in $dir"; return 0; }
  pid=$(cat "$dir/kafka.pid")
  if kill -TERM "$pid" 2>/dev/null; then
    # SIGTERM gives a controlled shutdown; a stuck one is killed after 20 s.
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      log "broker $pid ignored SIGTERM for 20 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/kafka.pid"
  log "broker in $dir stopped"
}

# SIGKILL: no controlled shutdown, as in a crash (the page cache survives, so
# acknowledged records do too; the next `start` recovers the logs).
kill_broker() {
  local dir=${1:?usage: broker.sh kill DIR} pid
  [[ -f "$dir/kafka.pid" ]] || { log "no broker pid in $dir"; return 0; }
  pid=$(cat "$dir/kafka.pid")
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then die "broker $pid survived SIGKILL"; fi
  rm -f "$dir/kafka.pid"
  log "broker in $dir killed (SIGKILL)"
}

# Sources DIR/env and sets TOOL to the jars the broker runs on (not whatever
# version fetch would pick).
tools_for() {
  [[ -f "$1/env" ]] || die "no broker env in $1 (run start first)"
  # shellcheck disable=SC1091
  source "$1/env"
  if [[ -f "$KAFKA_LIB/.complete" ]]; then use_lib "$KAFKA_VERSION" "$KAFKA_LIB"; else fetch; fi
}

# Kafka's DeleteRecordsCommand with an offset JSON file: records below each
# OFFSET are gone, exactly as if retention had removed them.
delete_records() {
  local dir=${1:?usage: broker.sh delete-records DIR TOPIC PARTITION:OFFSET...}
  local name=${2:?topic name missing} spec sep='' json file
  shift 2
  (($# > 0)) || die "no PARTITION:OFFSET given"
  tools_for "$dir"
  json='{"version":1,"partitions":['
  for spec in "$@"; do
    json+="$sep{\"topic\":\"$name\",\"partition\":${spec%%:*},\"offset\":${spec##*:}}"
    sep=','
  done
  json+=']}'
  file="$dir/delete-records.$$.json"
  echo "$json" >"$file"
  "${TOOL[@]}" org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
    --offset-json-file "$file" >&2
  rm -f "$file"
}

topic() {
  local dir=${1:?usage: broker.sh topic DIR NAME PARTITIONS}
  local name=${2:?topic name missing} parts=${3:?partition count missing}
  tools_for "$dir"
  "${TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
    --create --if-not-exists --topic "$name" \
    --partitions "$parts" --replication-factor 1 >&2
}

case "${1:-}" in
  fetch) fetch; log "Kafka $KAFKA_VERSION ready in $KAFKA_LIB" ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  kill) shift; kill_broker "$@" ;;
  reserve) shift; reserve "$@" ;;
  topic) shift; topic "$@" ;;
  delete-records) shift; delete_records "$@" ;;
  *) echo "usage: $0 fetch | start [DIR] | stop DIR | kill DIR | reserve DIR | topic DIR NAME PARTITIONS | delete-records DIR TOPIC PARTITION:OFFSET..." >&2; exit 2 ;;
esac
