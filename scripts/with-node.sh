#!/usr/bin/env bash
# Runs a command with Node.js 24 first on PATH and the project's npm
# dependencies installed (npm ci when node_modules is missing or stale).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PATH="$("$repo/scripts/node-env.sh"):$PATH"
export PATH
stamp="$repo/node_modules/.ymera-lock-hash"
want="$(sha256sum "$repo/package-lock.json" | cut -c1-16)-$(node --version)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "with-node: installing npm dependencies (npm ci)" >&2
  # onnxruntime-node's install script downloads CUDA libraries; the CPU build is bundled
  (cd "$repo" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$stamp"
fi
exec "$@"
