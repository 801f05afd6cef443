#!/usr/bin/env bash
# Local Prometheus for the ymera e2e tests and the demo.
#
#   prometheus.sh install  make sure prometheus and promtool are on PATH (Debian's
#                          package; apt-get needs root); starts nothing
#   prometheus.sh up       install if needed, then start (or repair) our Prometheus
#                          and wait for /-/ready; idempotent, fast when it is up
#   prometheus.sh down     stop it; idempotent (keeps config, rules and targets)
#   prometheus.sh status   print whether it is up; exit 0 if up, 1 otherwise
#   prometheus.sh env      print `export YMERA_PROMETHEUS_URL=...` and the rules and
#                          targets directories (eval it)
#
# Our Prometheus listens on 127.0.0.1 only, with --web.enable-lifecycle so that
# tests can POST /-/reload. Everything lives under $STATE_DIR/prometheus:
#   prometheus.yml   generated on every `up` (1s scrape and evaluation interval)
#   rules/*.yml      rule files: a test writes one, then POSTs /-/reload
#   targets/*.json   file_sd target groups: a test adds a scrape target by
#                    writing a file (picked up without a reload)
#   data/            the TSDB (2h retention)
#   prometheus.pid, prometheus.log
#
# The Debian package also ships a system service on 0.0.0.0:9090; the install
# keeps it from starting (policy-rc.d) and `up` stops it if it runs anyway.
#
# Environment:
#   YMERA_STATE_DIR         state root (default ~/.cache/ymera/stack)
#   YMERA_PROMETHEUS_PORT   port (default 9090)
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

have_binaries() { command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; }

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

cmd_install() {
  if have_binaries; then stop_debian_service; return 0; fi
  ((EUID == 0)) || die "prometheus/promtool are missing and installing Debian's prometheus package needs root"
  command -v apt-get >/dev/null 2>&1 || die "prometheus/promtool are missing and there is no apt-get to install them"
  # policy-rc.d exit 101 tells invoke-rc.d/deb-systemd-invoke not to start the
  # package's service; only create (and later remove) one if none exists
  local policy=/usr/sbin/policy-rc.d created=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    created=1
  fi
  log "installing Debian's prometheus package"
  local ok=0
  # --no-install-recommends: the recommended node exporter would be another service
  for attempt in 1 2; do
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
      >"$STATE_DIR/prometheus-install.log" 2>&1; then
      ok=1
      break
    fi
    # a stale or empty package list is the usual cause: refresh once
    if [[ "$attempt" == 1 ]]; then apt-get update -q >>"$STATE_DIR/prometheus-install.log" 2>&1 || true; fi
  done
  ((created)) && rm -f "$policy"
  ((ok)) || { tail -20 "$STATE_DIR/prometheus-install.log" >&2; die "apt-get install prometheus failed"; }
  stop_debian_service
  have_binaries || die "prometheus package installed but prometheus/promtool are not on PATH"
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
  setsid nohup prometheus \
    --config.file="$CONFIG" \
    --storage.tsdb.path="$DATA_DIR" \
    --storage.tsdb.retention.time=2h \
    --web.listen-address="$ADDRESS" \
    --web.enable-lifecycle \
    --log.level=warn \
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
  local changed=0
  mkdir -p "$RULES_DIR"
  set_aside_invalid_rules
  write_config && changed=1
  if healthy; then
    if ((changed)); then
      log "config changed: reloading"
      curl -fsS --max-time 10 -X POST "$URL/-/reload" >/dev/null || die "reload failed (see $LOG_FILE)"
    fi
    log "up at $URL"
    return 0
  fi
  start
  log "up at $URL"
}

cmd_down() {
  local pids
  pids="$(our_pids)"
  if [[ -n "$pids" ]]; then
    log "stopping prometheus (${pids//$'\n'/ })"
    stop_pids "$pids" 15
  fi
  rm -f "$PID_FILE"
}

cmd_status() {
  if healthy; then
    echo "prometheus: up at $URL (pid $(running_pid))"
    return 0
  fi
  echo "prometheus: down"
  return 1
}

cmd_env() {
  echo "export YMERA_PROMETHEUS_URL=$URL"
  echo "export YMERA_PROMETHEUS_RULES_DIR=$RULES_DIR"
  echo "export YMERA_PROMETHEUS_TARGETS_DIR=$TARGETS_DIR"
}

case "${1:-}" in
  install) mkdir -p "$STATE_DIR"; cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *)
    echo "usage: $0 install|up|down|status|env" >&2
    exit 2
    ;;
esac
