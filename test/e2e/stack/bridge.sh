#!/usr/bin/env bash
# The local cluster's pod bridge: the one network the real node's pods live on.
#
#   bridge.sh up|down|status|env
#
# A Linux bridge ($YMERA_BRIDGE, default ymera0) holding the host's address on
# a private range ($YMERA_BRIDGE_ADDRESS/24, default 10.250.0.1/24). The real
# node's CNI (bridge plugin, host-local IPAM) attaches its pods to it and
# hands them addresses from the same /24, so pods reach the host on the
# bridge address and the host reaches pods directly. The stack's servers
# (MinIO, Prometheus, Kafka, the API server) listen on 127.0.0.1 and on this
# address, nothing else. No masquerade and no default route out: nothing a
# pod sends leaves the machine.
#
# It is made first by stack.sh `up` (servers bind to it) and removed last.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

BRIDGE="${YMERA_BRIDGE:-ymera0}"
ADDRESS="${YMERA_BRIDGE_ADDRESS:-10.250.0.1}"
PREFIX=24
SUBNET="${ADDRESS%.*}.0/$PREFIX"

COMPONENT=bridge
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

has_address() { ip -4 -o addr show dev "$BRIDGE" 2>/dev/null | grep -q " $ADDRESS/$PREFIX "; }
is_up() { ip -o link show dev "$BRIDGE" 2>/dev/null | grep -q "[<,]UP[,>]"; }

cmd_up() {
  command -v ip >/dev/null 2>&1 || die "ip (iproute2) is missing"
  if ! ip link show dev "$BRIDGE" >/dev/null 2>&1; then
    log "creating bridge $BRIDGE ($ADDRESS/$PREFIX)"
    ip link add "$BRIDGE" type bridge || die "cannot create bridge $BRIDGE (needs root and CAP_NET_ADMIN)"
  fi
  has_address || ip addr add "$ADDRESS/$PREFIX" dev "$BRIDGE"
  is_up || ip link set "$BRIDGE" up
  # the host only answers pods on this bridge; it never routes for them
  log "bridge $BRIDGE is up: $ADDRESS/$PREFIX"
}

cmd_down() {
  if ip link show dev "$BRIDGE" >/dev/null 2>&1; then
    ip link del "$BRIDGE"
    log "bridge $BRIDGE removed"
  fi
}

cmd_status() {
  if has_address && is_up; then
    echo "up ($BRIDGE $ADDRESS/$PREFIX)"
  else
    echo "down (bridge $BRIDGE with $ADDRESS/$PREFIX missing; run: $here/bridge.sh up)"
    return 1
  fi
}

cmd_env() {
  printf 'export YMERA_BRIDGE="%s"\n' "$BRIDGE"
  printf 'export YMERA_BRIDGE_ADDRESS="%s"\n' "$ADDRESS"
  printf 'export YMERA_POD_SUBNET="%s"\n' "$SUBNET"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *)
    echo "usage: $0 up|down|status|env" >&2
    exit 2
    ;;
esac
