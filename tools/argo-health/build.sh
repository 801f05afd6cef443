#!/usr/bin/env bash
# Builds (once per machine) tools/argo-health, which runs Argo CD health_test.yaml
# cases with Argo CD's own Lua engine, and prints the path of the binary. Same
# cache scheme as test/e2e/stack/build-minio.sh: the binary is cached under
#   $YMERA_CACHE/bin/argo-health-<argo-cd version>-<recipe hash>/argo-health
# where the hash covers the sources, go.mod/go.sum, the Go toolchain and the
# flags, so any change builds a new directory and a second run builds nothing.
# The directory is filled under a temporary name and renamed into place with a
# .complete marker, so an interrupted build never looks finished.
#
# Measured on 2 shared cores: cold (empty Go module and build caches) 170s,
# of which the compile ~100s; cached: 0.01s. The e2e test allows 10 minutes.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${YMERA_CACHE:-$HOME/.cache/ymera}"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly"

log() { printf '[build-argo-health] %s\n' "$*" >&2; }

argo_version="$(awk '$1 == "github.com/argoproj/argo-cd/v3" { print $2; exit }' "$here/go.mod")"
goversion="$(go env GOVERSION)"
recipe_hash="$(
  {
    printf '%s\n' "$goversion" "$CGO_ENABLED" "$GOFLAGS"
    cat "$here/go.mod" "$here/go.sum" "$here"/*.go
  } | sha256sum | cut -c1-10
)"
dest="$cache/bin/argo-health-$argo_version-$recipe_hash"

if [[ ! -f "$dest/.complete" ]]; then
  tmp="$dest.tmp.$$"
  trap 'rm -rf "$tmp"' EXIT
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "building argo-health on github.com/argoproj/argo-cd/v3@$argo_version with $goversion (cold build; cached afterwards)"
  start=$SECONDS
  (cd "$here" && go build -ldflags "-s -w" -o "$tmp/argo-health" .)
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
echo "$dest/argo-health"
