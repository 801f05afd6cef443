# Shared by the stack scripts (kafka.sh, minio.sh, prometheus.sh): where
# state lives, logging, ports, log rotation and process bookkeeping. Source it after setting
# COMPONENT (the log prefix); the sourcing script defines ours() and sets
# LOG_FILE and PID_FILE.
# shellcheck shell=bash

# one stack per machine (its ports are fixed), shared by every checkout like the cluster
STATE_DIR="${YMERA_STATE_DIR:-${YMERA_CACHE:-$HOME/.cache/ymera}/stack}"
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"

log() { printf '[%s] %s\n' "$COMPONENT" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# port_open <host> <port>: something accepts connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# rotate_log <file>: keeps a log from growing without bound across many runs.
rotate_log() {
  if [[ -f "$1" ]] && (($(stat -c %s "$1") > 20 * 1024 * 1024)); then
    mv -f "$1" "$1.1"
  fi
}

# alive <pid>: the process exists and is not a zombie (PID 1 here may not reap)
alive() {
  local pid="$1" state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# stop_pids <pids> <grace seconds>: SIGTERM, wait up to the grace period, then SIGKILL
stop_pids() {
  local pids="$1" grace="${2:-15}" p left deadline
  [[ -z "$pids" ]] && return 0
  log "stopping (pid ${pids//$'\n'/ })"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while ((SECONDS < deadline)); do
    left=""
    for p in $pids; do if alive "$p"; then left+=" $p"; fi; done
    [[ -z "$left" ]] && return 0
    sleep 0.2
  done
  log "still running after ${grace}s; killing${left}"
  # shellcheck disable=SC2086
  kill -KILL $left 2>/dev/null || true
  sleep 0.3
}

# our_pids: every live process ours <pid> recognises, whatever the pid file says
# (a lost pid file must not leave a second server on the same data)
our_pids() {
  local p
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    if ours "$p"; then echo "$p"; fi
  done
  return 0
}

# wait_started <pid> <timeout s> <what> <log lines> <check...>: polls the check
# until it passes; dies with the log's tail when the process exits or time is up
wait_started() {
  local pid="$1" timeout="$2" what="$3" lines="$4" deadline
  shift 4
  deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! alive "$pid"; then
      tail -n "$lines" "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      die "$what exited during startup; see $LOG_FILE"
    fi
    if ((SECONDS >= deadline)); then
      tail -n "$lines" "$LOG_FILE" >&2 || true
      die "$what did not start within ${timeout}s; see $LOG_FILE"
    fi
    sleep 0.3
  done
}

# shellcheck source=close-fds.sh
source "$(dirname "${BASH_SOURCE[0]}")/close-fds.sh"

# --- the pod bridge ----------------------------------------------------------

# ensure_bridge: makes sure the pod bridge (bridge.sh) exists and sets
# BRIDGE_ADDRESS to its address, the second one our servers listen on (pods
# reach the host there; 127.0.0.1 stays for everything on the host). Idempotent
# and quick; a server started alone (kafka.sh up) needs it as much as the stack.
ensure_bridge() {
  local stack_dir
  stack_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if ! bash "$stack_dir/bridge.sh" status >/dev/null 2>&1; then
    bash "$stack_dir/bridge.sh" up 9>&- || die "the pod bridge is missing and could not be made (bridge.sh up)"
  fi
  BRIDGE_ADDRESS="$(bridge_address)"
}

# bridge_address: the bridge's address as bridge.sh sees it (YMERA_BRIDGE_ADDRESS or its default)
bridge_address() {
  local stack_dir
  stack_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  bash "$stack_dir/bridge.sh" env | sed -n 's/^export YMERA_BRIDGE_ADDRESS="\(.*\)"$/\1/p'
}

# --- TCP forwarders (socat) --------------------------------------------------
# A server that takes a single listen address (Prometheus 2.42) stays on
# 127.0.0.1 and gets a forwarder on the bridge address: Debian's socat, one
# listener that forks per connection, run by the stack script with its own pid
# file. The forwarder is plain TCP, so HTTP Host headers (and anything signed
# over them) pass through unchanged.

# forwarder_ours <pid> <listen host> <port>: a socat listening where we put ours
forwarder_ours() {
  local cmd
  alive "$1" || return 1
  cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == "socat "*"TCP4-LISTEN:$3,bind=$2,"* ]]
}

# forwarder_pids <listen host> <port>: every live socat of that listener (the
# listener and the children serving open connections)
forwarder_pids() {
  local p
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    if forwarder_ours "$p" "$1" "$2"; then echo "$p"; fi
  done
  return 0
}

# forwarder_running <pid file> <listen host> <port>: the recorded socat is alive and accepts connections
forwarder_running() {
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  forwarder_ours "$pid" "$2" "$3" && port_open "$2" "$3"
}

# forwarder_up <pid file> <log file> <listen host> <port> <target host> <target port>:
# starts (or repairs) the forwarder; idempotent
forwarder_up() {
  local pid_file="$1" log_file="$2" host="$3" port="$4" to_host="$5" to_port="$6" pid
  forwarder_running "$pid_file" "$host" "$port" && return 0
  command -v socat >/dev/null 2>&1 || install_socat
  # a forwarder that lost its pid file, or one that does not accept, goes first
  stop_pids "$(forwarder_pids "$host" "$port")" 5
  rm -f "$pid_file"
  port_open "$host" "$port" && die "$host:$port is in use by another process"
  rotate_log "$log_file"
  log "forwarding $host:$port to $to_host:$to_port (socat)"
  # setsid and close_fds: it outlives the caller and holds none of its locks
  (close_fds; exec setsid socat -d "TCP4-LISTEN:$port,bind=$host,reuseaddr,fork,backlog=128" "TCP4:$to_host:$to_port") \
    </dev/null >>"$log_file" 2>&1 &
  pid=$!
  echo "$pid" >"$pid_file"
  # shellcheck disable=SC2317 # called through wait_started
  listening() { port_open "$host" "$port"; }
  LOG_FILE="$log_file" PID_FILE="$pid_file" wait_started "$pid" 10 "the forwarder on $host:$port" 10 listening
}

# forwarder_down <pid file> <listen host> <port>
forwarder_down() {
  stop_pids "$(forwarder_pids "$2" "$3")" 5
  rm -f "$1"
}

# install_socat: Debian's socat package (apt-get; needs root)
install_socat() {
  ((EUID == 0)) || die "socat is missing and installing Debian's socat package needs root"
  command -v apt-get >/dev/null 2>&1 || die "socat is missing and there is no apt-get to install it"
  log "installing Debian's socat package"
  mkdir -p "$STATE_DIR"
  local attempt
  for attempt in 1 2; do
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends socat \
      >"$STATE_DIR/socat-install.log" 2>&1; then
      return 0
    fi
    if [[ "$attempt" == 1 ]]; then apt-get update -q >>"$STATE_DIR/socat-install.log" 2>&1 || true; fi
  done
  tail -20 "$STATE_DIR/socat-install.log" >&2
  die "apt-get install socat failed"
}
