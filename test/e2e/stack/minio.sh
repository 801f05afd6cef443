#!/usr/bin/env bash
# Local S3-compatible object store (MinIO) for the ymera e2e tests and the demo.
#
#   minio.sh up      start (or repair) the server and create the buckets; idempotent
#   minio.sh down    stop it (data is kept); idempotent
#   minio.sh purge   stop it and delete its data
#   minio.sh status  print whether it is up; exit 0 if up and ready, 1 otherwise
#   minio.sh env     print `export YMERA_S3_...` (eval it)
#
# One MinIO server built from its Go module by build-minio.sh (no download of
# release binaries, no Docker), S3 API on 127.0.0.1:$YMERA_S3_PORT (9000) and on
# the pod bridge's address (bridge.sh, 10.250.0.1) at the same port, for pods of
# the real node. MinIO does that itself: given `--address 10.250.0.1:9000` it
# listens there and on every loopback address (127.0.0.1, ::1), nothing else.
# Pods sign requests for http://10.250.0.1:9000; SigV4 covers the Host header,
# and MinIO checks it as received. The web console is disabled (MINIO_BROWSER=off; its address is pinned to
# 127.0.0.1:$YMERA_S3_CONSOLE_PORT all the same). Buckets ymera-models,
# ymera-artifacts and ymera-backups are created with the operator's own S3
# client (minio-buckets.ts), so no `mc` is needed.
#
# State under $YMERA_STATE_DIR/minio (default ~/.cache/ymera/stack/minio):
#   data/       the single drive
#   minio.log   server output
#   minio.pid   pid of the server
# After a crash (kill -9) `up` finds the dead pid and starts the server again
# on the same data; a server of this data dir that the pid file lost track of
# is stopped first, so two never share the drive.
#
# The credentials are fixed, local-only test credentials (the server listens on
# loopback and the private bridge only); nothing else secret is printed.
#
# Environment: YMERA_S3_PORT, YMERA_S3_CONSOLE_PORT, YMERA_STATE_DIR, YMERA_CACHE.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"

HOST=127.0.0.1
PORT="${YMERA_S3_PORT:-9000}"
CONSOLE_PORT="${YMERA_S3_CONSOLE_PORT:-9001}"
ENDPOINT="http://$HOST:$PORT"
REGION=us-east-1
ACCESS_KEY=ymera-local
SECRET_KEY=ymera-local-secret
BUCKETS=(ymera-models ymera-artifacts ymera-backups)

COMPONENT=minio
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
MDIR="$STATE_DIR/minio"
DATA_DIR="$MDIR/data"
LOG_FILE="$MDIR/minio.log"
PID_FILE="$MDIR/minio.pid"
CACHE="${YMERA_CACHE:-$HOME/.cache/ymera}"


# --- process bookkeeping -------------------------------------------------------


# ours <pid>: a live MinIO server from our cache serving this data dir
ours() {
  local exe cmd
  alive "$1" || return 1
  exe="$(readlink -f "/proc/$1/exe" 2>/dev/null)" || return 1
  [[ "$exe" == "$CACHE/bin/minio-"*/minio ]] || return 1
  cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *" server "*" $DATA_DIR "* ]]
}


ready_at() { curl -fsS -o /dev/null --max-time 2 "$1/minio/health/ready" 2>/dev/null; }
# ready on both addresses: a server started before the bridge listener existed is restarted
ready() { ready_at "$ENDPOINT" && ready_at "http://$BRIDGE_ADDRESS:$PORT"; }

tracked_pid() {
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  if ours "$pid"; then echo "$pid"; fi
}

running() { [[ -n "$(tracked_pid)" ]] && ready; }


lock() {
  mkdir -p "$MDIR"
  exec 9>"$MDIR/.lock"
  flock -w 300 9 || die "another minio.sh holds $MDIR/.lock"
}

# --- commands ------------------------------------------------------------------

ensure_buckets() {
  # with-node.sh: Node.js 24 and the npm dependencies the S3 client needs, so that
  # `make cluster-up` works alone on a fresh clone
  YMERA_S3_ENDPOINT="$ENDPOINT" YMERA_S3_ACCESS_KEY="$ACCESS_KEY" YMERA_S3_SECRET_KEY="$SECRET_KEY" \
    YMERA_S3_REGION="$REGION" \
    "$repo/scripts/with-node.sh" node --disable-warning=ExperimentalWarning "$here/minio-buckets.ts" "${BUCKETS[@]}" 9>&- ||
    die "could not create the buckets ${BUCKETS[*]}"
}

start_server() {
  local bin="$1" pid
  mkdir -p "$DATA_DIR"
  rotate_log "$LOG_FILE"
  log "starting MinIO on $ENDPOINT and http://$BRIDGE_ADDRESS:$PORT (data in $DATA_DIR)"
  # setsid: a Ctrl-C meant for the caller must not stop the server. It runs
  # without any lock fd (ours or the caller's: close_fds) and without our
  # stdout, so callers that capture our output do not wait for the server to exit.
  (
    close_fds
    export MINIO_ROOT_USER="$ACCESS_KEY" MINIO_ROOT_PASSWORD="$SECRET_KEY" MINIO_REGION="$REGION" \
      MINIO_BROWSER=off MINIO_UPDATE=off
    exec setsid "$bin" server --address "$BRIDGE_ADDRESS:$PORT" --console-address "$HOST:$CONSOLE_PORT" "$DATA_DIR"
  ) </dev/null >>"$LOG_FILE" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"
  wait_started "$pid" 60 MinIO 20 ready
}

cmd_up() {
  command -v curl >/dev/null || die "curl is needed for the readiness check"
  local bin start=$SECONDS pid
  bin="$(bash "$here/build-minio.sh")"
  lock
  ensure_bridge
  pid="$(tracked_pid)"
  if [[ -z "$pid" ]]; then
    if [[ -f "$PID_FILE" ]]; then
      log "stale pid file (server gone, e.g. after kill -9)"
      rm -f "$PID_FILE"
    fi
    pid="$(our_pids | head -n 1)"
    if [[ -n "$pid" ]]; then
      log "adopting the server of $DATA_DIR that had no pid file (pid $pid)"
      echo "$pid" >"$PID_FILE"
    fi
  fi
  if [[ -n "$pid" && "$(readlink -f "/proc/$pid/exe")" != "$(readlink -f "$bin")" ]]; then
    log "the running server (pid $pid) is another build; restarting it on $bin"
    stop_pids "$pid" 15
  fi
  if ! running; then
    # whatever is left of this data dir (e.g. a server that never got ready) goes first
    stop_pids "$(our_pids)" 15
    local h
    for h in "$HOST" "$BRIDGE_ADDRESS"; do
      if port_open "$h" "$PORT"; then
        die "$h:$PORT is in use by another program; set YMERA_S3_PORT to a free port"
      fi
    done
    start_server "$bin"
  fi
  ensure_buckets
  log "up: $ENDPOINT and http://$BRIDGE_ADDRESS:$PORT, buckets ${BUCKETS[*]} ($((SECONDS - start))s)"
}

cmd_down() {
  lock
  stop_pids "$(our_pids)" 15
  rm -f "$PID_FILE"
  log "down"
}

cmd_purge() {
  cmd_down
  rm -rf "$DATA_DIR"
  log "data deleted"
}

cmd_status() {
  local pid
  BRIDGE_ADDRESS="$(bridge_address)"
  pid="$(tracked_pid)"
  if [[ -n "$pid" ]] && ready; then
    echo "minio: up (pid $pid, $ENDPOINT and http://$BRIDGE_ADDRESS:$PORT)"
    return 0
  fi
  if [[ -n "$pid" ]]; then echo "minio: running but not ready (pid $pid)"; else echo "minio: down"; fi
  return 1
}

# one variable per line, so line-by-line readers (global-setup.ts) get each of them
cmd_env() {
  echo "export YMERA_S3_ENDPOINT=$ENDPOINT"
  echo "export YMERA_S3_ACCESS_KEY=$ACCESS_KEY"
  echo "export YMERA_S3_SECRET_KEY=$SECRET_KEY"
  echo "export YMERA_S3_REGION=$REGION"
  # what a pod of the real node reaches it at (same credentials and region)
  echo "export YMERA_POD_S3_ENDPOINT=http://$(bridge_address):$PORT"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  purge) cmd_purge ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *)
    echo "usage: $0 up|down|purge|status|env" >&2
    exit 2
    ;;
esac
