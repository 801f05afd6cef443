#!/usr/bin/env bash
# venv.sh <requirements.txt>: prints the python of a virtualenv with those
# requirements, building it first if this machine has none yet. Cached under
# ${YMERA_CACHE:-~/.cache/ymera}/venv-<file name>-<hash of the file and the
# interpreter's version>, so every checkout (and CI on a fresh clone) reuses
# one build; a half-built venv (no .ready marker) is built again.
# YMERA_PYTHON picks the interpreter (default python3).
set -euo pipefail
req="${1:?usage: venv.sh <requirements.txt>}"
python="${YMERA_PYTHON:-python3}"
cache="${YMERA_CACHE:-$HOME/.cache/ymera}"
name="$(basename "$(dirname "$(readlink -f "$req")")")"
key="$({ cat "$req"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-12)"
dir="$cache/venv-$name-$key"
mkdir -p "$cache"
exec 9>"$dir.lock"
flock 9
if [[ ! -f "$dir/.ready" ]]; then
  rm -rf "$dir"
  echo "[venv] building $dir from $req" >&2
  "$python" -m venv "$dir" >&2
  "$dir/bin/python" -m pip install --no-input --quiet -r "$req" >&2
  touch "$dir/.ready"
fi
echo "$dir/bin/python"
