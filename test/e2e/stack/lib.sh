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
