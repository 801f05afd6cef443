#!/usr/bin/env bash
# Local single-node Kafka broker for the ymera e2e tests and the demo.
#
#   kafka.sh up      start (or repair) the broker; idempotent, fast when it is up
#   kafka.sh down    stop it; idempotent
#   kafka.sh status  print whether it is up; exit 0 if up, 1 otherwise
#   kafka.sh env     print `export YMERA_KAFKA_BROKERS=...` and
#                    `export YMERA_POD_KAFKA_BROKERS=...` (eval it)
#   kafka.sh topics ARGS...   run Kafka's TopicCommand against it (e.g. --list)
#
# One JVM in KRaft combined mode (broker + controller, node id 1), run from
# the Maven Central jars of org.apache.kafka:kafka_2.13 (no Docker, no
# tarball): kafka/pom.xml resolves them once per version into
# $YMERA_CACHE/kafka-<version>/libs, so a second `up` downloads nothing.
# Listeners: PLAINTEXT on 127.0.0.1:$YMERA_KAFKA_PORT (9092) for the host,
# CONTROLLER on 127.0.0.1:$YMERA_KAFKA_CONTROLLER_PORT (9093), and BRIDGE on
# the pod bridge's address (bridge.sh, 10.250.0.1) port $YMERA_KAFKA_BRIDGE_PORT
# (9094) for pods of the real node. Each listener advertises its own address,
# so a client that bootstraps at 10.250.0.1:9094 gets metadata pointing there
# and one at 127.0.0.1:9092 keeps getting 127.0.0.1. (Kafka refuses two IPv4
# listeners on one port, hence a port of its own.)
#
# State under $YMERA_STATE_DIR/kafka (default ~/.cache/ymera/stack/kafka):
#   data/              log dirs and the KRaft metadata log
#   server.properties  generated on every `up`
#   kafka.log          broker output (rotated at 20 MiB)
#   kafka.pid          pid of the JVM
#
# After a crash (kill -9), `up` finds the dead pid, removes the pid file and
# starts the broker again on the same data (Kafka recovers its logs; the
# data dir lock is an OS file lock and dies with the process).
#
# Environment:
#   YMERA_KAFKA_VERSION        Kafka release (default below)
#   YMERA_KAFKA_BRIDGE_PORT    the BRIDGE listener's port on the bridge address (default 9094)
#   YMERA_KAFKA_HEAP           JVM max heap (default 512m; 2-core machines share it with the cluster)
#   YMERA_STATE_DIR, YMERA_CACHE  as for cluster.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# 4.4.0 is listed on Maven Central but kafka-tools-api 4.4.0 is not (yet),
# so 4.3.1 is the newest release that resolves completely.
KAFKA_VERSION="${YMERA_KAFKA_VERSION:-4.3.1}"
HOST=127.0.0.1
PORT="${YMERA_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${YMERA_KAFKA_CONTROLLER_PORT:-9093}"
BRIDGE_PORT="${YMERA_KAFKA_BRIDGE_PORT:-9094}"
HEAP="${YMERA_KAFKA_HEAP:-512m}"

COMPONENT=kafka
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
KDIR="$STATE_DIR/kafka"
DATA_DIR="$KDIR/data"
CONF="$KDIR/server.properties"
LOG_FILE="$KDIR/kafka.log"
PID_FILE="$KDIR/kafka.pid"
CACHE="${YMERA_CACHE:-$HOME/.cache/ymera}"
DIST="$CACHE/kafka-$KAFKA_VERSION"
LIBS="$DIST/libs"
POM="$here/kafka/pom.xml"
LOG4J="$here/kafka/log4j2.properties"


# --- jars ----------------------------------------------------------------------

# The stamp records the pom it was built from, so editing the pom (e.g. a new
# runtime dependency) rebuilds the cache instead of using a stale one.
pom_stamp() { { echo "$KAFKA_VERSION"; cat "$POM"; } | sha256sum | cut -d' ' -f1; }

ensure_libs() {
  local stamp
  stamp="$(pom_stamp)"
  if [[ -f "$DIST/libs.stamp" && "$(cat "$DIST/libs.stamp")" == "$stamp" ]] &&
    compgen -G "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (Maven 3 resolves the Kafka jars once)"
  log "resolving Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  mkdir -p "$DIST"
  local tmp="$DIST/libs.tmp.$$"
  rm -rf "$tmp"
  # Maven's output only matters when it fails.
  if ! mvn -B -q -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$DIST/mvn.log" 2>&1; then
    cat "$DIST/mvn.log" >&2
    rm -rf "$tmp"
    die "could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (see above)"
  fi
  rm -rf "$here/kafka/target"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  echo "$stamp" >"$DIST/libs.stamp"
}

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then echo "$JAVA_HOME/bin/java"; return; fi
  command -v java >/dev/null || die "java not found (Kafka $KAFKA_VERSION needs Java 17+)"
  command -v java
}

# Short-lived JVMs (formatter, TopicCommand): small heap, quick startup.
run_tool() {
  "$(java_bin)" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$LOG4J" -Dymera.kafka.log.level=WARN \
    -cp "$LIBS/*" "$@"
}

topics() {
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$PORT" "$@"
}

# --- process bookkeeping -------------------------------------------------------


# ours <pid>: a live broker JVM started with this state dir's config
ours() {
  local cmd
  alive "$1" || return 1
  cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *" kafka.Kafka $CONF"* ]]
}


running() {
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  ours "$pid" && port_open "$HOST" "$PORT" && port_open "$BRIDGE_ADDRESS" "$BRIDGE_PORT"
}


# --- configuration -------------------------------------------------------------

# render_config > file: the broker's server.properties
render_config() {
  cat <<EOF
# generated by test/e2e/stack/kafka.sh; do not edit
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
# BRIDGE: pods on the bridge bootstrap here and are sent back here
listeners=PLAINTEXT://$HOST:$PORT,BRIDGE://$BRIDGE_ADDRESS:$BRIDGE_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,BRIDGE://$BRIDGE_ADDRESS:$BRIDGE_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,BRIDGE:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR
metadata.log.dir=$DATA_DIR
# topics exist only when someone (the operator) creates them
auto.create.topics.enable=false
delete.topic.enable=true
# one broker: every internal topic has one replica and one partition, so the
# first consumer group and transaction start in well under a second
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
num.partitions=1
# 2 cores shared with the Kubernetes control plane: few threads
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.retention.hours=24
# a broker restarted after kill -9 cannot register until the controller
# expires its previous session (default 9s): keep that short
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=3000
EOF
}

format_storage() {
  [[ -f "$DATA_DIR/meta.properties" ]] && return 0
  local id
  # a KRaft cluster id is 16 random bytes, base64url without padding
  id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  log "formatting $DATA_DIR (cluster id $id)"
  mkdir -p "$DATA_DIR"
  run_tool kafka.tools.StorageTool format --ignore-formatted -t "$id" -c "$CONF" >>"$LOG_FILE" 2>&1 ||
    die "formatting the storage failed; see $LOG_FILE"
}

# --- commands ------------------------------------------------------------------

cmd_up() {
  local t0=$SECONDS
  ensure_libs
  ensure_bridge
  mkdir -p "$KDIR"
  render_config >"$CONF.tmp"
  # a broker on an older config (e.g. without the BRIDGE listener) is restarted
  if running && cmp -s "$CONF.tmp" "$CONF"; then
    rm -f "$CONF.tmp"
    log "up (pid $(cat "$PID_FILE")) on $HOST:$PORT and $BRIDGE_ADDRESS:$BRIDGE_PORT"
    return 0
  fi
  # a live broker that is not answering (hung, or still starting after a
  # crashed `up`) is restarted rather than trusted
  stop_pids "$(our_pids)" 30
  rm -f "$PID_FILE"
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_open "$HOST" "$p"; then die "$HOST:$p is in use by another process; set YMERA_KAFKA_PORT/YMERA_KAFKA_CONTROLLER_PORT"; fi
  done
  if port_open "$BRIDGE_ADDRESS" "$BRIDGE_PORT"; then die "$BRIDGE_ADDRESS:$BRIDGE_PORT is in use by another process; set YMERA_KAFKA_BRIDGE_PORT"; fi
  mv "$CONF.tmp" "$CONF"
  rotate_log "$LOG_FILE"
  format_storage
  local offset
  offset="$(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0)"
  log "starting Kafka $KAFKA_VERSION (log: $LOG_FILE)"
  # setsid: the broker outlives the shell (or test process) that ran `up`;
  # close_fds: it must not inherit (and hold forever) a lock of this script or its caller
  local java
  java="$(java_bin)"
  (close_fds; exec setsid "$java" -Xms128m -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J" -Dkafka.logs.dir="$KDIR" \
    -cp "$LIBS/*" kafka.Kafka "$CONF") </dev/null >>"$LOG_FILE" 2>&1 &
  local pid=$!
  echo "$pid" >"$PID_FILE"
  # shellcheck disable=SC2317 # called through wait_started
  started() { port_open "$HOST" "$PORT" && port_open "$BRIDGE_ADDRESS" "$BRIDGE_PORT" && tail -c +"$((offset + 1))" "$LOG_FILE" | grep -q 'Kafka Server started'; }
  wait_started "$pid" 120 broker 40 started
  # the broker answers a real admin request, not just a TCP connect
  for _ in 1 2 3 4 5; do
    if topics --list >/dev/null 2>>"$LOG_FILE"; then
      log "up (pid $pid) on $HOST:$PORT and $BRIDGE_ADDRESS:$BRIDGE_PORT in $((SECONDS - t0))s"
      return 0
    fi
    sleep 1
  done
  die "broker started but does not answer admin requests; see $LOG_FILE"
}

cmd_down() {
  local pids
  pids="$(our_pids)"
  stop_pids "$pids" 30
  rm -f "$PID_FILE"
  log "down"
}

cmd_status() {
  BRIDGE_ADDRESS="$(bridge_address)"
  if running; then
    echo "kafka: up (pid $(cat "$PID_FILE")) on $HOST:$PORT and $BRIDGE_ADDRESS:$BRIDGE_PORT, Kafka $KAFKA_VERSION"
    return 0
  fi
  echo "kafka: down"
  return 1
}

cmd_env() {
  echo "export YMERA_KAFKA_BROKERS=$HOST:$PORT"
  # what a pod of the real node bootstraps from
  echo "export YMERA_POD_KAFKA_BROKERS=$(bridge_address):$BRIDGE_PORT"
}

# up and down of one state dir never run at the same time (e.g. the stack's
# `up` and a test's beforeAll): the second waits for the first.
locked() {
  mkdir -p "$KDIR"
  exec 9>"$KDIR/kafka.sh.lock"
  flock -w 300 9 || die "another kafka.sh holds $KDIR/kafka.sh.lock"
  "$@"
}

case "${1:-}" in
  up) locked cmd_up ;;
  down) locked cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  topics) shift; ensure_libs; topics "$@" ;;
  *) echo "usage: $0 up|down|status|env|topics ARGS..." >&2; exit 2 ;;
esac
