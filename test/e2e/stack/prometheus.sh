#!/usr/bin/env bash
# Local Prometheus for the ymera e2e tests and the demo.
#
#   prometheus.sh install  build prometheus and promtool once (build-prometheus.sh:
#                          2.42.0 from its Go module, with Kubernetes discovery,
#                          which Debian's package lacks); starts nothing
#   prometheus.sh up       install if needed, then start (or repair) our Prometheus
#                          and wait for /-/ready; idempotent, fast when it is up
#   prometheus.sh down     stop it; idempotent (keeps config, rules and targets)
#   prometheus.sh status   print whether it is up; exit 0 if up, 1 otherwise
#   prometheus.sh config   print the configuration `up` would write
#   prometheus.sh env      print `export YMERA_PROMETHEUS_URL=...`, the pods' URL
#                          (YMERA_POD_PROMETHEUS_URL) and the rules and targets
#                          directories (eval it)
#
# Our Prometheus listens on 127.0.0.1, with --web.enable-lifecycle so that
# tests can POST /-/reload. Prometheus 2.42 takes a single listen address, so
# pods of the real node reach it through a forwarder on the pod bridge's
# address (bridge.sh, 10.250.0.1) at the same port: Debian's socat, started,
# checked and stopped with Prometheus (forwarder.pid, forwarder.log).
# Everything lives under $STATE_DIR/prometheus:
#   prometheus.yml   generated on every `up` (1s scrape and evaluation interval):
#                    job ymera scrapes the file_sd targets below; job
#                    kubernetes-pods discovers the cluster's pods (through the
#                    cluster's in-host kubeconfig, skipped while there is none)
#                    and scrapes those on nodes labelled ymera.io/node-pool=real
#                    that are annotated prometheus.io/scrape: "true", at
#                    prometheus.io/port and prometheus.io/path, labelled with
#                    namespace, pod, node, inferenceservice and revision
#   rules/*.yml      rule files: a test writes one, then POSTs /-/reload
#   targets/*.json   file_sd target groups: a test adds a scrape target by
#                    writing a file (picked up without a reload)
#   data/            the TSDB (2h retention)
#   prometheus.pid, prometheus.log
#
# Debian's prometheus package, if installed, ships a system service on
# 0.0.0.0:9090; `up` stops and disables it.
#
# Environment:
#   YMERA_STATE_DIR         state root (default ~/.cache/ymera/stack)
#   YMERA_PROMETHEUS_PORT   port (default 9090)
#   KWOK_WORKDIR            where cluster.sh keeps the cluster (default ~/.kwok);
#                           with YMERA_USE_EXISTING_CLUSTER=1, $KUBECONFIG is
#                           the one pods are discovered through
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

COMPONENT=prometheus
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
PROM_DIR="$STATE_DIR/prometheus"
CONFIG="$PROM_DIR/prometheus.yml"
RULES_DIR="$PROM_DIR/rules"
TARGETS_DIR="$PROM_DIR/targets"
DATA_DIR="$PROM_DIR/data"
PID_FILE="$PROM_DIR/prometheus.pid"
LOG_FILE="$PROM_DIR/prometheus.log"
PORT="${YMERA_PROMETHEUS_PORT:-9090}"
ADDRESS="127.0.0.1:$PORT"
URL="http://$ADDRESS"
FORWARDER_PID_FILE="$PROM_DIR/forwarder.pid"
FORWARDER_LOG_FILE="$PROM_DIR/forwarder.log"
# the cluster's in-host kubeconfig (cluster.sh: $KWOK_WORKDIR/clusters/ymera),
# the same for every checkout, like the stack
if [[ "${YMERA_USE_EXISTING_CLUSTER:-}" == 1 && -n "${KUBECONFIG:-}" ]]; then
  CLUSTER_KUBECONFIG="$KUBECONFIG"
else
  CLUSTER_KUBECONFIG="${KWOK_WORKDIR:-$HOME/.kwok}/clusters/ymera/kubeconfig.yaml"
fi


# wait_for <seconds> <description> <command...>
wait_for() {
  local timeout="$1" what="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ((SECONDS >= deadline)); then log "timed out after ${timeout}s waiting for $what"; return 1; fi
    sleep 0.2
  done
}

# --- install -----------------------------------------------------------------

# The Debian service listens on every interface: never leave it running.
stop_debian_service() {
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    if systemctl is-active --quiet prometheus 2>/dev/null || systemctl is-enabled --quiet prometheus 2>/dev/null; then
      log "stopping and disabling the Debian prometheus service"
      systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
  elif [[ -x /etc/init.d/prometheus ]]; then
    # without systemd the package's init script manages a daemon with this pid file
    if /etc/init.d/prometheus status >/dev/null 2>&1; then
      log "stopping the Debian prometheus service"
      /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then update-rc.d prometheus disable >/dev/null 2>&1 || true; fi
  fi
}

# Prometheus and promtool 2.42.0 built from Prometheus's Go module
# (build-prometheus.sh: Debian's package lacks Kubernetes service discovery);
# they come first on PATH for the rest of this script.
cmd_install() {
  local dir
  dir="$(bash "$here/build-prometheus.sh")" || die "could not build Prometheus (see above)"
  [[ -x "$dir/prometheus" && -x "$dir/promtool" ]] ||
    die "build-prometheus.sh did not produce prometheus and promtool in $dir"
  PATH="$dir:$PATH"
  # Debian's package, if installed, ships a service on every interface
  stop_debian_service
}

# --- process bookkeeping -----------------------------------------------------


# ours <pid>: a live prometheus started with our config file
ours() {
  local pid="$1" cmd
  alive "$pid" || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *prometheus*"--config.file=$CONFIG "* ]]
}

running_pid() {
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
  ours "$pid" || return 1
  echo "$pid"
}

ready() { [[ "$(curl -fsS --max-time 2 "$URL/-/ready" 2>/dev/null)" == *Ready* ]]; }

healthy() { running_pid >/dev/null && ready; }

forwarder_healthy() { forwarder_running "$FORWARDER_PID_FILE" "$BRIDGE_ADDRESS" "$PORT"; }

port_free() { ! port_open 127.0.0.1 "$PORT"; }


# --- config ------------------------------------------------------------------

render_config() {
  cat <<EOF
# Generated by test/e2e/stack/prometheus.sh; rewritten on every \`up\`.
global:
  # short intervals so tests see scrapes and rule results within seconds
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES_DIR/*.yml
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['$ADDRESS']
  - job_name: ymera
    # exporters carry their own namespace/inferenceservice/... labels
    honor_labels: true
    file_sd_configs:
      - files: ['$TARGETS_DIR/*.json']
        refresh_interval: 2s
EOF
  if pods_job_possible; then render_pods_job; fi
}

# pods_job_possible: there is a cluster to discover pods in
pods_job_possible() { [[ -f "$CLUSTER_KUBECONFIG" ]]; }

# The pods of real nodes (kwok's fake pods answer nothing). The labels are the
# ones the operator's queries select on (controllers/inferenceservice/analysis.ts,
# the SLO rules: namespace, inferenceservice, revision) and those a metrics
# adapter maps per-pod metrics to objects with (namespace, pod). The runtime
# exports namespace/inferenceservice/revision itself (honor_labels keeps them,
# as in job ymera); its other series (process metrics) get them from the
# pod's metadata and the operator's pod labels. honor_labels trusts what a pod
# exports (it could claim another namespace's labels): fine for this local
# stack, whose pods are all the tests' own; not a production scrape config.
render_pods_job() {
  cat <<EOF
  - job_name: kubernetes-pods
    honor_labels: true
    kubernetes_sd_configs:
      - role: pod
        kubeconfig_file: $CLUSTER_KUBECONFIG
        attach_metadata:
          node: true
    relabel_configs:
      - source_labels: [__meta_kubernetes_node_label_ymera_io_node_pool]
        regex: real
        action: keep
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        regex: 'true'
        action: keep
      - source_labels: [__meta_kubernetes_pod_phase]
        regex: Running
        action: keep
      # one target per pod, at the annotated port (a pod has one target per
      # declared container port; they all become the same one)
      - source_labels: [__meta_kubernetes_pod_ip, __meta_kubernetes_pod_annotation_prometheus_io_port]
        regex: '(.+);([0-9]+)'
        replacement: '\$1:\$2'
        target_label: __address__
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
        regex: '(.+)'
        target_label: __metrics_path__
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_node_name]
        target_label: node
      - source_labels: [__meta_kubernetes_pod_label_ymera_io_inferenceservice]
        regex: '(.+)'
        target_label: inferenceservice
      - source_labels: [__meta_kubernetes_pod_label_ymera_io_revision]
        regex: '(.+)'
        target_label: revision
EOF
}

# Prometheus refuses to start (and promtool check config fails) with a broken
# rule file; one left by a crashed test must not take the stack down
set_aside_invalid_rules() {
  local f
  for f in "$RULES_DIR"/*.yml; do
    [[ -f "$f" ]] || continue
    if ! promtool check rules "$f" >/dev/null 2>&1; then
      log "setting aside invalid rule file $f (renamed to $f.invalid)"
      mv -f "$f" "$f.invalid"
    fi
  done
}

write_config() {
  mkdir -p "$RULES_DIR" "$TARGETS_DIR" "$DATA_DIR"
  local tmp="$CONFIG.tmp"
  render_config >"$tmp"
  promtool check config "$tmp" >/dev/null 2>&1 || {
    promtool check config "$tmp" >&2 || true
    die "generated config does not pass promtool check config"
  }
  if cmp -s "$tmp" "$CONFIG"; then
    rm -f "$tmp"
    return 1 # unchanged
  fi
  mv "$tmp" "$CONFIG"
  return 0
}

# --- commands ----------------------------------------------------------------

start() {
  # a previous instance killed with -9 leaves a pid file and maybe a process
  # that lost its pid file: stop what is ours, then start clean
  stop_pids "$(our_pids)" 15
  rm -f "$PID_FILE"
  if ! port_free; then
    stop_debian_service
    wait_for 10 "port $PORT to be free" port_free ||
      die "port $PORT is taken by another process; set YMERA_PROMETHEUS_PORT"
  fi
  log "starting prometheus on $ADDRESS (state in $PROM_DIR)"
  : >"$LOG_FILE"
  # close_fds: it must not hold a lock of whoever ran `up` (e.g. the e2e lock)
  (close_fds; exec setsid nohup prometheus \
    --config.file="$CONFIG" \
    --storage.tsdb.path="$DATA_DIR" \
    --storage.tsdb.retention.time=2h \
    --web.listen-address="$ADDRESS" \
    --web.enable-lifecycle \
    --log.level=warn) \
    </dev/null >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  if ! wait_for 60 "prometheus /-/ready" healthy; then
    tail -30 "$LOG_FILE" >&2 || true
    die "prometheus did not become ready"
  fi
}

cmd_up() {
  mkdir -p "$PROM_DIR"
  cmd_install
  ensure_bridge
  local changed=0
  mkdir -p "$RULES_DIR"
  set_aside_invalid_rules
  pods_job_possible ||
    log "no cluster kubeconfig at $CLUSTER_KUBECONFIG: not discovering pods (job kubernetes-pods) until the next up"
  write_config && changed=1
  local pid
  if pid="$(running_pid)" && [[ "$(readlink -f "/proc/$pid/exe")" != "$(readlink -f "$(command -v prometheus)")" ]]; then
    # e.g. Debian's build, which cannot discover pods: same data, same version
    log "the running prometheus (pid $pid, $(readlink -f "/proc/$pid/exe")) is another build; restarting it"
    start
  elif healthy; then
    if ((changed)); then
      log "config changed: reloading"
      curl -fsS --max-time 10 -X POST "$URL/-/reload" >/dev/null || die "reload failed (see $LOG_FILE)"
    fi
  else
    start
  fi
  forwarder_up "$FORWARDER_PID_FILE" "$FORWARDER_LOG_FILE" "$BRIDGE_ADDRESS" "$PORT" 127.0.0.1 "$PORT"
  log "up at $URL and http://$BRIDGE_ADDRESS:$PORT"
}

cmd_down() {
  local pids
  forwarder_down "$FORWARDER_PID_FILE" "$(bridge_address)" "$PORT"
  pids="$(our_pids)"
  if [[ -n "$pids" ]]; then
    log "stopping prometheus (${pids//$'\n'/ })"
    stop_pids "$pids" 15
  fi
  rm -f "$PID_FILE"
}

cmd_status() {
  BRIDGE_ADDRESS="$(bridge_address)"
  if healthy && forwarder_healthy; then
    echo "prometheus: up at $URL (pid $(running_pid)) and http://$BRIDGE_ADDRESS:$PORT (forwarder pid $(cat "$FORWARDER_PID_FILE"))"
    return 0
  fi
  if healthy; then
    echo "prometheus: up at $URL but not at http://$BRIDGE_ADDRESS:$PORT (forwarder down; run: $here/prometheus.sh up)"
    return 1
  fi
  echo "prometheus: down"
  return 1
}

cmd_env() {
  echo "export YMERA_PROMETHEUS_URL=$URL"
  echo "export YMERA_POD_PROMETHEUS_URL=http://$(bridge_address):$PORT"
  echo "export YMERA_PROMETHEUS_RULES_DIR=$RULES_DIR"
  echo "export YMERA_PROMETHEUS_TARGETS_DIR=$TARGETS_DIR"
}

case "${1:-}" in
  install) mkdir -p "$STATE_DIR"; cmd_install; echo "$(dirname "$(command -v prometheus)")" ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  config) cmd_install >/dev/null; render_config ;;
  *)
    echo "usage: $0 install|up|down|status|env|config" >&2
    exit 2
    ;;
esac
