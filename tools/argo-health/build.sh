#!/usr/bin/env bash
# Builds (once per machine) tools/argo-health, which runs Argo CD health_test.yaml
# cases with Argo CD's own Lua engine, and prints the path of the binary. Built by
# tools/go-tool-build.sh (cache scheme of test/e2e/stack/build-minio.sh): the binary is cached under
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
exec "$here/../go-tool-build.sh" argo-health github.com/argoproj/argo-cd/v3 "$here"
