# Shared by the stack scripts (kafka.sh, minio.sh, prometheus.sh): where
# state lives, logging, and process bookkeeping. Source it after setting
# COMPONENT (the log prefix).
# shellcheck shell=bash

# one stack per machine (its ports are fixed), shared by every checkout like the cluster
STATE_DIR="${YMERA_STATE_DIR:-${YMERA_CACHE:-$HOME/.cache/ymera}/stack}"
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"

log() { printf '[%s] %s\n' "$COMPONENT" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

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
