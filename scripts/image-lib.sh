# shellcheck shell=bash
# Sourced by the Docker-free image builds (scripts/build-image.sh, the operator;
# test/e2e/fixtures/trainer/build-image.sh, the e2e trainer): Debian packages at
# apt's candidate versions, reproducible tars (sorted names, no atime/ctime,
# mtimes at $epoch, numeric owners) and an OCI layout packed by umoci into one
# archive. The sourcing script defines log and die and sets epoch; it hashes
# this file into its cache key, so a change here is a new image.
# shellcheck disable=SC2154 # epoch, log and die come from the sourcing script

# apt_candidates <package>...: "<package>=<candidate version>" lines, in the order given
apt_candidates() {
  apt-cache policy "$@" 2>/dev/null |
    awk '/^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) } /^ *Candidate: / && $2 != "(none)" { print p "=" $2 }'
}

# pinned_versions <package>...: apt_candidates of every one, running apt-get
# update first (as root) when apt has no candidate for some
pinned_versions() {
  local versions
  versions="$(apt_candidates "$@")"
  if [[ "$(grep -c = <<<"$versions")" != "$#" ]]; then
    [[ "$(id -u)" == 0 ]] || die "apt has no installable $*: run 'sudo apt-get update'"
    log "apt-get update (no package lists yet)"
    apt-get update -qq >&2
    versions="$(apt_candidates "$@")"
    [[ "$(grep -c = <<<"$versions")" == "$#" ]] ||
      die "apt has no installable version of some of $*: got '$versions'"
  fi
  printf '%s\n' "$versions"
}

# apt_download <dir> <package=version>...: those exact .debs into <dir>
apt_download() {
  local dir="$1" sandbox=()
  shift
  # as root, apt's _apt sandbox user cannot write into a private cache dir
  [[ "$(id -u)" != 0 ]] || sandbox=(-o APT::Sandbox::User=root)
  (cd "$dir" && apt-get download -qq "${sandbox[@]}" "$@") ||
    die "apt-get download $* failed (package lists out of date? run 'apt-get update' and build again)"
}

# repro_tar <dir> <out.tar> <tar option or member>...: a tar of <dir> that is
# the same for the same files (the caller adds owners, --clamp-mtime, members)
repro_tar() {
  local dir="$1" file="$2"
  shift 2
  tar --create --file "$file" --directory "$dir" --sort=name --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime="@$epoch" --numeric-owner "$@"
}

# oci_created: $epoch as the image's created date
oci_created() { date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ; }

# oci_init <layout> <ref>: a new OCI layout holding an empty image <ref> (<layout>:<tag>)
oci_init() {
  umoci init --layout "$1" >&2
  umoci new --image "$2" >&2
}

# oci_add_layer <ref> <created_by> <layer.tar>: appends a layer, its history saying <created_by>
oci_add_layer() {
  umoci raw add-layer --history.created "$(oci_created)" --history.author ymera \
    --history.created_by "$2" --image "$1" "$3" >&2
}

# oci_config <ref> <umoci config option>...: the image's config, created at $epoch by ymera
oci_config() {
  local ref="$1"
  shift
  umoci config --created "$(oci_created)" --author ymera --no-history "$@" --image "$ref" >&2
}

# oci_pack <layout> <out.tar>: drops unreferenced blobs, then the layout as one
# root-owned archive (what containerd imports), every file at $epoch
oci_pack() {
  umoci gc --layout "$1" >&2
  find "$1" -exec touch -h -d "@$epoch" {} +
  repro_tar "$1" "$2" --owner=0 --group=0 oci-layout index.json blobs
}
