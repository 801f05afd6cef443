#!/usr/bin/env bash
# The e2e trainer's image on the real node (test/e2e/fixtures/trainer: a small
# Python + numpy trainer the AutoML sweep tests run as pipeline steps).
#
#   trainer-image.sh up      build it (fixtures/trainer/build-image.sh; cached
#                            under ~/.cache/ymera/images, keyed by the recipe;
#                            a cold build takes about 10 s) and import it into
#                            the real node's containerd unless it holds it already
#   trainer-image.sh down    nothing to stop (the image stays in containerd)
#   trainer-image.sh status  exit 0 if containerd holds this checkout's trainer image
#   trainer-image.sh env     print `export YMERA_TRAINER_IMAGE=docker.io/ymera/trainer:<recipe hash>`
#
# Runs after node.sh (stack.sh's order) and is left out with it. The tag is the
# recipe hash, so checkouts with different trainers never overwrite each other.
#
# Environment: YMERA_CACHE, YMERA_CONTAINERD_RUN.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$here/../fixtures/trainer/build-image.sh"
COMPONENT=trainer-image
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
CACHE="${YMERA_CACHE:-$HOME/.cache/ymera}"
SOCKET="${YMERA_CONTAINERD_RUN:-/run/ymera/containerd}/containerd.sock"
CTR="$CACHE/bin/current/ctr"

# the manifest digest containerd holds under <image>, empty when none
held_digest() {
  local list
  list="$("$CTR" --address "$SOCKET" -n k8s.io images ls "name==$1" 2>/dev/null)" || return 0
  awk 'NR > 1 { print $3 }' <<<"$list"
}

cmd_up() {
  local start=$SECONDS image archive digest
  [[ -S "$SOCKET" ]] || die "no containerd socket at $SOCKET (run stack/node.sh up first)"
  image="$(bash "$build" --name)"
  archive="$(bash "$build")"
  digest="$(tar -xOf "$archive" index.json | grep -o '"digest": *"sha256:[0-9a-f]*"' | head -n 1 | cut -d'"' -f4)"
  [[ "$digest" == sha256:* ]] || die "cannot read the manifest digest of $archive"
  if [[ "$(held_digest "$image")" != "$digest" ]]; then
    log "importing $image ($digest)"
    "$CTR" --address "$SOCKET" -n k8s.io images import --base-name "${image%:*}" "$archive" >/dev/null \
      2> >(grep -v 'support for cgroup v1 is deprecated' >&2)
    [[ "$(held_digest "$image")" == "$digest" ]] || die "import of $archive did not create $image at $digest"
  fi
  log "up: $image@$digest in the real node's containerd ($((SECONDS - start))s)"
}

cmd_status() {
  local image
  image="$(bash "$build" --name)"
  if [[ -n "$(held_digest "$image")" ]]; then
    echo "trainer-image: $image in the real node's containerd"
  else
    echo "trainer-image: $image is not in the real node's containerd (trainer-image.sh up)"
    return 1
  fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) log "down: nothing to stop" ;;
  status) cmd_status ;;
  env) echo "export YMERA_TRAINER_IMAGE=$(bash "$build" --name)" ;;
  *)
    echo "usage: $0 up|down|status|env" >&2
    exit 2
    ;;
esac
