#!/usr/bin/env bash
# Builds (once per machine) the binaries of the local stack from their Go
# modules and prints the directory that holds them. Each tool is cached under
# $YMERA_CACHE/bin/<tool>-<version>-<module hash>; a second run builds nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${YMERA_CACHE:-$HOME/.cache/ymera}"
export GOFLAGS="${GOFLAGS:-} -trimpath"
export CGO_ENABLED=0

log() { printf '[build-binaries] %s\n' "$*" >&2; }

# hash of the wrapper module, so an edit to go.mod/go.sum invalidates the cache
modhash() { cat "$here/gomod/$1/go.mod" "$here/gomod/$1/go.sum" | sha256sum | cut -c1-10; }

# build_once <dest-dir> <command...>: run the build into a temp dir, then
# rename it into place so an interrupted build never looks complete.
build_once() {
  local dest="$1"; shift
  if [[ -f "$dest/.complete" ]]; then return 0; fi
  local tmp="$dest.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  log "building $(basename "$dest") (cold build; cached afterwards)"
  "$@" "$tmp"
  touch "$tmp/.complete"
  rm -rf "$dest"; mv "$tmp" "$dest"
}

build_k8s() {
  local out="$1" minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
  local date; date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local ld=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit=v$K8S_VERSION-modules"
  done
  (cd "$here/gomod/k8s" && go build -ldflags "-s -w $ld" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
  local out="$1"
  (cd "$here/gomod/etcd" && go build -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  local out="$1"
  local ld="-X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=v$K8S_VERSION"
  GOBIN="$out" go install -ldflags "-s -w $ld" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@v$KWOK_VERSION"
}

build_helm() {
  local out="$1"
  local ld="-X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION"
  GOBIN="$out" go install -ldflags "-s -w $ld" "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION"
}

k8s_dir="$cache/bin/k8s-v$K8S_VERSION-$(modhash k8s)"
etcd_dir="$cache/bin/etcd-v$ETCD_VERSION-$(modhash etcd)"
kwok_dir="$cache/bin/kwok-v$KWOK_VERSION"
helm_dir="$cache/bin/helm-v$HELM_VERSION"

build_once "$etcd_dir" build_etcd
build_once "$kwok_dir" build_kwok
build_once "$helm_dir" build_helm
build_once "$k8s_dir" build_k8s

# One stable directory of links, so callers need a single PATH entry.
links="$cache/bin/current"
mkdir -p "$links"
for d in "$k8s_dir" "$etcd_dir" "$kwok_dir" "$helm_dir"; do
  for f in "$d"/*; do ln -sfn "$f" "$links/$(basename "$f")"; done
done
echo "$links"
