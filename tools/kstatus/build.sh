#!/usr/bin/env bash
# Builds (once per machine) tools/kstatus, which computes the kstatus status
# (sigs.k8s.io/cli-utils/pkg/kstatus/status) of YAML objects, and prints the
# path of the binary. Same cache scheme as tools/argo-health/build.sh and
# test/e2e/stack/build-minio.sh: the binary is cached under
#   $YMERA_CACHE/bin/kstatus-<cli-utils version>-<recipe hash>/kstatus
# where the hash covers the sources, go.mod/go.sum, the Go toolchain and the
# flags, so any change builds a new directory and a second run builds nothing.
# The directory is filled under a temporary name and renamed into place with a
# .complete marker, so an interrupted build never looks finished.
#
# Measured on 2 shared cores: cold (modules already downloaded) 23s;
# cached: 0.01s. The test allows 5 minutes.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${YMERA_CACHE:-$HOME/.cache/ymera}"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly"

log() { printf '[build-kstatus] %s\n' "$*" >&2; }

version="$(awk '$1 == "sigs.k8s.io/cli-utils" { print $2; exit }' "$here/go.mod")"
goversion="$(go env GOVERSION)"
recipe_hash="$(
  {
    printf '%s\n' "$goversion" "$CGO_ENABLED" "$GOFLAGS"
    cat "$here/go.mod" "$here/go.sum" "$here"/*.go
  } | sha256sum | cut -c1-10
)"
dest="$cache/bin/kstatus-$version-$recipe_hash"

if [[ ! -f "$dest/.complete" ]]; then
  tmp="$dest.tmp.$$"
  trap 'rm -rf "$tmp"' EXIT
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "building kstatus on sigs.k8s.io/cli-utils@$version with $goversion (cold build; cached afterwards)"
  start=$SECONDS
  (cd "$here" && go build -ldflags "-s -w" -o "$tmp/kstatus" .)
  log "built in $((SECONDS - start))s"
  touch "$tmp/.complete"
  # another build may have finished meanwhile: keep whichever is complete
  if [[ -f "$dest/.complete" ]]; then
    rm -rf "$tmp"
  else
    rm -rf "$dest"
    mv "$tmp" "$dest"
  fi
  trap - EXIT
fi
echo "$dest/kstatus"
