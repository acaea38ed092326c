#!/usr/bin/env bash
# A real Apache Kafka for the tests and CI: the broker's jars come from Maven Central (scripts/kafka/
# pom.xml, fetched once into a cache), and each node runs in KRaft mode (broker and controller in one
# JVM, bounded heap) on 127.0.0.1 only.
#
#   scripts/kafka-broker.sh start [--nodes N]   start N nodes (default 1); prints the bootstrap address
#   scripts/kafka-broker.sh stop [--node K] [--kill]
#                                               stop every node, or node K only (to test a failure);
#                                               --kill: SIGKILL at once, as a crash (no clean shutdown)
#   scripts/kafka-broker.sh status              print the bootstrap address of a running cluster
#
# Environment: MINERWATCH_KAFKA_DIR (state: data, logs, pids; default ${TMPDIR:-/tmp}/minerwatch-kafka),
# MINERWATCH_KAFKA_CACHE (the jars; default ~/.cache/minerwatch/kafka), MINERWATCH_KAFKA_HEAP
# (per node, default 384m), MINERWATCH_KAFKA_TIMEOUT (seconds to wait for readiness, default 120).
# Exit status: 0 ready or stopped, 1 failed (the last lines of the node's log are shown),
# 3 Java 17+ or Maven missing (said plainly).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${MINERWATCH_KAFKA_DIR:-${TMPDIR:-/tmp}/minerwatch-kafka}
cache=${MINERWATCH_KAFKA_CACHE:-$HOME/.cache/minerwatch/kafka}
heap=${MINERWATCH_KAFKA_HEAP:-384m}
timeout=${MINERWATCH_KAFKA_TIMEOUT:-120}

say() { echo "kafka-broker: $*" >&2; }

need_java() {
  if ! command -v java >/dev/null 2>&1; then say "java not found: Kafka 4 needs Java 17 or later (Debian: openjdk-17-jre-headless)"; exit 3; fi
  local v
  v=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  if [ -z "$v" ] || [ "${v%%.*}" -lt 17 ]; then say "java ${v:-?} found: Kafka 4 needs Java 17 or later"; exit 3; fi
}

# The jars, fetched with Maven once; the cache is keyed by the pom's content.
fetch_jars() {
  local key
  key=$(sha256sum "$here/kafka/pom.xml" | cut -c1-16)
  libs="$cache/$key"
  if [ -f "$libs/.complete" ]; then return; fi
  if ! command -v mvn >/dev/null 2>&1; then say "mvn not found: the broker's jars come from Maven Central through Maven (Debian: maven)"; exit 3; fi
  say "fetching Apache Kafka's jars from Maven Central into $libs"
  rm -rf "$libs.part" && mkdir -p "$libs.part"
  if ! mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs.part" >"$libs.part.log" 2>&1; then
    say "mvn dependency:copy-dependencies failed:"; tail -20 "$libs.part.log" >&2; exit 1
  fi
  # Kafka also depends on reload4j's SLF4J binding through some paths: one binding only (log4j2).
  rm -f "$libs.part"/slf4j-reload4j-*.jar "$libs.part"/reload4j-*.jar
  touch "$libs.part/.complete"
  rm -rf "$libs" && mv "$libs.part" "$libs" && rm -f "$libs.part.log"
}

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

bootstrap() { cat "$dir/bootstrap" 2>/dev/null; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  local nodes=1
  while [ $# -gt 0 ]; do
    case $1 in
      --nodes) nodes=$2; shift 2 ;;
      *) say "unknown option $1"; exit 2 ;;
    esac
  done
  case $nodes in ''|*[!0-9]*) say "--nodes takes a number"; exit 2 ;; esac
  need_java
  for p in "$dir"/node-*/pid; do if alive "$p"; then say "already running (stop it first): $(bootstrap)"; exit 1; fi; done
  fetch_jars
  rm -rf "$dir" && mkdir -p "$dir"
  local i voters="" servers="" cluster rf=$(( nodes < 3 ? nodes : 3 ))
  declare -a bport cport
  for ((i = 1; i <= nodes; i++)); do
    bport[i]=$(free_port); cport[i]=$(free_port)
    voters+="${voters:+,}$i@127.0.0.1:${cport[i]}"
    servers+="${servers:+,}127.0.0.1:${bport[i]}"
  done
  cluster=$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  for ((i = 1; i <= nodes; i++)); do
    local nd="$dir/node-$i"
    mkdir -p "$nd/data"
    cat >"$nd/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${bport[i]},CONTROLLER://127.0.0.1:${cport[i]}
advertised.listeners=PLAINTEXT://127.0.0.1:${bport[i]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$nd/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$(( rf > 1 ? 2 : 1 ))
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$(( rf > 1 ? 2 : 1 ))
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$(( rf > 1 ? 2 : 1 ))
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
PROPS
    java -Xmx"$heap" -cp "$libs/*" -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -Dkafka.logfile="$nd/server.log" \
      kafka.tools.StorageTool format -t "$cluster" -c "$nd/server.properties" >"$nd/format.log" 2>&1 \
      || { say "formatting node $i failed:"; tail -5 "$nd/format.log" >&2; exit 1; }
  done
  for ((i = 1; i <= nodes; i++)); do
    local nd="$dir/node-$i"
    # setsid: the node outlives this script and is not hit by a terminal's signals.
    setsid java -Xms64m -Xmx"$heap" -XX:+UseSerialGC -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -Dkafka.logfile="$nd/server.log" \
      -cp "$libs/*" kafka.Kafka "$nd/server.properties" >"$nd/stdout.log" 2>&1 </dev/null &
    echo $! >"$nd/pid"
    echo "127.0.0.1:${bport[i]}" >"$nd/address"
  done
  echo "$servers" >"$dir/bootstrap"
  local deadline=$(( $(date +%s) + timeout ))
  for ((i = 1; i <= nodes; i++)); do
    local nd="$dir/node-$i"
    until grep -q 'Kafka Server started' "$nd/server.log" 2>/dev/null; do
      if ! alive "$nd/pid"; then say "node $i exited while starting:"; tail -20 "$nd/server.log" "$nd/stdout.log" >&2 2>/dev/null; stop; exit 1; fi
      if [ "$(date +%s)" -ge "$deadline" ]; then say "node $i not ready after ${timeout}s:"; tail -20 "$nd/server.log" >&2 2>/dev/null; stop; exit 1; fi
      sleep 0.5
    done
  done
  say "$nodes node(s) ready in KRaft mode (state in $dir)"
  echo "$servers"
}

stop() {
  local only="" sig=TERM
  while [ $# -gt 0 ]; do
    case $1 in
      --node) only=$2; shift 2 ;;
      --kill) sig=KILL; shift ;;
      *) say "unknown option $1"; exit 2 ;;
    esac
  done
  local p pids=()
  for p in "$dir"/node-*/pid; do
    [ -f "$p" ] || continue
    if [ -n "$only" ] && [ "$p" != "$dir/node-$only/pid" ]; then continue; fi
    if alive "$p"; then kill -s "$sig" "$(cat "$p")" 2>/dev/null || true; pids+=("$(cat "$p")"); fi
    rm -f "$p"
  done
  # A clean shutdown takes a few seconds; then it is killed.
  local t
  for t in $(seq 1 60); do
    local left=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    [ $left = 0 ] && break
    sleep 0.5
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  return 0
}

case ${1:-} in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  status) if bootstrap >/dev/null && ls "$dir"/node-*/pid >/dev/null 2>&1; then bootstrap; else say "not running"; exit 1; fi ;;
  *) echo "usage: $0 start [--nodes N] | stop [--node K] [--kill] | status" >&2; exit 2 ;;
esac
