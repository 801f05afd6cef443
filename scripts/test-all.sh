#!/usr/bin/env bash
# The whole test suite: formatting and lint, type check, unit tests, then the
# e2e tests against the local cluster (brought up by the e2e global setup).
# Ends with one plain line: "N passed, N failed, N skipped".
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
results="$repo/.tmp/test-results"
rm -rf "$results"; mkdir -p "$results"
failed_checks=0
passed_checks=0

check() { # check <name> <command...>: a non-test gate that counts as one test
  local name="$1"; shift
  echo "=== $name"
  if "$@"; then passed_checks=$((passed_checks + 1)); else echo "FAILED: $name"; failed_checks=$((failed_checks + 1)); fi
}

check "lint (eslint + prettier)" npm run --silent lint
check "typecheck (tsc --strict)" npm run --silent typecheck
echo "=== unit tests"
npx vitest run --project unit --reporter=default --reporter=json --outputFile="$results/unit.json"
echo "=== e2e tests (local cluster)"
npx vitest run --project e2e --reporter=default --reporter=json --outputFile="$results/e2e.json"

node scripts/summarize-tests.ts "$passed_checks" "$failed_checks" "$results/unit.json" "$results/e2e.json"
