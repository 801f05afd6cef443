#!/usr/bin/env bash
# Builds (once per machine) prometheus and promtool from Prometheus's Go module
# and prints the directory that holds them.
#
# Why not Debian's package: it is built without Kubernetes service discovery
# ("removed due to the insane amount of dependencies in their client
# library", its NEWS.Debian), and the stack's Prometheus discovers the real
# node's pods through the API server (kubernetes_sd_configs). So the stack
# builds the very release Debian ships, 2.42.0 (module version v0.42.0),
# with upstream's full set of discoveries.
#
# Prometheus's go.mod has replace directives, which `go install mod@version`
# refuses; prometheus-build/ is a wrapper module that requires it, repeats
# them, and pins every dependency in its go.sum. The web UI's assets are not
# embedded (upstream's builtinassets tag needs a Node build of the UI): the
# HTTP API, /-/ready and /-/reload are all the stack uses.
#
# Cached under $YMERA_CACHE/bin/prometheus-<version>-<recipe hash>, the hash
# covering the wrapper module, the Go toolchain and the flags; filled under a
# temporary name and renamed into place, so an interrupted build never looks
# finished and a second run builds nothing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROMETHEUS_VERSION=2.42.0
MODULE_DIR="$here/prometheus-build"

cache="${YMERA_CACHE:-$HOME/.cache/ymera}"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly"

log() { printf '[build-prometheus] %s\n' "$*" >&2; }

command -v go >/dev/null 2>&1 || { log "ERROR: go is not installed (Prometheus is built from its Go module)"; exit 1; }

# what `prometheus --version` reports, as upstream's .promu.yml stamps it
pkg=github.com/prometheus/common/version
ldflags="-s -w -X $pkg.Version=$PROMETHEUS_VERSION -X $pkg.Revision=v0.42.0 -X $pkg.Branch=HEAD"
ldflags+=" -X $pkg.BuildUser=ymera-stack -X $pkg.BuildDate=module-v0.42.0"
goversion="$(go env GOVERSION)"
recipe_hash="$(cat "$MODULE_DIR/go.mod" "$MODULE_DIR/go.sum" <(printf '%s\n' "$goversion" "$ldflags" "$CGO_ENABLED" "$GOFLAGS") |
  sha256sum | cut -c1-10)"
dest="$cache/bin/prometheus-$PROMETHEUS_VERSION-$recipe_hash"

if [[ ! -f "$dest/.complete" ]]; then
  tmp="$dest.tmp.$$"
  trap 'rm -rf "$tmp"' EXIT
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "building Prometheus $PROMETHEUS_VERSION with $goversion (cold build; cached afterwards)"
  start=$SECONDS
  (cd "$MODULE_DIR" && go build -ldflags "$ldflags" -o "$tmp/" \
    github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool)
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
echo "$dest"
