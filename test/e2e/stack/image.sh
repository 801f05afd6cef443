#!/usr/bin/env bash
# The project's own image on the real node: every e2e run tests the image built
# from this checkout, under the name the operator and the chart use
# (ghcr.io/ymera/ymera-operator:<version>, operator/version.ts).
#
#   image.sh up      build it (scripts/build-image.sh; cached, about 1 s when
#                    nothing changed) and import it into the real node's
#                    containerd unless containerd already holds that digest
#   image.sh down    nothing to stop (the image stays in containerd; node.sh
#                    down clears the node's containers, not its images)
#   image.sh status  exit 0 if containerd holds the image this checkout last imported
#   image.sh env     print `export YMERA_IMAGE=...`, YMERA_IMAGE_DIGEST (the
#                    manifest digest `up` imported) and YMERA_IMAGE_ID (its config
#                    digest: the CRI's image id, what a pod's status.containerStatuses[].imageID
#                    shows for an image without a registry); eval it
#
# Runs after node.sh (stack.sh's order) and is left out with it. The tag is one
# per machine: the last checkout that ran `up` owns it, which is why the e2e
# global setup runs `up` on every run (under the e2e lock).
#
# Environment: YMERA_STATE_DIR, YMERA_CACHE, YMERA_CONTAINERD_RUN.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
COMPONENT=image
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
CACHE="${YMERA_CACHE:-$HOME/.cache/ymera}"
SOCKET="${YMERA_CONTAINERD_RUN:-/run/ymera/containerd}/containerd.sock"
CTR="$CACHE/bin/current/ctr"
# what `up` imported, per checkout (the digest depends on the checkout's files)
RECORD="$STATE_DIR/image/$(printf '%s' "$repo" | sha256sum | cut -c1-12).env"

# the manifest digest containerd holds under <image>, empty when none
held_digest() {
  local list
  list="$("$CTR" --address "$SOCKET" -n k8s.io images ls "name==$1" 2>/dev/null)" || return 0
  awk 'NR > 1 { print $3 }' <<<"$list"
}

recorded() { # recorded <var>: its value in the record, empty when none
  [[ -f "$RECORD" ]] || return 0
  sed -n "s/^export $1=//p" "$RECORD" | tail -n 1
}

cmd_up() {
  local start=$SECONDS envs archive digest config
  [[ -S "$SOCKET" ]] || die "no containerd socket at $SOCKET (run stack/node.sh up first)"
  mkdir -p "$(dirname "$RECORD")"
  envs="$(YMERA_CONTAINERD_ADDRESS="$SOCKET" YMERA_CTR="$CTR" "$repo/scripts/build-image.sh" --env)"
  # --env builds; the import is a second, cheap call that reuses the archive
  YMERA_CONTAINERD_ADDRESS="$SOCKET" YMERA_CTR="$CTR" "$repo/scripts/build-image.sh" --import >/dev/null
  archive="$(sed -n 's/^export YMERA_IMAGE_ARCHIVE=//p' <<<"$envs")"
  digest="$(sed -n 's/^export YMERA_IMAGE_DIGEST=//p' <<<"$envs")"
  config="$(tar -xOf "$archive" "blobs/sha256/${digest#sha256:}" |
    grep -o '"config":{[^}]*}' | grep -o 'sha256:[0-9a-f]*')" ||
    die "cannot read the config digest of $digest from $archive"
  { printf '%s\n' "$envs" | grep -E '^export YMERA_IMAGE(_DIGEST)?='; echo "export YMERA_IMAGE_ID=$config"; } >"$RECORD.tmp"
  mv -f "$RECORD.tmp" "$RECORD"
  log "up: $(recorded YMERA_IMAGE)@$(recorded YMERA_IMAGE_DIGEST) in the real node's containerd ($((SECONDS - start))s)"
}

cmd_status() {
  local image digest held
  image="$(recorded YMERA_IMAGE)"; digest="$(recorded YMERA_IMAGE_DIGEST)"
  if [[ -z "$image" ]]; then
    echo "image: not imported by this checkout (image.sh up)"; return 1
  fi
  held="$(held_digest "$image")"
  if [[ "$held" == "$digest" ]]; then
    echo "image: $image@$digest in the real node's containerd"
  else
    echo "image: containerd holds ${held:-nothing} for $image, not this checkout's $digest (image.sh up)"
    return 1
  fi
}

cmd_env() {
  [[ -f "$RECORD" ]] && cat "$RECORD"
  return 0
}

case "${1:-}" in
  up) cmd_up ;;
  down) log "down: nothing to stop" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *)
    echo "usage: $0 up|down|status|env" >&2
    exit 2
    ;;
esac
