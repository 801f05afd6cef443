#!/usr/bin/env bash
# Builds (once per machine) the Go tool in <dir> and prints the path of its
# binary: go-tool-build.sh <name> <module whose version names the build> <dir>.
# Shared by tools/argo-health/build.sh and tools/kstatus/build.sh; same cache
# scheme as test/e2e/stack/build-minio.sh: the binary is cached under
#   $YMERA_CACHE/bin/<name>-<module version>-<recipe hash>/<name>
# where the hash covers the sources, go.mod/go.sum, the Go toolchain and the
# flags, so any change builds a new directory and a second run builds nothing.
# The directory is filled under a temporary name and renamed into place with a
# .complete marker, so an interrupted build never looks finished.
set -euo pipefail

name="$1"
module="$2"
here="$(cd "$3" && pwd)"
cache="${YMERA_CACHE:-$HOME/.cache/ymera}"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly"

log() { printf '[build-%s] %s\n' "$name" "$*" >&2; }

version="$(awk -v m="$module" '$1 == m { print $2; exit }' "$here/go.mod")"
goversion="$(go env GOVERSION)"
recipe_hash="$(
  {
    printf '%s\n' "$goversion" "$CGO_ENABLED" "$GOFLAGS"
    cat "$here/go.mod" "$here/go.sum" "$here"/*.go
  } | sha256sum | cut -c1-10
)"
dest="$cache/bin/$name-$version-$recipe_hash"

if [[ ! -f "$dest/.complete" ]]; then
  tmp="$dest.tmp.$$"
  trap 'rm -rf "$tmp"' EXIT
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "building $name on $module@$version with $goversion (cold build; cached afterwards)"
  start=$SECONDS
  (cd "$here" && go build -ldflags "-s -w" -o "$tmp/$name" .)
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
echo "$dest/$name"
