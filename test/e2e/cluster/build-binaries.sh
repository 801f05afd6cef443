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
  local tmp="$dest.tmp.$$" start=$SECONDS
  rm -rf "$tmp"; mkdir -p "$tmp"
  log "building $(basename "$dest") (cold build; cached afterwards)"
  "$@" "$tmp"
  touch "$tmp/.complete"
  rm -rf "$dest"; mv "$tmp" "$dest"
  log "built $(basename "$dest") in $((SECONDS - start))s"
}

# the version the Kubernetes binaries report (otherwise v0.0.0-master)
k8s_ldflags() {
  local minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
  local date; date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local ld=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit=v$K8S_VERSION-modules"
  done
  echo "$ld"
}

build_k8s() {
  local out="$1"
  (cd "$here/gomod/k8s" && go build -ldflags "-s -w $(k8s_ldflags)" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}

# The real node's Kubernetes commands, from their own wrapper module (gomod/node)
# so that adding them leaves the cached API server build alone.
build_node() {
  local out="$1"
  (cd "$here/gomod/node" && go build -ldflags "-s -w $(k8s_ldflags)" -o "$out/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
}

# containerd, its runc shim and ctr; pure Go, without the snapshotters that need
# host libraries (btrfs, devmapper, zfs)
build_containerd() {
  local out="$1" m="github.com/containerd/containerd/v2"
  local ld="-X $m/version.Version=v$CONTAINERD_VERSION -X $m/version.Revision=v$CONTAINERD_VERSION-modules"
  GOBIN="$out" go install -tags "no_btrfs no_devmapper no_zfs" -ldflags "-s -w $ld" \
    "$m/cmd/containerd@v$CONTAINERD_VERSION" "$m/cmd/containerd-shim-runc-v2@v$CONTAINERD_VERSION" \
    "$m/cmd/ctr@v$CONTAINERD_VERSION"
}

# apt_install <package...>: Debian packages a build needs (root), with one
# `apt-get update` retry for a stale package list
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  { ((EUID == 0)) && command -v apt-get >/dev/null 2>&1; } || { log "missing Debian packages: ${missing[*]} (need root and apt-get)"; return 1; }
  log "installing Debian packages: ${missing[*]}"
  local attempt
  for attempt in 1 2; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 && return 0
    [[ "$attempt" == 1 ]] && { apt-get update -q >&2 || true; }
  done
  return 1
}

# runc with cgo and seccomp (Debian's runc 1.1 cannot start containerd 2.4's
# sandboxes); libpathrs, a Rust library, is left out
build_runc() {
  local out="$1"
  apt_install libseccomp-dev pkg-config gcc libc6-dev
  CGO_ENABLED=1 GOBIN="$out" go install -tags "seccomp urfave_cli_no_docs" \
    -ldflags "-s -w -X main.version=$RUNC_VERSION -X main.gitCommit=v$RUNC_VERSION-modules" \
    "github.com/opencontainers/runc@v$RUNC_VERSION"
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
node_dir="$cache/bin/node-v$K8S_VERSION-$(modhash node)"
containerd_dir="$cache/bin/containerd-v$CONTAINERD_VERSION"
runc_dir="$cache/bin/runc-v$RUNC_VERSION"

build_once "$etcd_dir" build_etcd
build_once "$kwok_dir" build_kwok
build_once "$helm_dir" build_helm
build_once "$k8s_dir" build_k8s
build_once "$containerd_dir" build_containerd
build_once "$runc_dir" build_runc
build_once "$node_dir" build_node

# One stable directory of links, so callers need a single PATH entry.
links="$cache/bin/current"
mkdir -p "$links"
for d in "$k8s_dir" "$etcd_dir" "$kwok_dir" "$helm_dir" "$node_dir" "$containerd_dir" "$runc_dir"; do
  for f in "$d"/*; do ln -sfn "$f" "$links/$(basename "$f")"; done
done
echo "$links"
