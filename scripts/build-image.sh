#!/usr/bin/env bash
# Builds the project's container image without Docker: the same image as the
# Dockerfile's final stage (the operator, which is also the default CPU
# inference runtime), under the name the operator and the chart use.
#
#   scripts/build-image.sh            build (or reuse) the OCI archive; prints its path
#   scripts/build-image.sh --import   build, then import it into containerd ($YMERA_CONTAINERD_ADDRESS)
#   scripts/build-image.sh --name     print the image name only
#   eval "$(scripts/build-image.sh --env)"   build, then export YMERA_IMAGE, YMERA_IMAGE_ARCHIVE, YMERA_IMAGE_DIGEST
#
# How: the base is made from Debian packages (apt-get download + dpkg-deb -x:
# libc6, libgcc-s1, libstdc++6 for node and onnxruntime's .so, ca-certificates,
# tzdata, netbase, base-files), with /etc/passwd and /etc/group holding the
# distroless "nonroot" user 65532; Node.js is the official binary that
# scripts/node-env.sh provisions from the npm registry; node_modules comes from
# `npm ci --omit=dev` in a staging dir. GNU tar writes each layer (sorted,
# fixed mtimes, root-owned, no write bit for group/other) and Debian's umoci
# assembles the OCI layout (config, layers, tag). The archive is an OCI layout
# in a tar, cached under $YMERA_CACHE/images/ and keyed by a hash of every
# input (this script and scripts/image-lib.sh, package*.json, the app's files,
# the Debian package versions, the Node version): a second run with nothing
# changed builds nothing. Each layer is cached too, so a source change
# rebuilds in seconds.
#
# Not built here: the CUDA runtime image (Dockerfile target runtime-cuda). It
# starts FROM NVIDIA's CUDA + cuDNN base image, which only comes from a
# container registry, and no container registry is reachable from these
# machines; build it with Docker where one is.
#
# Env: YMERA_CACHE (~/.cache/ymera), YMERA_IMAGE_DIR ($YMERA_CACHE/images),
# YMERA_NODE_VERSION (see node-env.sh), REVISION (the label; default: the last
# commit that touched the image's inputs, "-dirty" when they have local edits),
# SOURCE_DATE_EPOCH (file mtimes and the created dates; default 0).
# --import also reads YMERA_CONTAINERD_ADDRESS, YMERA_CTR (the ctr binary;
# default: ctr on PATH, then $YMERA_CACHE/bin/current/ctr) and
# YMERA_CONTAINERD_SNAPSHOTTER.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lib="$repo/scripts/image-lib.sh"
# shellcheck source-path=SCRIPTDIR source=image-lib.sh
source "$lib"
cache="${YMERA_CACHE:-$HOME/.cache/ymera}"
out="${YMERA_IMAGE_DIR:-$cache/images}"
epoch="${SOURCE_DATE_EPOCH:-0}"
# Debian packages of the base; ldd of node and onnxruntime-node's .so names
# libc, libm, libdl, librt, libpthread (libc6), libstdc++ and libgcc_s.
base_packages=(base-files libc6 libgcc-s1 libstdc++6 ca-certificates tzdata netbase)

log() { printf '[build-image] %s\n' "$*" >&2; }
die() { printf '[build-image] error: %s\n' "$*" >&2; exit 1; }

mode=build
case "${1:-}" in
  '') ;;
  --import) mode=import ;;
  --name) mode=name ;;
  --env) mode=env ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (allowed: --import, --name, --env, --help)" ;;
esac

# --- the image's name: what pods and the chart reference ---------------------
node_bin_dir="$(YMERA_NODE_FROM_PACKAGE=1 "$repo/scripts/node-env.sh")"
node="$node_bin_dir/node"
image="$("$node" --disable-warning=ExperimentalWarning -e \
  "import('$repo/operator/version.ts').then((v) => console.log(v.RUNTIME_IMAGE))")"
version="${image##*:}"
chart_repo="$(sed -n 's/^  repository: *//p' "$repo/charts/ymera-operator/values.yaml" | head -1)"
chart_tag="$(sed -n "s/^appVersion: *['\"]\{0,1\}\([^'\"]*\)['\"]\{0,1\}$/\1/p" "$repo/charts/ymera-operator/Chart.yaml")"
[[ "$chart_repo:$chart_tag" == "$image" ]] ||
  die "the chart deploys $chart_repo:$chart_tag but operator/version.ts names $image; make them equal"
registry="${image%%/*}"
[[ "$image" == */* && ( "$registry" == *.* || "$registry" == *:* || "$registry" == localhost ) ]] ||
  die "$image is not fully qualified (registry/repository:tag); the CRI would rename it"
if [[ "$mode" == name ]]; then echo "$image"; exit 0; fi

# --- tools ------------------------------------------------------------------
need_apt=()
command -v umoci >/dev/null || need_apt+=(umoci)
for t in dpkg-deb apt-get ldconfig sha256sum; do command -v "$t" >/dev/null || die "$t is missing (Debian/Ubuntu only)"; done
tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is required"
if ((${#need_apt[@]})); then
  [[ "$(id -u)" == 0 ]] || die "missing ${need_apt[*]}: run 'sudo apt-get install -y ${need_apt[*]}'"
  log "installing ${need_apt[*]} (Debian package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2 ||
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2; }
fi

# --- inputs and the cache key -----------------------------------------------
# "<package>=<candidate version>" lines, in base_packages order
pkg_versions="$(pinned_versions "${base_packages[@]}")"
node_version="$("$node" --version)"
arch="$("$node" -p process.arch)"

# The app's files as the Dockerfile copies them (.dockerignore leaves out
# tests, markdown, fixtures): tracked and untracked-but-not-ignored files,
# with their current content.
app_files() {
  if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$repo" ls-files -co --exclude-standard -- operator controllers runtime
  else
    (cd "$repo" && find operator controllers runtime -type f)
  fi | grep -Ev '(\.test\.ts|\.md)$|(^|/)(__fixtures__|testdata|node_modules)/' | LC_ALL=C sort
}
mapfile -t files < <(app_files)
((${#files[@]})) || die "no application files found under operator/ controllers/ runtime/"
app_hash="$(cd "$repo" && sha256sum package.json package-lock.json "${files[@]}" | sha256sum | cut -c1-16)"
deps_hash="$(cat "$repo/package.json" "$repo/package-lock.json" | sha256sum | cut -c1-16)"

if [[ -z "${REVISION:-}" ]] && git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  inputs=(package.json package-lock.json operator controllers runtime)
  REVISION="$(git -C "$repo" log -1 --format=%H -- "${inputs[@]}")"
  if [[ -n "$(git -C "$repo" status --porcelain -- "${inputs[@]}")" ]]; then REVISION+="-dirty"; fi
fi
revision="${REVISION:-unknown}"

self_hash="$(cat "$0" "$lib" | sha256sum | cut -c1-16)"
base_key="$(printf '%s\n' "$self_hash" "$epoch" "$pkg_versions" | sha256sum | cut -c1-16)"
node_key="$(printf '%s\n' "$self_hash" "$epoch" "$node_version" "$arch" | sha256sum | cut -c1-16)"
deps_key="$(printf '%s\n' "$self_hash" "$epoch" "$node_version" "$arch" "$deps_hash" | sha256sum | cut -c1-16)"
app_key="$(printf '%s\n' "$self_hash" "$epoch" "$app_hash" | sha256sum | cut -c1-16)"
key="$(printf '%s\n' "$base_key" "$node_key" "$deps_key" "$app_key" "$image" "$revision" | sha256sum | cut -c1-16)"

name="${image##*/}"; name="${name%%:*}-$version"
archive="$out/$name-$key.oci.tar"
mkdir -p "$out/layers"

import_archive() {
  local a="$1" want
  want="$(cat "$a.digest")"
  local addr="${YMERA_CONTAINERD_ADDRESS:-}"
  [[ -n "$addr" ]] || die "YMERA_CONTAINERD_ADDRESS is unset: eval \"\$(test/e2e/stack/node.sh env)\" first (the real node's containerd socket)"
  [[ -S "${addr#unix://}" ]] || die "no containerd socket at $addr (is the real node up? test/e2e/stack/node.sh status)"
  local ctr="${YMERA_CTR:-}"
  [[ -n "$ctr" ]] || ctr="$(command -v ctr || true)"
  [[ -n "$ctr" ]] || ctr="$cache/bin/current/ctr"
  [[ -x "$ctr" ]] || die "ctr not found (set YMERA_CTR or build the real node's binaries)"
  have() { "$ctr" --address "$addr" -n k8s.io images ls "name==$image" | awk 'NR > 1 { print $3 }'; }
  if [[ "$(have)" == "$want" ]]; then
    log "containerd already has $image@$want"
    return 0
  fi
  local snap=()
  [[ -z "${YMERA_CONTAINERD_SNAPSHOTTER:-}" ]] || snap=(--snapshotter "$YMERA_CONTAINERD_SNAPSHOTTER")
  log "importing $image@$want into containerd (namespace k8s.io)"
  # The archive's index names the image by its full reference; --base-name
  # keeps exactly the references under the image's repository.
  "$ctr" --address "$addr" -n k8s.io images import "${snap[@]}" --base-name "${image%:*}" "$a" >&2
  [[ "$(have)" == "$want" ]] || die "after the import containerd has '$(have)' for $image, not $want"
  log "imported $image@$want"
}

# finish: link the newest archive, import it if asked, print what was asked for
finish() {
  ln -sfn "$(basename "$archive")" "$out/$name.oci.tar"
  [[ "$mode" != import ]] || import_archive "$archive"
  if [[ "$mode" == env ]]; then
    printf 'export YMERA_IMAGE=%q\nexport YMERA_IMAGE_ARCHIVE=%q\nexport YMERA_IMAGE_DIGEST=%q\n' \
      "$image" "$archive" "$(cat "$archive.digest")"
  else
    echo "$archive"
  fi
}

if [[ -f "$archive" && -f "$archive.digest" ]]; then
  log "up to date: $image ($(cat "$archive.digest"))"
  finish
  exit 0
fi

# --- build ------------------------------------------------------------------
work="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export LC_ALL=C

# layer_tar <dir> <out.tar>: a reproducible tar of <dir>'s content, owned by
# root, with the modes as staged (callers strip group/other write bits).
layer_tar() {
  repro_tar "$1" "$2" --clamp-mtime --owner=0 --group=0 .
}

# cached_layer <name> <key> <function>: runs <function> <stage-dir> once per key.
cached_layer() {
  local tarball="$out/layers/$1-$2.tar"
  if [[ ! -f "$tarball" ]]; then
    local stage="$work/$1"
    mkdir -p "$stage"
    log "layer $1: building"
    "$3" "$stage" >&2
    chmod -R go-w "$stage"
    layer_tar "$stage" "$tarball.tmp"
    rm -f "$out/layers/$1-"*.tar
    mv "$tarball.tmp" "$tarball"
  else
    log "layer $1: cached"
  fi
  echo "$tarball"
}

build_base() {
  local root="$1" debs="$work/debs"
  mkdir -p "$debs"
  local pins
  mapfile -t pins <<<"$pkg_versions"
  apt_download "$debs" "${pins[@]}"
  mkdir -p "$root/var/lib/dpkg/status.d"
  for deb in "$debs"/*.deb; do
    local pkg; pkg="$(dpkg-deb -f "$deb" Package)"
    dpkg-deb -x "$deb" "$root"
    # what scanners read to know the packages (distroless does the same)
    dpkg-deb -f "$deb" > "$root/var/lib/dpkg/status.d/$pkg"
  done
  # the certificate bundle update-ca-certificates would make from the same files
  mkdir -p "$root/etc/ssl/certs"
  find "$root/usr/share/ca-certificates" -name '*.crt' | sort | xargs cat > "$root/etc/ssl/certs/ca-certificates.crt"
  # no shell, no maintainer scripts: drop scripts and docs other than copyright
  rm -rf "$root/usr/sbin" "$root/usr/share/ca-certificates" "$root/usr/share/man" "$root/usr/share/lintian" \
    "$root/usr/share/info" "$root/usr/share/base-files" "$root/etc/profile" "$root/etc/profile.d" \
    "$root/etc/skel" "$root/root/.bashrc" "$root/root/.profile" "$root/etc/update-motd.d"
  find "$root/usr/share/doc" -type f ! -name copyright -delete
  find "$root/usr/share/doc" -depth -type d -empty -delete
  cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat > "$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
EOF
  printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
  mkdir -p "$root/tmp" "$root/home/nonroot" "$root/root" "$root/proc" "$root/sys" "$root/dev" "$root/app"
  # the loader's cache, for the libraries in /lib and /usr/lib
  printf 'include /etc/ld.so.conf.d/*.conf\n' > "$root/etc/ld.so.conf"
  ldconfig -r "$root" -X
  rm -f "$root/var/cache/ldconfig/aux-cache"
  find "$root" -depth -type d -empty ! -path "$root/tmp" ! -path "$root/home/nonroot" ! -path "$root/proc" \
    ! -path "$root/sys" ! -path "$root/dev" ! -path "$root/app" ! -path "$root/root" -delete
}

build_node() {
  local root="$1" pkgdir; pkgdir="$(dirname "$node_bin_dir")"
  mkdir -p "$root/nodejs/bin"
  cp "$node" "$root/nodejs/bin/node"
  cp "$pkgdir/LICENSE" "$root/nodejs/LICENSE"
  chmod 0755 "$root/nodejs/bin/node"
}

build_deps() {
  local root="$1" stage="$work/npm"
  mkdir -p "$stage" "$root/app"
  cp "$repo/package.json" "$repo/package-lock.json" "$stage/"
  (cd "$stage" && PATH="$node_bin_dir:$PATH" NODE_ENV=production ONNXRUNTIME_NODE_INSTALL=skip \
    ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --omit=dev --no-audit --no-fund --no-update-notifier \
    --loglevel=error >&2)
  # onnxruntime-node ships binaries for every OS and CPU; keep this platform's
  local ort="$stage/node_modules/onnxruntime-node/bin/napi-v6"
  [[ -d "$ort/linux/$arch" ]] || die "onnxruntime-node has no linux/$arch binaries"
  find "$ort" -mindepth 2 -maxdepth 2 ! -path "$ort/linux/$arch" -exec rm -rf {} +
  find "$ort" -mindepth 1 -maxdepth 1 -type d -empty -delete
  mv "$stage/node_modules" "$root/app/node_modules"
}

build_app() {
  local root="$1"
  mkdir -p "$root/app"
  (cd "$repo" && cp --parents package.json package-lock.json "${files[@]}" "$root/app/")
  find "$root/app" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
}

base_tar="$(cached_layer base "$base_key" build_base)"
node_tar="$(cached_layer node "$node_key" build_node)"
deps_tar="$(cached_layer deps "$deps_key" build_deps)"
app_tar="$(cached_layer app "$app_key" build_app)"

# the base layer carries the only paths the user may write: /tmp (sticky, as
# everywhere) and its own empty home, as in distroless
fixup="$work/fixup"
mkdir -p "$fixup/tmp" "$fixup/home/nonroot"
chmod 1777 "$fixup/tmp"; chmod 0700 "$fixup/home/nonroot"
base_full="$work/base.tar"
cp "$base_tar" "$base_full"
tar --delete --file "$base_full" ./tmp ./home/nonroot
tar --append --file "$base_full" --directory "$fixup" --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --no-recursion ./tmp
tar --append --file "$base_full" --directory "$fixup" --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  --mtime="@$epoch" --owner=65532 --group=65532 --numeric-owner --no-recursion ./home/nonroot

layout="$work/layout"
ref="$layout:$image"
oci_init "$layout" "$ref"
oci_add_layer "$ref" "debian bookworm packages: ${base_packages[*]}; nonroot 65532" "$base_full"
oci_add_layer "$ref" "node $node_version (/nodejs/bin/node)" "$node_tar"
oci_add_layer "$ref" "npm ci --omit=dev (/app/node_modules)" "$deps_tar"
oci_add_layer "$ref" "app: package*.json operator controllers runtime (/app)" "$app_tar"
labels=(
  "org.opencontainers.image.title=ymera-operator"
  "org.opencontainers.image.description=Kubernetes operator for a self-healing ML platform: serving, pipelines, predictive maintenance, tuning and backups."
  "org.opencontainers.image.version=$version"
  "org.opencontainers.image.revision=$revision"
  "org.opencontainers.image.licenses=Apache-2.0"
  "org.opencontainers.image.base.name=debian:bookworm packages (scripts/build-image.sh)"
)
cfg=(--config.user 65532:65532 --config.workingdir /app
  --config.env NODE_ENV=production
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
  --config.exposedports 8080/tcp --config.exposedports 8081/tcp
  --config.entrypoint /nodejs/bin/node --config.entrypoint --disable-warning=ExperimentalWarning
  --config.entrypoint operator/main.ts)
for l in "${labels[@]}"; do cfg+=(--config.label "$l"); done
oci_config "$ref" "${cfg[@]}"
oci_pack "$layout" "$work/image.tar"

digest="$(sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' "$layout/index.json")"
[[ "$digest" == sha256:* ]] || die "could not read the manifest digest from $layout/index.json"
echo "$digest" > "$archive.digest"
mv "$work/image.tar" "$archive"
# keep only the newest archive of this image
for old in "$out/$name"-*.oci.tar; do
  [[ "$old" == "$archive" ]] || rm -f "$old" "$old.digest"
done
log "built $image ($digest): $archive ($(du -h "$archive" | cut -f1))"
finish
