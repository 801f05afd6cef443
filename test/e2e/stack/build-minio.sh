#!/usr/bin/env bash
# Builds (once per machine) the MinIO server from its published Go module and
# prints the path of the binary. The binary is cached under
#   $YMERA_CACHE/bin/minio-<version>-<recipe hash>/minio
# where the hash covers everything that shapes the build (module version, Go
# toolchain, flags), so a change to any of them builds a new directory and a
# second run builds nothing. The directory is filled under a temporary name and
# renamed into place with a .complete marker, so an interrupted build never
# looks finished.
#
# MinIO publishes no semver tags on the module proxy, only pseudo-versions; its
# go.mod has no replace directives, so `go install module@version` builds it
# with exactly the dependency versions its authors tested (no wrapper module).
set -euo pipefail

MINIO_MODULE="github.com/minio/minio"
# `go list -m github.com/minio/minio@latest` (commit 7aac2a2c5b7c, 2026-02-12)
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"

cache="${YMERA_CACHE:-$HOME/.cache/ymera}"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -trimpath"

log() { printf '[build-minio] %s\n' "$*" >&2; }

# What `minio --version` reports, as MinIO's own buildscripts/gen-ldflags.go
# stamps it: Version is the commit time in RFC 3339, the release tag is
# RELEASE.<time with dashes>. The pseudo-version carries only 12 hex digits of
# the commit, so CommitID gets those.
stamp_ldflags() {
  local ts="${MINIO_VERSION#v0.0.0-}" commit
  commit="${ts#*-}"
  ts="${ts%%-*}"
  local version="${ts:0:4}-${ts:4:2}-${ts:6:2}T${ts:8:2}:${ts:10:2}:${ts:12:2}Z"
  local tag="RELEASE.${version//:/-}"
  local pkg="$MINIO_MODULE/cmd"
  printf '%s' "-s -w -X $pkg.Version=$version -X $pkg.ReleaseTag=$tag -X $pkg.CommitID=$commit" \
    " -X $pkg.ShortCommitID=$commit -X $pkg.CopyrightYear=${ts:0:4}"
}

ldflags="$(stamp_ldflags)"
goversion="$(go env GOVERSION)"
recipe_hash="$(printf '%s\n' "$MINIO_MODULE@$MINIO_VERSION" "$goversion" "$ldflags" "$CGO_ENABLED" "$GOFLAGS" |
  sha256sum | cut -c1-10)"
dest="$cache/bin/minio-$MINIO_VERSION-$recipe_hash"

if [[ ! -f "$dest/.complete" ]]; then
  tmp="$dest.tmp.$$"
  trap 'rm -rf "$tmp"' EXIT
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "building $MINIO_MODULE@$MINIO_VERSION with $goversion (cold build; cached afterwards)"
  start=$SECONDS
  GOBIN="$tmp" go install -ldflags "$ldflags" "$MINIO_MODULE@$MINIO_VERSION"
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
echo "$dest/minio"
